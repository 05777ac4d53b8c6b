"""Service environment variables, as the kubelet injects them (enableServiceLinks).

For every Service with a cluster IP in the pod's namespace that exists when a
container starts: FOO_SERVICE_HOST / FOO_SERVICE_PORT / FOO_SERVICE_PORT_<NAME>
and the Docker-link style FOO_PORT, FOO_PORT_<port>_<PROTO>{,_PROTO,_PORT,_ADDR}.
The container's own env wins over these (they are laid down first).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def env_name(service_name: str) -> str:
    return service_name.upper().replace("-", "_").replace(".", "_")


def service_env(services: Iterable[Any]) -> dict[str, str]:
    """Pure: the variables for these Services (sorted by name, as the kubelet does)."""
    env: dict[str, str] = {}
    for svc in sorted(services, key=lambda s: s.metadata.name or ""):
        spec = svc.spec
        ip = getattr(spec, "clusterIP", None) if spec is not None else None
        ports = list(getattr(spec, "ports", None) or [])
        if not ip or ip == "None" or not ports:
            continue
        name = env_name(svc.metadata.name or "")
        env[f"{name}_SERVICE_HOST"] = ip
        env[f"{name}_SERVICE_PORT"] = str(ports[0].port)
        for p in ports:
            if p.name:
                env[f"{name}_SERVICE_PORT_{env_name(p.name)}"] = str(p.port)
        first = ports[0]
        env[f"{name}_PORT"] = f"{(first.protocol or 'TCP').lower()}://{ip}:{first.port}"
        for p in ports:
            proto = (p.protocol or "TCP").upper()
            prefix = f"{name}_PORT_{p.port}_{proto}"
            env[prefix] = f"{proto.lower()}://{ip}:{p.port}"
            env[prefix + "_PROTO"] = proto.lower()
            env[prefix + "_PORT"] = str(p.port)
            env[prefix + "_ADDR"] = ip
    return env
