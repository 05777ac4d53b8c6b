"""The chaos scenarios a lab offers, worked out from its shape alone (pure).

A scenario is a list of faults injected together, how long they last, and what the Service may
lose meanwhile. A fault names what it hits by role ("the scheduler leader", "etcd on cp-1"); the
runner resolves roles against the running lab (leaders are found at injection time).

Example (`LabSpec(control_planes=3, workers=3)`): `kill-etcd-member` SIGKILLs etcd on cp-1,
waits 10 s and starts it again; the Service, whose traffic never touches the control plane, may
lose nothing (`max_error_rate=0`), and every acknowledged write must still be there afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from kubelite_cli.lab.topology import LabSpec, control_planes, workers

# what a fault does; `target` is a process name ("etcd-cp-1"), a role ("leader:scheduler",
# "leader:etcd"), a host ("w-1"), or BUSIEST_WORKER: the worker running most of the workload's
# pods when the fault starts (so a partition always has pods to move)
BUSIEST_WORKER = "worker:busiest"
KILL, PAUSE, LINK_DOWN, NETEM, HOST_DOWN = "kill", "pause", "link-down", "netem", "host-down"


@dataclass(frozen=True)
class Fault:
    action: str
    target: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    faults: tuple[Fault, ...]
    hold_seconds: float = 10.0  # how long the faults last before recovery
    max_error_rate: float = 0.0  # share of Service requests that may fail while the fault lasts
    # hosts whose own NodePort the fault takes away (a host off the network, a dead proxy): a
    # client cannot reach them, so the error rate counts the requests through the other hosts
    lost_hosts: tuple[str, ...] = ()
    # a host that stops answering without refusing keeps its pods in the Endpoints until the node
    # lifecycle controller declares it lost: requests sent to the Service this long after the fault
    # began are not counted (Kubernetes has the same window, 40-50 s with its defaults)
    detection_seconds: float = 0.0
    writes_refused: bool = False  # the control plane must refuse writes while the fault lasts (no quorum)
    tags: tuple[str, ...] = field(default=())


# the lab's node-monitor grace (4 s) and period (1 s), then 3 s for the Endpoints change to reach
# every proxy and for connections already sent to a silent pod to give up (2 s connect timeout)
HOST_LOSS_DETECTION_SECONDS = 8.0


def catalog(spec: LabSpec) -> list[Scenario]:
    """Every scenario this lab can run, in the order `run --all` runs them."""
    cp, ws = control_planes(spec), workers(spec)
    first_cp, first_w = cp[0].name, ws[0].name
    out = [
        Scenario("kill-etcd-member", f"SIGKILL etcd on {first_cp}, restart it after 10 s",
                 (Fault(KILL, f"etcd-{first_cp}"),)),
        Scenario("kill-etcd-leader", "SIGKILL the etcd member that leads the Raft cluster, restart it after 10 s",
                 (Fault(KILL, "leader:etcd"),)),
        Scenario("kill-nats-server", f"SIGKILL the NATS server on {first_cp}, restart it after 10 s",
                 (Fault(KILL, f"nats-{first_cp}"),)),
        Scenario("kill-apiserver", f"SIGKILL the apiserver on {first_cp}, restart it after 10 s",
                 (Fault(KILL, f"apiserver-{first_cp}"),)),
        Scenario("kill-scheduler-leader", "SIGKILL the leading scheduler, restart it after 10 s",
                 (Fault(KILL, "leader:scheduler"),)),
        Scenario("kill-controller-manager-leader", "SIGKILL the leading controller-manager, restart it after 10 s",
                 (Fault(KILL, "leader:controller-manager"),)),
        Scenario("pause-scheduler-leader", "SIGSTOP the leading scheduler for 10 s (a stuck process), then SIGCONT",
                 (Fault(PAUSE, "leader:scheduler"),)),
        Scenario("pause-controller-manager-leader", "SIGSTOP the leading controller-manager for 10 s, then SIGCONT",
                 (Fault(PAUSE, "leader:controller-manager"),)),
        Scenario("kill-nodeagent", f"SIGKILL the node agent of {first_w}, restart it after 10 s",
                 (Fault(KILL, f"nodeagent-{first_w}"),)),
        Scenario("kill-proxy", f"SIGKILL the proxy of {first_w}, restart it after 10 s (its NodePort is down)",
                 (Fault(KILL, f"proxy-{first_w}"),), lost_hosts=(first_w,)),
        Scenario("partition-worker", "cut the worker with most of the workload's pods off the network for 20 s: "
                 "its pods are replaced elsewhere", (Fault(LINK_DOWN, BUSIEST_WORKER),), hold_seconds=20.0,
                 lost_hosts=(BUSIEST_WORKER,), detection_seconds=HOST_LOSS_DETECTION_SECONDS),
        Scenario("netem-worker", f"100 ms delay and 5 % loss on {first_w} for 15 s",
                 (Fault(NETEM, first_w, ("delay", "100ms", "20ms", "loss", "5%")),), hold_seconds=15.0,
                 max_error_rate=0.1),
        Scenario("reboot-worker", "kill everything on the worker with most of the workload's pods (agent, proxy, "
                 "pods), restart its services after 10 s", (Fault(HOST_DOWN, BUSIEST_WORKER),), hold_seconds=10.0,
                 lost_hosts=(BUSIEST_WORKER,), detection_seconds=HOST_LOSS_DETECTION_SECONDS),
    ]
    if len(cp) >= 3:
        out[3:3] = [
            Scenario("etcd-quorum-loss", f"SIGKILL etcd on {cp[0].name} and {cp[1].name}: writes are refused "
                     "until they return after 10 s", (Fault(KILL, f"etcd-{cp[0].name}"), Fault(KILL, f"etcd-{cp[1].name}")),
                     writes_refused=True),
        ]
        out.append(Scenario("partition-control-plane", f"cut {cp[-1].name} off the network for 15 s",
                            (Fault(LINK_DOWN, cp[-1].name),), hold_seconds=15.0))
    return out


def with_host(scenario: Scenario, placeholder: str, host: str) -> Scenario:
    """The scenario with a role such as BUSIEST_WORKER replaced by the host it names now."""
    faults = tuple(replace(f, target=host) if f.target == placeholder else f for f in scenario.faults)
    lost = tuple(host if h == placeholder else h for h in scenario.lost_hosts)
    return replace(scenario, faults=faults, lost_hosts=lost)


def by_name(spec: LabSpec, name: str) -> Scenario | None:
    return next((s for s in catalog(spec) if s.name == name), None)
