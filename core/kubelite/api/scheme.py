"""The scheme: which resources exist, their kinds, plurals, scopes and Structs.

Every group module (core_v1, apps_v1, coordination_v1) calls `register` for
its kinds at import; `kubelite.api.all_kinds` imports them all. The apiserver's
URL routing, discovery, the storage key layout and the CLI's short names are
all driven from this one table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubelite.api.meta import Object


@dataclass(frozen=True)
class ResourceInfo:
    group: str  # "" for the core group
    version: str  # "v1"
    kind: str  # "Pod"
    plural: str  # "pods"
    singular: str  # "pod"
    namespaced: bool
    type: type[Object]
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()  # "status", "scale", "binding", "log"
    verbs: tuple[str, ...] = (
        "create", "delete", "deletecollection", "get", "list", "patch", "update", "watch",
    )
    categories: tuple[str, ...] = ()
    # Has spec whose changes bump metadata.generation (Kubernetes: most kinds with spec).
    has_spec: bool = True
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """'pods' or 'deployments.apps', as Kubernetes names a resource in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    def key_prefix(self, namespace: str | None = None) -> str:
        """etcd prefix: /registry/<plural>/ or /registry/<plural>/<ns>/ (trailing slash)."""
        if self.namespaced and namespace:
            return f"/registry/{self.plural}/{namespace}/"
        return f"/registry/{self.plural}/"

    def key(self, namespace: str | None, name: str) -> str:
        """etcd key /registry/<plural>/<namespace>/<name>; no namespace segment if cluster-scoped."""
        if self.namespaced:
            return f"/registry/{self.plural}/{namespace}/{name}"
        return f"/registry/{self.plural}/{name}"


_BY_PLURAL: dict[tuple[str, str], ResourceInfo] = {}  # (group, plural)
_BY_KIND: dict[tuple[str, str], ResourceInfo] = {}  # (apiVersion, kind)
_BY_TYPE: dict[type, ResourceInfo] = {}
_ALL: list[ResourceInfo] = []
_loaded = False


def register(info: ResourceInfo) -> ResourceInfo:
    _BY_PLURAL[(info.group, info.plural)] = info
    _BY_KIND[(info.api_version, info.kind)] = info
    _BY_TYPE.setdefault(info.type, info)
    _ALL.append(info)
    return info


def unregister(info: ResourceInfo) -> None:
    """Take back what `register` added (a custom resource whose CRD went away)."""
    if _BY_PLURAL.get((info.group, info.plural)) is info:
        del _BY_PLURAL[(info.group, info.plural)]
    if _BY_KIND.get((info.api_version, info.kind)) is info:
        del _BY_KIND[(info.api_version, info.kind)]
    if _BY_TYPE.get(info.type) is info:
        del _BY_TYPE[info.type]
    if info in _ALL:
        _ALL.remove(info)


def all_resources() -> list[ResourceInfo]:
    _ensure_loaded()
    return list(_ALL)


def by_plural(group: str, plural: str) -> ResourceInfo | None:
    _ensure_loaded()
    return _BY_PLURAL.get((group, plural))


def by_kind(api_version: str, kind: str) -> ResourceInfo | None:
    _ensure_loaded()
    return _BY_KIND.get((api_version, kind))


def by_type(tp: type) -> ResourceInfo | None:
    """The resource a Struct type is registered as (Deployment -> deployments.apps)."""
    _ensure_loaded()
    return _BY_TYPE.get(tp)


def resolve(name: str) -> ResourceInfo | None:
    """Resolve what a user typed ('po', 'pods', 'pod', 'Pod', 'deployments.apps', 'deploy')."""
    _ensure_loaded()
    low = name.lower()
    plural, _, group = low.partition(".")
    for info in _ALL:
        if group and info.group != group:
            continue
        if plural in (info.plural, info.singular, info.kind.lower()) or plural in info.short_names:
            return info
    return None


def _ensure_loaded() -> None:
    """Import every group module once, whichever module registered first."""
    global _loaded
    if not _loaded:
        _loaded = True
        import kubelite.api.all_kinds  # noqa: F401  (registers every kind)
