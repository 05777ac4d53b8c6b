"""Chaos for a running `kubelite up` cluster: SIGKILL random parts on a schedule, time the healing.

Every round it picks one process of the cluster in `--data-dir` (etcd, NATS,
apiserver, scheduler, controller-manager, a node agent or a proxy; `--targets`
narrows the choice), SIGKILLs it (its whole process group: apiserver workers
too, never the pods a node agent runs, which live in their own sessions),
changes the workload while it is down (scales the probe Deployment
`chaos-probe` in namespace `chaos` to a new random size), leaves it down
`--down` seconds, starts it again with exactly its old command line (and its
old log file), records the new PID in `cluster.json` (so `kubelite down` still
stops everything), and measures how long the cluster takes to converge:

- every process of cluster.json alive and the apiserver's /readyz 200;
- the scheduler and controller-manager of cluster.json hold their leader Leases
  (a restarted one waits for the dead one's lease to lapse: 15 s by default);
- every Node Ready;
- every Deployment observed, with updated = available = ready = spec.replicas;
- no pod Pending or terminating; every Running pod's container running;
- the probe Service's Endpoints list exactly the probe pods' IPs.

Prints one line per round and a summary per component (min / median / max
seconds to converge); exits 1 when a round did not converge within --timeout
(the cluster is left as it is, for inspection: see its logs in DIR/logs).

    kubelite up --data-dir /tmp/kl --nodes 2 --runtime fake
    .venv/bin/python bench/chaos.py --data-dir /tmp/kl --rounds 10 --interval 5
    .venv/bin/python bench/chaos.py --data-dir /tmp/kl --targets scheduler,controller-manager --rounds 4
    kubelite down --data-dir /tmp/kl

`--seed` makes the choice of victims and sizes repeatable. `--keep-probe` leaves
the probe Deployment and Service in place afterwards.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from kubelite.client.kubeconfig import load_kubeconfig
from kubelite.devservers import pid_alive
from kubelite_cli.cluster.procs import is_running, spawn_detached
from kubelite_cli.cluster.state import ClusterState, ProcessRecord, load_state, save_state

NS = "chaos"
PROBE = "chaos-probe"
KINDS = ("etcd", "nats", "apiserver", "scheduler", "controller-manager", "nodeagent", "proxy")
MERGE = {"Content-Type": "application/merge-patch+json"}


def kind_of(record: ProcessRecord) -> str:
    """'nodeagent-node-1' -> 'nodeagent'; the other names are kinds already."""
    for kind in ("nodeagent", "proxy"):
        if record.name.startswith(kind + "-"):
            return kind
    return record.name


def choose_victim(records: list[ProcessRecord], targets: set[str], rng: random.Random) -> ProcessRecord:
    """A random process whose kind is in `targets` (pure apart from the rng)."""
    candidates = [r for r in records if kind_of(r) in targets]
    if not candidates:
        raise SystemExit(f"no process of kinds {sorted(targets)} in cluster.json "
                         f"(have: {', '.join(r.name for r in records)})")
    return rng.choice(candidates)


def summarize(results: list[tuple[str, float | None]]) -> list[str]:
    """Per kind: rounds, failures, min / median / max seconds to converge (pure)."""
    by_kind: dict[str, list[float | None]] = {}
    for kind, seconds in results:
        by_kind.setdefault(kind, []).append(seconds)
    lines = [f"{'KILLED':<20}{'ROUNDS':>7}{'FAILED':>7}{'MIN':>8}{'MEDIAN':>8}{'MAX':>8}"]
    for kind in sorted(by_kind):
        done = [s for s in by_kind[kind] if s is not None]
        failed = len(by_kind[kind]) - len(done)
        if done:
            stats = f"{min(done):>8.1f}{statistics.median(done):>8.1f}{max(done):>8.1f}"
        else:
            stats = f"{'-':>8}{'-':>8}{'-':>8}"
        lines.append(f"{kind:<20}{len(by_kind[kind]):>7}{failed:>7}{stats}")
    return lines


# ---- the cluster's processes ------------------------------------------------------


def sigkill(record: ProcessRecord) -> None:
    """SIGKILL the record's process group (it is a session leader), else the PID alone."""
    if not is_running(record):
        return
    try:
        os.killpg(record.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        os.kill(record.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while pid_alive(record.pid) and time.monotonic() < deadline:
        time.sleep(0.02)


def restart(data_dir: Path, record: ProcessRecord) -> ProcessRecord:
    """Start the same command line again; record the new PID in cluster.json."""
    fresh = spawn_detached(record.name, record.argv, Path(record.log))
    fresh.url = record.url
    state = load_state(data_dir)
    if state is not None:
        state.processes = [fresh if r.name == record.name else r for r in state.processes]
        save_state(data_dir, state)
    return fresh


# ---- the workload and what "converged" means -------------------------------------------


def probe_objects(replicas: int, image: str) -> tuple[dict[str, Any], dict[str, Any]]:
    labels = {"app": PROBE}
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": PROBE},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
                     "name": "probe", "image": image,
                     "command": ["sh", "-c", "while :; do sleep 5; done"],
                     "ports": [{"containerPort": 8080}]}]}}},
    }  # fmt: skip
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": PROBE},
               "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}}
    return deployment, service


