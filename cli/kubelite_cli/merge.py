"""`apply` on an existing object: what to send, and whether anything changes (pure).

The file's content replaces the object's content fields (spec, data, ...) and its
labels/annotations; identity and server-owned fields (resourceVersion, uid,
status, creationTimestamp, ...) are kept, so the update is a compare-and-swap on
the version read. Values the server allocated and the file leaves out
(a Service's clusterIP and nodePorts) are carried over, as kubectl's merge would.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

JSON = dict[str, Any]

# Top-level fields that are not content: never taken from the file.
_NOT_CONTENT = {"apiVersion", "kind", "metadata", "status"}
_MERGED_META = ("labels", "annotations")
# Keys the server or controllers set on metadata: neither a difference nor lost on update.
_SERVER_OWNED_PREFIXES = (
    "kubernetes.io/metadata.name",  # namespaces' automatic name label
    "deployment.kubernetes.io/",  # revision annotations of Deployments/ReplicaSets
    "kubectl.kubernetes.io/",
    "control-plane.alpha.kubernetes.io/",
)


def _user_keys(mapping: dict[str, str] | None) -> dict[str, str]:
    return {k: v for k, v in (mapping or {}).items() if not k.startswith(_SERVER_OWNED_PREFIXES)}


def _server_keys(mapping: dict[str, str] | None) -> dict[str, str]:
    return {k: v for k, v in (mapping or {}).items() if k.startswith(_SERVER_OWNED_PREFIXES)}


def is_subset(want: Any, have: Any) -> bool:
    """Does `have` already contain everything `want` says? (server defaults may add more)."""
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return False
        return all(is_subset(v, have.get(k)) for k, v in want.items())
    if isinstance(want, list):
        if not isinstance(have, list) or len(want) != len(have):
            return False
        return all(is_subset(w, h) for w, h in zip(want, have, strict=True))
    if isinstance(want, int | float) and isinstance(have, int | float) and not isinstance(want, bool):
        return want == have
    if isinstance(want, int) and isinstance(have, str):
        return str(want) == have  # quantities: "1" vs 1
    return want == have


def _secret_as_stored(desired: JSON) -> JSON:
    """The server folds a Secret's stringData into base64 data; compare in that form."""
    string_data = desired.get("stringData")
    if desired.get("kind") != "Secret" or not isinstance(string_data, dict):
        return desired
    data = dict(desired.get("data") or {})
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    out = {k: v for k, v in desired.items() if k != "stringData"}
    out["data"] = data
    return out


def unchanged(desired: JSON, current: JSON) -> bool:
    return _same(desired, current) or _same(_secret_as_stored(desired), current)


def _same(desired: JSON, current: JSON) -> bool:
    meta_d, meta_c = desired.get("metadata") or {}, current.get("metadata") or {}
    for key in _MERGED_META:
        if _user_keys(meta_d.get(key)) != _user_keys(meta_c.get(key)):
            return False
    return all(is_subset(v, current.get(k)) for k, v in desired.items() if k not in _NOT_CONTENT)


def _keep_service_allocations(spec: JSON, old: JSON) -> None:
    for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy", "healthCheckNodePort"):
        if key not in spec and key in old:
            spec[key] = old[key]
    old_ports = {(p.get("port"), p.get("protocol") or "TCP"): p for p in old.get("ports") or []}
    for port in spec.get("ports") or []:
        prev = old_ports.get((port.get("port"), port.get("protocol") or "TCP"))
        if prev and "nodePort" not in port and "nodePort" in prev:
            port["nodePort"] = prev["nodePort"]


def merged_for_update(desired: JSON, current: JSON) -> JSON:
    """The body to PUT: current identity + status, the file's content and labels."""
    out = copy.deepcopy(current)
    for key in [k for k in out if k not in _NOT_CONTENT]:
        if key not in desired:
            del out[key]
    for key, value in desired.items():
        if key not in _NOT_CONTENT:
            out[key] = copy.deepcopy(value)
    meta = out.setdefault("metadata", {})
    meta_d = desired.get("metadata") or {}
    for key in _MERGED_META:
        merged = {**_server_keys(meta.get(key)), **(meta_d.get(key) or {})}
        if merged:
            meta[key] = merged
        else:
            meta.pop(key, None)
    if current.get("kind") == "Service" and isinstance(out.get("spec"), dict):
        _keep_service_allocations(out["spec"], current.get("spec") or {})
    return out
