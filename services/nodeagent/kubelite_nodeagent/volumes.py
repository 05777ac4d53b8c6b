"""Pod volumes prepared on the host and handed to the runtime as mounts.

Layout (as the kubelet's): <pod dir>/volumes/kubernetes.io~<plugin>/<volume name>/, where the
pod dir is on a tmpfs for Secret, projected and downwardAPI volumes and on disk for the rest
(`PodDirs`), with
configMap/secret volumes holding one file per key (or per `items` entry, at its
`path`, with its `mode` or the volume's `defaultMode`, default 0644).  The
file layout is computed by pure functions; `write_files` syncs a directory to it.
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kubelite.api.core_v1 import Container, KeyToPath, Pod, Volume
from kubelite_nodeagent import emptydir, projected
from kubelite_nodeagent.envresolve import ConfigError, ConfigSources
from kubelite_nodeagent.runtime.base import Mount
from kubelite_nodeagent.volumefile import VolumeFile

DEFAULT_MODE = 0o644


def plugin_dir(volume: Volume) -> str:
    if volume.configMap is not None:
        return "kubernetes.io~configmap"
    if volume.secret is not None:
        return "kubernetes.io~secret"
    if volume.emptyDir is not None:
        return "kubernetes.io~empty-dir"
    if volume.projected is not None:
        return "kubernetes.io~projected"
    if volume.downwardAPI is not None:
        return "kubernetes.io~downward-api"
    if volume.persistentVolumeClaim is not None:
        return "kubernetes.io~local-volume"
    return "kubernetes.io~other"


@dataclass(frozen=True, slots=True)
class PodDirs:
    """A pod's two directories on the node. `disk`: `<root>/pods/<uid>`, as kubelet's (emptyDir,
    claims' links, the working directory of a container on the host's filesystem). `memory`: on a
    tmpfs (runtime/statedir.py), for what kubelet too keeps in memory so that secrets and tokens
    never reach a disk (Secret, projected and downwardAPI volumes) and for resolv.conf; without a
    tmpfs both are the same directory."""

    disk: str
    memory: str


def in_memory(volume: Volume) -> bool:
    """Backed by a tmpfs in kubelet (its secret, projected and downwardAPI plugins wrap an
    emptyDir of medium Memory; configMap's wraps one on disk)."""
    return volume.secret is not None or volume.projected is not None or volume.downwardAPI is not None


def volume_dir(dirs: PodDirs, volume: Volume) -> str:
    base = dirs.memory if in_memory(volume) else dirs.disk
    return os.path.join(base, "volumes", plugin_dir(volume), volume.name or "")


def key_files(
    data: Mapping[str, bytes], items: list[KeyToPath] | None, default_mode: int | None, missing_key_message: str
) -> dict[str, VolumeFile]:
    """Files (relative path -> content, mode) for the keys of a ConfigMap/Secret.

    Without items every key is a file named after it; with items only the listed keys, at their
    paths.  A listed key that does not exist raises ConfigError(missing_key_message % key).
    """
    mode = DEFAULT_MODE if default_mode is None else default_mode
    if not items:
        return {key: VolumeFile(value, mode) for key, value in data.items()}
    files: dict[str, VolumeFile] = {}
    for item in items:
        key = item.key or ""
        if key not in data:
            raise ConfigError(missing_key_message % key)
        files[item.path or key] = VolumeFile(data[key], item.mode if item.mode is not None else mode)
    return files


def configmap_bytes(data: Mapping[str, str] | None, binary_data: Mapping[str, str] | None) -> dict[str, bytes]:
    out = {k: v.encode() for k, v in (data or {}).items()}
    out.update({k: base64.b64decode(v) for k, v in (binary_data or {}).items()})
    return out


def source_data(kind: str, name: str, sources: ConfigSources, binary: Mapping[str, Mapping[str, bytes]]
                ) -> Mapping[str, bytes] | None:
    """A ConfigMap's ("configmap") or Secret's ("secret") keys as bytes; None when it is missing."""
    key = f"{kind}/{name}"
    if key in binary:
        return binary[key]
    text = (sources.configmaps if kind == "configmap" else sources.secrets).get(name)
    return None if text is None else {k: v.encode() for k, v in text.items()}


def _config_files(kind: str, name: str, items: list[KeyToPath] | None, mode: int | None, optional: bool | None,
                  sources: ConfigSources, binary: Mapping[str, Mapping[str, bytes]]) -> dict[str, VolumeFile]:
    data = source_data(kind, name, sources, binary)
    if data is None:
        if optional:
            return {}
        raise ConfigError(f'{kind} "{name}" not found')
    missing = ("configmap references non-existent config key: %s" if kind == "configmap"
               else "references non-existent secret key: %s")
    return key_files(data, items, mode, missing)


def volume_files(volume: Volume, sources: ConfigSources, binary: Mapping[str, Mapping[str, bytes]] | None = None,
                 *, pod: Pod | None = None, tokens: Mapping[tuple[str, int], bytes] | None = None,
                 ) -> dict[str, VolumeFile] | None:
    """Files of a configMap, secret, downwardAPI or projected volume (None for other kinds);
    ConfigError when a source is missing.

    `binary` optionally gives a ConfigMap's or Secret's content as bytes (binaryData, binary
    secrets) keyed "configmap/<name>" / "secret/<name>"; otherwise the text of `sources` is used.
    `pod` feeds downward API items and `tokens` the ServiceAccount tokens of projected
    volumes, keyed (audience, expirationSeconds) as `projected.token_keys` lists them.
    """
    binary = binary or {}
    if volume.configMap is not None:
        src = volume.configMap
        return _config_files("configmap", src.name or "", src.items, src.defaultMode, src.optional, sources, binary)
    if volume.secret is not None:
        src2 = volume.secret
        return _config_files("secret", src2.secretName or "", src2.items, src2.defaultMode, src2.optional, sources,
                             binary)
    if volume.downwardAPI is not None and pod is not None:
        return projected.downward_files(pod, volume.downwardAPI.items, volume.downwardAPI.defaultMode)
    if volume.projected is not None and pod is not None:
        return projected.projected_files(
            pod, volume.projected,
            config=lambda kind, name, items, mode, optional: _config_files(kind, name, items, mode, optional,
                                                                          sources, binary),
            tokens=tokens or {})
    return None


def write_files(directory: str, files: Mapping[str, VolumeFile]) -> None:
    """Make `directory` hold exactly `files` (write changed ones atomically, remove stale ones).
    Plain os calls rather than pathlib: every pod start writes its projected volumes, and
    pathlib's objects and rglob were a third of a busy node agent's CPU."""
    os.makedirs(directory, exist_ok=True)
    wanted: set[str] = set()
    made: set[str] = {directory}
    for name, vf in files.items():
        rel = os.path.normpath(name)
        if rel.startswith("..") or os.path.isabs(rel):
            raise ConfigError(f"invalid path in volume item: {rel}")
        wanted.add(rel)
        target = os.path.join(directory, rel)
        parent = os.path.dirname(target)
        if parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        if _holds(target, vf):
            continue
        tmp = os.path.join(parent, f".{os.path.basename(target)}.tmp")
        with open(tmp, "wb") as f:
            f.write(vf.data)
        os.chmod(tmp, vf.mode)
        os.replace(tmp, target)
    _remove_stale(directory, wanted)


def _holds(path: str, vf: VolumeFile) -> bool:
    try:
        with open(path, "rb") as f:
            if f.read() != vf.data:
                return False
            return (os.fstat(f.fileno()).st_mode & 0o7777) == vf.mode
    except OSError:
        return False


def _remove_stale(directory: str, wanted: set[str]) -> None:
    """Files under `directory` not in `wanted` (relative paths), then directories left empty."""
    for dirpath, dirnames, filenames in os.walk(directory, topdown=False):
        for name in filenames:
            path = os.path.join(dirpath, name)
            if os.path.relpath(path, directory) not in wanted:
                os.unlink(path)
        for name in dirnames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path) and not os.listdir(path):
                os.rmdir(path)