def ensure_probe(http: httpx.Client, replicas: int, runtime: str) -> None:
    r = http.post("/api/v1/namespaces", json={"metadata": {"name": NS}})
    if r.status_code not in (201, 409):
        raise SystemExit(f"cannot create namespace {NS}: {r.status_code} {r.text}")
    # "host": the process runtime runs the command on the host filesystem (fake ignores it)
    image = "kubelite/busybox:latest" if runtime == "docker" else "host"
    deployment, service = probe_objects(replicas, image)
    for path, body in ((f"/apis/apps/v1/namespaces/{NS}/deployments", deployment),
                       (f"/api/v1/namespaces/{NS}/services", service)):
        r = http.post(path, json=body)
        if r.status_code not in (201, 409):
            raise SystemExit(f"cannot create the probe {path}: {r.status_code} {r.text}")


def scale_probe(http: httpx.Client, replicas: int, deadline: float) -> None:
    """Set the probe's replicas, retrying while the apiserver (or etcd) is down."""
    last = ""
    while time.monotonic() < deadline:
        try:
            r = http.patch(f"/apis/apps/v1/namespaces/{NS}/deployments/{PROBE}/scale",
                           json={"spec": {"replicas": replicas}}, headers=MERGE, timeout=5)
            if r.status_code == 200:
                return
            last = f"{r.status_code} {r.text[:200]}"
        except httpx.HTTPError as exc:
            last = str(exc)
        time.sleep(0.2)
    raise TimeoutError(f"could not scale the probe: {last}")


def not_converged(http: httpx.Client, state: ClusterState) -> str | None:
    """What is still wrong (None when converged). Reads everything through the apiserver."""
    dead = [r.name for r in state.processes if not is_running(r)]
    if dead:
        return f"not running: {', '.join(dead)}"
    if http.get("/readyz", timeout=5).status_code != 200:
        return "apiserver not ready"
    if problem := leader_problem(http, state):
        return problem
    for node in http.get("/api/v1/nodes").json()["items"]:
        conds = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions") or []}
        if conds.get("Ready") != "True":
            return f"node {node['metadata']['name']} not Ready"
    for d in http.get("/apis/apps/v1/deployments").json()["items"]:
        want, st = d["spec"].get("replicas", 1), d.get("status", {})
        name = f"deployment {d['metadata']['namespace']}/{d['metadata']['name']}"
        if st.get("observedGeneration") != d["metadata"]["generation"]:
            return f"{name} not observed yet"
        got = [st.get(k, 0) for k in ("replicas", "updatedReplicas", "availableReplicas", "readyReplicas")]
        if got != [want] * 4:
            return f"{name}: replicas/updated/available/ready {got}, want {want}"
    probe_ips: set[str] = set()
    for p in http.get("/api/v1/pods").json()["items"]:
        name = f"pod {p['metadata']['namespace']}/{p['metadata']['name']}"
        phase = p.get("status", {}).get("phase")
        if p["metadata"].get("deletionTimestamp"):
            return f"{name} still terminating"
        if phase == "Pending":
            return f"{name} Pending"
        if phase == "Running" and p["metadata"]["namespace"] == NS:
            probe_ips.add(p["status"].get("podIP", ""))
    ep = http.get(f"/api/v1/namespaces/{NS}/endpoints/{PROBE}")
    ready = {a["ip"] for s in (ep.json().get("subsets") or [] if ep.status_code == 200 else [])
             for a in s.get("addresses") or []}
    if ready != probe_ips:
        return f"probe endpoints {sorted(ready)} != probe pod IPs {sorted(probe_ips)}"
    return None


LEADER_LEASES = {"scheduler": "kube-scheduler", "controller-manager": "kube-controller-manager"}


def leads(identity: str, pid: int) -> bool:
    """Leader identities are `<host>_<pid>` (scheduler) or `<host>_<pid>_<random>`."""
    return str(pid) in identity.split("_")[1:]


def leader_problem(http: httpx.Client, state: ClusterState) -> str | None:
    """A restarted scheduler / controller-manager does nothing until the dead one's lease
    lapses: the cluster is not healed before the current process holds the Lease."""
    for record in state.processes:
        lease = LEADER_LEASES.get(record.name)
        if lease is None:
            continue
        r = http.get(f"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{lease}")
        holder = r.json().get("spec", {}).get("holderIdentity", "") if r.status_code == 200 else ""
        if not leads(holder, record.pid):
            return f"{record.name} (pid {record.pid}) not leading yet; Lease {lease} holder {holder!r}"
    return None


