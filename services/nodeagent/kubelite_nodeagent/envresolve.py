"""A container's environment and command line, resolved as the kubelet does.

Order (kubelet makeEnvironmentVariables): `envFrom` sources first, in order
(values not expanded), then `env` entries in order, each `value` expanded with
$(VAR) against the variables defined so far; finally `command` and `args` are
expanded against the complete environment.  Pure: ConfigMaps/Secrets are passed
in as dicts (already fetched); a missing one raises ConfigError naming it.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from kubelite.api.core_v1 import Container, EnvFromSource, Pod
from kubelite.api.quantity import parse_quantity

CREATE_CONTAINER_CONFIG_ERROR = "CreateContainerConfigError"

# Environment variable names kubelet accepts from envFrom (C identifier-ish, as IsEnvVarName allows).
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


class ConfigError(Exception):
    """A reference the container needs is missing (reason CreateContainerConfigError)."""


@dataclass
class ConfigSources:
    """Fetched ConfigMaps (name -> data), Secrets (name -> decoded data) and bound claims
    (name -> the directory of the volume bound to it); absent = not found or not bound."""

    configmaps: Mapping[str, Mapping[str, str]]
    secrets: Mapping[str, Mapping[str, str]]
    claims: Mapping[str, str] = field(default_factory=dict)


def decode_secret_data(data: Mapping[str, str] | None, string_data: Mapping[str, str] | None = None) -> dict[str, str]:
    """A Secret's base64 `data` decoded to text (stringData wins, as the apiserver merges it)."""
    out = {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in (data or {}).items()}
    out.update(string_data or {})
    return out


# --- $(VAR) expansion: k8s.io/kubernetes/third_party/forked/golang/expansion ---------------
def expand(text: str, lookup: Callable[[str], str | None]) -> str:
    """Expand $(VAR) references; $$ escapes a '$'; unknown or unterminated references stay as written."""
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    n = len(text)
    while cursor < n:
        if text[cursor] == "$" and cursor + 1 < n:
            out.append(text[checkpoint:cursor])
            nxt = text[cursor + 1]
            if nxt == "$":
                out.append("$")
                advance = 1
            elif nxt == "(":
                close = text.find(")", cursor + 2)
                if close == -1:
                    out.append("$(")
                    advance = 1
                else:
                    name = text[cursor + 2 : close]
                    value = lookup(name)
                    out.append(value if value is not None else f"$({name})")
                    advance = close - cursor
            else:
                out.append("$" + nxt)
                advance = 1
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    out.append(text[checkpoint:])
    return "".join(out)


def expand_list(items: list[str] | None, env: Mapping[str, str]) -> list[str] | None:
    if items is None:
        return None
    return [expand(item, env.get) for item in items]


# --- downward API ------------------------------------------------------------------------
_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


def field_ref_value(pod: Pod, field_path: str, pod_ip: str = "", host_ip: str = "") -> str:
    """Value of a fieldRef (metadata.name, status.podIP, metadata.labels['k'], ...)."""
    meta, spec = pod.metadata, pod.spec
    if m := _SUBSCRIPT.match(field_path):
        source = (meta.labels if m.group(1) == "labels" else meta.annotations) or {}
        return source.get(m.group(2), "")
    simple: dict[str, str | None] = {
        "metadata.name": meta.name,
        "metadata.namespace": meta.namespace,
        "metadata.uid": meta.uid,
        "spec.nodeName": spec.nodeName if spec else None,
        "spec.serviceAccountName": (spec.serviceAccountName if spec else None),
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
    }
    if field_path in simple:
        return simple[field_path] or ""
    if field_path in ("metadata.labels", "metadata.annotations"):
        source = (meta.labels if field_path == "metadata.labels" else meta.annotations) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(source.items()))
    raise ConfigError(f"unsupported fieldPath: {field_path}")


