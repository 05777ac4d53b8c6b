"""The trust boundary of the HTTP API, against the real apiserver (HTTPS, RBAC on):
who may reach what without credentials, with a bad one, with a client certificate of
a user whose roles come and go; aggregation, the escalation guard, 403 wording."""

from __future__ import annotations

import ssl
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import eventually, kubectl_binary
from tests.integration.conftest import start_apiserver, stop_process

RBAC = "/apis/rbac.authorization.k8s.io/v1"


async def until(fn: Any, ok: Any, *, timeout: float = 10.0, message: str = "") -> Any:  # noqa: ASYNC109
    """Call `fn` until `ok` holds for what it returns (roles reach the apiserver's cache
    through an etcd watch, a few milliseconds after the write)."""
    last: list[Any] = []

    async def probe() -> Any:
        last[:] = [await fn()]
        return last[0] if ok(last[0]) else None

    return await eventually(probe, timeout=timeout, message=message)


def as_user(apiserver: Any, tls: ssl.SSLContext | None = None, **kw: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=apiserver.url, timeout=20, verify=tls or apiserver.anonymous_tls, **kw)


@pytest.fixture
async def jane(apiserver: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A user from a client certificate: CN=jane-<id>, O=dev-<id> (unique per test)."""
    tag = uuid.uuid4().hex[:6]
    async with as_user(apiserver, apiserver.client_tls(f"jane-{tag}", (f"dev-{tag}",))) as client:
        client.user, client.group = f"jane-{tag}", f"dev-{tag}"  # type: ignore[attr-defined]
        yield client


async def bind(api: httpx.AsyncClient, *, role: str, subject: dict, namespace: str = "",
               role_kind: str = "ClusterRole") -> str:
    name = "b-" + uuid.uuid4().hex[:8]
    path = f"{RBAC}/namespaces/{namespace}/rolebindings" if namespace else f"{RBAC}/clusterrolebindings"
    r = await api.post(path, json={"metadata": {"name": name}, "subjects": [subject],
                                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind,
                                               "name": role}})
    assert r.status_code == 201, r.text
    return name


def group(name: str) -> dict:
    return {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": name}


async def test_anonymous_reaches_only_health_version_and_discovery(apiserver: Any, namespace: str) -> None:
    async with as_user(apiserver) as anon:
        for path in ("/healthz", "/livez", "/readyz", "/version", "/api", "/apis", "/api/v1", "/apis/apps/v1"):
            r = await anon.get(path)
            assert r.status_code == 200, (path, r.text)
        r = await anon.get(f"/api/v1/namespaces/{namespace}/pods")
        assert r.status_code == 403
        assert r.json()["message"] == (f'pods is forbidden: User "system:anonymous" cannot list resource "pods" '
                                       f'in API group "" in the namespace "{namespace}"')
        r = await anon.post(f"/api/v1/namespaces/{namespace}/configmaps", json={"metadata": {"name": "x"}})
        assert r.status_code == 403 and r.json()["reason"] == "Forbidden"


async def test_a_bad_bearer_token_is_401_never_anonymous(apiserver: Any) -> None:
    for header in ("Bearer not-a-token", "Bearer", "Basic Zm9vOmJhcg=="):
        async with as_user(apiserver, headers={"Authorization": header}) as bad:
            r = await bad.get("/healthz")
            assert r.status_code == 401, header
            assert r.json() == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                "message": "Unauthorized", "reason": "Unauthorized", "code": 401}


async def test_http_is_refused(apiserver: Any) -> None:
    with pytest.raises(httpx.HTTPError):
        async with httpx.AsyncClient(timeout=5) as plain:
            await plain.get(apiserver.url.replace("https://", "http://") + "/healthz")


async def test_roles_come_and_go(api: httpx.AsyncClient, jane: httpx.AsyncClient, namespace: str) -> None:
    user, grp = jane.user, jane.group  # type: ignore[attr-defined]
    r = await jane.get(f"/api/v1/namespaces/{namespace}/pods")
    assert r.status_code == 403
    assert r.json()["message"] == (f'pods is forbidden: User "{user}" cannot list resource "pods" in API group "" '
                                   f'in the namespace "{namespace}"')
    view = await bind(api, role="view", subject=group(grp), namespace=namespace)

    async def can(verb: str, path: str, body: Any = None) -> int:
        r = await jane.request(verb, path, json=body)
        return r.status_code

    await until(lambda: can("GET", f"/api/v1/namespaces/{namespace}/pods"), lambda c: c == 200,
                     timeout=10, message="view binding never took effect")
    assert await can("GET", f"/api/v1/namespaces/{namespace}/secrets") == 403, "view never reads Secrets"
    assert await can("POST", f"/api/v1/namespaces/{namespace}/configmaps", {"metadata": {"name": "c"}}) == 403
    assert await can("GET", "/api/v1/namespaces/default/pods") == 403, "a RoleBinding grants in its namespace only"
    edit = await bind(api, role="edit", subject={"kind": "User", "apiGroup": "rbac.authorization.k8s.io",
                                                  "name": user}, namespace=namespace)
    await until(lambda: can("POST", f"/api/v1/namespaces/{namespace}/configmaps", {"metadata": {"name": "c"}}),
                     lambda c: c == 201, timeout=10, message="edit binding never took effect")
    for name in (view, edit):
        r = await api.delete(f"{RBAC}/namespaces/{namespace}/rolebindings/{name}")
        assert r.status_code == 200
    await until(lambda: can("GET", f"/api/v1/namespaces/{namespace}/pods"), lambda c: c == 403,
                     timeout=10, message="removing the bindings never took effect")


async def test_aggregated_view_picks_up_a_labelled_role(api: httpx.AsyncClient, jane: httpx.AsyncClient,
                                                         namespace: str) -> None:
    await bind(api, role="view", subject=group(jane.group), namespace=namespace)  # type: ignore[attr-defined]
    name = "view-events-" + uuid.uuid4().hex[:6]
    r = await api.post(f"{RBAC}/clusterroles", json={
        "metadata": {"name": name, "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}]})
    assert r.status_code == 201, r.text
    try:
        await until(lambda: jane.get(f"/api/v1/namespaces/{namespace}/secrets"),
                         lambda r: r.status_code == 200, timeout=10,
                         message="view did not aggregate the labelled ClusterRole")
    finally:
        await api.delete(f"{RBAC}/clusterroles/{name}")


async def test_escalation_guard(api: httpx.AsyncClient, jane: httpx.AsyncClient, namespace: str) -> None:
    """jane may write Roles and RoleBindings in her namespace but holds only `view`:
    she cannot grant `delete pods`, nor bind `edit`, until she is given `bind`."""
    user, grp = jane.user, jane.group  # type: ignore[attr-defined]
    r = await api.post(f"{RBAC}/namespaces/{namespace}/roles", json={
        "metadata": {"name": "rbac-writer"},
        "rules": [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"],
                   "verbs": ["create", "get", "list"]}]})
    assert r.status_code == 201, r.text
    await bind(api, role="rbac-writer", role_kind="Role", subject=group(grp), namespace=namespace)
    await bind(api, role="view", subject=group(grp), namespace=namespace)
    modest = {"metadata": {"name": "reader"}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}
    r = await until(lambda: jane.post(f"{RBAC}/namespaces/{namespace}/roles", json=modest),
                         lambda r: r.status_code == 201, timeout=10, message="jane cannot create a role")
    greedy = {"metadata": {"name": "deleter"},
              "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "delete"]}]}
    r = await jane.post(f"{RBAC}/namespaces/{namespace}/roles", json=greedy)
    assert r.status_code == 403, r.text
    assert f'user "{user}" (groups=[' in r.json()["message"]
    assert 'is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["pods"], ' \
           'Verbs:["delete"]}' in r.json()["message"]
    assert (await api.get(f"{RBAC}/namespaces/{namespace}/roles/deleter")).status_code == 404, "nothing stored"
    binding = {"metadata": {"name": "to-edit"}, "subjects": [group(grp)],
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"}}
    assert (await jane.post(f"{RBAC}/namespaces/{namespace}/rolebindings", json=binding)).status_code == 403
    r = await api.post(f"{RBAC}/namespaces/{namespace}/roles", json={
        "metadata": {"name": "binder"}, "rules": [{"apiGroups": ["rbac.authorization.k8s.io"],
                                                   "resources": ["clusterroles"], "verbs": ["bind"],
                                                   "resourceNames": ["edit"]}]})
    assert r.status_code == 201
    await bind(api, role="binder", role_kind="Role", subject=group(grp), namespace=namespace)
    await until(lambda: jane.post(f"{RBAC}/namespaces/{namespace}/rolebindings", json=binding),
                     lambda r: r.status_code == 201, timeout=10, message="`bind` on edit was not enough")


async def test_invalid_rbac_objects_are_refused_with_field_paths(api: httpx.AsyncClient, namespace: str) -> None:
    r = await api.post(f"{RBAC}/namespaces/{namespace}/rolebindings", json={
        "metadata": {"name": "bad"}, "subjects": [{"kind": "Robot", "name": "x"}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Deployment", "name": "view"}})
    assert r.status_code == 422
    fields = {c["field"] for c in r.json()["details"]["causes"]}
    assert fields == {"subjects[0].kind", "roleRef.kind"}, r.text
    r = await api.post(f"{RBAC}/namespaces/{namespace}/roles", json={
        "metadata": {"name": "bad"}, "rules": [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]})
    assert r.status_code == 422 and "non-resource URLs" in r.text


@pytest.fixture(scope="module")
def token_apiserver(etcd_url: str, nats_url: str, tmp_path_factory: pytest.TempPathFactory, cluster_pki: Any) -> Any:
    base: Path = tmp_path_factory.mktemp("tokens")
    (base / "tokens.csv").write_text('s3cret-token,robot,uid-1,"bots,system:masters"\nview-token,viewer,uid-2\n')
    proc = start_apiserver(etcd_url, nats_url, base / "apiserver.log", "--token-auth-file", str(base / "tokens.csv"),
                           "--audit-log-path", str(base / "audit.log"), pki=cluster_pki)
    proc.audit_path = base / "audit.log"  # type: ignore[attr-defined]
    yield proc
    stop_process(proc.popen)


async def test_static_bearer_tokens(token_apiserver: Any) -> None:
    async with as_user(token_apiserver, headers={"Authorization": "Bearer s3cret-token"}) as robot:
        assert (await robot.get("/api/v1/namespaces")).status_code == 200  # in system:masters
    async with as_user(token_apiserver, headers={"Authorization": "Bearer view-token"}) as viewer:
        r = await viewer.get("/api/v1/namespaces")
        assert r.status_code == 403 and 'User "viewer" cannot list resource "namespaces"' in r.json()["message"]
    async with as_user(token_apiserver, headers={"Authorization": "Bearer s3cret-tokenX"}) as wrong:
        assert (await wrong.get("/api")).status_code == 401


async def test_audit_log_has_who_what_and_code_but_no_bodies(token_apiserver: Any) -> None:
    import json

    ns = "audit-" + uuid.uuid4().hex[:6]
    secret_value = "hunter2-" + uuid.uuid4().hex
    async with as_user(token_apiserver, headers={"Authorization": "Bearer s3cret-token"}) as robot:
        assert (await robot.post("/api/v1/namespaces", json={"metadata": {"name": ns}})).status_code == 201
        r = await robot.post(f"/api/v1/namespaces/{ns}/secrets",
                             json={"metadata": {"name": "s"}, "stringData": {"password": secret_value}})
        assert r.status_code == 201
    async with as_user(token_apiserver, headers={"Authorization": "Bearer view-token"}) as viewer:
        assert (await viewer.get(f"/api/v1/namespaces/{ns}/secrets/s")).status_code == 403

    def events() -> list[dict]:
        path = token_apiserver.audit_path  # type: ignore[attr-defined]
        return [json.loads(line) for line in path.read_text().splitlines() if ns in line]

    got = await eventually(lambda: (lambda e: e if len(e) >= 2 else None)(events()), timeout=10,
                           message="audit events not written")
    create = next(e for e in got if e["verb"] == "create" and e["objectRef"].get("resource") == "secrets")
    assert create["user"]["username"] == "robot" and create["responseStatus"]["code"] == 201
    assert create["level"] == "Metadata" and create["objectRef"]["namespace"] == ns
    denied = next(e for e in got if e["user"]["username"] == "viewer")
    assert (denied["verb"], denied["objectRef"]["name"], denied["responseStatus"]["code"]) == ("get", "s", 403)
    text = token_apiserver.audit_path.read_text()  # type: ignore[attr-defined]
    assert secret_value not in text and "s3cret-token" not in text, "no body and no credential is logged"


async def run_kubectl(kubeconfig: Path, *args: str) -> tuple[int, str, str]:
    import asyncio

    proc = await asyncio.create_subprocess_exec(kubectl_binary(), "--kubeconfig", str(kubeconfig), *args,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_kubectl_auth_can_i_whoami_and_impersonation(
        apiserver: Any, api: httpx.AsyncClient, namespace: str, tmp_path: Path) -> None:
    """Real kubectl: `auth whoami`, `auth can-i` (SelfSubjectAccessReview) and `--list`
    (SelfSubjectRulesReview), as the admin and, impersonated with --as, as another user."""
    kubeconfig = apiserver.kubeconfig(tmp_path / "kubeconfig")
    code, out, err = await run_kubectl(kubeconfig, "auth", "whoami")
    assert code == 0 and "kubelite-admin" in out and "system:masters" in out, (out, err)
    user = "pat-" + uuid.uuid4().hex[:6]
    code, out, _ = await run_kubectl(kubeconfig, "auth", "can-i", "list", "pods", "-n", namespace, "--as", user)
    assert (code, out.strip()) == (1, "no")
    await bind(api, role="view", subject={"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": user},
               namespace=namespace)

    async def can_list() -> str:
        return (await run_kubectl(kubeconfig, "auth", "can-i", "list", "pods", "-n", namespace, "--as", user))[1]

    await until(can_list, lambda out: out.strip() == "yes", timeout=20, message="can-i never said yes")
    code, out, _ = await run_kubectl(kubeconfig, "auth", "can-i", "create", "pods", "-n", namespace, "--as", user)
    assert (code, out.strip()) == (1, "no")
    code, out, err = await run_kubectl(kubeconfig, "auth", "can-i", "--list", "-n", namespace, "--as", user)
    assert code == 0 and "pods" in out and "[get list watch]" in out, (out, err)
    code, out, err = await run_kubectl(kubeconfig, "get", "pods", "-n", namespace, "--as", user)
    assert code == 0, err
    code, out, err = await run_kubectl(kubeconfig, "get", "secrets", "-n", namespace, "--as", user)
    assert code != 0 and f'User "{user}" cannot list resource "secrets"' in err, err


async def test_impersonation_needs_the_impersonate_verb(apiserver: Any, jane: httpx.AsyncClient) -> None:
    r = await jane.get("/api/v1/namespaces", headers={"Impersonate-User": "kubelite-admin",
                                                      "Impersonate-Group": "system:masters"})
    assert r.status_code == 403
    assert r.json()["message"] == (f'users "kubelite-admin" is forbidden: User "{jane.user}" cannot '  # type: ignore[attr-defined]
                                   'impersonate resource "users" in API group "" at the cluster scope')


async def test_service_account_token_with_view(api: httpx.AsyncClient, apiserver: Any, namespace: str,
                                               tmp_path: Path) -> None:
    """A ServiceAccount bound to `view` may list pods but not create them or read Secrets;
    its token stops working when the account goes, a bound token when its pod goes."""
    r = await api.post(f"/api/v1/namespaces/{namespace}/serviceaccounts", json={"metadata": {"name": "robot"}})
    assert r.status_code == 201, r.text
    await bind(api, role="view", subject={"kind": "ServiceAccount", "name": "robot", "namespace": namespace},
               namespace=namespace)
    r = await api.post(f"/api/v1/namespaces/{namespace}/serviceaccounts/robot/token",
                       json={"spec": {"expirationSeconds": 600}})
    assert r.status_code == 201, r.text
    token = r.json()["status"]["token"]
    assert r.json()["status"]["expirationTimestamp"].endswith("Z")
    sa_user = f"system:serviceaccount:{namespace}:robot"

    async with as_user(apiserver, headers={"Authorization": f"Bearer {token}"}) as robot:
        await until(lambda: robot.get(f"/api/v1/namespaces/{namespace}/pods"), lambda r: r.status_code == 200,
                    timeout=10, message="the service account never got view")
        r = await robot.post(f"/api/v1/namespaces/{namespace}/pods", json={
            "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
        assert r.status_code == 403 and f'User "{sa_user}" cannot create resource "pods"' in r.json()["message"]
        r = await robot.get(f"/api/v1/namespaces/{namespace}/secrets")
        assert r.status_code == 403

    review = await api.post("/apis/authentication.k8s.io/v1/tokenreviews", json={"spec": {"token": token}})
    assert review.status_code == 201, review.text
    status = review.json()["status"]
    assert status["authenticated"] is True and status["user"]["username"] == sa_user
    assert f"system:serviceaccounts:{namespace}" in status["user"]["groups"]
    tampered = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    review = await api.post("/apis/authentication.k8s.io/v1/tokenreviews", json={"spec": {"token": tampered}})
    assert review.json()["status"]["authenticated"] is False
    async with as_user(apiserver, headers={"Authorization": f"Bearer {tampered}"}) as forged:
        assert (await forged.get("/api")).status_code == 401

    r = await api.post(f"/api/v1/namespaces/{namespace}/serviceaccounts/robot/token",
                       json={"spec": {"expirationSeconds": 60}})
    assert r.status_code == 422 and r.json()["details"]["causes"][0]["field"] == "spec.expirationSeconds"
    assert (await api.post(f"/api/v1/namespaces/{namespace}/serviceaccounts/nobody/token", json={})).status_code == 404

    # bound to a pod: dies with the pod
    r = await api.post(f"/api/v1/namespaces/{namespace}/pods", json={
        "metadata": {"name": "holder"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    assert r.status_code == 201
    r = await api.post(f"/api/v1/namespaces/{namespace}/serviceaccounts/robot/token", json={
        "spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "holder"}}})
    assert r.status_code == 201, r.text
    bound = r.json()["status"]["token"]
    async with as_user(apiserver, headers={"Authorization": f"Bearer {bound}"}) as pod_token:
        assert (await pod_token.get(f"/api/v1/namespaces/{namespace}/pods")).status_code == 200
        assert (await api.delete(f"/api/v1/namespaces/{namespace}/pods/holder",
                                 params={"gracePeriodSeconds": "0"})).status_code == 200
        await until(lambda: pod_token.get("/api"), lambda r: r.status_code == 401, timeout=10,
                    message="a token bound to a deleted pod still works")

    # the account goes: its tokens go with it
    assert (await api.delete(f"/api/v1/namespaces/{namespace}/serviceaccounts/robot")).status_code == 200
    async with as_user(apiserver, headers={"Authorization": f"Bearer {token}"}) as robot:
        await until(lambda: robot.get("/api"), lambda r: r.status_code == 401, timeout=10,
                    message="a deleted service account's token still works")


async def test_kubectl_create_token(apiserver: Any, api: httpx.AsyncClient, namespace: str, tmp_path: Path) -> None:
    kubeconfig = apiserver.kubeconfig(tmp_path / "kubeconfig")
    code, _, err = await run_kubectl(kubeconfig, "create", "serviceaccount", "builder", "-n", namespace)
    assert code == 0, err
    code, out, err = await run_kubectl(kubeconfig, "create", "token", "builder", "-n", namespace,
                                       "--duration", "15m")
    assert code == 0, err
    token = out.strip()
    async with as_user(apiserver, headers={"Authorization": f"Bearer {token}"}) as builder:
        r = await builder.get(f"/api/v1/namespaces/{namespace}/pods")
        assert r.status_code == 403
        assert f'User "system:serviceaccount:{namespace}:builder"' in r.json()["message"]
