"""What a chaos run watches with: the admin's API client, steady Service traffic to every
worker's NodePort, a steady stream of API writes, and the test workload itself."""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from kubelite_cli.chaos.invariants import Beat, Request, Write

NAMESPACE = "kubelite-chaos"
APP = "chaos-web"
REPLICAS = 3
REQUESTS_PER_SECOND = 20
WRITES_PER_SECOND = 2
# as long as a patient client waits: the proxy gives a backend that swallows packets 2 s before
# it tries the next one, and that retry is what a run should see succeed
CLIENT_TIMEOUT = 5.0

WORKLOAD = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": APP, "namespace": NAMESPACE},
    "spec": {
        "replicas": REPLICAS, "selector": {"matchLabels": {"app": APP}},
        "template": {"metadata": {"labels": {"app": APP}}, "spec": {
            "terminationGracePeriodSeconds": 2,
            "containers": [{"name": "web", "image": "busybox", "command": [
                "sh", "-c", "mkdir -p /tmp/www && hostname > /tmp/www/index.html && "
                            "exec busybox httpd -f -p 8080 -h /tmp/www"],
                "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1}}]}},
    },
}
SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": APP, "namespace": NAMESPACE},
           "spec": {"type": "NodePort", "selector": {"app": APP}, "ports": [{"port": 80, "targetPort": 8080}]}}

# A StatefulSet whose pods write a heartbeat (uid, the machine's uptime) twice a second into a
# file named after the pod, in a directory every lab host shares: if an ordinal ever runs as
# two pods at once, their heartbeats overlap (invariants.ordinals_once).
STATEFUL = "chaos-db"
ORDINALS = 2
BEAT = (
    "trap 'exit 0' TERM; while :; do read up _ < /proc/uptime; "
    'echo "$POD_UID $up" >> /beats/$POD_NAME; sleep 0.5 & wait $!; done'
)


def stateful_set(beat_dir: Path) -> dict[str, Any]:
    env = [{"name": name, "valueFrom": {"fieldRef": {"fieldPath": f"metadata.{field}"}}}
           for name, field in (("POD_NAME", "name"), ("POD_UID", "uid"))]
    return {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": STATEFUL, "namespace": NAMESPACE},
        "spec": {
            "replicas": ORDINALS, "serviceName": STATEFUL, "selector": {"matchLabels": {"app": STATEFUL}},
            "template": {"metadata": {"labels": {"app": STATEFUL}}, "spec": {
                "terminationGracePeriodSeconds": 2,
                "containers": [{"name": "beat", "image": "busybox", "command": ["sh", "-c", BEAT], "env": env,
                                "volumeMounts": [{"name": "beats", "mountPath": "/beats"}]}],
                "volumes": [{"name": "beats", "hostPath": {"path": str(beat_dir), "type": "DirectoryOrCreate"}}]}},
        },
    }


HEADLESS = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": STATEFUL, "namespace": NAMESPACE},
            "spec": {"clusterIP": "None", "selector": {"app": STATEFUL}, "ports": [{"port": 80}]}}


def uptime() -> float:
    """The machine's clock the heartbeats carry."""
    return float(Path("/proc/uptime").read_text().split()[0])


def read_beats(beat_dir: Path, since: float) -> list[Beat]:
    """Every heartbeat written at or after `since` (uptime seconds); torn lines are skipped."""
    beats = []
    for path in sorted(beat_dir.glob(f"{STATEFUL}-*")):
        for line in path.read_text(errors="replace").splitlines():
            uid, _, at = line.partition(" ")
            try:
                if float(at) >= since:
                    beats.append(Beat(path.name, uid, float(at)))
            except ValueError:
                continue
    return beats


class Api:
    """JSON over HTTPS with the admin's certificate; (status, body) and never an exception for a
    failed request (a chaos run expects them)."""

    def __init__(self, base: str, tls: ssl.SSLContext) -> None:
        self.base, self.tls = base, tls

    def request(self, method: str, path: str, body: Any = None, timeout: float = 5.0) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self.tls) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                return exc.code, json.loads(exc.read() or b"null")
            except ValueError:
                return exc.code, None
        except (OSError, ValueError) as exc:
            return 0, {"message": str(exc)}

    def get(self, path: str) -> Any:
        code, body = self.request("GET", path)
        return body if code == 200 else None


def ensure_workload(api: Api, beat_dir: Path, timeout: float = 120.0) -> int:
    """The namespace, the Deployment with its NodePort Service and the StatefulSet with its
    headless one; wait until all replicas are ready. The NodePort."""
    api.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                "metadata": {"name": NAMESPACE}})
    api.request("POST", f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments", WORKLOAD)
    api.request("POST", f"/api/v1/namespaces/{NAMESPACE}/services", SERVICE)
    beat_dir.mkdir(parents=True, exist_ok=True)
    api.request("POST", f"/api/v1/namespaces/{NAMESPACE}/services", HEADLESS)
    api.request("POST", f"/apis/apps/v1/namespaces/{NAMESPACE}/statefulsets", stateful_set(beat_dir))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if converged(api):
            svc = api.get(f"/api/v1/namespaces/{NAMESPACE}/services/{APP}")
            return int(svc["spec"]["ports"][0]["nodePort"])
        time.sleep(0.5)
    raise TimeoutError(f"{APP} never had {REPLICAS} ready replicas")


def converged(api: Api, avoid_node: str = "") -> bool:
    """The Deployment's replicas all ready on Ready nodes, and no more pods than that; with
    `avoid_node`, none of them there (the StatefulSet is not asked: its pod on a lost node waits,
    as in Kubernetes, until that node confirms it stopped). Without, the StatefulSet whole too."""
    nodes = api.get("/api/v1/nodes")
    if not nodes:
        return False
    ready_nodes = {n["metadata"]["name"] for n in nodes["items"]
                   if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))}
    if avoid_node:
        return _ready(api, "deployments", APP, ready_nodes - {avoid_node}, exact=False)
    return _ready(api, "deployments", APP, ready_nodes) and _ready(api, "statefulsets", STATEFUL, ready_nodes)


