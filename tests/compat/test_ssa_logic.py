"""Pure logic behind the compatibility fixes, without a cluster: server-side apply and
managedFields (apply.py, managedfields.py) and kubectl's protobuf bodies (protobuf.py)."""

from __future__ import annotations

import copy
import json

import pytest

from kubelite.errors import APIError
from kubelite_apiserver import apply, protobuf
from kubelite_apiserver import managedfields as mf

DEPLOY = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
            {"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}]}},
    },
}
NOW = "2026-01-01T00:00:00Z"


def ssa(live, config, entries, manager="kubectl", force=False):
    return apply.apply_config(live, config, entries, manager=manager, force=force, kind="Deployment",
                              api_version="apps/v1", now=NOW)


def update(entries, old, new, manager):
    return apply.record_update(entries, old, new, manager=manager, kind="Deployment",
                               api_version="apps/v1", subresource="", now=NOW)


def owners(entries) -> dict[str, set[str]]:
    return {e["manager"]: {mf.path_string(p) for p in mf.from_fields_v1(e["fieldsV1"])} for e in entries}


def test_apply_records_leaves_and_list_items_in_kubernetes_format() -> None:
    merged, [entry] = ssa(None, DEPLOY, None)
    assert merged["spec"]["replicas"] == 2
    assert (entry["manager"], entry["operation"], entry["apiVersion"], entry["fieldsType"]) == (
        "kubectl", "Apply", "apps/v1", "FieldsV1")
    containers = entry["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
    item = containers['k:{"name":"nginx"}']
    assert next(iter(item)) == "."  # the list item itself is owned, written first
    assert item["f:ports"]['k:{"containerPort":80,"protocol":"TCP"}'] == {".": {}, "f:containerPort": {}}
    assert entry["fieldsV1"]["f:spec"]["f:selector"] == {}  # atomic
    assert "f:name" not in entry["fieldsV1"]["f:metadata"]  # identity is nobody's field


def test_fields_v1_round_trip_and_path_strings() -> None:
    _, [entry] = ssa(None, DEPLOY, None)
    fields = mf.from_fields_v1(entry["fieldsV1"])
    assert mf.to_fields_v1(fields) == entry["fieldsV1"]
    strings = {mf.path_string(p) for p in fields}
    assert '.spec.template.spec.containers[name="nginx"].image' in strings
    assert '.spec.template.spec.containers[name="nginx"].ports[containerPort=80,protocol="TCP"]' in strings
    assert mf.path_string(("f:metadata", "f:finalizers", 'v:"x"')) == '.metadata.finalizers[="x"]'


def test_conflict_with_an_update_manager_and_force() -> None:
    live, applied = ssa(None, DEPLOY, None)
    changed = copy.deepcopy(live)
    changed["spec"]["replicas"] = 5
    entries = update(applied, live, changed, "kubectl-scale")
    assert owners(entries)["kubectl-scale"] == {".spec.replicas"}
    assert ".spec.replicas" not in owners(entries)["kubectl"]  # the changed field moved

    config = copy.deepcopy(DEPLOY)  # still says replicas: 2
    with pytest.raises(APIError) as err:
        ssa(changed, config, entries)
    assert err.value.code == 409 and err.value.reason == "Conflict"
    assert err.value.message == (
        'Apply failed with 1 conflict: conflict with "kubectl-scale" using apps/v1: .spec.replicas')
    [cause] = err.value.details.causes
    assert (cause.reason, cause.field, cause.message) == (
        "FieldManagerConflict", ".spec.replicas", 'conflict with "kubectl-scale" using apps/v1')

    merged, after = ssa(changed, config, entries, force=True)
    assert merged["spec"]["replicas"] == 2
    assert "kubectl-scale" not in owners(after)  # its only field was taken
    assert ".spec.replicas" in owners(after)["kubectl"]


def test_several_conflicts_are_listed_per_manager() -> None:
    live, _ = ssa(None, DEPLOY, None)
    entries = update(None, None, live, "kubectl-client-side-apply")
    config = copy.deepcopy(DEPLOY)
    config["spec"]["replicas"] = 3
    config["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    with pytest.raises(APIError) as err:
        ssa(live, config, entries)
    assert err.value.message == (
        'Apply failed with 2 conflicts: conflicts with "kubectl-client-side-apply" using apps/v1:\n'
        "- .spec.replicas\n"
        '- .spec.template.spec.containers[name="nginx"].image')


def test_same_value_is_shared_ownership_not_a_conflict() -> None:
    live, _ = ssa(None, DEPLOY, None)
    entries = update(None, None, live, "other")
    merged, after = ssa(live, DEPLOY, entries, manager="mine")
    assert merged == live
    assert ".spec.replicas" in owners(after)["other"] and ".spec.replicas" in owners(after)["mine"]


def test_fields_dropped_from_the_config_are_removed_unless_someone_else_owns_them() -> None:
    config = copy.deepcopy(DEPLOY)
    config["metadata"]["labels"]["tier"] = "front"
    live, entries = ssa(None, config, None)
    smaller = copy.deepcopy(config)
    del smaller["metadata"]["labels"]["tier"]
    merged, _ = ssa(live, smaller, entries)
    assert merged["metadata"]["labels"] == {"app": "web"}

    shared = update(entries, None, live, "other")  # "other" also set every field at create
    merged, _ = ssa(live, smaller, shared)
    assert merged["metadata"]["labels"] == {"app": "web", "tier": "front"}


def test_associative_list_items_merge_by_key() -> None:
    live, entries = ssa(None, DEPLOY, None)
    sidecar = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
               "spec": {"template": {"spec": {"containers": [{"name": "log", "image": "busybox"}]}}}}
    merged, after = ssa(live, sidecar, entries, manager="sidecar-injector")
    names = [c["name"] for c in merged["spec"]["template"]["spec"]["containers"]]
    assert names == ["nginx", "log"]
    assert owners(after)["sidecar-injector"] == {
        '.spec.template.spec.containers[name="log"]',
        '.spec.template.spec.containers[name="log"].image',
        '.spec.template.spec.containers[name="log"].name',
    }


def test_a_list_item_whose_key_changed_is_replaced_whole() -> None:
    """helm 4 upgrading a chart from port 80 to 8080: the item keyed containerPort=80 goes whole
    (it used to lose its leaves one by one, its key with them, and stay behind empty)."""
    live, entries = ssa(None, DEPLOY, None)
    moved = copy.deepcopy(DEPLOY)
    moved["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 8080, "protocol": "TCP"}]
    merged, after = ssa(live, moved, entries)
    assert merged["spec"]["template"]["spec"]["containers"][0]["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert not any("80," in p for p in owners(after)["kubectl"] if "8080" not in p)


def test_a_dropped_item_another_manager_shares_keeps_its_key() -> None:
    live, entries = ssa(None, DEPLOY, None)
    shared = update(entries, None, live, "other")  # "other" owns every field too, the port's key included
    other_only = [e for e in shared if e["manager"] == "other"]
    port_name = {"f:spec": {"f:template": {"f:spec": {"f:containers": {'k:{"name":"nginx"}': {
        "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:name": {}}}}}}}}}
    other_only[0] = {**other_only[0], "fieldsV1": port_name}
    mine = [e for e in shared if e["manager"] == "kubectl"]
    live["spec"]["template"]["spec"]["containers"][0]["ports"][0]["name"] = "http"
    moved = copy.deepcopy(DEPLOY)
    moved["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 8080}]
    merged, _ = ssa(live, moved, mine + other_only)
    assert merged["spec"]["template"]["spec"]["containers"][0]["ports"] == [
        {"containerPort": 80, "name": "http"}, {"containerPort": 8080}]


def test_unchanged_update_keeps_entries_and_create_fast_path_matches_diff() -> None:
    live, entries = ssa(None, DEPLOY, None)
    assert update(entries, live, copy.deepcopy(live), "x") == entries
    assert mf.created_tree(live, "Deployment") == mf.to_fields_v1(mf.diff({}, live, "Deployment", status=False))


def test_patch_options_are_validated_as_kubernetes_does() -> None:
    with pytest.raises(APIError) as err:
        apply.check_patch_options(True, None, False)
    assert err.value.code == 422 and "fieldManager: Required value" in err.value.message
    with pytest.raises(APIError) as err:
        apply.check_patch_options(False, "m", True)
    assert err.value.code == 422 and "force: Forbidden" in err.value.message
    assert apply.manager_from_user_agent("kubectl/v1.37.1 (linux/amd64) kubernetes/f78e722") == "kubectl"


# Request bodies captured from kubectl 1.37.1 (`kubectl create secret generic s1
# --from-literal=pw=hunter2`, `kubectl create deployment d1 --image=nginx:1.25 --replicas=3 --port=80`).
SECRET_PB = ("6b3873000a0c0a027631120653656372657412250a120a02733112001a0022002a00320038004200120d0a02707712"
             "0768756e746572321a001a002200")
DEPLOYMENT_PB = (
    "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412b9010a1d0a02643112001a0022002a00320038"
    "0042005a090a03617070120264311289010803120b0a090a03617070120264311a700a1b0a0012001a0022002a0032"
    "0038004200" "5a090a0361707012026431125112330a056e67696e78120a6e67696e783a312e32352a00320a0a0010"
    "00185022002a0042006a007200800100880100900100a201001a00320042004a0052005800600068008201008a0100"
    "9a0100c2010022020a00280038001a0c0800100018002000280038001a002200")


def test_protobuf_bodies_from_kubectl_decode_to_the_json_shape() -> None:
    assert json.loads(protobuf.to_json(bytes.fromhex(SECRET_PB))) == {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s1"}, "data": {"pw": "aHVudGVyMg=="}}
    assert json.loads(protobuf.to_json(bytes.fromhex(DEPLOYMENT_PB))) == {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "d1", "labels": {"app": "d1"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "d1"}}, "template": {
            "metadata": {"labels": {"app": "d1"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}]}}},
    }
    # kubectl drain's DELETE: DeleteOptions{gracePeriodSeconds: 7}
    delete_pb = "6b3873000a130a027631120d44656c6574654f7074696f6e731202080" "71a002200"
    assert json.loads(protobuf.to_json(bytes.fromhex(delete_pb))) == {
        "apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 7}
    with pytest.raises(APIError) as err:
        protobuf.to_json(b"k8s\x00" + bytes.fromhex("0a0e0a0276311208496e677265737300"))
    assert err.value.code in (400, 415)
    with pytest.raises(APIError):
        protobuf.to_json(b"not protobuf")
