"""An apiserver for integration tests: the real `kubelite-apiserver` process on the
session's etcd and NATS, started once per session."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from kubelite import devservers


class APIServerProcess:
    def __init__(self, popen: subprocess.Popen, url: str, log_path: Path) -> None:
        self.popen = popen
        self.url = url
        self.log_path = log_path

    def log_tail(self) -> str:
        try:
            return "".join(self.log_path.read_text().splitlines(keepends=True)[-30:])
        except OSError:
            return ""


def start_apiserver(etcd_url: str, nats_url: str, log_path: Path, *extra: str) -> APIServerProcess:
    port = devservers.free_port()
    exe = Path(sys.executable).with_name("kubelite-apiserver")
    log = log_path.open("ab")
    popen = subprocess.Popen(
        [str(exe), "--etcd", etcd_url, "--nats", nats_url, "--port", str(port),
         "--log-level", "info", *extra],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise RuntimeError(f"apiserver exited with {popen.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return APIServerProcess(popen, url, log_path)
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
def apiserver(etcd_url: str, nats_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[APIServerProcess]:
    base = tmp_path_factory.mktemp("apiserver")
    proc = start_apiserver(etcd_url, nats_url, base / "apiserver.log")
    try:
        yield proc
    finally:
        stop_process(proc.popen)


@pytest.fixture
async def api(apiserver: APIServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=apiserver.url, timeout=20) as client:
        yield client


@pytest.fixture
async def namespace(api: httpx.AsyncClient) -> str:
    """A fresh namespace per test, so tests sharing one apiserver never collide."""
    import uuid

    name = "t-" + uuid.uuid4().hex[:10]
    r = await api.post("/api/v1/namespaces", json={"metadata": {"name": name}})
    assert r.status_code == 201, r.text
    return name
