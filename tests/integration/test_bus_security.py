"""The bus is no side door: NATS takes only cluster certificates, each identity uses only its
own subjects, and API requests over NATS are authorized exactly like HTTPS ones.

Real nats-server (the session's, with the nats.conf `kubelite certs` writes), real
apiserver, real certificates; every refusal is asserted from what the server sends back."""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import nats
import pytest

from kubelite.api.scheme import resolve
from kubelite.bus import changes
from kubelite.bus.identity import BusIdentity
from kubelite.client.nats import NatsAPIClient
from kubelite.errors import APIError
from kubelite.pki import ClusterPKI, issue, new_ca
from tests.conftest import as_bus, eventually


class Connected:
    """A NATS connection as one identity, with the errors the server sent it."""

    def __init__(self, nc: Any, errors: list[Exception]) -> None:
        self.nc = nc
        self.errors = errors

    def refused(self, subject: str) -> bool:
        # nats-py lower-cases the server's error text
        return any("permissions violation" in str(e) and subject.lower() in str(e) for e in self.errors)


@pytest.fixture
async def connect_as(nats_url: str, cluster_pki: ClusterPKI) -> AsyncIterator[Callable[..., Any]]:
    opened: list[Any] = []

    async def connect(kind: str, name: str = "") -> Connected:
        errors: list[Exception] = []

        async def on_error(exc: Exception) -> None:
            errors.append(exc)

        creds = as_bus(cluster_pki, kind, name)
        nc = await nats.connect(nats_url, tls=creds.tls, inbox_prefix=creds.identity.inbox_prefix,
                                error_cb=on_error, allow_reconnect=False, connect_timeout=5)
        opened.append(nc)
        return Connected(nc, errors)

    yield connect
    for nc in opened:
        await nc.close()


async def _refused_connect(nats_url: str, tls: ssl.SSLContext | None) -> str:
    try:
        nc = await nats.connect(nats_url, tls=tls, allow_reconnect=False, connect_timeout=5, max_reconnect_attempts=0)
    except Exception as exc:  # what nats-py raises depends on where the handshake failed
        return f"{type(exc).__name__}: {exc}"
    await nc.close()
    return ""


async def test_a_client_without_a_cluster_certificate_is_refused(nats_url: str, cluster_pki: ClusterPKI) -> None:
    assert await _refused_connect(nats_url, None), "a client without TLS got in"
    ca_only = ssl.create_default_context(cafile=str(cluster_pki.crt("cluster-ca")))
    assert await _refused_connect(nats_url, ca_only), "a client without a certificate got in"
    # a certificate with the right name from a CA the cluster does not trust
    rogue = issue(new_ca("rogue"), "kubelite-admin", organizations=["system:masters"], client=True)
    forged = ssl.create_default_context(cafile=str(cluster_pki.crt("cluster-ca")))
    key, crt = cluster_pki.root / "rogue.key", cluster_pki.root / "rogue.crt"
    key.write_bytes(rogue.key_pem)
    crt.write_bytes(rogue.cert_pem)
    forged.load_cert_chain(crt, key)
    assert await _refused_connect(nats_url, forged), "a certificate from a foreign CA got in"
    # a cluster certificate whose subject is not a bus identity (an ordinary API user's)
    pair = cluster_pki.ensure_leaf("user-alice", "client-ca", "alice", client=True)
    stranger = ssl.create_default_context(cafile=str(cluster_pki.crt("cluster-ca")))
    stranger.load_cert_chain(cluster_pki.crt("user-alice"), cluster_pki.key("user-alice"))
    assert pair.cert_pem and await _refused_connect(nats_url, stranger), "an API user's certificate got on the bus"


async def test_a_node_hears_only_its_own_subjects(connect_as: Callable[..., Any], register_nodes: Any,
                                                  nats_client: Any) -> None:
    n1, n2 = f"sec-{uuid.uuid4().hex[:6]}", f"sec-{uuid.uuid4().hex[:6]}"
    register_nodes(n1, n2)
    node = await connect_as("node", n1)
    got: list[str] = []

    async def record(msg: Any) -> None:
        got.append(msg.subject)

    own, other = changes.node_pods(n1), changes.node_pods(n2)
    secrets = changes.of("secrets")
    configmaps, root_ca = changes.of("configmaps"), changes.root_ca_configmaps()
    for subject in (own, other, secrets, configmaps, root_ca, "kubelite.>", f"_INBOX.node.{n2}.>"):
        await node.nc.subscribe(subject, cb=record)
    await node.nc.flush()
    foreign = (other, secrets, configmaps, "kubelite.>", f"_INBOX.node.{n2}.>")
    await eventually(lambda: all(node.refused(s) for s in foreign),
                     timeout=10, message=f"the server did not refuse a foreign subscription: {node.errors}")
    # the apiserver (here the test) publishes on both nodes' subjects: only n1's arrives
    await nats_client.publish(other, b"{}")
    await nats_client.publish(changes.subject("secrets", "default", "s"), b"{}")
    await nats_client.publish(changes.subject("configmaps", "default", "app-config"), b"{}")
    ca = changes.subject("configmaps", "default", "kube-root-ca.crt")  # the cluster CA: every node may follow it
    await nats_client.publish(ca, b"{}")
    await nats_client.publish(own, b"{}")
    await eventually(lambda: own in got, timeout=10, message="the node's own subject never arrived")
    await nats_client.flush()
    await asyncio.sleep(0)  # anything else would have arrived before `own`, in order
    assert got == [ca, own], got
    assert not node.refused(root_ca), node.errors


