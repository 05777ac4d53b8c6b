"""Services reach pods on a real local cluster (process runtime, root): balancing through the
cluster IP and the NodePort, and a pod finding a Service by DNS and by environment variables."""

from __future__ import annotations

import asyncio
import collections
import json
import time

from tests.e2e.conftest import Cluster

ECHO = r'''
import http.server, os, signal, sys
pod = os.environ["POD_NAME"]
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{pod}\n".encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("", 8080), H).serve_forever()
'''

PROBE = r'''
import os, socket, time
for name in ("echo.default.svc.cluster.local", "echo", "echo.default", "nope.default.svc.cluster.local"):
    try:
        print(name, socket.gethostbyname(name), flush=True)
    except OSError as exc:
        print(name, "ERROR", type(exc).__name__, flush=True)
print("ENV", os.environ.get("ECHO_SERVICE_HOST"), os.environ.get("ECHO_SERVICE_PORT"), flush=True)
time.sleep(3600)
'''

MANIFEST = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo}
spec:
  replicas: 3
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      containers:
      - name: web
        image: local
        imagePullPolicy: IfNotPresent
        command: ["python3", "-u", "-c", ECHO]
        env:
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        ports: [{containerPort: 8080, name: http}]
        readinessProbe:
          tcpSocket: {port: http}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  type: NodePort
  selector: {app: echo}
  ports: [{name: http, port: 80, targetPort: http}]
""".replace("ECHO", json.dumps(ECHO))

PROBE_POD = """
apiVersion: v1
kind: Pod
metadata: {name: dns-probe}
spec:
  containers:
  - name: probe
    image: local
    imagePullPolicy: IfNotPresent
    command: ["python3", "-u", "-c", PROBE]
""".replace("PROBE", json.dumps(PROBE))


async def get(host: str, port: int) -> str:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 3)
    writer.write(b"GET / HTTP/1.0\r\n\r\n")
    data = await asyncio.wait_for(reader.read(), 3)
    writer.close()
    return data.partition(b"\r\n\r\n")[2].decode().strip()


async def wait_for(pred, limit: float, what: str):
    deadline = time.monotonic() + limit
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.5)


def ready_endpoints(cluster: Cluster) -> int:
    subsets = cluster.get_json("endpoints", "echo").get("subsets") or []
    return sum(len(s.get("addresses") or []) for s in subsets)


async def test_traffic_is_balanced_through_cluster_ip_and_node_ports(cluster: Cluster) -> None:
    cluster.apply(MANIFEST)
    await wait_for(lambda: ready_endpoints(cluster) == 3, 90, "3 ready endpoints")
    svc = cluster.get_json("svc", "echo")
    ip, node_port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]
    await asyncio.sleep(0.5)  # the proxies apply the endpoints within moments
    counts = collections.Counter([await get(ip, 80) for _ in range(300)])
    assert len(counts) == 3, counts
    assert min(counts.values()) >= 60, f"round robin should spread evenly: {counts}"
    nodes = cluster.get_json("nodes")["items"]
    assert len(nodes) == 2
    via_node_port = collections.Counter([await get("127.0.0.1", node_port) for _ in range(30)])
    assert len(via_node_port) == 3, via_node_port


async def test_a_pod_finds_services_by_dns_and_env(cluster: Cluster) -> None:
    await wait_for(lambda: ready_endpoints(cluster) == 3, 90, "echo endpoints")
    cluster.apply(PROBE_POD)

    def probe_output() -> str | None:
        res = cluster.kubelite("logs", "dns-probe", check=False)
        return res.stdout if res.returncode == 0 and "ENV" in res.stdout else None

    out = await wait_for(probe_output, 60, "the probe pod's output")
    ip = cluster.get_json("svc", "echo")["spec"]["clusterIP"]
    lines = dict(line.split(" ", 1) for line in out.strip().splitlines())
    assert lines["echo.default.svc.cluster.local"] == ip
    assert lines["echo"] == ip, "the search path resolves a short name in the pod's namespace"
    assert lines["echo.default"] == ip
    assert lines["nope.default.svc.cluster.local"].startswith("ERROR")
    assert lines["ENV"] == f"{ip} 80"
