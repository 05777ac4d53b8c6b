"""/openapi/v2 as gnostic protobuf (pure encoding; kubectl 1.20 reads it in tests/compat)."""

from __future__ import annotations


def test_openapi_v2_protobuf_encodes_gnostic_fields() -> None:
    """A Swagger definition as gnostic's openapi.v2.Document: Document.definitions (9) ->
    NamedSchema{name 1, value 2} -> Schema{type 22, properties 25, vendor_extension 31}."""
    from kubelite_apiserver.openapi_proto import document, wanted

    doc = {"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1"}, "definitions": {"D": {
        "type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}},
        "x-kubernetes-group-version-kind": [{"group": "", "kind": "D", "version": "v1"}]}}}
    data = document(doc)
    assert data.startswith(b"\x0a\x032.0")  # field 1, "2.0"
    assert b"\xb2\x01\x06\x0a\x04type" not in data  # no stray encodings of keys as fields
    assert b"x-kubernetes-group-version-kind" in data and b'"kind":"D"' in data
    assert b"\xb2\x01\x09\x0a\x07integer" in data or b"\x0a\x07integer" in data
    assert wanted("application/com.github.proto-openapi.spec.v2@v1.0+protobuf, application/json")
    assert not wanted("application/json, application/com.github.proto-openapi.spec.v2@v1.0+protobuf")


def _fields(data: bytes) -> list[tuple[int, bytes]]:
    """(field number, bytes) of a message's length-delimited fields (other wire types skipped)."""
    out, pos = [], 0

    def varint() -> int:
        nonlocal pos
        shift = value = 0
        while True:
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    while pos < len(data):
        key = varint()
        field, wire = key >> 3, key & 7
        if wire == 2:
            n = varint()
            out.append((field, data[pos:pos + n]))
            pos += n
        elif wire == 0:
            varint()
        elif wire == 1:
            pos += 8
        else:
            pos += 4
    return out


def _one(data: bytes, field: int) -> bytes:
    return next(v for f, v in _fields(data) if f == field)


def test_openapi_v2_protobuf_paths_carry_what_the_dry_run_check_reads() -> None:
    """kubectl 1.20's SupportsDryRun: Document.paths (8) -> Paths.path (2) -> NamedPathItem ->
    PathItem.patch (8) -> Operation: vendor_extension (13) x-kubernetes-group-version-kind, and a
    parameter (8) -> Parameter (1) -> NonBodyParameter (2) -> QueryParameterSubSchema (3) named dryRun."""
    from kubelite_apiserver.openapi_proto import document

    gvk = {"group": "apps", "kind": "Deployment", "version": "v1"}
    path = "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
    doc = {"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1"}, "definitions": {}, "paths": {path: {
        "parameters": [{"name": "name", "in": "path", "required": True, "type": "string"}],
        "patch": {"operationId": "patchDeployment", "x-kubernetes-group-version-kind": gvk,
                  "parameters": [{"name": "dryRun", "in": "query", "required": False, "type": "string"}]}}}}
    named = _one(_one(document(doc), 8), 2)
    assert _one(named, 1) == path.encode()
    item = _one(named, 2)
    op = _one(item, 8)
    assert _one(op, 5) == b"patchDeployment"
    extension = _one(op, 13)
    assert _one(extension, 1) == b"x-kubernetes-group-version-kind" and b'"kind":"Deployment"' in _one(extension, 2)
    query = _one(_one(_one(_one(op, 8), 1), 2), 3)
    assert _one(query, 4) == b"dryRun" and _one(query, 2) == b"query"
    path_param = _one(_one(_one(_one(item, 9), 1), 2), 4)
    assert _one(path_param, 4) == b"name" and _one(path_param, 5) == b"string"