def wait_converged(http: httpx.Client, data_dir: Path, timeout: float) -> tuple[float | None, str]:
    t0 = time.monotonic()
    last = "not checked"
    while time.monotonic() - t0 < timeout:
        state = load_state(data_dir)
        if state is None:
            return None, "cluster.json is gone (kubelite down?)"
        try:
            problem = not_converged(http, state)
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        if problem is None:
            return time.monotonic() - t0, "converged"
        last = problem
        time.sleep(0.25)
    return None, last


# ---- main ------------------------------------------------------------------------


@dataclass
class Options:
    data_dir: Path
    targets: set[str]
    rounds: int
    interval: float
    down: float
    timeout: float
    max_replicas: int
    seed: int | None
    keep_probe: bool
    results: list[tuple[str, float | None]] = field(default_factory=list)


def parse(argv: list[str]) -> Options:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=".kubelite", help="the `kubelite up --data-dir` (default .kubelite)")
    ap.add_argument("--targets", default=",".join(KINDS), help=f"kinds to kill (default {','.join(KINDS)})")
    ap.add_argument("--rounds", type=int, default=10, help="kills (default 10)")
    ap.add_argument("--interval", type=float, default=3.0,
                    help="seconds of calm after a round converged (default 3)")
    ap.add_argument("--down", type=float, default=1.0, help="seconds a killed part stays down (default 1)")
    ap.add_argument("--timeout", type=float, default=120.0,
                    help="seconds a round may take to converge (default 120)")
    ap.add_argument("--max-replicas", type=int, default=6, help="probe Deployment size range 1..N")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep-probe", action="store_true", help="leave the probe workload in place")
    a = ap.parse_args(argv)
    targets = {t.strip() for t in a.targets.split(",") if t.strip()}
    if unknown := targets - set(KINDS):
        ap.error(f"unknown target(s) {sorted(unknown)}; known: {', '.join(KINDS)}")
    return Options(Path(a.data_dir).expanduser().resolve(), targets, a.rounds, a.interval, a.down,
                   a.timeout, a.max_replicas, a.seed, a.keep_probe)


def run(opts: Options) -> int:
    state = load_state(opts.data_dir)
    if state is None:
        raise SystemExit(f"no kubelite cluster in {opts.data_dir} (no cluster.json); start one with "
                         f"`kubelite up --data-dir {opts.data_dir}`")
    rng = random.Random(opts.seed)
    tls = load_kubeconfig(state.kubeconfig).ssl_context() or True  # the admin, from `kubelite up`
    with httpx.Client(base_url=state.apiserver_url, timeout=10, verify=tls) as http:
        ensure_probe(http, 2, state.runtime)
        seconds, why = wait_converged(http, opts.data_dir, opts.timeout)
        if seconds is None:
            print(f"the cluster is not converged before any kill: {why}", file=sys.stderr)
            return 1
        print(f"cluster converged; {opts.rounds} rounds, killing among {sorted(opts.targets)}", flush=True)
        for n in range(1, opts.rounds + 1):
            state = load_state(opts.data_dir)
            assert state is not None
            victim = choose_victim(state.processes, opts.targets, rng)
            replicas = rng.randint(1, opts.max_replicas)
            t_kill = time.monotonic()
            sigkill(victim)
            # the change is made while the part is down (retried if the apiserver/etcd is it)
            changed = victim.name not in ("apiserver", "etcd")
            if changed:
                scale_probe(http, replicas, time.monotonic() + opts.timeout)
            time.sleep(max(0.0, opts.down - (time.monotonic() - t_kill)))
            restart(opts.data_dir, victim)
            if not changed:
                scale_probe(http, replicas, time.monotonic() + opts.timeout)
            seconds, why = wait_converged(http, opts.data_dir, opts.timeout)
            total = None if seconds is None else time.monotonic() - t_kill
            opts.results.append((kind_of(victim), None if seconds is None else seconds))
            shown = "NOT CONVERGED: " + why if seconds is None else (
                f"converged {seconds:5.1f}s after restart ({total:5.1f}s after the kill)")
            print(f"round {n:>3}: SIGKILL {victim.name:<22} probe -> {replicas} replicas; {shown}",
                  flush=True)
            if seconds is None:
                break
            time.sleep(opts.interval)
        print()
        print("\n".join(summarize(opts.results)))
        if not opts.keep_probe:
            http.delete(f"/api/v1/namespaces/{NS}")
    return 0 if all(s is not None for _, s in opts.results) else 1


def main(argv: list[str] | None = None) -> int:
    return run(parse(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
