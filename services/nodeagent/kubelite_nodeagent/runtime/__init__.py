"""Container runtimes behind one interface (see base.py), chosen by `--runtime`.

Each runtime module exposes a class taking a RuntimeConfig:
  process.py: ProcessRuntime(config)    docker.py: DockerRuntime(config)    fake.py: FakeRuntime(config)
"""

from __future__ import annotations

from kubelite_nodeagent.runtime.base import Runtime, RuntimeConfig

RUNTIMES = ("process", "docker", "fake")


def create_runtime(kind: str, config: RuntimeConfig) -> Runtime:
    """Instantiate the runtime named `kind` (imported lazily: docker needs aiodocker)."""
    if kind == "fake":
        from kubelite_nodeagent.runtime.fake import FakeRuntime

        return FakeRuntime(config)
    if kind == "process":
        from kubelite_nodeagent.runtime.process import ProcessRuntime

        return ProcessRuntime(config)
    if kind == "docker":
        from kubelite_nodeagent.runtime.docker import DockerRuntime

        return DockerRuntime(config)
    raise ValueError(f"unknown runtime {kind!r} (one of {', '.join(RUNTIMES)})")
