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
