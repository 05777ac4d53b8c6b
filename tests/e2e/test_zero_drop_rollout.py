"""Issue 5's promise: a rolling update under steady traffic through a Service drops no request.

A terminating pod leaves Endpoints first, and its node agent sends SIGTERM only
once every proxy has applied that change (services/nodeagent/.../drain.py); new
pods get traffic only when Ready. Traffic: 4 clients, each opening a new TCP
connection per request to the Service's cluster IP, all through two rollouts.
"""

from __future__ import annotations

import asyncio
import json
import time

from tests.e2e.conftest import Cluster

SERVER = r'''
import http.server, os, signal, sys, threading
pod = os.environ["POD_NAME"]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{pod}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
class S(http.server.ThreadingHTTPServer):
    daemon_threads = False  # server_close() waits for requests in flight
srv = S(("", 8080), H)
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
srv.serve_forever()
srv.server_close()
'''

MANIFEST = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: zd}
spec:
  replicas: 3
  selector: {matchLabels: {app: zd}}
  strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  template:
    metadata: {labels: {app: zd}}
    spec:
      terminationGracePeriodSeconds: 10
      containers:
      - name: web
        image: local
        imagePullPolicy: IfNotPresent
        command: ["python3", "-u", "-c", COMMAND]
        env:
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        ports: [{containerPort: 8080, name: http}]
        readinessProbe:
          httpGet: {path: /, port: http}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {name: zd}
spec:
  selector: {app: zd}
  ports: [{port: 80, targetPort: http}]
""".replace("COMMAND", json.dumps(SERVER))


async def one_request(host: str, port: int) -> str:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 3)
    try:
        writer.write(b"GET / HTTP/1.0\r\nHost: zd\r\n\r\n")
        data = await asyncio.wait_for(reader.read(), 3)
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.0 200"):
        raise RuntimeError(f"bad answer: {head[:40]!r}")
    return body.decode().strip()


async def until(pred, deadline: float, what: str) -> None:
    """Poll `pred` (which runs the kubelite CLI: blocking) in a thread, so the traffic
    clients on the event loop keep going; run inline, a slow CLI call let their 3 s
    timers expire while they could not run, and a served request counted as failed."""
    while not await asyncio.to_thread(pred):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.25)


def rolled_out(cluster: Cluster, generation_at_least: int) -> bool:
    d = cluster.get_json("deploy", "zd")
    st = d.get("status", {})
    pods = cluster.get_json("pods", "-l", "app=zd")["items"]
    return (d["metadata"]["generation"] >= generation_at_least
            and st.get("observedGeneration", 0) >= d["metadata"]["generation"]
            and st.get("updatedReplicas") == 3 and st.get("availableReplicas") == 3
            and st.get("replicas") == 3 and len(pods) == 3)


async def test_two_rollouts_under_steady_traffic_drop_nothing(cluster: Cluster) -> None:
    cluster.apply(MANIFEST)
    await until(lambda: rolled_out(cluster, 1), time.monotonic() + 90, "first rollout")
    svc = cluster.get_json("svc", "zd")
    ip = svc["spec"]["clusterIP"]
    await until(lambda: bool(cluster.get_json("endpoints", "zd").get("subsets")), time.monotonic() + 30, "endpoints")
    await one_request(ip, 80)  # the proxy routes before the traffic starts

    stop = asyncio.Event()
    ok: list[str] = []
    failures: list[str] = []

    async def client() -> None:
        while not stop.is_set():
            try:
                ok.append(await one_request(ip, 80))
            except Exception as exc:
                failures.append(f"{time.strftime('%X')} {type(exc).__name__}: {exc}")
            await asyncio.sleep(0.01)

    clients = [asyncio.create_task(client()) for _ in range(4)]
    try:
        for round_ in (2, 3):
            pods = await asyncio.to_thread(cluster.get_json, "pods", "-l", "app=zd")
            names_before = {p["metadata"]["name"] for p in pods["items"]}
            await asyncio.to_thread(cluster.kubelite, "rollout", "restart", "deploy/zd")
            await until(lambda r=round_: rolled_out(cluster, r), time.monotonic() + 120, f"rollout {round_}")
            pods = await asyncio.to_thread(cluster.get_json, "pods", "-l", "app=zd")
            names_after = {p["metadata"]["name"] for p in pods["items"]}
            assert not names_before & names_after, "every pod must have been replaced"
        await asyncio.sleep(1)
    finally:
        stop.set()
        await asyncio.gather(*clients)
    served_by = set(ok)
    assert not failures, f"{len(failures)} of {len(ok) + len(failures)} requests failed: {failures[:10]}"
    assert len(ok) > 200, f"too little traffic to prove anything: {len(ok)} requests"
    assert len(served_by) >= 6, f"traffic should have reached old and new pods: {served_by}"
