"""A NATS client whose path to the server goes silent (a host cut off the network: packets
vanish, nothing is refused) gives that connection up by itself, reconnects and runs its re-list
hook, instead of waiting for TCP to notice (minutes) or for the path to heal.

Real nats-server on loopback; the silence is an nftables rule that drops every packet of the
subscriber's first connection, both ways, so its reconnect (a new source port) gets through
while that connection stays dark, as after a partition."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest

from kubelite.bus.connection import (
    MAX_OUTSTANDING_PINGS,
    PING_INTERVAL,
    TCP_USER_TIMEOUT_SECONDS,
    connect_nats,
)
from kubelite.devservers import free_port, nats_binary
from tests.conftest import eventually

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nft"), reason="needs root and nft to drop packets"),
]


def _nft(script: str) -> None:
    subprocess.run(["nft", "-f", "-"], input=script, text=True, check=True, capture_output=True)


@pytest.fixture
def nats_port() -> Iterator[int]:
    port = free_port()
    server = subprocess.Popen([nats_binary(), "-a", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield port
    server.kill()
    server.wait(10)


@pytest.fixture
def nft_table(nats_port: int) -> Iterator[str]:
    table = f"kubelite_test_silent_{nats_port}"
    yield table
    subprocess.run(["nft", "delete", "table", "inet", table], capture_output=True)


async def test_a_client_behind_a_silent_path_reconnects_and_relists(nats_port: int, nft_table: str) -> None:
    port, table = nats_port, nft_table
    relists: list[float] = []

    async def on_reconnect() -> None:
        relists.append(time.monotonic())

    url = f"nats://127.0.0.1:{port}"
    sub_nc = await connect_nats(url, name="silent-sub", wait_seconds=20, on_reconnect=on_reconnect)
    pub_nc = await connect_nats(url, name="silent-pub", wait_seconds=20)
    got: list[bytes] = []

    async def on_msg(msg) -> None:
        got.append(msg.data)

    await sub_nc.subscribe("kubelite.test.silent", cb=on_msg)
    await sub_nc.flush()
    sock = sub_nc._transport._bare_io_writer.get_extra_info("socket")
    client_port = sock.getsockname()[1]
    _nft(f"add table inet {table}\n"
         f"add chain inet {table} out {{ type filter hook output priority 0; }}\n"
         f"add rule inet {table} out tcp sport {client_port} drop\n"
         f"add rule inet {table} out tcp dport {client_port} drop\n")
    silenced = time.monotonic()

    async def delivered(data: bytes) -> bool:
        await pub_nc.publish("kubelite.test.silent", data)
        await asyncio.sleep(0.2)
        return data in got

    # PINGs every PING_INTERVAL s, unanswered: stale after MAX_OUTSTANDING_PINGS more, and the
    # kernel ends the socket after TCP_USER_TIMEOUT_SECONDS of unacknowledged data
    bound = PING_INTERVAL * (MAX_OUTSTANDING_PINGS + 1) + TCP_USER_TIMEOUT_SECONDS + 5
    await eventually(lambda: bool(relists), timeout=bound, interval=0.2,
                     message=f"the subscriber never gave its silent connection up within {bound:g} s")
    assert sub_nc._transport._bare_io_writer.get_extra_info("socket").getsockname()[1] != client_port
    await eventually(lambda: delivered(b"after"), timeout=10, message="no delivery after the reconnect")
    print(f"silent path given up and re-listed after {relists[0] - silenced:.1f} s")
    await sub_nc.close()
    await pub_nc.close()
