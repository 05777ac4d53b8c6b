"""emptyDir volumes as the kubelet makes them: a directory in the pod's directory, or with
`medium: Memory` a tmpfs mounted there (sized by `sizeLimit` when it is set), and the
`sizeLimit` watch that evicts a pod whose emptyDir grew past it (the kubelet's
localStorageEviction: the pod fails with reason Evicted).
"""

from __future__ import annotations

import os
import subprocess
from typing import Any

from kubelite.api.quantity import parse_quantity
from kubelite_nodeagent.envresolve import ConfigError

PLUGIN = "kubernetes.io~empty-dir"


def limit_bytes(volume: Any) -> int | None:
    raw = volume.emptyDir.sizeLimit if volume.emptyDir is not None else None
    return int(parse_quantity(raw).value()) if raw is not None else None


def prepare(volume: Any, directory: str) -> None:
    """Make the volume's directory; for medium Memory mount a tmpfs on it once."""
    os.makedirs(directory, exist_ok=True)
    if volume.emptyDir is None or volume.emptyDir.medium != "Memory" or os.path.ismount(directory):
        return
    options = "mode=0777"
    size = limit_bytes(volume)
    if size is not None:
        options += f",size={size}"
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", directory],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ConfigError(f"mounting a tmpfs for emptyDir {volume.name}: {result.stderr.strip()}")


def unmount_all(pod_dir: str) -> None:
    """Unmount the pod's memory-backed emptyDirs (before its directory is removed)."""
    root = os.path.join(pod_dir, "volumes", PLUGIN)
    if not os.path.isdir(root):
        return
    for name in os.listdir(root):
        path = os.path.join(root, name)
        if os.path.ismount(path):
            subprocess.run(["umount", "-l", path], capture_output=True, check=False)


def unmount_pods(pods_root: str) -> None:
    """unmount_all for every pod directory under the node's pods root."""
    for uid in os.listdir(pods_root) if os.path.isdir(pods_root) else []:
        unmount_all(os.path.join(pods_root, uid))


def usage_bytes(directory: str) -> int:
    """Bytes a directory tree occupies (as du counts: allocated blocks; hard links once)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
    return total


def over_limit(volumes: list[Any], directory_of: Any) -> str | None:
    """The eviction message for the first emptyDir past its sizeLimit, None when all fit.
    Example: a 1Mi limit and 2 MiB written: 'Usage of EmptyDir volume "scratch" exceeds the
    limit "1Mi". '."""
    for volume in volumes:
        limit = limit_bytes(volume)
        if limit is None:
            continue
        directory = directory_of(volume)
        if os.path.isdir(directory) and usage_bytes(directory) > limit:
            return f'Usage of EmptyDir volume "{volume.name}" exceeds the limit "{volume.emptyDir.sizeLimit}". '
    return None
