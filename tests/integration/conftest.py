"""An apiserver for integration tests: the real `kubelite-apiserver` process on the
session's etcd and NATS, started once per session, serving HTTPS with RBAC on.

Its credentials come from `kubelite.credentials` (what `kubelite certs` makes): tests
talk to it as the admin (O=system:masters) through `apiserver.tls`, or as anyone
else with `apiserver.client_tls(user, groups)`."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from kubelite import devservers
from kubelite.client.tls import client_context
from kubelite.credentials import admin_credentials
from kubelite.pki import ClusterPKI


class APIServerProcess:
    def __init__(self, popen: subprocess.Popen, url: str, log_path: Path, pki: ClusterPKI) -> None:
        self.popen = popen
        self.url = url
        self.log_path = log_path
        self.pki = pki
        admin = admin_credentials(pki)
        self.ca_pem = admin.ca_pem
        self.tls = client_context(ca_pem=admin.ca_pem, cert_pem=admin.cert_pem, key_pem=admin.key_pem)
        self.anonymous_tls = client_context(ca_pem=admin.ca_pem)

    def kubeconfig(self, path: Path) -> Path:
        """An admin kubeconfig (CA and client certificate embedded) for kubectl and the CLI."""
        from kubelite.client.kubeconfig import write_kubeconfig

        return write_kubeconfig(path, self.url, None, admin_credentials(self.pki))

    def k8s_configuration(self) -> object:
        """The official Python client's Configuration, as the admin."""
        from kubernetes import client

        config = client.Configuration(host=self.url)
        config.ssl_ca_cert = str(self.pki.crt("cluster-ca"))
        config.cert_file, config.key_file = str(self.pki.crt("admin")), str(self.pki.key("admin"))
        return config

    def client_tls(self, user: str, groups: tuple[str, ...] = ()) -> ssl.SSLContext:
        """A client certificate for `user` in `groups`, from the cluster's client CA."""
        name = "user-" + user.replace(":", "_")
        pair = self.pki.ensure_leaf(name, "client-ca", user, organizations=groups, client=True)
        return client_context(ca_pem=self.ca_pem, cert_pem=pair.cert_pem, key_pem=pair.key_pem)

    def log_tail(self) -> str:
        try:
            return "".join(self.log_path.read_text().splitlines(keepends=True)[-30:])
        except OSError:
            return ""


def start_apiserver(etcd_url: str, nats_url: str, log_path: Path, *extra: str, pki: ClusterPKI) -> APIServerProcess:
    """`pki` is the cluster's (its nats-server trusts that client CA)."""
    port = devservers.free_port()
    exe = Path(sys.executable).with_name("kubelite-apiserver")
    log = log_path.open("ab")
    popen = subprocess.Popen(
        [str(exe), "--etcd", etcd_url, "--nats", nats_url, "--port", str(port),
         "--pki-dir", str(pki.root), "--log-level", "info", *extra],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = f"https://127.0.0.1:{port}"
    anonymous = client_context(ca_pem=pki.crt("cluster-ca").read_bytes())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise RuntimeError(f"apiserver exited with {popen.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(url + "/readyz", timeout=1, verify=anonymous).status_code == 200:
                return APIServerProcess(popen, url, log_path, pki)
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    popen.kill()
    raise RuntimeError(f"apiserver not ready after 30s:\n{log_path.read_text()}")


def stop_process(popen: subprocess.Popen, timeout: float = 10) -> None:
    if popen.poll() is None:
        popen.terminate()
        try:
            popen.wait(timeout)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()


@pytest.fixture(scope="session")
def apiserver(etcd_url: str, nats_url: str, tmp_path_factory: pytest.TempPathFactory,
              cluster_pki: ClusterPKI) -> Iterator[APIServerProcess]:
    base = tmp_path_factory.mktemp("apiserver")
    proc = start_apiserver(etcd_url, nats_url, base / "apiserver.log", pki=cluster_pki)
    try:
        yield proc
    finally:
        stop_process(proc.popen)


@pytest.fixture
async def api(apiserver: APIServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=apiserver.url, timeout=20, verify=apiserver.tls) as client:
        yield client


@pytest.fixture
async def namespace(api: httpx.AsyncClient) -> str:
    """A fresh namespace per test, so tests sharing one apiserver never collide."""
    import uuid

    name = "t-" + uuid.uuid4().hex[:10]
    r = await api.post("/api/v1/namespaces", json={"metadata": {"name": name}})
    assert r.status_code == 201, r.text
    return name
