"""OpenAPI v3 (and v2) documents generated from the object model, never written by hand.

kubectl reads `/openapi/v3` to learn that the server validates fields itself
(a PATCH operation tagged with the kind's group-version-kind that takes a
`fieldValidation` parameter) and for `kubectl explain`; the schemas come from
the msgspec Structs via `msgspec.json.schema_components`, post-processed into
OpenAPI 3.0's dialect (no `type: null`; `nullable` instead).
"""

from __future__ import annotations

import hashlib
from functools import cache, lru_cache
from typing import Any

import msgspec

from kubelite.api import versions
from kubelite.api.crd import registration
from kubelite.api.scheme import ResourceInfo, all_resources
from kubelite_apiserver.discovery import GIT_VERSION, groups

V3_REF = "#/components/schemas/{name}"
V2_REF = "#/definitions/{name}"

WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation")


def _gv_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def _gvk(info: ResourceInfo) -> list[dict[str, str]]:
    return [{"group": info.group, "version": info.version, "kind": info.kind}]


def _openapi30(node: Any) -> Any:
    """JSON Schema 2020-12 as msgspec writes it -> OpenAPI 3.0 (`nullable`, no null type)."""
    if isinstance(node, list):
        return [_openapi30(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _openapi30(v) for k, v in node.items() if k not in ("title",)}
    any_of = out.get("anyOf")
    if isinstance(any_of, list):
        rest = [s for s in any_of if s != {"type": "null"}]
        if len(rest) < len(any_of):
            out.pop("anyOf")
            if len(rest) == 1:
                inner = rest[0]
                if "$ref" in inner:
                    out["allOf"] = [inner]
                else:
                    out.update(inner)
            else:
                out["anyOf"] = rest
            out["nullable"] = True
    if out.get("default", 0) is None:
        out.pop("default")
    if out.get("required") == []:
        out.pop("required")
    return out


def _served() -> list[ResourceInfo]:
    """Every resource at every version served: the scheme's, then kubelite.api.versions' extra ones."""
    return [*all_resources(), *versions.all_infos()]


@cache
def _schemas(ref_template: str) -> dict[str, Any]:
    infos = _served()
    _, comps = msgspec.json.schema_components([i.type for i in infos], ref_template=ref_template)
    out = {name: _openapi30(schema) for name, schema in comps.items()}
    for info in infos:
        name = info.type.__name__
        custom = registration.of(info)
        if custom is not None:  # the CRD's own schema, with the object's standard fields
            schema = _openapi30(custom.schemas.get(info.version) or custom.schema)
            props = {**(schema.get("properties") or {}), "apiVersion": {"type": "string"}, "kind": {"type": "string"},
                     "metadata": {"$ref": ref_template.format(name="ObjectMeta")}}
            out[name] = {**schema, "type": "object", "properties": props}
        if name in out:
            out[name]["x-kubernetes-group-version-kind"] = _gvk(info)
            out[name].setdefault("description", f"{info.kind} ({info.api_version})")
    return out


def invalidate() -> None:
    """Forget every document built so far (a CRD came, changed or went)."""
    for cached in (_schemas, v3_document, v3_index, v2_document):
        cached.cache_clear()


def _param(name: str, where: str = "query", required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required, "schema": {"type": "string"},
            "uniqueItems": True}


def _op(info: ResourceInfo, action: str, ref: str, params: tuple[str, ...] = ()) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": f"{action}{info.kind}",
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": _gvk(info)[0],
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": ref}}}}},
    }
    if params:
        op["parameters"] = [_param(p) for p in params]
    return op


