"""A pod calls the API with its own ServiceAccount token, through the official Python client's
`load_incluster_config()`: the projected token volume, the kube-root-ca.crt ConfigMap, the
`kubernetes` Service and its environment variables, and RBAC for the account (`view` may
list pods, may not create them or read Secrets)."""

from __future__ import annotations

import json
import sys
import time

from tests.e2e.conftest import Cluster

CLIENT = r'''
import json, time
from kubernetes import client, config
from kubernetes.client.rest import ApiException
config.load_incluster_config()
v1 = client.CoreV1Api()
SA = "/var/run/secrets/kubernetes.io/serviceaccount/"
out = {"namespace": open(SA + "namespace").read(), "ca": open(SA + "ca.crt").read().startswith("-----BEGIN")}
def attempt(name, call):
    try:
        call()
        out[name] = 200
    except ApiException as exc:
        out[name] = exc.status
attempt("list_pods", lambda: v1.list_namespaced_pod("default"))
attempt("create_configmap", lambda: v1.create_namespaced_config_map("default", {"metadata": {"name": "x"}}))
attempt("list_secrets", lambda: v1.list_namespaced_secret("default"))
print("RESULT " + json.dumps(out), flush=True)
time.sleep(3600)
'''

MANIFEST = """
apiVersion: v1
kind: ServiceAccount
metadata: {name: reader}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader-view}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: ServiceAccount, name: reader, namespace: default}]
---
apiVersion: v1
kind: Pod
metadata: {name: in-cluster}
spec:
  serviceAccountName: reader
  terminationGracePeriodSeconds: 1  # the client sleeps as its namespace's init: SIGTERM cannot end it
  containers:
  - name: client
    image: local
    imagePullPolicy: IfNotPresent
    command: [PYTHON, "-u", "-c", CLIENT]
""".replace("PYTHON", json.dumps(sys.executable)).replace("CLIENT", json.dumps(CLIENT))


def _result(cluster: Cluster, deadline: float) -> dict:
    last = ""
    while time.monotonic() < deadline:
        res = cluster.kubelite("logs", "in-cluster", check=False)
        last = res.stdout + res.stderr
        for line in res.stdout.splitlines():
            if line.startswith("RESULT "):
                return json.loads(line[len("RESULT "):])
        time.sleep(1)
    pod = cluster.kubelite("get", "pod", "in-cluster", "-o", "json", check=False).stdout
    raise AssertionError(f"the pod printed no result in time; logs:\n{last}\npod:\n{pod[-3000:]}")


def test_a_pod_calls_the_api_as_its_service_account(cluster: Cluster) -> None:
    cluster.apply(MANIFEST)
    pod = cluster.get_json("pod", "in-cluster")
    mounts = pod["spec"]["containers"][0]["volumeMounts"]
    assert [m["mountPath"] for m in mounts] == ["/var/run/secrets/kubernetes.io/serviceaccount"], mounts
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == mounts[0]["name"])
    kinds = [next(iter(src)) for src in volume["projected"]["sources"]]
    assert kinds == ["serviceAccountToken", "configMap", "downwardAPI"], volume
    result = _result(cluster, time.monotonic() + 90)
    assert result == {"namespace": "default", "ca": True, "list_pods": 200, "create_configmap": 403,
                      "list_secrets": 403}, result
    assert "x" not in cluster.kubelite("get", "configmaps", "-o", "name").stdout.split("/")


def test_every_namespace_has_a_default_account_and_the_root_ca(cluster: Cluster) -> None:
    cluster.apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: fresh-ns}\n")
    account = cluster.get_json("serviceaccount", "default", "-n", "fresh-ns")
    assert account["metadata"]["name"] == "default"
    ca = cluster.get_json("configmap", "kube-root-ca.crt", "-n", "fresh-ns")
    assert ca["data"]["ca.crt"] == (cluster.data_dir / "pki" / "cluster-ca.crt").read_text()
    service = cluster.get_json("service", "kubernetes", "-n", "default")
    assert service["spec"]["ports"][0]["port"] == 443
    endpoints = cluster.get_json("endpoints", "kubernetes", "-n", "default")
    assert endpoints["subsets"][0]["ports"][0]["port"] == int(cluster.server.rsplit(":", 1)[1])
