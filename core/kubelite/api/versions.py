"""API versions served besides each resource's stored one, and how to convert between them.

The scheme (kubelite.api.scheme) has one version per resource: the one stored in etcd and the
controllers' own. Kubernetes serves some resources at older versions too (autoscaling/v1 beside
autoscaling/v2); each such version is a row here, with a pure conversion each way on JSON. The
apiserver converts a request's body to the stored version and the answer back, so storage,
admission, validation and the controllers only ever see the stored version.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubelite.api import autoscaling_v1
from kubelite.api.scheme import ResourceInfo, by_plural

JSON = dict[str, Any]


@dataclass(frozen=True)
class ServedVersion:
    group: str
    version: str  # the extra version served, e.g. "v1"
    plural: str
    storage_version: str  # the scheme's (stored) version, e.g. "v2"
    to_storage: Callable[[JSON], JSON]
    from_storage: Callable[[JSON], JSON]
    type: type  # its Struct, for OpenAPI only (requests are converted as JSON)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def info(self) -> ResourceInfo:
        """The stored resource's entry as this version shows it (discovery, OpenAPI)."""
        stored = by_plural(self.group, self.plural)
        assert stored is not None, f"{self.plural}.{self.group} is not in the scheme"
        return dataclasses.replace(stored, version=self.version, type=self.type)


SERVED: list[ServedVersion] = [
    ServedVersion("autoscaling", "v1", "horizontalpodautoscalers", "v2",
                  autoscaling_v1.to_v2, autoscaling_v1.from_v2, autoscaling_v1.HorizontalPodAutoscalerV1),
]


def register(served: ServedVersion) -> None:
    """Serve one more version (a custom resource's non-storage version: kubelite.api.crd)."""
    SERVED.append(served)


def unregister(served: ServedVersion) -> None:
    if served in SERVED:
        SERVED.remove(served)


def alternate(group: str, version: str, plural: str) -> ServedVersion | None:
    return next((s for s in SERVED if (s.group, s.version, s.plural) == (group, version, plural)), None)


def versions_of(group: str) -> list[str]:
    """The extra versions served in `group` (after the stored one, which is preferred)."""
    return sorted({s.version for s in SERVED if s.group == group}, reverse=True)


def infos_of(group: str, version: str) -> list[ResourceInfo]:
    """The extra resources served at group/version, as scheme entries."""
    return [s.info() for s in SERVED if (s.group, s.version) == (group, version)]


def all_infos() -> list[ResourceInfo]:
    return [s.info() for s in SERVED]