def _paths(info: ResourceInfo, ref: str) -> dict[str, Any]:
    base = "/" + _gv_path(info.group, info.version)
    coll = f"{base}/namespaces/{{namespace}}/{info.plural}" if info.namespaced else f"{base}/{info.plural}"
    path_params = [_param("namespace", "path", True)] if info.namespaced else []
    item_params = [*path_params, _param("name", "path", True)]
    paths: dict[str, Any] = {}
    coll_ops: dict[str, Any] = {"parameters": path_params}
    if "list" in info.verbs:
        coll_ops["get"] = _op(info, "list", ref, ("labelSelector", "fieldSelector", "limit", "continue",
                                                  "resourceVersion", "watch", "timeoutSeconds"))
    if "create" in info.verbs:
        coll_ops["post"] = _op(info, "post", ref, WRITE_PARAMS)
    paths[coll] = coll_ops
    if "get" in info.verbs:
        paths[coll + "/{name}"] = {
            "parameters": item_params,
            "get": _op(info, "get", ref),
            "put": _op(info, "put", ref, WRITE_PARAMS),
            "patch": _op(info, "patch", ref, (*WRITE_PARAMS, "force")),
            "delete": _op(info, "delete", ref, ("dryRun", "gracePeriodSeconds", "propagationPolicy")),
        }
        for sub in info.subresources:
            if sub in ("status",):
                paths[f"{coll}/{{name}}/{sub}"] = {
                    "parameters": item_params,
                    "get": _op(info, "get", ref),
                    "put": _op(info, "put", ref, WRITE_PARAMS),
                    "patch": _op(info, "patch", ref, (*WRITE_PARAMS, "force")),
                }
    return paths


def _doc_v3(group: str, version: str) -> dict[str, Any] | None:
    infos = [i for i in groups().get(group, []) if i.version == version] + versions.infos_of(group, version)
    if not infos:
        return None
    schemas = _schemas(V3_REF)
    paths: dict[str, Any] = {}
    for info in infos:
        paths.update(_paths(info, V3_REF.format(name=info.type.__name__)))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": GIT_VERSION},
        "paths": paths,
        "components": {"schemas": schemas},
    }


@cache
def v3_document(gv_path: str) -> bytes | None:
    parts = gv_path.strip("/").split("/")
    if parts[0] == "api" and len(parts) == 2:
        doc = _doc_v3("", parts[1])
    elif parts[0] == "apis" and len(parts) == 3:
        doc = _doc_v3(parts[1], parts[2])
    else:
        doc = None
    return None if doc is None else msgspec.json.encode(doc)


@lru_cache(maxsize=1)
def v3_index() -> bytes:
    paths = {}
    for group, infos in sorted(groups().items()):
        for version in sorted({i.version for i in infos} | set(versions.versions_of(group))):
            gv = _gv_path(group, version)
            digest = hashlib.sha256(v3_document(gv) or b"").hexdigest()[:32].upper()
            paths[gv] = {"serverRelativeURL": f"/openapi/v3/{gv}?hash={digest}"}
    return msgspec.json.encode({"paths": paths})


@lru_cache(maxsize=1)
def v2_document() -> bytes:
    """Swagger 2.0 JSON with every kind's definition (for tools that read v2)."""
    definitions = {name: _swagger2(schema) for name, schema in _schemas(V2_REF).items()}
    paths: dict[str, Any] = {}
    for info in _served():
        for path, ops in _paths(info, V2_REF.format(name=info.type.__name__)).items():
            paths[path] = _v2_ops(ops)
    doc = {"swagger": "2.0", "info": {"title": "Kubernetes", "version": GIT_VERSION},
           "paths": paths, "definitions": definitions}
    return msgspec.json.encode(doc)


def _swagger2(node: Any) -> Any:
    """OpenAPI 3.0 constructs Swagger 2.0 lacks, undone: `nullable` dropped and a nullable
    reference (`allOf: [{$ref}]`) back to the plain `$ref` (kubectl's proto models read a
    lone allOf as an untyped field and crash computing a strategic merge patch over it)."""
    if isinstance(node, list):
        return [_swagger2(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _swagger2(v) for k, v in node.items() if k != "nullable"}
    all_of = out.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and "$ref" in all_of[0]:
        out.pop("allOf")
        out = {**out, "$ref": all_of[0]["$ref"]}
    return out


def _v2_ops(ops: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, op in ops.items():
        if key == "parameters":
            out[key] = [_v2_param(p) for p in op]
            continue
        op = dict(op)
        op["parameters"] = [_v2_param(p) for p in op.get("parameters", [])]
        schema = op["responses"]["200"]["content"]["application/json"]["schema"]
        op["responses"] = {"200": {"description": "OK", "schema": schema}}
        out[key] = op
    return out


def _v2_param(p: dict[str, Any]) -> dict[str, Any]:
    return {"name": p["name"], "in": p["in"], "required": p["required"], "type": "string",
            "uniqueItems": True}
