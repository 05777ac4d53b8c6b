"""The apiserver pod cache's record of a pod (podrecord.py) answers as the decoded pod would:
same JSON, same selectable fields, same node index and refs; stored() is etcd's bytes."""

from __future__ import annotations

import logging

import msgspec
import pytest

from kubelite import codec
from kubelite.api.core_v1 import Pod
from kubelite.api.fields import fields_of, parse_field_selector
from kubelite.api.labels import parse_selector
from kubelite.reconcile.cache import (
    INDEX_NAMESPACE,
    INDEX_NODE,
    INDEX_OWNER,
    ObjectCache,
    diff,
    node_index,
)
from kubelite_apiserver.noderestriction import pod_refs
from kubelite_apiserver.podcache import PodCache
from kubelite_apiserver.podrecord import record_of
from kubelite_apiserver.registry import matches

POD = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {
        "name": "web-1", "namespace": "shop", "uid": "u-1", "resourceVersion": "812",
        "labels": {"app": "web", "tier": "front"}, "annotations": {"note": "x" * 100},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "rs-1",
                             "controller": True}],
        "managedFields": [{"manager": "kubectl", "operation": "Update", "apiVersion": "v1",
                           "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:nodeName": {}}}}],
    },
    "spec": {
        "nodeName": "n3", "restartPolicy": "Always", "schedulerName": "default-scheduler",
        "serviceAccountName": "builder",
        "containers": [{"name": "c", "image": "busybox", "envFrom": [{"secretRef": {"name": "db"}}]}],
        "volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}],
    },
    "status": {"phase": "Running", "podIP": "10.0.0.9", "podIPs": [{"ip": "10.0.0.9"}]},
}


def decoded(doc: dict | None = None) -> Pod:
    return codec.decoder_for(Pod).decode(codec.encode(doc or POD))


def test_raw_is_the_pod_and_stored_is_it_without_resource_version() -> None:
    pod = decoded()
    record = record_of(pod)
    assert record.raw() == codec.encode(pod)
    assert len(record.packed) < len(record.raw()) / 2  # kept deflated
    stored = msgspec.structs.replace(pod, metadata=msgspec.structs.replace(pod.metadata, resourceVersion=None))
    assert record.stored() == codec.encode(stored)
    assert b"812" not in record.stored()


def test_stored_is_none_when_raw_lacks_the_resource_version() -> None:
    record = record_of(decoded())
    record.metadata.resourceVersion = "999"  # raw() still says 812: do not guess, read etcd
    assert record.stored() is None


@pytest.mark.parametrize("doc", [POD, {"apiVersion": "v1", "kind": "Pod",
                                       "metadata": {"name": "bare", "namespace": "d", "resourceVersion": "5"}}])
def test_selectable_fields_index_and_refs_are_the_pods(doc: dict) -> None:
    pod = decoded(doc)
    record = record_of(pod)
    assert fields_of(record, "Pod") == fields_of(pod, "Pod")
    assert node_index(record) == node_index(pod)
    assert record.refs == pod_refs(pod)


@pytest.mark.parametrize(("labels", "fields", "expected"), [
    ("app=web", "", True),
    ("app=db", "", False),
    ("", "spec.nodeName=n3,status.phase=Running", True),
    ("tier in (front)", "status.podIP=10.0.0.9", True),
    ("", "spec.serviceAccountName=default", False),
])
def test_selectors_match_the_record_as_the_pod(labels: str, fields: str, expected: bool) -> None:
    pod = decoded()
    label_sel = parse_selector(labels) if labels else None
    field_sel = parse_field_selector(fields) if fields else None
    assert matches(pod, label_sel, field_sel) is expected
    assert matches(record_of(pod), label_sel, field_sel) is expected


def test_the_pod_caches_indexes_take_records_without_errors(caplog: pytest.LogCaptureFixture) -> None:
    """A record has no ownerReferences: the pod cache keeps no owner index (one that failed on
    every record logged a traceback per pod event, a tenth of the apiserver in a fill)."""
    with pytest.raises(KeyError):
        PodCache(None).informer.by_index(INDEX_OWNER, "rs-1")
    cache = ObjectCache(node_indexed=True, owner_indexed=False)
    record = record_of(decoded())
    with caplog.at_level(logging.ERROR):
        cache.put("shop/web-1", record)
    assert not caplog.records
    assert cache.by_index(INDEX_NODE, "n3") == [record]
    assert cache.by_index(INDEX_NAMESPACE, "shop") == [record]


def test_a_relist_of_records_tells_changed_and_recreated_pods_apart() -> None:
    """The informer's relist (cache.diff) reads metadata.uid: a record without it made every
    relist of the pod cache fail, which left the node authorizer's graph behind for good
    after an etcd member was lost (the lab test)."""
    cache = ObjectCache(node_indexed=True, owner_indexed=False)
    old = record_of(decoded())
    cache.put("shop/web-1", old)
    changed = decoded()
    changed.metadata.resourceVersion = "813"
    recreated = decoded()
    recreated.metadata.uid, recreated.metadata.resourceVersion = "u-2", "900"
    assert [(d.type, d.obj.metadata.resourceVersion) for d in diff(cache, {"shop/web-1": record_of(changed)})] == [
        ("MODIFIED", "813")]
    assert [(d.type, d.obj.metadata.uid) for d in diff(cache, {"shop/web-1": record_of(recreated)})] == [
        ("DELETED", "u-1"), ("ADDED", "u-2")]
    assert diff(cache, {"shop/web-1": record_of(decoded())}) == []


@pytest.mark.parametrize("count", [0, 1, 2, 5])
def test_splice_items_makes_the_list_document(count: int) -> None:
    """A LIST body: the encoded head with the already-encoded items spliced in as "items"."""
    from kubelite_apiserver.dispatch import splice_items

    items = [msgspec.json.encode({"metadata": {"name": f"p{i}"}}) for i in range(count)]
    head = msgspec.json.encode({"kind": "PodList", "metadata": {"resourceVersion": "7"}})
    body = msgspec.json.decode(splice_items(head, items))
    assert body == {"kind": "PodList", "metadata": {"resourceVersion": "7"},
                    "items": [{"metadata": {"name": f"p{i}"}} for i in range(count)]}


def test_a_record_keeps_its_json_in_an_allocation_of_its_size() -> None:
    """msgspec's encode result keeps its growth buffer (≈ 1.5× the JSON); a cached record must
    not: at 150,000 pods that was 170 MB of the apiserver (codec.encode_to_keep). A pod whose JSON
    does not deflate is kept as that JSON."""
    import tracemalloc

    pod = msgspec.convert({"metadata": {"name": "web", "namespace": "shop", "resourceVersion": "7",
                                        "annotations": {"a": "x" * 3000}}}, Pod)
    tracemalloc.start()
    raw = codec.encode_to_keep(pod)
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert raw == codec.encode(pod)
    assert held < len(raw) + 100, f"{held} bytes held for {len(raw)} bytes of JSON"
