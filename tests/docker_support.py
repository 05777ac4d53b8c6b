"""Docker for the tests: whether a daemon with the local image answers (else the tests that
need it skip with the reason), and the clean-up of what a docker-runtime node left behind."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiodocker
import pytest
from aiodocker.exceptions import DockerError

from kubelite_nodeagent.runtime.docker_iptables import remove_pod_traffic_rules
from kubelite_nodeagent.runtime.docker_model import LABEL_NODE, network_name, network_subnets

IMAGE = "kubelite/busybox:latest"


def _docker_problem() -> str | None:
    """Why the Docker tests cannot run here, or None when a daemon answers and has the image."""

    async def check() -> str | None:
        try:
            docker = aiodocker.Docker()
        except Exception as exc:  # no socket configured at all
            return f"no Docker client configuration: {exc}"
        try:
            async with asyncio.timeout(5):
                await docker.version()
                await docker.images.inspect(IMAGE)
        except DockerError as exc:
            if exc.status == 404:
                return f"image {IMAGE} missing (run scripts/build-busybox-image.sh)"
            if exc.status == 900:  # aiodocker's "could not connect"
                return f"no Docker daemon answers ({exc.message}); run scripts/install-docker.sh"
            return f"Docker daemon error: {exc}"
        except (TimeoutError, OSError, Exception) as exc:
            return f"no Docker daemon answers ({type(exc).__name__}: {exc}); run scripts/install-docker.sh"
        finally:
            await docker.close()
        return None

    return asyncio.run(check())


DOCKER_PROBLEM = _docker_problem()


def needs_docker(test: Callable[..., Any]) -> Callable[..., Any]:
    """Marks a test `docker` and skips it (with the reason) when Docker or the image is missing."""
    skip = pytest.mark.skipif(DOCKER_PROBLEM is not None, reason=DOCKER_PROBLEM or "")
    return pytest.mark.docker(skip(test))


async def remove_node_objects(node: str) -> list[str]:
    """Force-remove every container labelled for `node` and its network; returns what was there."""
    found: list[str] = []
    async with aiodocker.Docker() as docker:
        filters = json.dumps({"label": [f"{LABEL_NODE}={node}"]})
        for c in await docker.containers.list(all=True, filters=filters):
            found.append(f"container {c._container.get('Names')}")
            try:
                await c.delete(force=True, v=True)
            except DockerError as exc:
                if exc.status != 404:
                    raise
        try:
            net = await docker.networks.get(network_name(node))
            for subnet in network_subnets(await net.show()):
                await remove_pod_traffic_rules(network_name(node), subnet)
            await net.delete()
            found.append(f"network {network_name(node)}")
        except DockerError as exc:
            if exc.status != 404:
                raise
    return found