def host_path_of(dirs: PodDirs, volume: Volume) -> str:
    """Where a volume lives on the host (hostPath: the path itself; a claim: its volume's
    directory, which the pod's volume directory links to)."""
    if volume.hostPath is not None:
        return volume.hostPath.path or ""
    if volume.persistentVolumeClaim is not None:
        return os.path.realpath(volume_dir(dirs, volume))
    return volume_dir(dirs, volume)


def link_claim(volume: Volume, directory: str, claims: Mapping[str, str]) -> None:
    """A claim's volume: its directory (made on first use, as the local-path provisioner's
    helper would), linked from the pod's volume directory so mounts find it. Data stays in the
    volume's directory, outside the pod, so it outlives the pod."""
    claim = volume.persistentVolumeClaim.claimName if volume.persistentVolumeClaim else ""
    target = claims.get(claim or "")
    if target is None:
        raise ConfigError(f'persistentvolumeclaim "{claim}" is not bound to a volume yet')
    os.makedirs(target, mode=0o777, exist_ok=True)
    if os.path.islink(directory):
        if os.readlink(directory) == target:
            return
        os.unlink(directory)
    elif os.path.isdir(directory):
        os.rmdir(directory)  # an empty placeholder; a non-empty one is an error worth seeing
    os.makedirs(os.path.dirname(directory), exist_ok=True)
    os.symlink(target, directory)


