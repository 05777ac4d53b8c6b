"""Structural schemas of CustomResourceDefinitions: prune, default, validate (pure)."""

from __future__ import annotations

from kubelite.api.crd.schema import apply_defaults, prune, structural_errors, validate

SCHEMA = {"type": "object", "properties": {
    "spec": {"type": "object", "required": ["image"], "properties": {
        "image": {"type": "string", "minLength": 1},
        "replicas": {"type": "integer", "minimum": 0, "default": 1},
        "mode": {"type": "string", "enum": ["fast", "safe"], "default": "safe"},
        "port": {"x-kubernetes-int-or-string": True},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "items": {"type": "array", "maxItems": 2, "items": {"type": "object", "properties": {
            "name": {"type": "string", "default": "x"}}}},
    }},
    "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
}}


def _messages(obj: dict) -> list[str]:
    return [f"{e.field}: {e.type}: {e.detail}" for e in validate(obj, SCHEMA)]


def test_worked_example_prune_then_default_then_validate() -> None:
    obj = {"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "a"},
           "spec": {"image": "nginx", "size": 3, "extra": {"any": {"thing": 1}}, "items": [{"junk": 1}]},
           "other": True}
    pruned = prune(obj, SCHEMA)
    assert pruned == {"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "a"},
                      "spec": {"image": "nginx", "extra": {"any": {"thing": 1}}, "items": [{}]}}
    defaulted = apply_defaults(pruned, SCHEMA)
    assert defaulted["spec"]["replicas"] == 1 and defaulted["spec"]["mode"] == "safe"
    assert defaulted["spec"]["items"] == [{"name": "x"}]
    assert validate(defaulted, SCHEMA) == []
    assert obj["spec"]["size"] == 3  # the input is left alone


def test_kubernetes_messages() -> None:
    assert _messages({"spec": {"image": "n", "replicas": "two"}}) == [
        'spec.replicas: Invalid: spec.replicas in body must be of type integer: "string"']
    assert _messages({"spec": {"image": "n", "replicas": -1}}) == [
        "spec.replicas: Invalid: spec.replicas in body should be greater than or equal to 0"]
    assert _messages({"spec": {}}) == ["spec.image: Required: "]
    assert _messages({"spec": {"image": "n", "mode": "slow"}})[0].startswith("spec.mode: NotSupported")
    assert _messages({"spec": {"image": "n", "port": 8080}}) == []
    assert _messages({"spec": {"image": "n", "port": "http"}}) == []
    assert _messages({"spec": {"image": "n", "port": 1.5}}) == [
        'spec.port: Invalid: spec.port in body must be of type integer or string: "number"']
    assert _messages({"spec": {"image": "n", "labels": {"a": 1}}}) == [
        'spec.labels.a: Invalid: spec.labels.a in body must be of type string: "integer"']
    assert _messages({"spec": {"image": "n", "items": [{}, {}, {}]}}) == [
        "spec.items: Invalid: spec.items in body should have at most 2 items"]
    assert _messages({"spec": {"image": "n"}, "status": {"ready": "yes"}}) == [
        'status.ready: Invalid: status.ready in body must be of type boolean: "string"']


def test_structural_rules() -> None:
    assert structural_errors(SCHEMA) == []
    assert structural_errors({"type": "string"}) == ["openAPIV3Schema.type: Required value: must be object at the root"]
    assert structural_errors({"type": "object", "properties": {"a": {"properties": {"b": {"type": "string"}}}}}) == [
        "openAPIV3Schema.properties[a].type: Required value: must not be empty for specified object fields"]
    assert "$ref" in structural_errors({"type": "object", "properties": {"a": {"$ref": "#/x"}}})[0]


def test_scale_reads_the_crd_paths_and_no_selector_path_is_no_selector() -> None:
    from kubelite import codec
    from kubelite.api.crd.registration import build

    crd = {"metadata": {"name": "ws.x.io"}, "spec": {"group": "x.io", "scope": "Namespaced",
           "names": {"plural": "ws", "kind": "W"}, "versions": [{"name": "v1", "served": True, "storage": True,
           "schema": {"openAPIV3Schema": SCHEMA}, "subresources": {"scale": {
               "specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.ready"}}}]}}
    custom = build(crd)
    obj = codec.convert({"metadata": {"name": "w"}, "spec": {"image": "i", "replicas": 3}, "status": {"ready": 2}},
                        custom.info.type)
    scale = custom.scale_of(obj)
    assert (scale["spec"]["replicas"], scale["status"]["replicas"], scale["status"]["selector"]) == (3, 2, "")
    assert codec.to_builtins(custom.with_replicas(obj, 5))["spec"]["replicas"] == 5
