"""devservers starts real etcd/NATS binaries detached and stops them without leftovers;
connect_nats waits for NATS at startup and reports reconnects."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from kubelite import devservers
from kubelite.bus.connection import connect_nats
from kubelite.devservers import ServerProcess
from kubelite.storage import Unavailable
from kubelite.storage.etcd import EtcdStore
from tests.conftest import eventually


def _assert_gone(server: ServerProcess) -> None:
    assert not server.alive
    assert server.popen.returncode is not None, "stop() must reap the process"
    assert not devservers.pid_alive(server.pid)


def _assert_detached_real_binary(server: ServerProcess, binary: str) -> None:
    assert os.path.realpath(f"/proc/{server.pid}/exe") == os.path.realpath(binary)
    assert os.getsid(server.pid) == server.pid, "server must lead its own session"


async def test_etcd_starts_serves_and_stops_cleanly(tmp_path: Path) -> None:
    server = devservers.start_etcd(
        tmp_path / "etcd",
        client_port=devservers.free_port(),
        peer_port=devservers.free_port(),
        log_path=tmp_path / "etcd.log",
        die_with_parent=True,
    )
    try:
        assert server.alive
        _assert_detached_real_binary(server, devservers.etcd_binary())
        store = await EtcdStore.connect(server.url, wait_seconds=5)
        try:
            rev = await store.create("/probe", b"ok")
            assert (await store.get("/probe")).mod_revision == rev  # type: ignore[union-attr]
        finally:
            await store.close()
    finally:
        server.stop()
    _assert_gone(server)
    assert (tmp_path / "etcd" / "member").is_dir()


def test_nats_starts_without_jetstream_and_stops_cleanly(tmp_path: Path) -> None:
    monitor = devservers.free_port()
    server = devservers.start_nats(
        tmp_path / "nats",
        port=devservers.free_port(),
        log_path=tmp_path / "nats.log",
        monitor_port=monitor,
        die_with_parent=True,
    )
    try:
        _assert_detached_real_binary(server, devservers.nats_binary())
        with urllib.request.urlopen(f"http://127.0.0.1:{monitor}/varz", timeout=5) as resp:
            varz = json.load(resp)
        assert varz.get("jetstream", {}).get("config") is None, "kubelite uses no JetStream"
    finally:
        server.stop()
    _assert_gone(server)


def test_stop_pid_stops_a_server_known_only_by_pid(tmp_path: Path) -> None:
    server = devservers.start_nats(
        tmp_path, port=devservers.free_port(), log_path=tmp_path / "nats.log"
    )
    try:
        devservers.stop_pid(server.pid, timeout=10)  # what `kubelite down` does
        assert not devservers.pid_alive(server.pid)
    finally:
        server.stop()
    _assert_gone(server)


def test_etcd_that_cannot_start_reports_its_log_and_leaves_nothing(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        before = _children_named("etcd")
        with pytest.raises(RuntimeError, match=r"etcd exited with code .* during startup"):
            devservers.start_etcd(
                tmp_path / "etcd",
                client_port=taken,
                peer_port=devservers.free_port(),
                log_path=tmp_path / "etcd.log",
                wait=20,
            )
    assert _children_named("etcd") == before


def _children_named(name: str) -> set[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=,comm=", "--ppid", str(os.getpid())],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return {
        int(pid)
        for pid, comm in (line.split(None, 1) for line in out.splitlines())
        if comm.strip() == name
    }


async def test_connect_nats_gives_a_clear_error_when_unreachable() -> None:
    with pytest.raises(
        ConnectionError, match=r"NATS at nats://127\.0\.0\.1:1 not reachable after 1s"
    ):
        await connect_nats("nats://127.0.0.1:1", name="test", wait_seconds=1)


async def test_connect_nats_waits_for_a_late_server_and_calls_on_reconnect(tmp_path: Path) -> None:
    port = devservers.free_port()
    url = f"nats://127.0.0.1:{port}"
    reconnects = 0

    async def on_reconnect() -> None:
        nonlocal reconnects
        reconnects += 1

    def start() -> ServerProcess:
        return devservers.start_nats(
            tmp_path, port=port, log_path=tmp_path / "nats.log", die_with_parent=True
        )

    async def start_late() -> ServerProcess:
        await asyncio.sleep(1)
        return start()

    late = asyncio.create_task(start_late())
    server: ServerProcess | None = None
    try:
        nc = await connect_nats(url, name="test", wait_seconds=15, on_reconnect=on_reconnect)
        server = await late
        try:
            assert nc.is_connected and reconnects == 0
            server.stop()
            server = start()  # same port: the client must find it again
            await eventually(lambda: reconnects == 1, timeout=15, message="on_reconnect called")
            await nc.publish("kubelite.test", b"after reconnect")
            await nc.flush(timeout=5)
        finally:
            await nc.close()
    finally:
        if server is None:
            server = await late
        server.stop()


async def test_store_reports_unavailable_when_etcd_dies_and_recovers(tmp_path: Path) -> None:
    client_port, peer_port = devservers.free_port(), devservers.free_port()

    def start() -> ServerProcess:
        return devservers.start_etcd(
            tmp_path / "etcd",
            client_port=client_port,
            peer_port=peer_port,
            log_path=tmp_path / "etcd.log",
            die_with_parent=True,
        )

    server = start()
    try:
        store = await EtcdStore.connect(server.url, wait_seconds=5)
        try:
            watch = store.watch("/", start_revision=await store.current_revision() + 1)
            await store.create("/first", b"1")
            assert (await asyncio.wait_for(anext(watch), 5)).kv.key == "/first"
            server.stop()
            with pytest.raises(Unavailable):
                await asyncio.wait_for(anext(watch), 20)
            with pytest.raises(Unavailable):
                await asyncio.wait_for(store.get("/first"), 20)
            with pytest.raises(Unavailable):
                await asyncio.wait_for(store.create("/second", b"2"), 20)

            # Same ports and data: the same store object must recover. While etcd was down the
            # store kept reconnecting from ephemeral source ports, and one of those may briefly
            # hold the very port etcd binds ("address already in use"): retry that case.
            for attempt in range(20):
                try:
                    server = start()
                    break
                except RuntimeError as exc:
                    if "address already in use" not in str(exc) or attempt == 19:
                        raise
                    await asyncio.sleep(0.25)

            async def serving() -> bool:
                try:
                    return (await store.get("/first")) is not None
                except Unavailable:
                    return False

            await eventually(serving, timeout=30, message="store usable after etcd restart")
        finally:
            await store.close()
    finally:
        server.stop()


async def test_die_with_parent_stops_the_server_when_its_starter_is_killed(
    tmp_path: Path,
) -> None:
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from kubelite import devservers\n"
        "d = Path(sys.argv[1])\n"
        "s = devservers.start_nats(d, port=devservers.free_port(), log_path=d / 'nats.log',\n"
        "                          die_with_parent=True)\n"
        "print(s.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    starter = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, str(tmp_path), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert starter.stdout is not None
        server_pid = int(await asyncio.wait_for(starter.stdout.readline(), 30))
        assert devservers.pid_alive(server_pid)
        starter.kill()  # SIGKILL: no cleanup code runs in the starter
        await asyncio.wait_for(starter.wait(), 10)
        await eventually(
            lambda: not devservers.pid_alive(server_pid),
            message=f"nats-server {server_pid} outlived its killed starter",
        )
    finally:
        if starter.returncode is None:
            starter.kill()
            await starter.wait()