def resource_field_value(
    container: Container, resource: str, divisor: str | int | float | None, node_allocatable: Mapping[str, str]
) -> str:
    """Value of a resourceFieldRef: limits fall back to node allocatable; rounded up by divisor."""
    kind, _, name = resource.partition(".")
    res = container.resources
    values = (res.limits if kind == "limits" else res.requests) if res else None
    raw = (values or {}).get(name)
    if raw is None and kind == "limits":
        raw = node_allocatable.get(name)
    div = parse_quantity(divisor if divisor not in (None, "") else "1")
    if name == "cpu":
        millis = parse_quantity(raw).milli_value() if raw is not None else 0
        return str(math.ceil(millis / max(div.milli_value(), 1)))
    amount = parse_quantity(raw).value() if raw is not None else 0
    return str(math.ceil(amount / max(div.value(), 1)))


# --- the environment ---------------------------------------------------------------------
def container_env(
    pod: Pod,
    container: Container,
    sources: ConfigSources,
    *,
    pod_ip: str = "",
    host_ip: str = "",
    node_allocatable: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The container's environment; raises ConfigError for a missing ConfigMap/Secret/key."""
    namespace = pod.metadata.namespace or "default"
    env: dict[str, str] = {}
    for src in container.envFrom or []:
        prefix = src.prefix or ""
        data = _env_from_data(src, sources)
        if data is None:
            continue
        for key, value in data.items():
            name = prefix + key
            if _ENV_NAME.match(name):  # kubelet skips invalid names (and records an event)
                env[name] = value

    for var in container.env or []:
        name = var.name or ""
        if var.valueFrom is None:
            env[name] = expand(var.value or "", env.get)
            continue
        vf = var.valueFrom
        if vf.fieldRef is not None:
            env[name] = field_ref_value(pod, vf.fieldRef.fieldPath or "", pod_ip, host_ip)
        elif vf.resourceFieldRef is not None:
            rf = vf.resourceFieldRef
            target = container
            if rf.containerName and rf.containerName != container.name:
                target = _find_container(pod, rf.containerName) or container
            env[name] = resource_field_value(target, rf.resource or "", rf.divisor, node_allocatable or {})
        elif vf.configMapKeyRef is not None:
            ref = vf.configMapKeyRef
            value = _lookup_key(sources.configmaps, "configmap", "ConfigMap", namespace, ref.name, ref.key,
                                ref.optional)
            if value is not None:
                env[name] = value
        elif vf.secretKeyRef is not None:
            ref = vf.secretKeyRef
            value = _lookup_key(sources.secrets, "secret", "Secret", namespace, ref.name, ref.key, ref.optional)
            if value is not None:
                env[name] = value
    return env


def _env_from_data(src: EnvFromSource, sources: ConfigSources) -> Mapping[str, str] | None:
    """The data an envFrom source names; None to skip it (optional and missing, or neither
    kind); ConfigError when a required one is missing."""
    for ref, store, kind in ((src.configMapRef, sources.configmaps, "configmap"),
                             (src.secretRef, sources.secrets, "secret")):
        if ref is not None:
            data = store.get(ref.name or "")
            if data is None and not ref.optional:
                raise ConfigError(f'{kind} "{ref.name}" not found')
            return data
    return None


def _lookup_key(
    store: Mapping[str, Mapping[str, str]], lower: str, kind: str, namespace: str,
    name: str | None, key: str | None, optional: bool | None,
) -> str | None:
    data = store.get(name or "")
    if data is None:
        if optional:
            return None
        raise ConfigError(f'{lower} "{name}" not found')
    if key not in data:
        if optional:
            return None
        raise ConfigError(f"couldn't find key {key} in {kind} {namespace}/{name}")
    return data[key]


def _find_container(pod: Pod, name: str) -> Container | None:
    spec = pod.spec
    for c in [*((spec.initContainers or []) if spec else []), *((spec.containers or []) if spec else [])]:
        if c.name == name:
            return c
    return None
