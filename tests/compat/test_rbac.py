"""RBAC with the real kubectl and the official Python client: the imperative role and
binding commands, `auth can-i` (with --as and --list), `auth whoami`, and a user with
`view` who may read pods but neither create them nor read Secrets."""

from __future__ import annotations

import pytest


@pytest.mark.compat("kubectl create role|rolebinding|clusterrole|clusterrolebinding")
@pytest.mark.compat("kubectl auth can-i (--as, --list)")
def test_roles_bindings_and_can_i(kubectl, ns) -> None:
    kubectl("create", "role", "pod-reader", "--verb=get,list,watch", "--resource=pods", "-n", ns)
    kubectl("create", "rolebinding", "read-pods", "--role=pod-reader", "--user=robin", "-n", ns)
    r = kubectl("get", "rolebinding", "read-pods", "-n", ns, "-o", "jsonpath={.roleRef.name} {.subjects[0].name}")
    assert r.stdout == "pod-reader robin"
    assert kubectl("auth", "can-i", "list", "pods", "-n", ns, "--as", "robin").stdout.strip() == "yes"
    r = kubectl("auth", "can-i", "delete", "pods", "-n", ns, "--as", "robin", check=False)
    assert (r.returncode, r.stdout.strip()) == (1, "no")
    r = kubectl("auth", "can-i", "--list", "-n", ns, "--as", "robin")
    assert "pods" in r.stdout and "[get list watch]" in r.stdout, r.stdout
    name = f"{ns}-viewers"
    kubectl("create", "clusterrole", name, "--verb=get", "--resource=nodes")
    kubectl("create", "clusterrolebinding", name, f"--clusterrole={name}", "--group=ops")
    try:
        assert kubectl("auth", "can-i", "get", "nodes", "--as", "x", "--as-group", "ops").stdout.strip() == "yes"
    finally:
        kubectl("delete", "clusterrolebinding", name, check=False)
        kubectl("delete", "clusterrole", name, check=False)


@pytest.mark.compat("kubectl auth whoami")
def test_whoami(kubectl) -> None:
    out = kubectl("auth", "whoami").stdout
    assert "kubelite-admin" in out and "system:masters" in out, out


@pytest.mark.compat("kubectl get pods --as (RBAC view: no create, no secrets)")
def test_view_user_reads_pods_only(kubectl, ns) -> None:
    kubectl("create", "rolebinding", "viewers", "--clusterrole=view", "--user=vic", "-n", ns)
    kubectl("create", "configmap", "c", "--from-literal=a=b", "-n", ns)
    kubectl("create", "secret", "generic", "s", "--from-literal=a=b", "-n", ns)
    assert kubectl("get", "pods", "-n", ns, "--as", "vic").returncode == 0
    assert kubectl("get", "configmap", "c", "-n", ns, "--as", "vic").returncode == 0
    r = kubectl("get", "secrets", "-n", ns, "--as", "vic", check=False)
    assert r.returncode != 0
    assert f'secrets is forbidden: User "vic" cannot list resource "secrets" in API group "" in the namespace "{ns}"' \
        in r.stderr
    r = kubectl("run", "p", "--image=busybox", "-n", ns, "--as", "vic", check=False)
    assert r.returncode != 0 and 'cannot create resource "pods"' in r.stderr


@pytest.mark.compat("python client: RBAC objects and SelfSubjectAccessReview")
def test_python_client_rbac(cluster, ns) -> None:
    from kubernetes import client, config

    api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    rbac = client.RbacAuthorizationV1Api(api_client)
    rbac.create_namespaced_role(ns, {"metadata": {"name": "cm-reader"}, "rules": [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]})
    assert [r.metadata.name for r in rbac.list_namespaced_role(ns).items] == ["cm-reader"]
    review = client.AuthorizationV1Api(api_client).create_self_subject_access_review(
        {"spec": {"resourceAttributes": {"namespace": ns, "verb": "delete", "resource": "pods"}}})
    assert review.status.allowed is True  # the admin is in system:masters
