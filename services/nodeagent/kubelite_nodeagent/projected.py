"""Projected and downward API volumes, as files (pure): what the kubelet's projected volume
plugin writes.

A projected volume merges its sources into one directory: configMap and secret items,
downward API items (`metadata.namespace`, labels, annotations, ...) and ServiceAccount
tokens (`serviceAccountToken`: the token the agent requested for this pod, audience and
lifetime as asked, bound to the pod). Example: the volume ServiceAccount admission adds
(kube-api-access-*) becomes `token`, `ca.crt` and `namespace`, each mode 0644.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from kubelite.api.core_v1 import (
    DownwardAPIVolumeFile,
    Pod,
    ProjectedVolumeSource,
    ServiceAccountTokenProjection,
)
from kubelite_nodeagent.envresolve import ConfigError, field_ref_value
from kubelite_nodeagent.volumefile import VolumeFile

DEFAULT_MODE = 0o644
DEFAULT_TOKEN_SECONDS = 3600  # a serviceAccountToken source without expirationSeconds (Kubernetes' default)


def token_key(src: ServiceAccountTokenProjection) -> tuple[str, int]:
    """(audience, lifetime in seconds) of a token source: "" is the apiserver's own audience."""
    return src.audience or "", src.expirationSeconds or DEFAULT_TOKEN_SECONDS


def token_keys(pod: Pod) -> list[tuple[str, int]]:
    """Every distinct token the pod's projected volumes ask for."""
    keys: list[tuple[str, int]] = []
    for volume in pod.spec.volumes or [] if pod.spec else []:
        for src in volume.projected.sources or [] if volume.projected is not None else []:
            if src.serviceAccountToken is not None and token_key(src.serviceAccountToken) not in keys:
                keys.append(token_key(src.serviceAccountToken))
    return keys


def metadata_digest(pod: Pod) -> str:
    """What downward API files depend on and may change while the pod runs: its labels and
    annotations (name, namespace and uid never change)."""
    meta = pod.metadata
    return repr((sorted((meta.labels or {}).items()), sorted((meta.annotations or {}).items())))


def downward_files(pod: Pod, items: list[DownwardAPIVolumeFile] | None, default_mode: int | None) -> dict[str, VolumeFile]:
    """Downward API items as files: a fieldRef's value (labels and annotations as `k="v"`
    lines). resourceFieldRef is refused: kubelite does not project container resources yet."""
    mode = DEFAULT_MODE if default_mode is None else default_mode
    files: dict[str, VolumeFile] = {}
    for item in items or []:
        if item.resourceFieldRef is not None:
            raise ConfigError(f"downward API item {item.path}: resourceFieldRef is not supported")
        if item.fieldRef is None:
            raise ConfigError(f"downward API item {item.path}: no fieldRef")
        value = field_ref_value(pod, item.fieldRef.fieldPath or "")
        files[item.path or ""] = VolumeFile(value.encode(), item.mode if item.mode is not None else mode)
    return files


def projected_files(pod: Pod, volume: ProjectedVolumeSource, *, config: Callable[..., dict[str, VolumeFile]],
                    tokens: Mapping[tuple[str, int], bytes]) -> dict[str, VolumeFile]:
    """Every source's files in one directory. `config(kind, name, items, mode, optional)` gives a
    ConfigMap's or Secret's files; `tokens` the tokens fetched for this pod."""
    mode = volume.defaultMode
    files: dict[str, VolumeFile] = {}
    for src in volume.sources or []:
        if src.configMap is not None:
            c = src.configMap
            files.update(config("configmap", c.name or "", c.items, mode, c.optional))
        elif src.secret is not None:
            s = src.secret
            files.update(config("secret", s.name or "", s.items, mode, s.optional))
        elif src.downwardAPI is not None:
            files.update(downward_files(pod, src.downwardAPI.items, mode))
        elif src.serviceAccountToken is not None:
            key = token_key(src.serviceAccountToken)
            if key not in tokens:
                raise ConfigError(f"no ServiceAccount token for audience {key[0] or '(the apiserver)'} yet")
            files[src.serviceAccountToken.path or "token"] = VolumeFile(
                tokens[key], DEFAULT_MODE if mode is None else mode)
        else:
            raise ConfigError("projected volume source not supported (clusterTrustBundle, podCertificate)")
    return files
