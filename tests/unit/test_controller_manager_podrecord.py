"""What the controller-manager keeps of a pod (podrecord.keep): everything a controller reads,
without what only the node agent reads."""

from __future__ import annotations

import msgspec

from kubelite.api.core_v1 import Pod
from kubelite_controller_manager.podrecord import keep


def stored_pod() -> Pod:
    return msgspec.convert({
        "metadata": {"name": "web-1", "namespace": "shop", "uid": "u-1", "labels": {"app": "web"},
                     "managedFields": [{"manager": "kubectl"}],
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                                          "uid": "u-rs", "controller": True}]},
        "spec": {
            "nodeName": "n1", "hostname": "web-1", "subdomain": "web",
            "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                             "effect": "NoExecute", "tolerationSeconds": 300}],
            "initContainers": [{"name": "proxy", "image": "p", "restartPolicy": "Always", "args": ["-v"],
                                "ports": [{"name": "admin", "containerPort": 9901}]}],
            "containers": [{"name": "c", "image": "img", "command": ["serve"], "env": [{"name": "A", "value": "1"}],
                            "ports": [{"name": "http", "containerPort": 8080}],
                            "resources": {"requests": {"cpu": "100m"}},
                            "readinessProbe": {"httpGet": {"path": "/", "port": 8080}},
                            "volumeMounts": [{"name": "token", "mountPath": "/var/run/secrets"}]}],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data-web-1"}},
                        {"name": "token", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}],
        },
        "status": {"phase": "Running", "podIP": "10.0.0.9",
                   "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-12-05T00:00:00Z"}],
                   "containerStatuses": [{"name": "c", "ready": True, "restartCount": 2,
                                          "state": {"running": {"startedAt": "2026-12-05T00:00:00Z"}}}]},
    }, Pod)


def test_what_controllers_read_is_kept() -> None:
    whole, kept = stored_pod(), keep(stored_pod())
    assert msgspec.to_builtins(kept.status) == msgspec.to_builtins(whole.status)
    assert kept.metadata.labels == {"app": "web"} and kept.metadata.ownerReferences[0].uid == "u-rs"
    assert (kept.spec.nodeName, kept.spec.hostname, kept.spec.subdomain) == ("n1", "web-1", "web")
    assert kept.spec.tolerations[0].tolerationSeconds == 300
    c = kept.spec.containers[0]
    assert (c.name, c.image, c.ports[0].name, c.resources.requests) == ("c", "img", "http", {"cpu": "100m"})
    sidecar = kept.spec.initContainers[0]
    assert (sidecar.restartPolicy, sidecar.ports[0].containerPort) == ("Always", 9901)
    assert kept.spec.volumes[0].persistentVolumeClaim.claimName == "data-web-1"
    assert kept.spec.volumes[1].name == "token" and kept.spec.volumes[1].projected is not None


def test_what_only_the_node_agent_reads_is_left_out() -> None:
    kept = keep(stored_pod())
    c = kept.spec.containers[0]
    assert (c.command, c.env, c.readinessProbe, c.volumeMounts) == (None, None, None, None)
    assert kept.spec.initContainers[0].args is None
    assert kept.spec.volumes[1].projected.sources is None
    assert kept.metadata.managedFields is None
