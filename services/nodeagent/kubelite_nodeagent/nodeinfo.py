"""The Node object this agent registers: host facts and pure builders.

Host facts (CPU, memory, OS, addresses) are read once by `host_facts()`; the
rest are pure functions of them and the flags, so they are unit-tested.
"""

from __future__ import annotations

import os
import platform
import socket
from dataclasses import dataclass, field

from kubelite.api.core_v1 import (
    DaemonEndpoint,
    Node,
    NodeAddress,
    NodeCondition,
    NodeDaemonEndpoints,
    NodeSpec,
    NodeStatus,
    NodeSystemInfo,
    Taint,
)
from kubelite.api.meta import ObjectMeta
from kubelite.api.quantity import Quantity, parse_quantity
from kubelite_nodeagent import VERSION

MAX_PODS = 110
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}


@dataclass
class HostFacts:
    cpu_millis: int
    memory_bytes: int
    hostname: str
    internal_ip: str
    kernel: str = ""
    os_image: str = ""
    machine_id: str = ""
    boot_id: str = ""
    arch: str = "amd64"
    os: str = "linux"


@dataclass
class NodeSettings:
    """What the flags say about one node."""

    name: str
    pod_cidr: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    taints: list[Taint] = field(default_factory=list)
    system_reserved: dict[str, str] = field(default_factory=dict)
    capacity_override: dict[str, str] = field(default_factory=dict)
    runtime_version: str = "fake://0.1.0"


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def _meminfo_kib(key: str) -> int:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def outbound_ip() -> str:
    """The address other machines reach this one at (the source of the default route)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))  # no packet is sent for UDP connect
            return s.getsockname()[0]
    except OSError:
        return "127.0.0.1"


def host_facts() -> HostFacts:
    os_release = dict(
        line.split("=", 1) for line in _read("/etc/os-release").splitlines() if "=" in line
    )
    return HostFacts(
        cpu_millis=(os.cpu_count() or 1) * 1000,
        memory_bytes=_meminfo_kib("MemTotal") * 1024,
        hostname=socket.gethostname(),
        internal_ip=outbound_ip(),
        kernel=platform.release(),
        os_image=os_release.get("PRETTY_NAME", "").strip('"'),
        machine_id=_read("/etc/machine-id"),
        boot_id=_read("/proc/sys/kernel/random/boot_id"),
        arch=_ARCH.get(platform.machine(), platform.machine()),
    )


def parse_key_values(text: str) -> dict[str, str]:
    """'a=b,c=d' -> {'a': 'b', 'c': 'd'} (flags --node-labels, --system-reserved)."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise ValueError(f"expected key=value, got {part!r}")
        out[key.strip()] = value.strip()
    return out


def parse_taints(text: str) -> list[Taint]:
    """'key=value:Effect,key2:Effect' (kubelet --register-with-taints)."""
    taints: list[Taint] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        kv, sep, effect = part.rpartition(":")
        if not sep or effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            raise ValueError(f"invalid taint {part!r}: expected key[=value]:NoSchedule|PreferNoSchedule|NoExecute")
        key, _, value = kv.partition("=")
        taints.append(Taint(key=key, value=value or None, effect=effect))
    return taints


