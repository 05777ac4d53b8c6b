# ruff: noqa: F811 - the shared fixtures are imported from test_replicaset and requested by name
"""The Deployment controller in a real controller-manager on real etcd, NATS and apiserver,
with pods made Ready by the FakeKubelet of test_replicaset.py. Rollout invariants are
checked at every change of the etcd watch stream, not by sampling."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kubelite.api.apps_v1 import DEPLOYMENTS
from kubelite.client.kubeconfig import write_kubeconfig
from tests.conftest import eventually
from tests.integration.test_replicaset import (  # noqa: F401 - fixtures
    NEVER_READY,
    ControllerManagers,
    FakeKubelet,
    Observer,
    cm,
    controller_managers,
    create,
    get,
    kubelet,
    nats_api,
    observer,
    scale,
)

KUBELITE = [sys.executable, "-m", "kubelite_cli"]


def deployment_manifest(name: str, replicas: int, image: str = "nginx:1.25", *, surge: int | str = 1,
                        unavailable: int | str = 0, strategy: str = "RollingUpdate",
                        deadline: int | None = None, history: int | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}},
                     "spec": {"containers": [{"name": "web", "image": image}]}},
        "strategy": ({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}
                     if strategy == "RollingUpdate" else {"type": strategy}),
    }
    if deadline is not None:
        spec["progressDeadlineSeconds"] = deadline
    if history is not None:
        spec["revisionHistoryLimit"] = history
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": spec}


def deployment(obs: Observer, namespace: str, name: str) -> Any:
    return obs.deployments.get(DEPLOYMENTS.key(namespace, name))


def owned_rss(obs: Observer, d: Any) -> list[Any]:
    return [rs for rs in obs.rss.values()
            if any(r.uid == d.metadata.uid and r.controller for r in rs.metadata.ownerReferences or [])]


def condition(d: Any, ctype: str) -> Any:
    for c in (d.status.conditions or []) if d is not None and d.status else []:
        if c.type == ctype:
            return c
    return None


def complete(obs: Observer, namespace: str, name: str, image: str, replicas: int) -> bool:
    d = deployment(obs, namespace, name)
    if d is None or d.status is None:
        return False
    st = d.status
    pods = obs.active_pods({"app": name})
    progressing = condition(d, "Progressing")
    return (
        (st.observedGeneration or 0) >= (d.metadata.generation or 0)
        and (st.replicas, st.updatedReplicas, st.availableReplicas) == (replicas, replicas, replicas)
        and progressing is not None and progressing.reason == "NewReplicaSetAvailable"
        and len(pods) == replicas
        and all(c.image == image for p in pods for c in p.spec.containers)
        and len(obs.ready_pods({"app": name})) == replicas
    )


def rollout_invariants(namespace: str, name: str, replicas: int, max_surge: int, max_unavailable: int):
    """The guarantees of a rolling update, checked after every change: the replica sets ask
    for at most replicas + maxSurge pods, and ready pods never drop below replicas -
    maxUnavailable (once the deployment was complete the first time)."""
    armed = {"on": False}

    def check(obs: Observer) -> None:
        d = deployment(obs, namespace, name)
        if d is None:
            return
        wanted = sum(rs.spec.replicas or 0 for rs in owned_rss(obs, d))
        assert wanted <= replicas + max_surge, f"replica sets want {wanted} > {replicas}+{max_surge}"
        ready = len(obs.ready_pods({"app": name}))
        if not armed["on"]:
            armed["on"] = ready >= replicas
            return
        assert ready >= replicas - max_unavailable, f"ready {ready} < {replicas}-{max_unavailable}"

    return check


async def set_image(api: Any, namespace: str, name: str, image: str) -> None:
    r = await api.patch(f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
                        json={"spec": {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}}},
                        headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert r.status_code == 200, r.text


@pytest.fixture
async def kubeconfig(apiserver: Any, nats_url: str, tmp_path: Path) -> Path:
    from kubelite.credentials import admin_credentials

    return write_kubeconfig(tmp_path / "kubeconfig", apiserver.url, nats_url, admin_credentials(apiserver.pki))


async def kl(kubeconfig: Path, namespace: str, *args: str,
             timeout: float = 60) -> subprocess.CompletedProcess[str]:  # noqa: ASYNC109
    """Run the kubelite CLI without blocking the event loop (the fake kubelet runs on it)."""
    proc = await asyncio.create_subprocess_exec(
        *KUBELITE, "-n", namespace, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return subprocess.CompletedProcess(list(args), proc.returncode or 0, out.decode(), err.decode())


@pytest.fixture
async def decisions(nats_api: tuple[Any, Any], namespace: str) -> AsyncIterator[list[dict[str, Any]]]:
    nc, _ = nats_api
    seen: list[dict[str, Any]] = []

    async def on_msg(msg: Any) -> None:
        seen.append({"subject": msg.subject, **json.loads(msg.data)})

    sub = await nc.subscribe(f"kubelite.decisions.*.{namespace}.>", cb=on_msg)
    try:
        yield seen
    finally:
        await sub.unsubscribe()


# --------------------------------------------------------------------------


async def test_deployment_reaches_available_scales_and_replaces(
        cm: ControllerManagers, kubelet: FakeKubelet, observer: Observer, api: Any, namespace: str,
        decisions: list[dict[str, Any]]) -> None:
    await create(api, namespace, "deployments", deployment_manifest("web", 3))
    await eventually(lambda: complete(observer, namespace, "web", "nginx:1.25", 3), timeout=30,
                     message=f"3 available\n{cm.log_tail(cm.alive()[0])}")
    d = deployment(observer, namespace, "web")
    assert condition(d, "Available").reason == "MinimumReplicasAvailable"
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "1"
    (rs,) = owned_rss(observer, d)
    hash_ = rs.metadata.labels["pod-template-hash"]
    assert rs.metadata.name == f"web-{hash_}"
    assert rs.spec.selector.matchLabels == {"app": "web", "pod-template-hash": hash_}
    assert rs.metadata.annotations["deployment.kubernetes.io/desired-replicas"] == "3"
    assert rs.metadata.annotations["deployment.kubernetes.io/max-replicas"] == "4"

    victim = observer.active_pods({"app": "web"})[0].metadata.name
    r = await api.delete(f"/api/v1/namespaces/{namespace}/pods/{victim}")
    assert r.status_code == 200
    await eventually(lambda: complete(observer, namespace, "web", "nginx:1.25", 3)
                     and victim not in {p.metadata.name for p in observer.active_pods({"app": "web"})},
                     timeout=30, message="deleted pod replaced")

    await scale(api, namespace, "deployments", "web", 5)
    await eventually(lambda: complete(observer, namespace, "web", "nginx:1.25", 5), timeout=30, message="scaled to 5")
    await scale(api, namespace, "deployments", "web", 2)
    await eventually(lambda: complete(observer, namespace, "web", "nginx:1.25", 2), timeout=30, message="scaled to 2")

    wanted = {f"Scaled up replica set {rs.metadata.name} to 3 from 0",
              f"Scaled up replica set {rs.metadata.name} to 5 from 3",
              f"Scaled down replica set {rs.metadata.name} to 2 from 5"}

    async def scaling_events() -> bool:  # the recorder writes Events in the background
        events = await get(api, f"/api/v1/namespaces/{namespace}/events")
        return wanted <= {e["message"] for e in events["items"] if e["reason"] == "ScalingReplicaSet"}

    await eventually(scaling_events, timeout=10, message=f"ScalingReplicaSet events {wanted}")
    kinds = {m["type"] for m in decisions if m["subject"].startswith("kubelite.decisions.deployment.")}
    assert {"NewReplicaSetCreated", "ScalingReplicaSet", "RolloutProgress"} <= kinds


@pytest.mark.parametrize(("replicas", "surge", "unavailable", "max_surge", "max_unavailable"), [
    (3, 1, 0, 1, 0),
    (3, 0, 1, 0, 1),  # no surge: one at a time down, then up
    (4, "25%", "25%", 1, 1),
    (5, "50%", "20%", 3, 1),  # surge rounds up (2.5 -> 3), unavailable down (1)
])
async def test_rolling_update_keeps_surge_and_availability(
        cm: ControllerManagers, kubelet: FakeKubelet, observer: Observer, api: Any, namespace: str,
        replicas: int, surge: int | str, unavailable: int | str, max_surge: int, max_unavailable: int) -> None:
    await create(api, namespace, "deployments",
                 deployment_manifest("roll", replicas, "nginx:1", surge=surge, unavailable=unavailable))
    await eventually(lambda: complete(observer, namespace, "roll", "nginx:1", replicas), timeout=30,
                     message="first rollout")
    observer.checks.append(rollout_invariants(namespace, "roll", replicas, max_surge, max_unavailable))
    events_before = observer.events
    await set_image(api, namespace, "roll", "nginx:2")
    await eventually(lambda: complete(observer, namespace, "roll", "nginx:2", replicas), timeout=60,
                     message=f"rolled to nginx:2; violations: {observer.failures[:3]}")
    assert observer.events - events_before > 2 * replicas, "the invariants were checked along the way"
    assert observer.failures == []
    d = deployment(observer, namespace, "roll")
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    rss = owned_rss(observer, d)
    assert sorted((rs.spec.replicas or 0) for rs in rss) == [0, replicas]


async def test_rollout_undo_restores_previous_template(
        cm: ControllerManagers, kubelet: FakeKubelet, observer: Observer, api: Any, namespace: str,
        kubeconfig: Path) -> None:
    await create(api, namespace, "deployments", deployment_manifest("undo", 2, "nginx:1"))
    await eventually(lambda: complete(observer, namespace, "undo", "nginx:1", 2), timeout=30, message="v1")
    r = await kl(kubeconfig, namespace, "set", "image", "deploy/undo", "web=nginx:2")
    assert r.returncode == 0 and r.stdout.strip() == "deployment.apps/undo image updated", r.stderr
    r = await kl(kubeconfig, namespace, "rollout", "status", "deploy/undo", "--timeout", "60")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == 'deployment "undo" successfully rolled out'
    assert complete(observer, namespace, "undo", "nginx:2", 2) or await eventually(
        lambda: complete(observer, namespace, "undo", "nginx:2", 2), timeout=10, message="v2")

    r = await kl(kubeconfig, namespace, "rollout", "history", "deploy/undo")
    assert r.returncode == 0, r.stderr
    assert [line.split()[0] for line in r.stdout.splitlines()[2:] if line.strip()] == ["1", "2"]

    r = await kl(kubeconfig, namespace, "rollout", "undo", "deploy/undo")
    assert (r.returncode, r.stdout.strip()) == (0, "deployment.apps/undo rolled back"), r.stderr
    await eventually(lambda: complete(observer, namespace, "undo", "nginx:1", 2), timeout=60, message="back to v1")
    d = deployment(observer, namespace, "undo")
    assert d.metadata.annotations["deployment.kubernetes.io/revision"] == "3"  # revision 1 became 3
    r = await kl(kubeconfig, namespace, "rollout", "history", "deploy/undo")
    assert [line.split()[0] for line in r.stdout.splitlines()[2:] if line.strip()] == ["2", "3"]

    r = await kl(kubeconfig, namespace, "rollout", "undo", "deploy/undo", "--to-revision", "7")
    assert r.returncode == 1 and "unable to find specified revision 7 in history" in r.stderr


async def test_stuck_rollout_stops_at_max_unavailable_and_reports_deadline(
        cm: ControllerManagers, kubelet: FakeKubelet, observer: Observer, api: Any, namespace: str,
        kubeconfig: Path) -> None:
    await create(api, namespace, "deployments",
                 deployment_manifest("stuck", 4, "nginx:1", surge=1, unavailable=1, deadline=3))
    await eventually(lambda: complete(observer, namespace, "stuck", "nginx:1", 4), timeout=30, message="v1")
    observer.checks.append(rollout_invariants(namespace, "stuck", 4, 1, 1))
    await set_image(api, namespace, "stuck", f"nginx:{NEVER_READY}")

    def timed_out() -> bool:
        cond = condition(deployment(observer, namespace, "stuck"), "Progressing")
        return cond is not None and cond.reason == "ProgressDeadlineExceeded" and cond.status == "False"

    await eventually(timed_out, timeout=30, message="ProgressDeadlineExceeded")
    d = deployment(observer, namespace, "stuck")
    assert condition(d, "Progressing").message.endswith("has timed out progressing.")
    # it went as far as maxUnavailable allows and no further: 3 old ready, 2 new never ready
    assert len(observer.ready_pods({"app": "stuck"})) == 3
    sizes = sorted((rs.spec.replicas or 0) for rs in owned_rss(observer, d))
    assert sizes == [2, 3]
    assert observer.failures == []

    r = await kl(kubeconfig, namespace, "rollout", "status", "deploy/stuck", "--timeout", "20")
    assert r.returncode == 1
    assert r.stderr.strip() == 'error: deployment "stuck" exceeded its progress deadline'
    async def deadline_event() -> bool:  # the recorder writes Events in the background
        events = await get(api, f"/api/v1/namespaces/{namespace}/events")
        return any(e["reason"] == "ProgressDeadlineExceeded" for e in events["items"])

    await eventually(deadline_event, timeout=10, message="ProgressDeadlineExceeded event")


async def test_paused_deployment_does_not_roll_and_resume_does(
        cm: ControllerManagers, kubelet: FakeKubelet, observer: Observer, api: Any, namespace: str,
        kubeconfig: Path) -> None:
    await create(api, namespace, "deployments", deployment_manifest("pz", 2, "nginx:1", history=1))
    await eventually(lambda: complete(observer, namespace, "pz", "nginx:1", 2), timeout=30, message="v1")
    r = await kl(kubeconfig, namespace, "rollout", "pause", "deploy/pz")
    assert r.stdout.strip() == "deployment.apps/pz paused", r.stderr
    await set_image(api, namespace, "pz", "nginx:2")

    def paused_seen() -> bool:
        d = deployment(observer, namespace, "pz")
        cond = condition(d, "Progressing")
        return (d.status.observedGeneration == d.metadata.generation and cond is not None
                and cond.reason == "DeploymentPaused")

    await eventually(paused_seen, timeout=20, message="paused observed")
    assert len(owned_rss(observer, deployment(observer, namespace, "pz"))) == 1, "no new replica set while paused"
    r = await kl(kubeconfig, namespace, "rollout", "resume", "deploy/pz")
    assert r.stdout.strip() == "deployment.apps/pz resumed", r.stderr
    await eventually(lambda: complete(observer, namespace, "pz", "nginx:2", 2), timeout=60, message="v2 after resume")
    # revisionHistoryLimit 1: one old replica set kept
    await eventually(lambda: len(owned_rss(observer, deployment(observer, namespace, "pz"))) == 2, timeout=20,
                     message="old revisions cleaned up")
    r = await kl(kubeconfig, namespace, "rollout", "restart", "deploy/pz")
    assert r.stdout.strip() == "deployment.apps/pz restarted", r.stderr

    def restarted() -> bool:
        d = deployment(observer, namespace, "pz")
        return (d.metadata.annotations or {}).get("deployment.kubernetes.io/revision") == "3" and \
            complete(observer, namespace, "pz", "nginx:2", 2)

    await eventually(restarted, timeout=60, message="restart rolled out a new revision")
    r = await kl(kubeconfig, namespace, "scale", "deploy/pz", "--replicas", "3")
    assert (r.returncode, r.stdout.strip()) == (0, "deployment.apps/pz scaled"), r.stderr
    await eventually(lambda: complete(observer, namespace, "pz", "nginx:2", 3), timeout=30, message="scaled to 3")
    r = await kl(kubeconfig, namespace, "scale", "deploy/pz", "--replicas", "1", "--current-replicas", "2")
    assert (r.returncode, r.stderr.strip()) == (1, "error: Expected replicas to be 2, was 3")
    await eventually(lambda: len(owned_rss(observer, deployment(observer, namespace, "pz"))) == 2, timeout=20,
                     message="history limited to 1 old replica set")


async def test_recreate_replaces_all_at_once(
        cm: ControllerManagers, kubelet: FakeKubelet, observer: Observer, api: Any, namespace: str) -> None:
    await create(api, namespace, "deployments", deployment_manifest("rec", 3, "nginx:1", strategy="Recreate"))
    await eventually(lambda: complete(observer, namespace, "rec", "nginx:1", 3), timeout=30, message="v1")
    mixed: list[int] = []

    def no_mix(obs: Observer) -> None:
        images = {c.image for p in obs.active_pods({"app": "rec"}) for c in p.spec.containers}
        if len(images) > 1:
            mixed.append(len(images))

    observer.checks.append(no_mix)
    await set_image(api, namespace, "rec", "nginx:2")
    await eventually(lambda: complete(observer, namespace, "rec", "nginx:2", 3), timeout=60, message="v2")
    assert mixed == [], "old and new pods never run together under Recreate"


async def test_scaling_mid_rollout_is_proportional(
        cm: ControllerManagers, kubelet: FakeKubelet, observer: Observer, api: Any, namespace: str) -> None:
    await create(api, namespace, "deployments",
                 deployment_manifest("prop", 10, "nginx:1", surge=3, unavailable=2, deadline=600))
    await eventually(lambda: complete(observer, namespace, "prop", "nginx:1", 10), timeout=60, message="v1")
    await set_image(api, namespace, "prop", f"nginx:{NEVER_READY}")  # the rollout stalls midway

    def sizes() -> list[int]:
        return sorted((rs.spec.replicas or 0) for rs in owned_rss(observer, deployment(observer, namespace, "prop")))

    # new 3 (surge), old 10 -> 8 (maxUnavailable), new 5; then nothing more can move
    def stalled() -> bool:
        ready = len(observer.ready_pods({"app": "prop"}))
        assert sizes() == [5, 8] and ready == 8, f"sizes {sizes()}, {ready} ready"
        # and the controller has seen it too (its status is computed from its cache): scaling
        # before that would be computed from an older view, as it would in Kubernetes
        st = deployment(observer, namespace, "prop").status
        assert (st.replicas, st.updatedReplicas, st.availableReplicas) == (13, 5, 8), st
        return True

    await eventually(stalled, timeout=30, message="stalled rollout at old 8 + new 5")
    await scale(api, namespace, "deployments", "prop", 20)
    # max size 13 -> 23: old 8*23/13 = 14.2 -> 14, new 5*23/13 = 8.8 -> 9 (sum 23, nothing left over)
    def scaled() -> bool:
        assert sizes() == [9, 14], f"sizes {sizes()}"
        return True

    await eventually(scaled, timeout=30, message="proportionally scaled to old 14 + new 9")


class Processes:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, *argv: str) -> None:
        exe = Path(sys.executable).with_name(argv[0])
        log = (self.log_dir / f"{name}.log").open("ab")
        self.procs.append((name, subprocess.Popen([str(exe), *argv[1:]], stdout=log, stderr=subprocess.STDOUT,
                                                  stdin=subprocess.DEVNULL,
                                                  env={**os.environ, "PYTHONUNBUFFERED": "1"})))

    def tails(self) -> str:
        return "\n".join(f"--- {n}\n" + "".join((self.log_dir / f"{n}.log").read_text().splitlines(True)[-15:])
                         for n, _ in self.procs)

    def stop(self) -> None:
        for _, p in self.procs:
            if p.poll() is None:
                p.terminate()
        for _, p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


async def test_end_to_end_with_scheduler_and_fake_node_agent(
        cm: ControllerManagers, observer: Observer, api: Any, namespace: str, etcd_url: str, nats_url: str,
        tmp_path: Path, register_nodes: Any, cluster_pki: Any) -> None:
    """No fake kubelet: the real scheduler binds and the node agent's fake runtime runs the pods.
    The pods select this test's node by label, so other tests' nodes never get them."""
    label = namespace
    node = f"e2e-{namespace}"
    procs = Processes(tmp_path)
    register_nodes(node)
    pki = ["--pki-dir", str(cluster_pki.root)]
    procs.start("scheduler", "kubelite-scheduler", "--etcd", etcd_url, "--nats", nats_url, *pki,
                "--leader-elect-lease-duration", "3", "--log-level", "info")
    procs.start("nodeagent", "kubelite-nodeagent", "--nats", nats_url, *pki, "--node-name", node, "--runtime", "fake",
                "--root-dir", str(tmp_path / "node"), "--node-labels", f"e2e={label}",
                "--node-status-update-frequency", "1s", "--log-level", "info")
    try:
        manifest = deployment_manifest("e2e", 3, "nginx:1", surge=1, unavailable=0)
        manifest["spec"]["template"]["spec"]["nodeSelector"] = {"e2e": label}
        await create(api, namespace, "deployments", manifest)
        await eventually(lambda: complete(observer, namespace, "e2e", "nginx:1", 3), timeout=60,
                         message=f"3 available on the fake node\n{procs.tails()}")
        assert {p.spec.nodeName for p in observer.active_pods({"app": "e2e"})} == {node}
        observer.checks.append(rollout_invariants(namespace, "e2e", 3, 1, 0))
        await set_image(api, namespace, "e2e", "nginx:2")
        await eventually(lambda: complete(observer, namespace, "e2e", "nginx:2", 3), timeout=60,
                         message=f"rolled to nginx:2\n{procs.tails()}")
        assert observer.failures == []
    finally:
        procs.stop()
