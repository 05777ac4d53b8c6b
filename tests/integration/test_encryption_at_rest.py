"""Secrets are encrypted in etcd (real etcd, real apiserver): never plaintext in etcd's
values or files, readable through the API, and `kubelite encryption rotate` moves every
Secret to a new key without a restart."""

from __future__ import annotations

import asyncio
import base64
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from kubelite import devservers
from kubelite.credentials import ENCRYPTION_CONFIG
from kubelite.storage.encryption import AESGCM_PREFIX, new_config, write_config
from kubelite.storage.etcd import EtcdStore
from tests.integration.conftest import APIServerProcess, start_apiserver, stop_process

KUBELITE = [str(Path(sys.executable).with_name("kubelite"))]


class Cluster:
    def __init__(self, data_dir: Path, etcd: devservers.ServerProcess, api: APIServerProcess) -> None:
        self.data_dir, self.etcd, self.api = data_dir, etcd, api


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, nats_url: str, cluster_pki: Any) -> Iterator[Cluster]:
    """Its own etcd (the rotation rewrites every Secret in it) and an apiserver whose
    encryption configuration lives in <data_dir>/pki, as `kubelite up` lays it out."""
    data_dir = tmp_path_factory.mktemp("encryption")
    (data_dir / "pki").mkdir()
    config = data_dir / "pki" / ENCRYPTION_CONFIG
    write_config(config, new_config())
    etcd = devservers.start_etcd(data_dir / "etcd", client_port=devservers.free_port(),
                                 peer_port=devservers.free_port(), log_path=data_dir / "etcd.log",
                                 die_with_parent=True)
    try:
        api = start_apiserver(etcd.url, nats_url, data_dir / "apiserver.log", "--encryption-provider-config",
                              str(config), "--audit-log-path", str(data_dir / "audit.log"), pki=cluster_pki)
        api.kubeconfig(data_dir / "kubeconfig")
        try:
            yield Cluster(data_dir, etcd, api)
        finally:
            stop_process(api.popen)
    finally:
        etcd.stop()


@pytest.fixture
async def http(cluster: Cluster) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=cluster.api.url, timeout=20, verify=cluster.api.tls) as client:
        yield client


async def _raw(cluster: Cluster, namespace: str, name: str) -> bytes:
    store = await EtcdStore.connect(cluster.etcd.url, wait_seconds=10)
    try:
        kv = await store.get(f"/registry/secrets/{namespace}/{name}")
        assert kv is not None, f"secret {namespace}/{name} not in etcd"
        return kv.value
    finally:
        await store.close()


async def _secret(http: httpx.AsyncClient, namespace: str, name: str, value: str) -> None:
    r = await http.post(f"/api/v1/namespaces/{namespace}/secrets",
                        json={"metadata": {"name": name}, "stringData": {"password": value}})
    assert r.status_code == 201, r.text


async def test_a_secret_is_ciphertext_in_etcd_and_plain_through_the_api(cluster: Cluster,
                                                                        http: httpx.AsyncClient) -> None:
    value = "plaintext-" + uuid.uuid4().hex
    await _secret(http, "default", "db", value)
    raw = await _raw(cluster, "default", "db")
    assert raw.startswith(AESGCM_PREFIX + b"key1:"), raw[:40]
    assert value.encode() not in raw and base64.b64encode(value.encode()) not in raw
    got = (await http.get("/api/v1/namespaces/default/secrets/db")).json()
    assert base64.b64decode(got["data"]["password"]).decode() == value
    # nowhere in etcd's files, nor the apiserver's logs
    for path in [*(cluster.data_dir / "etcd").rglob("*"), cluster.data_dir / "apiserver.log",
                 cluster.data_dir / "audit.log"]:
        if path.is_file():
            data = path.read_bytes()
            assert value.encode() not in data and base64.b64encode(value.encode()) not in data, path
    # other kinds stay as they are
    r = await http.post("/api/v1/namespaces/default/configmaps", json={"metadata": {"name": "cm"},
                                                                       "data": {"k": value}})
    assert r.status_code == 201
    store = await EtcdStore.connect(cluster.etcd.url, wait_seconds=10)
    try:
        kv = await store.get("/registry/configmaps/default/cm")
        assert kv is not None and value.encode() in kv.value
    finally:
        await store.close()


async def test_rotate_moves_every_secret_to_a_new_key(cluster: Cluster, http: httpx.AsyncClient) -> None:
    names = [f"s{i}" for i in range(5)]
    for name in names:
        await _secret(http, "default", name, f"value-{name}")
    before = {n: (await http.get(f"/api/v1/namespaces/default/secrets/{n}")).json() for n in names}
    res = await asyncio.to_thread(  # the CLI calls this test's apiserver: keep the loop free
        subprocess.run, [*KUBELITE, "encryption", "rotate", "--data-dir", str(cluster.data_dir),
                         "--etcd", cluster.etcd.url, "--retire-old", "--timeout", "60"],
        capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr + res.stdout
    assert "key2 now encrypts Secrets" in res.stdout and "are encrypted with key2" in res.stdout, res.stdout
    for name in [*names, "db"]:
        raw = await _raw(cluster, "default", name)
        assert raw.startswith(AESGCM_PREFIX + b"key2:"), (name, raw[:40])
    doc = yaml.safe_load((cluster.data_dir / "pki" / ENCRYPTION_CONFIG).read_text())
    keys = doc["resources"][0]["providers"][0]["aesgcm"]["keys"]
    assert [k["name"] for k in keys] == ["key2"]
    for name in names:  # same content, readable with the new key alone
        got = (await http.get(f"/api/v1/namespaces/default/secrets/{name}")).json()
        assert got["data"] == before[name]["data"]


def test_rotate_without_a_configuration_is_one_clear_line(tmp_path: Path) -> None:
    res = subprocess.run([*KUBELITE, "encryption", "rotate", "--data-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode != 0 and "no encryption configuration" in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    shutil.rmtree(tmp_path, ignore_errors=True)
