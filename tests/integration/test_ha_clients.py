"""HA clients: the etcd client takes every member of a Raft cluster and fails over when the one it
uses dies; the NATS client takes every server of a cluster and carries on through another.
Real three-member etcd, real two-server NATS cluster (routes), SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from kubelite.bus.connection import connect_nats
from kubelite.devservers import etcd_binary, free_port, nats_binary
from kubelite.storage import StorageError
from kubelite.storage.etcd import EtcdStore
from tests.conftest import eventually

pytestmark = pytest.mark.timeout(90)


def _start_etcd_cluster(base: Path, members: int = 3) -> tuple[list[subprocess.Popen], list[str]]:
    ports = [(free_port(), free_port()) for _ in range(members)]
    initial = ",".join(f"m{i}=http://127.0.0.1:{peer}" for i, (_, peer) in enumerate(ports))
    procs, urls = [], []
    for i, (client, peer) in enumerate(ports):
        url = f"http://127.0.0.1:{client}"
        procs.append(subprocess.Popen([
            etcd_binary(), "--name", f"m{i}", "--data-dir", str(base / f"m{i}"),
            "--listen-client-urls", url, "--advertise-client-urls", url,
            "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", initial, "--initial-cluster-state", "new", "--unsafe-no-fsync", "--log-level", "error",
        ], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        urls.append(url)
    return procs, urls


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(10)


async def test_etcd_client_fails_over_to_another_member(tmp_path: Path) -> None:
    procs, urls = _start_etcd_cluster(tmp_path)
    try:
        store = await EtcdStore.connect(",".join(urls), wait_seconds=30)
        try:
            await store.create("/ha/before", b"1")
            os.kill(procs[0].pid, signal.SIGKILL)  # the first endpoint: the one pick_first uses
            procs[0].wait(10)
            started = time.monotonic()

            async def written() -> bool:
                try:
                    await store.create("/ha/after", b"2")
                except StorageError:
                    return False  # the request that met the dead member; the next one goes elsewhere
                return True

            await eventually(written, timeout=20, interval=0.2, message="no write after the member died")
            items, _, _ = await store.list("/ha/")
            assert [kv.key for kv in items] == ["/ha/after", "/ha/before"]
            assert time.monotonic() - started < 15
        finally:
            await store.close()
    finally:
        _stop(procs)


def _start_nats_cluster(base: Path) -> tuple[list[subprocess.Popen], list[str]]:
    ports = [(free_port(), free_port()) for _ in range(2)]
    procs, urls = [], []
    for i, (client, route) in enumerate(ports):
        other = ports[1 - i][1]
        procs.append(subprocess.Popen([
            nats_binary(), "-a", "127.0.0.1", "-p", str(client), "--cluster_name", "kl",
            "--cluster", f"nats://127.0.0.1:{route}", "--routes", f"nats://127.0.0.1:{other}",
        ], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        urls.append(f"nats://127.0.0.1:{client}")
    return procs, urls


async def test_nats_client_carries_on_through_another_server(tmp_path: Path) -> None:
    procs, urls = _start_nats_cluster(tmp_path)
    try:
        sub_nc = await connect_nats(",".join(urls), name="ha-sub", wait_seconds=20)
        pub_nc = await connect_nats(urls[1], name="ha-pub", wait_seconds=20)
        got: list[bytes] = []

        async def on_msg(msg) -> None:
            got.append(msg.data)

        await sub_nc.subscribe("kubelite.test.ha", cb=on_msg)
        await sub_nc.flush()

        async def delivered(data: bytes) -> bool:
            await pub_nc.publish("kubelite.test.ha", data)
            await asyncio.sleep(0.1)
            return data in got

        await eventually(lambda: delivered(b"before"), timeout=10, message="no delivery across the route")
        first = sub_nc.connected_url.port if sub_nc.connected_url else None
        victim = 0 if first == int(urls[0].rsplit(":", 1)[1]) else 1
        procs[victim].kill()
        procs[victim].wait(10)
        if victim == 1:  # the publisher's server went: publish through the survivor
            await pub_nc.close()
            pub_nc = await connect_nats(urls[0], name="ha-pub", wait_seconds=20)
        await eventually(lambda: delivered(b"after"), timeout=20, message="the subscriber did not carry on")
        await sub_nc.close()
        await pub_nc.close()
    finally:
        _stop(procs)
