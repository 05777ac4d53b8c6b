"""Unit tests for kubelite.api.fields (field selectors and selectable fields)."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelite.api.fields import (
    FieldSelector,
    convert_for_kind,
    escape_value,
    fields_of,
    parse_field_selector,
    selector_from_fields,
    supported_fields,
    unescape_value,
)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("", ""),
        ("a=b", "a=b"),
        ("a==b", "a=b"),
        ("a!=b", "a!=b"),
        ("b=c,a=b", "a=b,b=c"),  # sorted
        ("a=", "a="),
        ("a=b\\,c", "a=b\\,c"),  # escaped comma stays in the value
        ("a=b\\=c", "a=b\\=c"),
        ("a=b\\\\c", "a=b\\\\c"),
        ("a=b,,c=d", "a=b,c=d"),  # empty terms are skipped
        ("spec.nodeName=n1,status.phase!=Failed", "spec.nodeName=n1,status.phase!=Failed"),
    ],
)
def test_parse_and_render(text: str, canonical: str) -> None:
    sel = parse_field_selector(text)
    assert str(sel) == canonical
    assert parse_field_selector(str(sel)) == sel


def test_escaped_values_unescape() -> None:
    sel = parse_field_selector("a=x\\,y\\=z\\\\w")
    assert sel.requirements[0].value == "x,y=z\\w"
    assert sel.matches({"a": "x,y=z\\w"})


def test_whitespace_is_not_trimmed() -> None:
    # Kubernetes keeps it: "a = b" selects field "a " with value " b".
    sel = parse_field_selector("a = b")
    assert sel.requirements[0].field == "a "
    assert sel.requirements[0].value == " b"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a", "invalid selector: 'a'; can't understand 'a'"),
        ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
        ("a=b=c", "invalid field selector: unescaped character in value: ="),
        ("a=b\\x", "invalid field selector: invalid escape sequence: \\x"),
        ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_field_selector(text)
    assert str(info.value) == message


def test_matching() -> None:
    fields = {"metadata.name": "web-1", "status.phase": "Running"}
    assert parse_field_selector("").matches(fields)
    assert parse_field_selector("metadata.name=web-1").matches(fields)
    assert parse_field_selector("metadata.name==web-1,status.phase=Running").matches(fields)
    assert not parse_field_selector("metadata.name=web-1,status.phase=Pending").matches(fields)
    assert parse_field_selector("status.phase!=Failed").matches(fields)
    assert not parse_field_selector("status.phase!=Running").matches(fields)
    # A field the object lacks reads as "".
    assert parse_field_selector("spec.nodeName=").matches(fields)
    assert parse_field_selector("spec.nodeName!=n1").matches(fields)
    assert not parse_field_selector("spec.nodeName=n1").matches(fields)


def test_requires_exact_match_and_from_fields() -> None:
    sel = parse_field_selector("spec.nodeName=n1,status.phase!=Failed")
    assert sel.requires_exact_match("spec.nodeName") == "n1"
    assert sel.requires_exact_match("status.phase") is None
    assert str(selector_from_fields({"b": "1", "a": "x,y"})) == "a=x\\,y,b=1"
    assert FieldSelector().empty and not sel.empty


class Meta(msgspec.Struct):
    name: str | None = None
    namespace: str | None = None


class PodSpec(msgspec.Struct):
    nodeName: str | None = None
    restartPolicy: str | None = None
    hostNetwork: bool | None = None


class PodStatus(msgspec.Struct):
    phase: str | None = None
    podIP: str | None = None


class Pod(msgspec.Struct):
    kind: str = "Pod"
    metadata: Meta | None = None
    spec: PodSpec | None = None
    status: PodStatus | None = None


def test_fields_of_pod_dict_and_struct_agree() -> None:
    pod = {
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"nodeName": "n1", "restartPolicy": "Always"},
        "status": {"phase": "Running", "podIP": "10.0.0.5"},
    }
    got = fields_of(pod)
    assert got == fields_of(msgspec.convert(pod, Pod))
    assert got["metadata.name"] == "web"
    assert got["metadata.namespace"] == "default"
    assert got["spec.nodeName"] == "n1"
    assert got["spec.restartPolicy"] == "Always"
    assert got["spec.hostNetwork"] == "false"
    assert got["spec.schedulerName"] == ""
    assert got["status.phase"] == "Running"
    assert got["status.podIP"] == "10.0.0.5"
    assert got["status.nominatedNodeName"] == ""
    assert set(got) - {"metadata.name", "metadata.namespace"} <= supported_fields("Pod")


def test_fields_of_pod_prefers_pod_ips() -> None:
    pod = {"kind": "Pod", "status": {"podIP": "1.1.1.1", "podIPs": [{"ip": "2.2.2.2"}]}}
    assert fields_of(pod)["status.podIP"] == "2.2.2.2"


def test_fields_of_other_kinds() -> None:
    assert (
        fields_of({"kind": "Node", "metadata": {"name": "n1"}, "spec": {"unschedulable": True}})[
            "spec.unschedulable"
        ]
        == "true"
    )
    assert fields_of({"kind": "Node", "metadata": {"name": "n1"}})["spec.unschedulable"] == "false"
    event = {
        "kind": "Event",
        "metadata": {"name": "e1", "namespace": "ns"},
        "involvedObject": {"kind": "Pod", "name": "web", "namespace": "ns", "uid": "u1"},
        "reason": "Scheduled",
        "type": "Normal",
        "reportingComponent": "scheduler",
    }
    ev = fields_of(event)
    assert ev["involvedObject.kind"] == "Pod"
    assert ev["involvedObject.uid"] == "u1"
    assert ev["involvedObject.fieldPath"] == ""
    assert ev["reason"] == "Scheduled" and ev["type"] == "Normal"
    assert ev["source"] == "scheduler"  # falls back to reportingComponent
    event["source"] = {"component": "kubelet"}
    assert fields_of(event)["source"] == "kubelet"
    assert fields_of({"kind": "Secret", "type": "Opaque"})["type"] == "Opaque"
    assert (
        fields_of({"kind": "Namespace", "status": {"phase": "Active"}})["status.phase"] == "Active"
    )
    assert fields_of({"kind": "ReplicaSet", "status": {"replicas": 3}})["status.replicas"] == "3"
    assert fields_of({"kind": "ReplicaSet"})["status.replicas"] == "0"
    assert fields_of({"metadata": {"name": "x"}}, kind="Service") == {
        "metadata.name": "x",
        "metadata.namespace": "",
    }


def test_convert_for_kind() -> None:
    sel = parse_field_selector("spec.nodeName=n1")
    assert convert_for_kind(sel, "Pod") == sel
    aliased = convert_for_kind(parse_field_selector("spec.host=n1"), "Pod")
    assert str(aliased) == "spec.nodeName=n1"
    with pytest.raises(ValueError, match=r"^field label not supported: foo$"):
        convert_for_kind(parse_field_selector("foo=bar"), "Pod")
    with pytest.raises(ValueError, match=r"^field label not supported: metadata.namespace$"):
        convert_for_kind(parse_field_selector("metadata.namespace=x"), "Node")
    with pytest.raises(ValueError, match=r'"spec\.replicas" is not a known field selector'):
        convert_for_kind(parse_field_selector("spec.replicas=1"), "Deployment")
    assert convert_for_kind(parse_field_selector("metadata.name=x"), "Deployment").matches(
        {"metadata.name": "x"}
    )
    assert "spec.unschedulable" in supported_fields("Node")
    assert supported_fields("Service") == {"metadata.name", "metadata.namespace"}


def test_matches_object() -> None:
    pod = {"kind": "Pod", "metadata": {"name": "a"}, "spec": {"nodeName": "n1"}}
    assert parse_field_selector("spec.nodeName=n1").matches_object(pod)
    assert not parse_field_selector("spec.nodeName=n2").matches_object(pod)
    kindless = {"spec": {"nodeName": "n1"}}
    assert parse_field_selector("spec.nodeName=n1").matches_object(kindless, "Pod")


@given(st.text(max_size=20))
def test_escape_round_trip(value: str) -> None:
    assert unescape_value(escape_value(value)) == value
    sel = selector_from_fields({"f": value})
    assert parse_field_selector(str(sel)).matches({"f": value})


def test_matching_an_object_reads_the_same_values_as_its_field_set() -> None:
    """matches_object reads only the named fields; it must agree with the whole field set."""
    objects = [
        ({"kind": "Pod", "metadata": {"name": "web", "namespace": "default"},
          "spec": {"nodeName": "n1", "hostNetwork": True}, "status": {"phase": "Running",
                                                                       "podIPs": [{"ip": "2.2.2.2"}]}}, None),
        ({"metadata": {"name": "n1"}, "spec": {"unschedulable": True}}, "Node"),
        ({"kind": "Event", "metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "web"},
          "reportingComponent": "kubelet", "reason": "Started"}, None),
        ({"kind": "Job", "metadata": {"name": "j"}, "status": {}}, None),
    ]  # fmt: skip
    selectors = [
        "spec.nodeName=n1", "spec.nodeName!=n1", "spec.hostNetwork=true,status.phase!=Failed",
        "status.podIP=2.2.2.2", "metadata.name=web,metadata.namespace=default", "spec.unschedulable=true",
        "source=kubelet,involvedObject.name=web", "status.successful=0", "no.such.field=", "no.such.field!=x",
    ]
    for obj, kind in objects:
        for text in selectors:
            sel = parse_field_selector(text)
            assert sel.matches_object(obj, kind) == sel.matches(fields_of(obj, kind)), (text, obj)
