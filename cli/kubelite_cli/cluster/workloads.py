"""`kubelite up -f FILE`: apply a first app to a new cluster, wait until it serves, say where.

Waiting is what a newcomer needs: `curl` right after `make up` should answer. A Deployment,
StatefulSet or DaemonSet of the manifests is ready when every replica is updated and available
(what `kubectl rollout status` waits for); a NodePort Service is then reachable on every node at
127.0.0.1:<nodePort> (a local cluster's nodes share this host).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from kubelite_cli.commands.apply import apply_one, info_for
from kubelite_cli.errors import CLIError
from kubelite_cli.manifests import Manifest, load_manifests
from kubelite_cli.session import Session, qualified_kind

JSON = dict[str, Any]
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")


def rollout_done(obj: JSON) -> bool:
    """Every desired replica updated and available, for the current generation."""
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    if (st.get("observedGeneration") or 0) < ((obj.get("metadata") or {}).get("generation") or 0):
        return False
    if obj.get("kind") == "DaemonSet":
        want = st.get("desiredNumberScheduled", 0)
        return want > 0 and st.get("updatedNumberScheduled", 0) == want and st.get("numberAvailable", 0) == want
    want = spec.get("replicas", 1)
    available = st.get("availableReplicas", st.get("readyReplicas", 0))
    return st.get("updatedReplicas", 0) == want and available == want and st.get("replicas", 0) == want


def node_port_urls(services: list[JSON]) -> list[str]:
    """'http://127.0.0.1:30080/ (service hello)' for each NodePort or LoadBalancer port."""
    urls = []
    for svc in services:
        for port in (svc.get("spec") or {}).get("ports") or []:
            if port.get("nodePort"):
                urls.append(f"http://127.0.0.1:{port['nodePort']}/  (service {svc['metadata']['name']}, "
                            f"port {port.get('port')})")
    return urls


def apply_and_wait(kubeconfig: Path, files: list[str], timeout: float) -> list[str]:
    """Apply `files`, wait for their workloads; the lines to print (what was applied, where to reach it)."""
    manifests = load_manifests(files)
    session = Session.for_kubeconfig(kubeconfig)
    try:
        lines = []
        for manifest in manifests:
            outcome = apply_one(session, manifest, dry_run=False)
            lines.append(f"{qualified_kind(info_for(manifest))}/{manifest.obj['metadata'].get('name')} {outcome}")
        for line in lines:
            print(line, flush=True)
        _wait_ready(session, [m for m in manifests if m.obj.get("kind") in WORKLOADS], timeout)
        services = [_current(session, m) for m in manifests if m.obj.get("kind") == "Service"]
        return node_port_urls(services)
    finally:
        session.close()


def _current(session: Session, manifest: Manifest) -> JSON:
    info = info_for(manifest)
    meta = manifest.obj["metadata"]
    return session.api.get(info, meta.get("namespace") if info.namespaced else None, meta["name"])


def _wait_ready(session: Session, workloads: list[Manifest], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = list(workloads)
    if pending:
        print(f"waiting up to {timeout:.0f}s for {', '.join(m.obj['metadata']['name'] for m in pending)} "
              "to be available", flush=True)
    while pending:
        pending = [m for m in pending if not rollout_done(_current(session, m))]
        if not pending:
            return
        if time.monotonic() > deadline:
            names = ", ".join(f"{m.obj['kind'].lower()}/{m.obj['metadata']['name']}" for m in pending)
            raise CLIError(f"{names} not available after {timeout:.0f}s (the cluster is up: see "
                           "`kubelite get pods -o wide` and `kubelite describe`)")
        time.sleep(0.5)
