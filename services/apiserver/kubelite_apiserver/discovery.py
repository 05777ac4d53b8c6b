"""Discovery documents (/api, /apis, /api/v1, /apis/<g>/<v>) and /version, from the scheme."""

from __future__ import annotations

from typing import Any

from kubelite.api import versions
from kubelite.api.scheme import ResourceInfo, all_resources

GIT_VERSION = "v1.31.0-kubelite"

SUBRESOURCE_KINDS = {
    "status": (None, ("get", "patch", "update")),
    "scale": ("Scale", ("get", "patch", "update")),
    "binding": ("Binding", ("create",)),
    "log": ("Pod", ("get",)),
    "exec": ("PodExecOptions", ("create", "get")),
    "attach": ("PodAttachOptions", ("create", "get")),
    "ephemeralcontainers": ("Pod", ("get", "patch", "update")),
    "portforward": ("PodPortForwardOptions", ("create", "get")),
    "token": ("TokenRequest", ("create",)),
    "eviction": ("Eviction", ("create",)),
    "proxy": (None, ("create", "delete", "get", "patch", "update")),  # PodProxyOptions / ServiceProxyOptions
}


def version_info() -> dict[str, Any]:
    return {
        "major": "1",
        "minor": "31",
        "gitVersion": GIT_VERSION,
        "gitCommit": "kubelite",
        "gitTreeState": "clean",
        "buildDate": "2026-11-22T00:00:00Z",
        "goVersion": "python",
        "compiler": "cpython",
        "platform": "linux/amd64",
    }


def groups() -> dict[str, list[ResourceInfo]]:
    out: dict[str, list[ResourceInfo]] = {}
    for info in all_resources():
        out.setdefault(info.group, []).append(info)
    return out


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group_entry(name: str, version: str) -> dict[str, Any]:
    """The stored version first and preferred, then any older one kubelite.api.versions serves."""
    gvs = [{"groupVersion": f"{name}/{v}", "version": v} for v in (version, *versions.versions_of(name))]
    return {"name": name, "versions": gvs, "preferredVersion": gvs[0]}


def api_group_list() -> dict[str, Any]:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [
            _group_entry(g, infos[0].version) for g, infos in sorted(groups().items()) if g
        ],
    }


def api_group(name: str) -> dict[str, Any] | None:
    infos = groups().get(name)
    if not name or not infos:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(name, infos[0].version)}


def resource_list(group: str, version: str) -> dict[str, Any] | None:
    infos = [i for i in groups().get(group, []) if i.version == version] + versions.infos_of(group, version)
    if not infos:
        return None
    resources: list[dict[str, Any]] = []
    for info in infos:
        entry: dict[str, Any] = {
            "name": info.plural,
            "singularName": info.singular,
            "namespaced": info.namespaced,
            "kind": info.kind,
            "verbs": list(info.verbs),
        }
        if info.short_names:
            entry["shortNames"] = list(info.short_names)
        if info.categories:
            entry["categories"] = list(info.categories)
        resources.append(entry)
        for sub in info.subresources:
            kind, verbs = SUBRESOURCE_KINDS.get(sub, (None, ("get",)))
            if sub == "proxy":
                kind = f"{info.kind}ProxyOptions"
            sub_entry: dict[str, Any] = {
                "name": f"{info.plural}/{sub}",
                "singularName": "",
                "namespaced": info.namespaced,
                "kind": kind or info.kind,
                "verbs": list(verbs),
            }
            if sub == "scale":
                sub_entry["group"] = "autoscaling"
                sub_entry["version"] = "v1"
            elif sub == "eviction":
                sub_entry["group"] = "policy"
                sub_entry["version"] = "v1"
            elif sub == "token":
                sub_entry["group"] = "authentication.k8s.io"
                sub_entry["version"] = "v1"
            resources.append(sub_entry)
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}
