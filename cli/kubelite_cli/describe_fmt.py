"""`describe` text: header fields, kind-specific lines, nested spec/status, Events (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kubelite.printers import (
    NONE,
    access_modes,
    age,
    format_selector,
    pod_status,
    render_table,
    service_ports,
)

JSON = dict[str, Any]
_SKIP_TOP = {"apiVersion", "kind", "metadata"}


def _map_lines(label: str, mapping: dict[str, str] | None) -> list[str]:
    if not mapping:
        return [f"{label}:".ljust(14) + NONE]
    items = sorted(mapping.items())
    first, *rest = (f"{k}={v}" for k, v in items)
    return [f"{label}:".ljust(14) + first] + [" " * 14 + line for line in rest]


def _nested(value: Any, indent: int) -> list[str]:
    """A generic, readable rendering of nested spec/status (as kubectl's generic describer)."""
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, sub in value.items():
            if isinstance(sub, dict | list) and sub:
                lines.append(f"{pad}{key[:1].upper()}{key[1:]}:")
                lines.extend(_nested(sub, indent + 1))
            else:
                shown = "<none>" if sub in (None, {}, []) else str(sub)
                lines.append(f"{pad}{key[:1].upper()}{key[1:]}:  {shown}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                sub = _nested(item, indent + 1)
                if sub:
                    lines.append(f"{pad}- " + sub[0].lstrip())
                    lines.extend(sub[1:])
            else:
                lines.append(f"{pad}- {item}")
    else:
        lines.append(f"{pad}{value}")
    return lines


def _pod_lines(obj: JSON) -> list[str]:
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    reason, ready, total, restarts = pod_status(obj)
    lines = [
        f"Node:         {spec.get('nodeName') or NONE}",
        f"Status:       {reason}",
        f"IP:           {st.get('podIP') or ''}",
        f"Ready:        {ready}/{total}",
        f"Restarts:     {restarts}",
        "Containers:",
    ]
    statuses = {cs.get("name"): cs for cs in st.get("containerStatuses") or []}
    for c in spec.get("containers") or []:
        cs = statuses.get(c.get("name"), {})
        state = next(iter((cs.get("state") or {}).keys()), "Waiting").capitalize()
        lines += [
            f"  {c.get('name')}:",
            f"    Image:          {c.get('image', '')}",
            f"    State:          {state}",
            f"    Ready:          {str(bool(cs.get('ready'))).lower()}",
            f"    Restart Count:  {cs.get('restartCount', 0)}",
        ]
        if c.get("command") or c.get("args"):
            lines.append(f"    Command:        {' '.join([*c.get('command', []), *c.get('args', [])])}")
    lines.append("Conditions:" + ("" if st.get("conditions") else "   <none>"))
    for cond in st.get("conditions") or []:
        lines.append(f"  {cond.get('type', '')}: {cond.get('status', '')}")
    return lines


def _deployment_lines(obj: JSON) -> list[str]:
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    desired = spec.get("replicas", 1)
    return [
        f"Selector:     {format_selector(spec.get('selector'))}",
        f"Replicas:     {desired} desired | {st.get('updatedReplicas', 0)} updated | "
        f"{st.get('replicas', 0)} total | {st.get('availableReplicas', 0)} available | "
        f"{st.get('unavailableReplicas', 0)} unavailable",
        f"StrategyType: {(spec.get('strategy') or {}).get('type', 'RollingUpdate')}",
    ]


def _service_lines(obj: JSON) -> list[str]:
    spec = obj.get("spec") or {}
    return [
        f"Selector:     {format_selector(spec.get('selector'))}",
        f"Type:         {spec.get('type') or 'ClusterIP'}",
        f"IP:           {spec.get('clusterIP') or NONE}",
        f"Port(s):      {service_ports(spec)}",
    ]


def _daemonset_lines(obj: JSON) -> list[str]:
    """kubectl's DaemonSetDescriber: desired, current, ready, up-to-date and available counts."""
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    node_selector = ((spec.get("template") or {}).get("spec") or {}).get("nodeSelector")
    return [
        f"Selector:     {format_selector(spec.get('selector'))}",
        f"Node-Selector: {format_selector(node_selector)}",
        f"Desired Number of Nodes Scheduled: {st.get('desiredNumberScheduled', 0)}",
        f"Current Number of Nodes Scheduled: {st.get('currentNumberScheduled', 0)}",
        f"Number of Nodes Scheduled with Up-to-date Pods: {st.get('updatedNumberScheduled', 0)}",
        f"Number of Nodes Scheduled with Available Pods: {st.get('numberAvailable', 0)}",
        f"Number of Nodes Misscheduled: {st.get('numberMisscheduled', 0)}",
        f"StrategyType: {(spec.get('updateStrategy') or {}).get('type', 'RollingUpdate')}",
    ]


def _statefulset_lines(obj: JSON) -> list[str]:
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    claims = ", ".join((t.get("metadata") or {}).get("name", "") for t in spec.get("volumeClaimTemplates") or [])
    return [
        f"Selector:     {format_selector(spec.get('selector'))}",
        f"Replicas:     {spec.get('replicas', 1)} desired | {st.get('replicas', 0)} total",
        f"Update Strategy: {(spec.get('updateStrategy') or {}).get('type', 'RollingUpdate')}",
        f"Pods Status:  {st.get('readyReplicas', 0)} Ready / {st.get('updatedReplicas', 0)} Updated",
        f"Revisions:    current {st.get('currentRevision', NONE)} | update {st.get('updateRevision', NONE)}",
        f"Service:      {spec.get('serviceName') or NONE}",
        f"Volume Claims: {claims or NONE}",
    ]


def _claim_lines(obj: JSON) -> list[str]:
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    return [
        f"StorageClass: {spec.get('storageClassName') or ''}",
        f"Status:       {st.get('phase', '')}",
        f"Volume:       {spec.get('volumeName') or ''}",
        f"Capacity:     {(st.get('capacity') or {}).get('storage', '')}",
        f"Access Modes: {access_modes(st.get('accessModes') or spec.get('accessModes'))}",
        f"VolumeMode:   {spec.get('volumeMode') or 'Filesystem'}",
    ]


def _volume_lines(obj: JSON) -> list[str]:
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    ref = spec.get("claimRef") or {}
    source = spec.get("local") or spec.get("hostPath") or {}
    return [
        f"StorageClass: {spec.get('storageClassName') or ''}",
        f"Status:       {st.get('phase', '')}",
        f"Claim:        {ref.get('namespace', '')}/{ref.get('name', '')}" if ref else "Claim:        ",
        f"Reclaim Policy: {spec.get('persistentVolumeReclaimPolicy', '')}",
        f"Access Modes: {access_modes(spec.get('accessModes'))}",
        f"Capacity:     {(spec.get('capacity') or {}).get('storage', '')}",
        f"Path:         {source.get('path', '')}",
    ]


def _budget_lines(obj: JSON) -> list[str]:
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    bound = f"Min available: {spec['minAvailable']}" if "minAvailable" in spec else \
        f"Max unavailable: {spec.get('maxUnavailable', NONE)}"
    return [
        bound,
        f"Selector:     {format_selector(spec.get('selector'))}",
        f"Status:       Allowed disruptions: {st.get('disruptionsAllowed', 0)} | Current: "
        f"{st.get('currentHealthy', 0)} | Desired: {st.get('desiredHealthy', 0)} | Total: {st.get('expectedPods', 0)}",
    ]


_KIND_LINES = {"Pod": _pod_lines, "Deployment": _deployment_lines, "Service": _service_lines,
               "DaemonSet": _daemonset_lines, "StatefulSet": _statefulset_lines,
               "PersistentVolumeClaim": _claim_lines, "PersistentVolume": _volume_lines,
               "PodDisruptionBudget": _budget_lines}


def event_lines(events: list[JSON], now: datetime) -> list[str]:
    if not events:
        return ["Events:       <none>"]
    events = sorted(events, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
    rows = []
    for e in events:
        when = e.get("lastTimestamp") or e.get("eventTime") or (e.get("metadata") or {}).get(
            "creationTimestamp")
        source = (e.get("source") or {}).get("component") or e.get("reportingComponent") or ""
        rows.append([e.get("type") or "", e.get("reason") or "", age(when, now), source,
                     (e.get("message") or "").replace("\n", " ")])
    table = render_table(["Type", "Reason", "Age", "From", "Message"], rows)
    return ["Events:"] + ["  " + line for line in table.splitlines()]


def describe_text(obj: JSON, events: list[JSON], now: datetime) -> str:
    meta = obj.get("metadata") or {}
    lines = [f"Name:         {meta.get('name', '')}"]
    if meta.get("namespace"):
        lines.append(f"Namespace:    {meta['namespace']}")
    lines.append(f"Kind:         {obj.get('kind', '')}")
    lines += _map_lines("Labels", meta.get("labels"))
    lines += _map_lines("Annotations", meta.get("annotations"))
    lines.append(f"Created:      {meta.get('creationTimestamp', '<unknown>')} "
                 f"({age(meta.get('creationTimestamp'), now)} ago)")
    if meta.get("deletionTimestamp"):
        lines.append(f"Deleting:     since {meta['deletionTimestamp']}")
    for ref in meta.get("ownerReferences") or []:
        lines.append(f"Controlled By:  {ref.get('kind')}/{ref.get('name')}")
    kind_lines = _KIND_LINES.get(str(obj.get("kind")))
    if kind_lines:
        lines += kind_lines(obj)
    else:
        for key, value in obj.items():
            if key in _SKIP_TOP:
                continue
            if isinstance(value, dict | list) and value:
                lines.append(f"{key[:1].upper()}{key[1:]}:")
                lines += _nested(value, 1)
            else:
                lines.append(f"{key[:1].upper()}{key[1:]}:".ljust(14) + str(value))
    lines += event_lines(events, now)
    return "\n".join(lines)
