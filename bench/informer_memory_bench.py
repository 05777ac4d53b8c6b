"""Memory per cached pod, as each control-plane process keeps it (informer transforms).

No cluster: decodes --pods copies of a pod as the bench's Deployments store it (running, bound,
with its service account volume; name, uid, node, IP and resourceVersion differ per copy) and
measures with tracemalloc what the copies hold once kept as

- decoded: the whole `Pod` (msgspec), as an informer without a transform keeps it;
- lean: managedFields dropped and strings interned (`kubelite.reconcile.transforms.lean`);
- scheduler: `kubelite_scheduler.podrecord.keep` (a bound pod's skeleton);
- controller-manager: `kubelite_controller_manager.podrecord.keep`;
- apiserver pod cache: `kubelite_apiserver.podrecord.record_of` (the JSON plus selector fields).

    .venv/bin/python bench/informer_memory_bench.py [--pods 20000]

Prints bytes per pod for each and one `BENCH_JSON` line. The figure is what the objects hold,
not RSS: the allocator's overhead and fragmentation come on top (bench/scale_bench.py reports
RSS).

It also measures the CPU a transform costs per change an informer receives (process time,
decoding excluded): each pod's next version (a new resourceVersion and its Ready condition
flipped, as a status update makes it) transformed alone, and given the cached version it
replaces, whose unchanged parts it then shares (`transforms.intern_strings`).
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import platform
import sys
import time
import tracemalloc
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parent.parent
for service in ("scheduler", "controller-manager", "apiserver"):
    sys.path.insert(0, str(ROOT / "services" / service))

from kubelite.api.core_v1 import Pod  # noqa: E402
from kubelite.reconcile.transforms import lean  # noqa: E402
from kubelite_apiserver.podrecord import record_of  # noqa: E402
from kubelite_controller_manager import podrecord as cm_record  # noqa: E402
from kubelite_scheduler import podrecord as scheduler_record  # noqa: E402

# a pod of a bench Deployment as stored, read back with `kubelite get pod -o json`
STORED_POD: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {
        "name": "dep-0001-6c9d9d49fb-2d46f", "generateName": "dep-0001-6c9d9d49fb-", "namespace": "scale-001",
        "uid": "434c69ff-5910-4322-9ed5-b2579d74702c", "resourceVersion": "69", "generation": 1,
        "creationTimestamp": "2026-12-05T12:23:57Z", "labels": {"app": "dep-0001", "pod-template-hash": "6c9d9d49fb"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "dep-0001-6c9d9d49fb",
                             "uid": "3bddf456-6dec-42ff-ad75-3c130fa341aa", "controller": True,
                             "blockOwnerDeletion": True}],
    },
    "spec": {
        "volumes": [{"name": "kube-api-access-22qdy", "projected": {"sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1",
                                                                           "fieldPath": "metadata.namespace"}}]}},
        ], "defaultMode": 420}}],
        "containers": [{
            "name": "c", "image": "kubelite/busybox:latest", "command": ["sleep", "3600"],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
            "volumeMounts": [{"name": "kube-api-access-22qdy", "readOnly": True,
                              "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
            "imagePullPolicy": "Always",
        }],
        "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
        "serviceAccountName": "default", "serviceAccount": "default", "nodeName": "node-1", "securityContext": {},
        "schedulerName": "default-scheduler",
        "tolerations": [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300},
        ],
        "enableServiceLinks": True,
    },
    "status": {
        "phase": "Running",
        "conditions": [{"type": t, "status": "True", "lastTransitionTime": "2026-12-05T12:23:57Z"}
                       for t in ("Initialized", "ContainersReady", "Ready", "PodScheduled")],
        "hostIP": "192.0.2.2", "hostIPs": [{"ip": "192.0.2.2"}], "podIP": "10.244.1.2", "podIPs": [{"ip": "10.244.1.2"}],
        "startTime": "2026-12-05T12:23:57Z",
        "containerStatuses": [{"name": "c", "state": {"running": {"startedAt": "2026-12-05T12:23:57Z"}}, "lastState": {},
                               "ready": True, "restartCount": 0, "image": "kubelite/busybox:latest",
                               "imageID": "fake://kubelite/busybox:latest", "containerID": "fake://fake-1",
                               "started": True}],
        "qosClass": "Burstable",
    },
}  # fmt: skip


def stored_copies(count: int) -> list[bytes]:
    """`count` encoded pods that differ where pods of one cluster differ (100 per Deployment)."""
    out = []
    for i in range(count):
        pod = copy.deepcopy(STORED_POD)
        meta, spec, status = pod["metadata"], pod["spec"], pod["status"]
        deployment = f"dep-{i // 100:04d}"
        meta["name"] = f"{deployment}-6c9d9d49fb-{uuid.uuid4().hex[:5]}"
        meta["labels"]["app"] = deployment
        meta["uid"], meta["resourceVersion"] = str(uuid.uuid4()), str(1000 + i)
        spec["nodeName"] = f"node-{i % 5000}"
        ip = f"10.{i % 250}.{i // 250 % 250}.{i % 200 + 2}"
        status["podIP"], status["podIPs"] = ip, [{"ip": ip}]
        out.append(msgspec.json.encode(pod))
    return out


KEEPERS: dict[str, Callable[[Pod], Any]] = {
    "decoded": lambda pod: pod,
    "lean": lean,
    "scheduler": scheduler_record.keep,
    "controller-manager": cm_record.keep,
    "apiserver pod cache": record_of,
}


def bytes_per_pod(raws: list[bytes], keep: Callable[[Pod], Any]) -> float:
    decode = msgspec.json.Decoder(Pod).decode
    gc.collect()
    tracemalloc.start()
    kept = [keep(decode(raw)) for raw in raws]
    gc.collect()
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del kept
    return held / len(raws)


UPDATERS: dict[str, Callable[[Pod, Pod | None], Any]] = {
    "lean": lean,
    "scheduler": scheduler_record.keep,
    "controller-manager": cm_record.keep,
}


def next_versions(raws: list[bytes]) -> list[bytes]:
    """Each pod as its next status update leaves it: resourceVersion moved, Ready flipped."""
    out = []
    for raw in raws:
        pod = msgspec.json.decode(raw)
        pod["metadata"]["resourceVersion"] = str(int(pod["metadata"]["resourceVersion"]) + 1_000_000)
        ready = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
        ready["status"], ready["lastTransitionTime"] = "False", "2026-12-05T12:30:00Z"
        pod["status"]["containerStatuses"][0]["ready"] = False
        out.append(msgspec.json.encode(pod))
    return out


def cpu_us_per_update(raws: list[bytes], updates: list[bytes],
                      keep: Callable[[Pod, Pod | None], Any]) -> tuple[float, float]:
    """Microseconds of CPU per update, decoding excluded: (alone, given the cached version)."""
    decode = msgspec.json.Decoder(Pod).decode
    cached = [keep(decode(raw), None) for raw in raws]

    def timed(work: Callable[[], object]) -> float:
        """Without the cyclic collector: its passes over everything cached would land at random
        in one loop or another (the services tune it, kubelite.gctune)."""
        gc.collect()
        gc.disable()
        try:
            start = time.process_time()
            work()
            return time.process_time() - start
        finally:
            gc.enable()

    best = [float("inf")] * 3  # the least of five tries each, interleaved: this machine is shared
    for _ in range(5):
        tries = (  # nothing kept: a cache frees the version each update replaces
            timed(lambda: deque((decode(u) for u in updates), maxlen=0)),
            timed(lambda: deque((keep(decode(u), None) for u in updates), maxlen=0)),
            timed(lambda: deque((keep(decode(u), old) for u, old in zip(updates, cached, strict=True)), maxlen=0)),
        )
        best = [min(b, t) for b, t in zip(best, tries, strict=True)]
    decoding, alone, reusing = best
    return (alone - decoding) / len(updates) * 1e6, (reusing - decoding) / len(updates) * 1e6


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pods", type=int, default=20_000)
    opts = p.parse_args(argv)
    raws = stored_copies(opts.pods)
    results = {name: round(bytes_per_pod(raws, keep)) for name, keep in KEEPERS.items()}
    print(f"memory per cached pod ({opts.pods} pods, {sum(map(len, raws)) / len(raws):.0f} bytes of JSON each)")
    for name, held in results.items():
        print(f"{name:<22}{held:>8,} bytes  {held * 150_000 / 2**20:>6,.0f} MiB at 150,000 pods")
    updates = next_versions(raws)
    cpu = {name: [round(us, 1) for us in cpu_us_per_update(raws, updates, keep)] for name, keep in UPDATERS.items()}
    print("\nCPU per status update, decoding excluded (alone → given the cached version it replaces)")
    for name, (alone, reusing) in cpu.items():
        print(f"{name:<22}{alone:>6.1f} µs → {reusing:>5.1f} µs")
    print("BENCH_JSON " + json.dumps({"bench": "informer_memory", "pods": opts.pods, "bytes_per_pod": results,
                                      "cpu_us_per_update": cpu, "loadavg": os.getloadavg()[0],
                                      "python": platform.python_version(), "msgspec": msgspec.__version__}))


if __name__ == "__main__":
    main()
