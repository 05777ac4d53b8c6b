"""Service-specific write rules: cluster IP and NodePort allocation and release."""

from __future__ import annotations

from typing import Any

from kubelite.errors import invalid_object
from kubelite_apiserver.allocator import Claim, Owner, ServiceAllocator

NODE_PORT_TYPES = ("NodePort", "LoadBalancer")


def _owner(svc: Any) -> Owner:
    m = svc.metadata
    return Owner(m.namespace or "", m.name or "", m.uid or "")


def _node_ports(svc: Any) -> set[int]:
    return {p.nodePort for p in (svc.spec.ports or []) if getattr(p, "nodePort", None)}


async def allocate_service(alloc: ServiceAllocator, new: Any, old: Any | None) -> tuple[list, list]:
    """Give `new` its cluster IP and NodePorts (keeping `old`'s).

    Returns (undo callbacks, guards): the (key, revision) of every allocation made
    now, which the Service's etcd write must find unchanged (see allocator.py).
    """
    owner = _owner(new)
    spec = new.spec
    undo: list = []
    guards: list[tuple[str, int, bytes]] = []
    errs = []

    def took(got: Any, release: Any) -> Any:
        """The value of a successful claim (remembered for undo and the write's guard), else None."""
        if not isinstance(got, Claim):
            errs.append(got)
            return None
        undo.append(lambda v=got.value: release(v, owner))
        guards.append((got.key, got.revision, owner.encode()))
        return got.value

    stype = spec.type or "ClusterIP"
    if stype != "ExternalName":
        old_ip = old.spec.clusterIP if old is not None else None
        if old_ip and not spec.clusterIP:
            spec.clusterIP = old_ip
        if old is None and spec.clusterIP != "None":
            ip = took(await alloc.allocate_ip(owner, spec.clusterIP, "spec.clusterIP"), alloc.release_ip)
            if ip is not None:
                spec.clusterIP = ip
        if spec.clusterIP and spec.clusterIP != "None":
            spec.clusterIPs = [spec.clusterIP]
        elif spec.clusterIP == "None":
            spec.clusterIPs = ["None"]
    held = _node_ports(old) if old is not None and (old.spec.type in NODE_PORT_TYPES) else set()
    if stype in NODE_PORT_TYPES:
        old_by_port = {}
        if old is not None:
            old_by_port = {(p.port, p.protocol): p.nodePort for p in (old.spec.ports or [])}
        for i, port in enumerate(spec.ports or []):
            if not port.nodePort:
                port.nodePort = old_by_port.get((port.port, port.protocol))
            if port.nodePort in held:
                continue
            value = took(await alloc.allocate_port(owner, port.nodePort, f"spec.ports[{i}].nodePort"),
                         alloc.release_port)
            if value is not None:
                port.nodePort = value
    else:
        for port in spec.ports or []:
            port.nodePort = None
    if errs:
        for cb in undo:
            await cb()
        raise invalid_object("Service", new.metadata.name or "", errs)
    return undo, guards


async def release_dropped(alloc: ServiceAllocator, new: Any, old: Any) -> None:
    """NodePorts the updated Service no longer uses go back to the pool."""
    owner = _owner(old)
    for port in _node_ports(old) - _node_ports(new):
        await alloc.release_port(port, owner)


async def release_all(alloc: ServiceAllocator, svc: Any) -> None:
    owner = _owner(svc)
    await alloc.release_ip(svc.spec.clusterIP, owner)
    for port in _node_ports(svc):
        await alloc.release_port(port, owner)
