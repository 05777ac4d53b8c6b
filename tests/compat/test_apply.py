"""Declarative and imperative writes: apply (client- and server-side), diff, create,
replace, edit, patch, label, annotate."""

from __future__ import annotations

import json
import stat
import sys
import textwrap
from pathlib import Path

import pytest

ROOT_CA = "configmap/kube-root-ca.crt"  # in every namespace, as in Kubernetes (the root CA publisher)

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  labels: {app: web, tier: front}
data:
  color: blue
  size: large
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        ports: [{containerPort: 80}]
        env:
        - {name: MODE, value: fast}
        - {name: EXTRA, value: "1"}
"""

SERVICE = """\
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 80}]
"""


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.compat("kubectl apply -f (multi-document file)")
@pytest.mark.compat("kubectl apply (second apply: changes and removals)")
def test_apply_multi_doc_then_edit(cluster, kubectl, ns, tmp_path) -> None:
    f = write(tmp_path / "app.yaml", "---\n".join([CONFIGMAP, DEPLOYMENT, SERVICE]))
    out = kubectl("-n", ns, "apply", "-f", str(f)).stdout
    assert out.split("\n")[:3] == [
        "configmap/settings created", "deployment.apps/web created", "service/web created"]
    cm = cluster.json("-n", ns, "get", "configmap", "settings")
    assert "kubectl.kubernetes.io/last-applied-configuration" in cm["metadata"]["annotations"]
    managers = {m["manager"] for m in cm["metadata"]["managedFields"]}
    assert managers == {"kubectl-client-side-apply"}

    again = kubectl("-n", ns, "apply", "-f", str(f)).stdout
    assert "configmap/settings unchanged" in again and "deployment.apps/web unchanged" in again

    # Someone else adds a label; the file drops `size`, label `tier` and env EXTRA, changes color.
    kubectl("-n", ns, "label", "configmap", "settings", "owner=ops")
    edited = (CONFIGMAP.replace("  size: large\n", "").replace(", tier: front", "")
              .replace("blue", "green"))
    dep = DEPLOYMENT.replace('        - {name: EXTRA, value: "1"}\n', "").replace("replicas: 2", "replicas: 3")
    write(f, "---\n".join([edited, dep, SERVICE]))
    out = kubectl("-n", ns, "apply", "-f", str(f)).stdout
    assert "configmap/settings configured" in out and "deployment.apps/web configured" in out
    assert "service/web unchanged" in out
    cm = cluster.json("-n", ns, "get", "configmap", "settings")
    assert cm["data"] == {"color": "green"}
    assert cm["metadata"]["labels"] == {"app": "web", "owner": "ops"}  # others' label kept
    d = cluster.json("-n", ns, "get", "deployment", "web")
    assert d["spec"]["replicas"] == 3
    assert d["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "MODE", "value": "fast"}]


@pytest.mark.compat("kubectl apply -f (directory)")
@pytest.mark.compat("kubectl delete -f")
def test_apply_directory_and_delete(cluster, kubectl, ns, tmp_path) -> None:
    d = tmp_path / "manifests"
    d.mkdir()
    write(d / "a-configmap.yaml", CONFIGMAP)
    write(d / "b-service.yml", SERVICE)
    write(d / "c-secret.json", json.dumps({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
        "stringData": {"user": "admin"}}))
    out = kubectl("-n", ns, "apply", "-f", str(d)).stdout
    assert sorted(out.split()) == sorted(
        ["configmap/settings", "created", "service/web", "created", "secret/creds", "created"])
    secret = cluster.json("-n", ns, "get", "secret", "creds")
    assert secret["data"] == {"user": "YWRtaW4="} and secret["type"] == "Opaque"
    out = kubectl("-n", ns, "delete", "-f", str(d)).stdout
    assert 'configmap "settings" deleted' in out and 'service "web" deleted' in out
    left = kubectl("-n", ns, "get", "configmaps,services,secrets", "-o", "name").stdout.split()
    assert left == [ROOT_CA], left


@pytest.mark.compat(
    "kubectl apply --server-side",
    missing="fields written by kubelite's own components over NATS have no field manager, so "
            "applying over them never conflicts; no apply on the status subresource; list merge "
            "keys come from the strategic-merge schema (no x-kubernetes-list-type in OpenAPI)",
)
def test_server_side_apply(cluster, kubectl, ns, tmp_path) -> None:
    f = write(tmp_path / "cm.yaml", CONFIGMAP)
    out = kubectl("-n", ns, "apply", "--server-side", "-f", str(f)).stdout
    assert out.strip() == "configmap/settings serverside-applied"
    cm = cluster.json("-n", ns, "get", "configmap", "settings")
    [entry] = cm["metadata"]["managedFields"]
    assert entry["manager"] == "kubectl" and entry["operation"] == "Apply"
    assert entry["fieldsType"] == "FieldsV1"
    assert entry["fieldsV1"] == {
        "f:data": {"f:color": {}, "f:size": {}},
        "f:metadata": {"f:labels": {"f:app": {}, "f:tier": {}}},
    }
    assert "last-applied-configuration" not in json.dumps(cm["metadata"].get("annotations", {}))

    # A field dropped from the applied configuration is removed (nobody else owns it).
    write(f, CONFIGMAP.replace("  size: large\n", ""))
    kubectl("-n", ns, "apply", "--server-side", "-f", str(f))
    assert cluster.json("-n", ns, "get", "configmap", "settings")["data"] == {"color": "blue"}

    # Another manager changes a field: the next apply conflicts, as Kubernetes reports it.
    kubectl("-n", ns, "patch", "configmap", "settings", "--type=merge",
            "-p", '{"data":{"color":"red"}}')
    r = kubectl("-n", ns, "apply", "--server-side", "-f", str(f), check=False)
    assert r.returncode != 0
    assert ('Apply failed with 1 conflict: conflict with "kubectl-patch" using v1: .data.color'
            in r.stderr), r.stderr
    assert "--force-conflicts" in r.stderr
    assert cluster.json("-n", ns, "get", "configmap", "settings")["data"]["color"] == "red"

    out = kubectl("-n", ns, "apply", "--server-side", "--force-conflicts", "-f", str(f)).stdout
    assert "serverside-applied" in out
    cm = cluster.json("-n", ns, "get", "configmap", "settings")
    assert cm["data"]["color"] == "blue"
    owners = {m["manager"]: m["fieldsV1"] for m in cm["metadata"]["managedFields"]}
    assert "f:color" in owners["kubectl"]["f:data"]
    assert "kubectl-patch" not in owners  # its only field was taken over


@pytest.mark.compat("kubectl apply --server-side")
@pytest.mark.compat("python client: server-side apply (application/apply-patch+yaml, force)")
def test_server_side_apply_conflicts_with_client_side_apply(cluster, kubectl, ns, tmp_path) -> None:
    f = write(tmp_path / "d.yaml", DEPLOYMENT)
    kubectl("-n", ns, "apply", "-f", str(f))
    write(f, DEPLOYMENT.replace("replicas: 2", "replicas: 4").replace("nginx:1.25", "nginx:1.26"))
    r = kubectl("-n", ns, "apply", "--server-side", "-f", str(f), check=False)
    assert r.returncode != 0
    assert ('Apply failed with 2 conflicts: conflicts with "kubectl-client-side-apply" using apps/v1:\n'
            '- .spec.replicas\n'
            '- .spec.template.spec.containers[name="nginx"].image') in r.stderr, r.stderr
    # Co-owning with the same values is not a conflict.
    write(f, DEPLOYMENT)
    kubectl("-n", ns, "apply", "--server-side", "-f", str(f))
    # And the Python client's SSA reports the conflict as a 409 with FieldManagerConflict causes.
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    api = client.AppsV1Api(client.ApiClient(_config(cluster)))
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 5}}
    with pytest.raises(ApiException) as info:
        api.patch_namespaced_deployment("web", ns, body, field_manager="py-ssa",
                                        _content_type="application/apply-patch+yaml")
    assert info.value.status == 409
    status = json.loads(info.value.body)
    fields = {c["field"] for c in status["details"]["causes"]}
    assert ".spec.replicas" in fields
    assert {c["reason"] for c in status["details"]["causes"]} == {"FieldManagerConflict"}
    applied = api.patch_namespaced_deployment("web", ns, body, field_manager="py-ssa", force=True,
                                              _content_type="application/apply-patch+yaml")
    assert applied.spec.replicas == 5


def _config(cluster):
    from kubernetes import client, config

    cfg = client.Configuration()
    config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=cfg)
    return cfg


@pytest.mark.compat("kubectl apply --server-side")
def test_server_side_apply_creates(cluster, kubectl, ns, tmp_path) -> None:
    f = write(tmp_path / "all.yaml", "---\n".join([DEPLOYMENT, SERVICE]))
    out = kubectl("-n", ns, "apply", "--server-side", "-f", str(f)).stdout
    assert "deployment.apps/web serverside-applied" in out and "service/web serverside-applied" in out
    svc = cluster.json("-n", ns, "get", "service", "web")
    assert svc["spec"]["clusterIP"] and svc["spec"]["ports"][0]["protocol"] == "TCP"
    dry = kubectl("-n", ns, "apply", "--server-side", "--dry-run=server", "-f", str(f)).stdout
    assert "serverside-applied (server dry run)" in dry


@pytest.mark.compat("kubectl diff")
def test_diff(cluster, kubectl, ns, tmp_path) -> None:
    f = write(tmp_path / "cm.yaml", CONFIGMAP)
    r = kubectl("-n", ns, "diff", "-f", str(f), check=False)
    assert r.returncode == 1 and "+  color: blue" in r.stdout  # a new object: all of it
    assert kubectl("-n", ns, "get", "configmaps", "-o", "name").stdout.split() == [ROOT_CA]  # dry run wrote nothing
    kubectl("-n", ns, "apply", "-f", str(f))
    assert kubectl("-n", ns, "diff", "-f", str(f)).returncode == 0
    write(f, CONFIGMAP.replace("blue", "black"))
    r = kubectl("-n", ns, "diff", "-f", str(f), check=False)
    assert r.returncode == 1, r.stderr
    assert "-  color: blue" in r.stdout and "+  color: black" in r.stdout
    assert cluster.json("-n", ns, "get", "configmap", "settings")["data"]["color"] == "blue"
    # dryRun=All on the other write verbs too: answered, nothing written
    out = kubectl("-n", ns, "label", "configmap", "settings", "x=y", "--dry-run=server").stdout
    assert out.strip() == "configmap/settings labeled (server dry run)"
    out = kubectl("-n", ns, "delete", "configmap", "settings", "--dry-run=server").stdout
    assert out.strip() == f'configmap "settings" deleted from {ns} namespace (server dry run)'
    cm = cluster.json("-n", ns, "get", "configmap", "settings")
    assert "x" not in cm["metadata"].get("labels", {})


@pytest.mark.compat("kubectl apply/create (server-side field validation)")
def test_unknown_fields_are_rejected(cluster, kubectl, ns, tmp_path) -> None:
    f = write(tmp_path / "bad.yaml", DEPLOYMENT.replace("replicas: 2", "replicaz: 2"))
    for verb in (("apply",), ("apply", "--server-side"), ("create",)):
        r = kubectl("-n", ns, *verb, "-f", str(f), check=False)
        assert r.returncode != 0
        assert 'strict decoding error: unknown field "spec.replicaz"' in r.stderr, (verb, r.stderr)
    assert kubectl("-n", ns, "get", "deployments", "-o", "name").stdout == ""


@pytest.mark.compat("kubectl create -f")
@pytest.mark.compat("kubectl replace")
def test_create_and_replace(cluster, kubectl, ns, tmp_path) -> None:
    f = write(tmp_path / "cm.yaml", CONFIGMAP)
    assert kubectl("-n", ns, "create", "-f", str(f)).stdout.strip() == "configmap/settings created"
    r = kubectl("-n", ns, "create", "-f", str(f), check=False)
    assert r.returncode != 0 and 'configmaps "settings" already exists' in r.stderr
    cm = cluster.json("-n", ns, "get", "configmap", "settings")
    assert [m["manager"] for m in cm["metadata"]["managedFields"]] == ["kubectl-create"]
    write(f, CONFIGMAP.replace("large", "small"))
    assert kubectl("-n", ns, "replace", "-f", str(f)).stdout.strip() == "configmap/settings replaced"
    cm2 = cluster.json("-n", ns, "get", "configmap", "settings")
    assert cm2["data"]["size"] == "small" and cm2["metadata"]["uid"] == cm["metadata"]["uid"]
    assert int(cm2["metadata"]["resourceVersion"]) > int(cm["metadata"]["resourceVersion"])
    assert kubectl("-n", ns, "replace", "--force", "-f", str(f)).returncode == 0
    cm3 = cluster.json("-n", ns, "get", "configmap", "settings")
    assert cm3["metadata"]["uid"] != cm["metadata"]["uid"]  # --force: delete and create


@pytest.mark.compat("kubectl edit (KUBE_EDITOR)")
def test_edit(cluster, kubectl, ns, tmp_path) -> None:
    kubectl("-n", ns, "create", "configmap", "settings", "--from-literal=color=blue")
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import sys\n"
        "path = sys.argv[-1]\n"
        "text = open(path).read()\n"
        "open(path, 'w').write(text.replace('color: blue', 'color: purple'))\n"
    )
    editor.chmod(editor.stat().st_mode | stat.S_IEXEC)
    out = kubectl("-n", ns, "edit", "configmap", "settings",
                  env={"KUBE_EDITOR": f"{sys.executable} {editor}"}).stdout
    assert out.strip() == "configmap/settings edited"
    cm = cluster.json("-n", ns, "get", "configmap", "settings")
    assert cm["data"] == {"color": "purple"}
    assert "kubectl-edit" in {m["manager"] for m in cm["metadata"]["managedFields"]}


@pytest.mark.compat("kubectl patch --type=strategic")
@pytest.mark.compat("kubectl patch --type=merge")
@pytest.mark.compat("kubectl patch --type=json")
def test_patch_types(cluster, kubectl, ns, tmp_path) -> None:
    f = write(tmp_path / "d.yaml", DEPLOYMENT)
    kubectl("-n", ns, "apply", "-f", str(f))
    # strategic: containers merge by name, so only the image of nginx changes
    kubectl("-n", ns, "patch", "deployment", "web", "-p",
            '{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.27"}]}}}}')
    c = cluster.json("-n", ns, "get", "deployment", "web")["spec"]["template"]["spec"]["containers"]
    assert len(c) == 1 and c[0]["image"] == "nginx:1.27" and c[0]["ports"][0]["containerPort"] == 80
    # merge: a list is replaced whole; null deletes a key
    kubectl("-n", ns, "patch", "deployment", "web", "--type=merge", "-p",
            '{"metadata":{"labels":{"app":null,"team":"a"}},"spec":{"replicas":1}}')
    d = cluster.json("-n", ns, "get", "deployment", "web")
    assert d["metadata"]["labels"] == {"team": "a"} and d["spec"]["replicas"] == 1
    # json patch: ops, with test
    out = kubectl("-n", ns, "patch", "deployment", "web", "--type=json", "-p",
                  '[{"op":"test","path":"/spec/replicas","value":1},'
                  '{"op":"replace","path":"/spec/replicas","value":2},'
                  '{"op":"add","path":"/metadata/annotations/note","value":"hi"}]').stdout
    assert out.strip() == "deployment.apps/web patched"
    d = cluster.json("-n", ns, "get", "deployment", "web")
    assert d["spec"]["replicas"] == 2 and d["metadata"]["annotations"]["note"] == "hi"
    r = kubectl("-n", ns, "patch", "deployment", "web", "--type=json", "-p",
                '[{"op":"test","path":"/spec/replicas","value":9}]', check=False)
    assert r.returncode != 0
    # a patch that makes the object invalid is refused and changes nothing
    r = kubectl("-n", ns, "patch", "deployment", "web", "--type=merge", "-p",
                '{"spec":{"replicas":-1}}', check=False)
    assert r.returncode != 0 and "spec.replicas" in r.stderr
    assert cluster.json("-n", ns, "get", "deployment", "web")["spec"]["replicas"] == 2


@pytest.mark.compat("kubectl label")
@pytest.mark.compat("kubectl annotate")
def test_label_annotate(cluster, kubectl, ns) -> None:
    kubectl("-n", ns, "create", "configmap", "a", "--from-literal=k=v")
    assert kubectl("-n", ns, "label", "configmap", "a", "env=prod").stdout.strip() == "configmap/a labeled"
    r = kubectl("-n", ns, "label", "configmap", "a", "env=dev", check=False)
    assert r.returncode != 0 and "already has a value (prod)" in r.stderr
    kubectl("-n", ns, "label", "configmap", "a", "env=dev", "--overwrite")
    kubectl("-n", ns, "annotate", "configmap", "a", "note=hello world")
    cm = cluster.json("-n", ns, "get", "configmap", "a")
    assert cm["metadata"]["labels"] == {"env": "dev"}
    assert cm["metadata"]["annotations"] == {"note": "hello world"}
    kubectl("-n", ns, "label", "configmap", "a", "env-")
    kubectl("-n", ns, "annotate", "configmap", "a", "note-")
    cm = cluster.json("-n", ns, "get", "configmap", "a")
    assert not cm["metadata"].get("labels") and not cm["metadata"].get("annotations")