def ensure_host_path(volume: Volume) -> None:
    """hostPath types that create: DirectoryOrCreate / FileOrCreate."""
    hp = volume.hostPath
    if hp is None or not hp.path:
        return
    if hp.type == "DirectoryOrCreate":
        os.makedirs(hp.path, mode=0o755, exist_ok=True)
    elif hp.type == "FileOrCreate" and not os.path.exists(hp.path):
        os.makedirs(os.path.dirname(hp.path) or "/", exist_ok=True)
        Path(hp.path).touch(mode=0o644)
    elif hp.type == "Directory" and not os.path.isdir(hp.path):
        raise ConfigError(f"hostPath type check failed: {hp.path} is not a directory")
    elif hp.type == "File" and not os.path.isfile(hp.path):
        raise ConfigError(f"hostPath type check failed: {hp.path} is not a file")


def container_mounts(pod: Pod, container: Container, dirs: PodDirs) -> list[Mount]:
    """The container's volumeMounts as host path -> container path (subPath honoured)."""
    volumes = {v.name: v for v in (pod.spec.volumes or [] if pod.spec else [])}
    mounts: list[Mount] = []
    for vm in container.volumeMounts or []:
        volume = volumes.get(vm.name)
        if volume is None:
            raise ConfigError(f'volume "{vm.name}" not found')
        host = host_path_of(dirs, volume)
        if vm.subPath:
            host = os.path.join(host, vm.subPath)
        read_only = bool(vm.readOnly) or any(x is not None for x in (volume.configMap, volume.secret,
                                                                      volume.projected, volume.downwardAPI))
        mounts.append(Mount(host_path=host, container_path=vm.mountPath or "", read_only=read_only))
    return mounts


def prepare_volumes(pod: Pod, dirs: PodDirs, sources: ConfigSources,
                    binary: Mapping[str, Mapping[str, bytes]] | None = None,
                    tokens: Mapping[tuple[str, int], bytes] | None = None, *, only_projected: bool = False) -> None:
    """Create/refresh every volume of the pod on the host (with `only_projected`, the projected
    and downwardAPI ones: fresh tokens, changed labels); ConfigError names what is missing."""
    for volume in pod.spec.volumes or [] if pod.spec else []:
        if only_projected and volume.projected is None and volume.downwardAPI is None:
            continue
        if volume.hostPath is not None or volume.persistentVolumeClaim is not None:
            try:
                if volume.hostPath is not None:
                    ensure_host_path(volume)
                else:
                    link_claim(volume, volume_dir(dirs, volume), sources.claims)
            except (ConfigError, OSError) as exc:
                raise ConfigError(f'MountVolume.SetUp failed for volume "{volume.name}" : {exc}') from None
            continue
        directory = volume_dir(dirs, volume)
        if volume.emptyDir is not None:
            emptydir.prepare(volume, directory)
            continue
        try:
            files = volume_files(volume, sources, binary, pod=pod, tokens=tokens)
        except ConfigError as exc:
            raise ConfigError(f'MountVolume.SetUp failed for volume "{volume.name}" : {exc}') from None
        if files is None:
            os.makedirs(directory, exist_ok=True)  # emptyDir and unsupported kinds: an empty dir
        else:
            write_files(directory, files)


def remove_pod_dirs(dirs: PodDirs) -> None:
    emptydir.unmount_all(dirs.disk)
    shutil.rmtree(dirs.disk, ignore_errors=True)
    if dirs.memory != dirs.disk:
        shutil.rmtree(dirs.memory, ignore_errors=True)


def emptydir_overflow(pod: Pod, dirs: PodDirs) -> str | None:
    """The eviction message when an emptyDir outgrew its sizeLimit (kubelite_nodeagent.emptydir)."""
    limited = [v for v in (pod.spec.volumes or [] if pod.spec else [])
               if v.emptyDir is not None and v.emptyDir.sizeLimit is not None]
    return emptydir.over_limit(limited, lambda v: volume_dir(dirs, v)) if limited else None
