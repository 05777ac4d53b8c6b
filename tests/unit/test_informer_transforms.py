"""Informer transforms (kubelite.reconcile.transforms): what they keep, what they share."""

from __future__ import annotations

import sys
from typing import Any

from kubelite import codec
from kubelite.api.core_v1 import Pod
from kubelite.reconcile.transforms import INTERN_MAX, drop_managed_fields, intern_strings, lean


def _pod(name: str, node: str) -> Pod:
    doc: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "web", "labels": {"app": "web"},
                     "annotations": {"note": "x" * (INTERN_MAX + 1)},
                     "managedFields": [{"manager": "kubectl", "operation": "Update", "apiVersion": "v1",
                                        "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {}}}}]},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox", "args": ["sleep", "1d"]}],
                 "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }  # fmt: skip
    # decoded from bytes, as an informer gets it: no string shared with the other pod yet
    return codec.decoder_for(Pod).decode(codec.encode(codec.convert(doc, Pod)))


def test_interned_pods_share_their_common_strings_and_keep_their_values() -> None:
    a, b = _pod("a", "node-1"), _pod("b", "node-1")
    before = codec.encode(a)
    assert a.spec.containers[0].image is not b.spec.containers[0].image
    intern_strings(a), intern_strings(b)
    assert codec.encode(a) == before  # same object, fewer copies
    assert a.spec.containers[0].image is b.spec.containers[0].image
    assert a.spec.containers[0].args[1] is b.spec.containers[0].args[1]  # in lists
    assert a.status.conditions[0].status is b.status.conditions[0].status
    assert a.spec.nodeName is b.spec.nodeName
    (key_a,), (key_b,) = a.metadata.labels, b.metadata.labels
    assert key_a is key_b and a.metadata.labels["app"] is b.metadata.labels["app"]  # dict keys and values
    assert a.metadata.annotations["note"] is not b.metadata.annotations["note"]  # long: left alone


def test_drop_managed_fields_and_lean() -> None:
    pod = _pod("a", "node-1")
    assert pod.metadata.managedFields
    assert drop_managed_fields(pod).metadata.managedFields is None
    a, b = lean(_pod("a", "n")), lean(_pod("b", "n"))
    assert a.metadata.managedFields is None and a.spec.tolerations[0].key is b.spec.tolerations[0].key


def test_a_new_version_shares_what_did_not_change_and_interns_the_rest() -> None:
    old = lean(_pod("a", "node-1"))
    new = _pod("a", "node-1")
    new.metadata.resourceVersion = "8"
    new.status.phase = "Succeeded"
    new.status.conditions[0].status = "False"
    expected = codec.encode(drop_managed_fields(new))
    lean(new, old)
    assert codec.encode(new) == expected  # the values are the new version's
    assert new.spec is old.spec  # unchanged: the old version's whole
    assert new.metadata.labels is old.metadata.labels and new.metadata.name is old.metadata.name
    assert new.status is not old.status and new.status.conditions is not old.status.conditions
    assert new.status.phase is sys.intern("Succeeded")  # what changed is interned
    assert new.status.conditions[0].status is sys.intern("False")
    assert new.status.conditions[0].type is old.status.conditions[0].type  # interned both times
    assert new.metadata.annotations["note"] is old.metadata.annotations["note"]  # equal: shared, even if long


def test_a_previous_version_of_another_type_is_ignored() -> None:
    new = _pod("a", "node-1")
    lean(new, previous=object())
    other = lean(_pod("b", "node-1"))
    assert new.spec.containers[0].image is other.spec.containers[0].image
