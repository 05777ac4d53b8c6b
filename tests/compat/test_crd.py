"""CustomResourceDefinitions as people use them: kubectl applies a CRD, waits for it, applies and
lists custom objects (printer columns, short names, strict field validation), and an operator
written with kopf (the Python operator framework, unchanged, from PyPI) reconciles them: a
ConfigMap per Greeting that it owns, kept in step with the spec, a finalizer for its delete
handler, handler results in the status subresource; the garbage collector removes the ConfigMap
with its owner."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compat.conftest import wait_for

CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: greetings.GROUP}
spec:
  group: GROUP
  scope: Namespaced
  names: {plural: greetings, singular: greeting, kind: Greeting, shortNames: [gr]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Message, type: string, jsonPath: .spec.message}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [message]
            properties:
              message: {type: string}
              times: {type: integer, minimum: 1, default: 1}
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
"""
GREETING = """\
apiVersion: GROUP/v1
kind: Greeting
metadata: {name: NAME}
spec: {message: MESSAGE}
"""
OPERATOR = '''
import kopf
import kubernetes

kubernetes.config.load_kube_config()
core = kubernetes.client.CoreV1Api()
GROUP = "{group}"


def configmap(name, message):
    return {{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {{"name": name + "-greeting"}},
            "data": {{"message": message}}}}


@kopf.on.create(GROUP, "v1", "greetings")
def create(spec, name, namespace, **_):
    body = configmap(name, spec["message"])
    kopf.adopt(body)
    core.create_namespaced_config_map(namespace, body)
    return {{"configmap": name + "-greeting"}}


@kopf.on.update(GROUP, "v1", "greetings", field="spec.message")
def update(new, name, namespace, **_):
    core.patch_namespaced_config_map(name + "-greeting", namespace, {{"data": {{"message": new}}}})


@kopf.on.delete(GROUP, "v1", "greetings")
def delete(name, namespace, **_):
    core.create_namespaced_config_map(namespace, {{"metadata": {{"name": name + "-farewell"}}}})
'''


@pytest.fixture
def group(cluster, kubectl) -> Iterator[str]:
    g = f"c{uuid.uuid4().hex[:6]}.example.com"
    kubectl("apply", "-f", "-", input=CRD.replace("GROUP", g))
    kubectl("wait", "--for", "condition=established", f"crd/greetings.{g}", "--timeout=20s", timeout=30)
    yield g
    kubectl("delete", "crd", f"greetings.{g}", "--wait=false", check=False)


def greeting(group: str, name: str, message: str) -> str:
    return GREETING.replace("GROUP", group).replace("NAME", name).replace("MESSAGE", message)


@pytest.mark.compat("kubectl apply -f (CustomResourceDefinition, custom objects)")
@pytest.mark.compat("kubectl get <custom resource> (printer columns, short names)")
@pytest.mark.compat("kubectl delete crd")
@pytest.mark.compat("kubectl get apiservices")
def test_kubectl_with_custom_resources(cluster, kubectl, ns, group) -> None:
    out = kubectl("-n", ns, "apply", "-f", "-", input=greeting(group, "hello", "hi")).stdout
    assert f"greeting.{group}/hello created" in out, out
    table = kubectl("-n", ns, "get", "gr").stdout
    assert table.split()[:3] == ["NAME", "MESSAGE", "AGE"] and "hello" in table and "hi" in table, table
    obj = cluster.json("-n", ns, "get", f"greetings.{group}", "hello")
    assert obj["spec"] == {"message": "hi", "times": 1}  # defaulted
    # the kubelite CLI finds custom resources through discovery
    mine = cluster.kubelite("-n", ns, "get", "gr")
    assert mine.returncode == 0 and mine.stdout.split()[:2] == ["NAME", "AGE"] and "hello" in mine.stdout, mine
    labeled = cluster.kubelite("-n", ns, "label", f"greetings.{group}/hello", "tier=a")
    assert labeled.stdout.strip() == f"greeting.{group}/hello labeled", labeled
    unknown = kubectl("-n", ns, "apply", "-f", "-", check=False,
                      input=greeting(group, "other", "x").replace("spec: {", "spec: {color: red, "))
    assert unknown.returncode != 0 and 'unknown field "spec.color"' in unknown.stderr, unknown.stderr
    invalid = kubectl("-n", ns, "apply", "-f", "-", check=False,
                      input=greeting(group, "other", "x").replace("message: x", "times: 0"))
    assert invalid.returncode != 0 and "spec.message: Required value" in invalid.stderr, invalid.stderr
    services = kubectl("get", "apiservices").stdout  # the CRD's group is served, Local like the rest
    assert services.split()[:4] == ["NAME", "SERVICE", "AVAILABLE", "AGE"] and f"v1.{group}" in services, services
    kubectl("delete", "crd", f"greetings.{group}", timeout=60)
    gone = kubectl("-n", ns, "get", f"greetings.{group}", check=False)
    assert gone.returncode != 0, gone.stdout


@pytest.mark.compat("a kopf operator (create/update/delete handlers, adopt, finalizers, status)")
def test_kopf_operator_reconciles_custom_objects(cluster, kubectl, ns, group, tmp_path: Path) -> None:
    pytest.importorskip("kopf", reason="kopf is in requirements-dev.txt")
    op = tmp_path / "operator.py"
    op.write_text(OPERATOR.format(group=group))
    log = (tmp_path / "kopf.log").open("w")
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    proc = subprocess.Popen([sys.executable, "-m", "kopf", "run", "--standalone", "--namespace", ns, str(op)],
                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        kubectl("-n", ns, "apply", "-f", "-", input=greeting(group, "hello", "hi"))
        cm = wait_for(lambda: _json_or_none(cluster, "-n", ns, "get", "configmap", "hello-greeting"), 30,
                      f"the operator made no ConfigMap (log: {_tail(tmp_path / 'kopf.log')})")
        assert cm["data"] == {"message": "hi"}
        owner = cm["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["apiVersion"]) == ("Greeting", "hello", f"{group}/v1")
        g = cluster.json("-n", ns, "get", f"greetings.{group}", "hello")
        assert "kopf.zalando.org/KopfFinalizerMarker" in g["metadata"]["finalizers"]
        wait_for(lambda: (cluster.json("-n", ns, "get", f"greetings.{group}", "hello").get("status") or {}).get(
            "create") == {"configmap": "hello-greeting"}, 20, "kopf did not record the handler's result in status")

        kubectl("-n", ns, "patch", f"greetings.{group}", "hello", "--type", "merge", "-p", '{"spec": {"message": "hey"}}')
        wait_for(lambda: cluster.json("-n", ns, "get", "configmap", "hello-greeting")["data"] == {"message": "hey"},
                 20, "the update handler did not follow the spec")

        kubectl("-n", ns, "delete", f"greetings.{group}", "hello", "--timeout=30s", timeout=40)
        wait_for(lambda: _json_or_none(cluster, "-n", ns, "get", "configmap", "hello-farewell"), 10,
                 "the delete handler never ran")
        wait_for(lambda: _json_or_none(cluster, "-n", ns, "get", "configmap", "hello-greeting") is None, 30,
                 "the garbage collector left the Greeting's ConfigMap")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def _json_or_none(cluster, *args: str):
    import json

    out = cluster.kubectl(*args, "-o", "json", check=False)
    return json.loads(out.stdout) if out.returncode == 0 else None


def _tail(path: Path) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-15:])