def _ready(api: Api, kind: str, name: str, nodes: set[str], exact: bool = True) -> bool:
    """`name`'s wanted replicas all ready on `nodes`; `exact`: and no other live pod of it."""
    owner = api.get(f"/apis/apps/v1/namespaces/{NAMESPACE}/{kind}/{name}")
    pods = api.get(f"/api/v1/namespaces/{NAMESPACE}/pods?labelSelector=app%3D{name}")
    if not (owner and pods):
        return False
    live = [p for p in pods["items"] if not p["metadata"].get("deletionTimestamp")
            and p["status"].get("phase") not in ("Succeeded", "Failed")]
    ready = [p for p in live if p["spec"].get("nodeName") in nodes
             and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))]
    want = owner["spec"].get("replicas", 1)
    return len(ready) == want and (not exact or len(live) == want)


def endpoints_exclude(api: Api, node: str) -> bool:
    """The workload Service's Endpoints list no ready address on `node` (False when unreadable)."""
    eps = api.get(f"/api/v1/namespaces/{NAMESPACE}/endpoints/{APP}")
    if eps is None:
        return False
    return not any(a.get("nodeName") == node for s in eps.get("subsets") or [] for a in s.get("addresses") or [])


def pods_per_node(api: Api) -> dict[str, int]:
    """How many of the workload's live pods each node runs."""
    pods = api.get(f"/api/v1/namespaces/{NAMESPACE}/pods?labelSelector=app%3D{APP}") or {}
    counts: dict[str, int] = {}
    for p in pods.get("items", []):
        node = p["spec"].get("nodeName")
        if node and not p["metadata"].get("deletionTimestamp"):
            counts[node] = counts.get(node, 0) + 1
    return counts


class Recorder:
    """Runs the traffic and write probes in threads, timestamped from one start."""

    def __init__(self, api: Api, targets: dict[str, str], port: int, scenario: str, run_id: str) -> None:
        self.api, self.targets, self.port, self.scenario = api, targets, port, scenario  # host -> ip
        # names and a label of this run only: runs repeat against the same cluster
        self.prefix, self.label = f"{scenario}-{run_id}", f"{scenario}.{run_id}"
        self.start = time.monotonic()
        self.requests: list[Request] = []
        self.writes: list[Write] = []
        self.events: list[dict[str, Any]] = []
        self._stop = threading.Event()
        # one traffic thread per host, so a host that swallows packets (each request waits out
        # its timeout) does not slow the traffic through the others
        self._threads = [threading.Thread(target=self._traffic, args=(host,), daemon=True) for host in sorted(targets)]
        self._threads.append(threading.Thread(target=self._writes, daemon=True))

    def now(self) -> float:
        return time.monotonic() - self.start

    def event(self, what: str, **details: Any) -> float:
        at = self.now()
        self.events.append({"at": round(at, 3), "event": what, **details})
        return at

    def __enter__(self) -> Recorder:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(10)

    def _traffic(self, host: str) -> None:
        interval = len(self.targets) / REQUESTS_PER_SECOND
        while not self._stop.is_set():
            at = self.now()
            self.requests.append(Request(at, answers(self.targets[host], self.port), host))  # list.append is atomic
            self._stop.wait(max(0.0, interval - (self.now() - at)))

    def _writes(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            name = f"{self.prefix}-{n}"
            at = self.now()
            code, body = self.api.request("POST", f"/api/v1/namespaces/{NAMESPACE}/configmaps", {
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {
                    "kubelite.io/chaos": self.label}}, "data": {"n": str(n)}}, timeout=4.0)
            ok = code == 201
            uid = (body or {}).get("metadata", {}).get("uid", "") if ok else ""
            self.writes.append(Write(at, name, ok, uid, "" if ok else f"{code} {(body or {}).get('message', '')}",
                                     done=self.now()))
            self._stop.wait(max(0.0, 1 / WRITES_PER_SECOND - (self.now() - at)))

    def stored(self, timeout: float = 30.0) -> dict[str, str] | None:
        """name -> uid of every ConfigMap this scenario's probe left (read once recovered), or None
        when no list succeeded within `timeout`: a failed read is not an empty namespace (it once
        reported every acknowledged write as lost)."""
        path = f"/api/v1/namespaces/{NAMESPACE}/configmaps?labelSelector=kubelite.io%2Fchaos%3D{self.label}"
        deadline = time.monotonic() + timeout
        while (body := self.api.get(path)) is None and time.monotonic() < deadline:
            time.sleep(0.5)
        if body is None:
            return None
        return {c["metadata"]["name"]: c["metadata"]["uid"] for c in body.get("items", [])}


def answers(ip: str, port: int) -> bool:
    conn = http.client.HTTPConnection(ip, port, timeout=CLIENT_TIMEOUT)
    try:
        conn.request("GET", "/", headers={"Connection": "close"})
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()