def capacity(facts: HostFacts, override: dict[str, str]) -> dict[str, str]:
    cap = {
        "cpu": str(facts.cpu_millis // 1000) if facts.cpu_millis % 1000 == 0 else f"{facts.cpu_millis}m",
        "memory": f"{facts.memory_bytes // 1024}Ki",
        "pods": str(MAX_PODS),
    }
    cap.update(override)
    return cap


def allocatable(cap: dict[str, str], reserved: dict[str, str]) -> dict[str, str]:
    """capacity minus system reservations (never below zero), canonical quantities."""
    out: dict[str, str] = {}
    for name, value in cap.items():
        q: Quantity = parse_quantity(value)
        if name in reserved:
            q = q - parse_quantity(reserved[name])
            if q < parse_quantity("0"):
                q = parse_quantity("0")
        out[name] = q.canonical()
    return out


def node_labels(name: str, facts: HostFacts, extra: dict[str, str]) -> dict[str, str]:
    return {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": facts.os,
        "kubernetes.io/arch": facts.arch,
        "beta.kubernetes.io/os": facts.os,
        "beta.kubernetes.io/arch": facts.arch,
        **extra,
    }


# Condition type -> (reason when False, message when False, reason when True, message when True)
_PRESSURE = {
    "MemoryPressure": ("KubeletHasSufficientMemory", "kubelet has sufficient memory available",
                       "KubeletHasInsufficientMemory", "kubelet has insufficient memory available"),
    "DiskPressure": ("KubeletHasNoDiskPressure", "kubelet has no disk pressure",
                     "KubeletHasDiskPressure", "kubelet has disk pressure"),
    "PIDPressure": ("KubeletHasSufficientPID", "kubelet has sufficient PID available",
                    "KubeletHasInsufficientPID", "kubelet has insufficient PID available"),
}


@dataclass(frozen=True)
class Pressure:
    memory: bool = False
    disk: bool = False
    pid: bool = False


def measure_pressure(root_dir: str) -> Pressure:
    """Eviction-threshold style checks (memory.available<100Mi, nodefs.available<10%, pids>90%)."""
    mem_available = _meminfo_kib("MemAvailable") * 1024
    try:
        st = os.statvfs(root_dir)
        disk_low = st.f_blocks > 0 and st.f_bavail / st.f_blocks < 0.10
    except OSError:
        disk_low = False
    try:
        pid_max = int(_read("/proc/sys/kernel/pid_max") or "0")
        pids = sum(1 for d in os.listdir("/proc") if d.isdigit())
        pid_high = pid_max > 0 and pids / pid_max > 0.9
    except OSError:
        pid_high = False
    return Pressure(memory=0 < mem_available < 100 * 1024 * 1024, disk=disk_low, pid=pid_high)


def node_conditions(pressure: Pressure, runtime_ok: bool, now: str,
                    previous: list[NodeCondition] | None) -> list[NodeCondition]:
    """Ready, MemoryPressure, DiskPressure, PIDPressure; transition times kept when unchanged."""
    prev = {c.type: c for c in previous or []}
    wanted: list[tuple[str, bool, str, str]] = []
    for ctype, flag in (("MemoryPressure", pressure.memory), ("DiskPressure", pressure.disk),
                        ("PIDPressure", pressure.pid)):
        ok_reason, ok_msg, bad_reason, bad_msg = _PRESSURE[ctype]
        wanted.append((ctype, flag, bad_reason if flag else ok_reason, bad_msg if flag else ok_msg))
    ready = runtime_ok
    wanted.append(("Ready", ready, "KubeletReady" if ready else "KubeletNotReady",
                   "kubelet is posting ready status" if ready else "container runtime is down"))
    out: list[NodeCondition] = []
    for ctype, value, reason, message in wanted:
        status = "True" if value else "False"
        old = prev.get(ctype)
        transition = old.lastTransitionTime if old is not None and old.status == status else now
        out.append(NodeCondition(type=ctype, status=status, reason=reason, message=message,
                                 lastHeartbeatTime=now, lastTransitionTime=transition))
    return out


def conditions_changed(old: list[NodeCondition] | None, new: list[NodeCondition]) -> bool:
    """Whether status/reason of any condition differs (heartbeat times alone do not count)."""
    before = {c.type: (c.status, c.reason, c.message) for c in old or []}
    return any(before.get(c.type) != (c.status, c.reason, c.message) for c in new)


def build_node(settings: NodeSettings, facts: HostFacts, conditions: list[NodeCondition]) -> Node:
    cap = capacity(facts, settings.capacity_override)
    return Node(
        apiVersion="v1",
        kind="Node",
        metadata=ObjectMeta(name=settings.name, labels=node_labels(settings.name, facts, settings.labels),
                            annotations=dict(settings.annotations) or None),
        spec=NodeSpec(podCIDR=settings.pod_cidr, podCIDRs=[settings.pod_cidr],
                      taints=list(settings.taints) or None),
        status=node_status(settings, facts, conditions, cap),
    )


def node_status(settings: NodeSettings, facts: HostFacts, conditions: list[NodeCondition],
                cap: dict[str, str] | None = None) -> NodeStatus:
    cap = cap or capacity(facts, settings.capacity_override)
    return NodeStatus(
        capacity=dict(cap),
        allocatable=allocatable(cap, settings.system_reserved),
        conditions=conditions,
        addresses=[NodeAddress(type="InternalIP", address=facts.internal_ip),
                   NodeAddress(type="Hostname", address=settings.name)],
        daemonEndpoints=NodeDaemonEndpoints(kubeletEndpoint=DaemonEndpoint(Port=0)),
        nodeInfo=NodeSystemInfo(
            machineID=facts.machine_id, systemUUID=facts.machine_id, bootID=facts.boot_id,
            kernelVersion=facts.kernel, osImage=facts.os_image,
            containerRuntimeVersion=settings.runtime_version,
            kubeletVersion=f"v{VERSION}-kubelite", kubeProxyVersion="",
            operatingSystem=facts.os, architecture=facts.arch,
        ),
    )