async def test_a_node_cannot_speak_for_another(connect_as: Callable[..., Any], register_nodes: Any,
                                               apiserver: Any) -> None:
    n1, n2 = f"sec-{uuid.uuid4().hex[:6]}", f"sec-{uuid.uuid4().hex[:6]}"
    register_nodes(n1, n2)
    node = await connect_as("node", n1)
    forged = BusIdentity("node", n2).api_subject("get", "nodes")
    with pytest.raises(Exception):  # noqa: B017 - no responder: the publish was dropped by the server
        await node.nc.request(forged, b'{"verb":"get","resource":"nodes","name":"x"}', timeout=2)
    await eventually(lambda: node.refused(forged), timeout=10, message=f"publish not refused: {node.errors}")
    admin = BusIdentity("admin").api_subject("list", "secrets")
    with pytest.raises(Exception):  # noqa: B017
        await node.nc.request(admin, b'{"verb":"list","resource":"secrets"}', timeout=2)
    await eventually(lambda: node.refused(admin), timeout=10, message="publishing as the admin not refused")


async def test_api_over_nats_is_authorized_as_the_caller(
        connect_as: Callable[..., Any], register_nodes: Any, apiserver: Any, api: httpx.AsyncClient,
        namespace: str) -> None:
    n1, n2 = f"sec-{uuid.uuid4().hex[:6]}", f"sec-{uuid.uuid4().hex[:6]}"
    register_nodes(n1, n2)
    for n in (n1, n2):
        assert (await api.post("/api/v1/nodes", json={"metadata": {"name": n}})).status_code == 201
    secret = {"metadata": {"name": "s"}, "stringData": {"k": "v"}}
    assert (await api.post(f"/api/v1/namespaces/{namespace}/secrets", json=secret)).status_code == 201
    pod = {"metadata": {"name": "p"}, "spec": {"nodeName": n2, "containers": [{"name": "c", "image": "x"}]}}
    assert (await api.post(f"/api/v1/namespaces/{namespace}/pods", json=pod)).status_code == 201

    node = NatsAPIClient((await connect_as("node", n1)).nc, caller=BusIdentity("node", n1))
    mine = await node.get("nodes", "", n1)  # RBAC's system:node role and its own name: allowed
    assert mine.metadata.name == n1
    with pytest.raises(APIError) as denied:
        await node.list("secrets", namespace)
    assert denied.value.code == 403
    assert f'User "system:node:{n1}" cannot list resource "secrets"' in denied.value.message
    theirs = await node.get("nodes", "", n2)
    theirs.metadata.labels = {"hijacked": "yes"}
    with pytest.raises(APIError) as restricted:
        await node.update(theirs)
    assert restricted.value.code == 403 and "other than its own" in restricted.value.message
    other_pod = await node.get("pods", namespace, "p")
    with pytest.raises(APIError) as not_bound:
        await node.delete("pods", namespace, "p", grace_period=0)
    assert not_bound.value.code == 403 and "bound to it" in not_bound.value.message
    assert (await api.get(f"/api/v1/nodes/{n2}")).json()["metadata"].get("labels", {}).get("hijacked") is None
    assert (await api.get(f"/api/v1/namespaces/{namespace}/pods/p")).status_code == 200, other_pod

    # a node reads a Secret only while one of its pods refers to it (the Node authorizer's graph)
    with pytest.raises(APIError) as unrelated:
        await node.get("secrets", namespace, "s")
    assert unrelated.value.code == 403 and f"no relationship found between node '{n1}'" in unrelated.value.message
    mounting = {"metadata": {"name": "m"}, "spec": {"nodeName": n1, "containers": [{"name": "c", "image": "x"}],
                                                    "volumes": [{"name": "v", "secret": {"secretName": "s"}}]}}
    assert (await api.post(f"/api/v1/namespaces/{namespace}/pods", json=mounting)).status_code == 201
    assert (await node.get("secrets", namespace, "s")).metadata.name == "s"

    # tokens: only bound to a pod of its own (the apiserver may answer from its pod cache; a
    # refusal is decided on etcd's copy, so it is the same either way)
    assert (await api.post(f"/api/v1/namespaces/{namespace}/serviceaccounts",
                           json={"metadata": {"name": "default"}})).status_code in (201, 409)
    accounts = resolve("serviceaccounts")
    m_uid = (await api.get(f"/api/v1/namespaces/{namespace}/pods/m")).json()["metadata"]["uid"]

    async def token_for(pod_name: str = "", uid: str = "") -> int:
        ref = {"kind": "Pod", "apiVersion": "v1", "name": pod_name, **({"uid": uid} if uid else {})}
        try:
            code, _ = await node.call("create", accounts, namespace=namespace, name="default", subresource="token",
                                      body={"spec": {"boundObjectRef": ref} if pod_name else {}})
        except APIError as exc:
            return exc.code
        return code

    assert await token_for("m", m_uid) == 201
    assert await token_for("m", "another-uid") == 409  # not the pod it names
    assert await token_for("p") == 403  # bound to n2
    assert await token_for() == 403  # bound to nothing

    proxy = NatsAPIClient((await connect_as("proxy", n1)).nc, caller=BusIdentity("proxy", n1))
    await proxy.list("services", namespace)
    with pytest.raises(APIError) as read_only:
        await proxy.delete("pods", namespace, "p")
    assert read_only.value.code == 403 and f"system:kube-proxy:{n1}" in read_only.value.message


async def test_the_scheduler_may_not_read_secrets_over_nats(apiserver: Any, nats_client: Any, namespace: str) -> None:
    sched = NatsAPIClient(nats_client, caller=BusIdentity("scheduler"))
    with pytest.raises(APIError) as denied:
        await sched.list("secrets", namespace)
    assert denied.value.code == 403 and 'User "system:kube-scheduler"' in denied.value.message
