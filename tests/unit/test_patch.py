"""Unit tests for kubelite.api.patch: RFC 7386, RFC 6902 and strategic merge patch."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelite.api.patch import PatchError, json_merge_patch, json_patch, strategic_merge_patch

# ------------------------------------------------------------------ RFC 7386


@pytest.mark.parametrize(
    ("target", "patch", "result"),
    [  # RFC 7386 Appendix A
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"a": "foo"}, "bar", "bar"),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_json_merge_patch_rfc_examples(target: Any, patch: Any, result: Any) -> None:
    before = copy.deepcopy(target)
    assert json_merge_patch(target, patch) == result
    assert target == before  # input untouched


def test_json_merge_patch_rfc_section3() -> None:
    target = {
        "title": "Goodbye!",
        "author": {"givenName": "John", "familyName": "Doe"},
        "tags": ["example", "sample"],
        "content": "This will be unchanged",
    }
    patch = {
        "title": "Hello!",
        "phoneNumber": "+01-123-456-7890",
        "author": {"familyName": None},
        "tags": ["example"],
    }
    assert json_merge_patch(target, patch) == {
        "title": "Hello!",
        "author": {"givenName": "John"},
        "tags": ["example"],
        "content": "This will be unchanged",
        "phoneNumber": "+01-123-456-7890",
    }


# ------------------------------------------------------------------ RFC 6902


@pytest.mark.parametrize(
    ("doc", "ops", "result"),
    [  # RFC 6902 Appendix A
        (
            {"foo": "bar"},
            [{"op": "add", "path": "/baz", "value": "qux"}],
            {"baz": "qux", "foo": "bar"},
        ),
        (
            {"foo": ["bar", "baz"]},
            [{"op": "add", "path": "/foo/1", "value": "qux"}],
            {"foo": ["bar", "qux", "baz"]},
        ),
        ({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
        (
            {"foo": ["bar", "qux", "baz"]},
            [{"op": "remove", "path": "/foo/1"}],
            {"foo": ["bar", "baz"]},
        ),
        (
            {"baz": "qux", "foo": "bar"},
            [{"op": "replace", "path": "/baz", "value": "boo"}],
            {"baz": "boo", "foo": "bar"},
        ),
        (
            {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
            [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
            {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
        ),
        (
            {"foo": ["all", "grass", "cows", "eat"]},
            [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
            {"foo": ["all", "cows", "eat", "grass"]},
        ),
        (
            {"baz": "qux", "foo": ["a", 2, "c"]},
            [
                {"op": "test", "path": "/baz", "value": "qux"},
                {"op": "test", "path": "/foo/1", "value": 2},
            ],
            {"baz": "qux", "foo": ["a", 2, "c"]},
        ),
        (
            {"foo": "bar"},
            [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
            {"foo": "bar", "child": {"grandchild": {}}},
        ),
        (
            {"foo": "bar"},
            [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
            {"foo": "bar", "baz": "qux"},
        ),
        ({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}], {"/": 9, "~1": 10}),
        (
            {"foo": ["bar"]},
            [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
            {"foo": ["bar", ["abc", "def"]]},
        ),
        (
            {"a": {"b": 1}},
            [{"op": "copy", "from": "/a", "path": "/c"}],
            {"a": {"b": 1}, "c": {"b": 1}},
        ),
        ({"a": 1}, [{"op": "replace", "path": "", "value": [1]}], [1]),
        ({"a/b": 1}, [{"op": "remove", "path": "/a~1b"}], {}),
        ({"a": 1}, [{"op": "move", "from": "/a", "path": "/a"}], {"a": 1}),
    ],
)
def test_json_patch_rfc_examples(doc: Any, ops: list[Any], result: Any) -> None:
    before = copy.deepcopy(doc)
    assert json_patch(doc, ops) == result
    assert doc == before


@pytest.mark.parametrize(
    ("doc", "ops", "message"),
    [
        ({"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}], "test failed"),
        ({"foo": "bar"}, [{"op": "add", "path": "/baz/bat", "value": "qux"}], "does not exist"),
        ({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": "10"}], "test failed"),
        ({"a": 1}, [{"op": "test", "path": "/a", "value": True}], "test failed"),  # true is not 1
        ({"a": 1}, [{"op": "remove", "path": "/b"}], "does not exist"),
        ({"a": 1}, [{"op": "replace", "path": "/b", "value": 2}], "does not exist"),
        ({"a": [1]}, [{"op": "add", "path": "/a/2", "value": 2}], "out of bounds"),
        ({"a": [1]}, [{"op": "remove", "path": "/a/-"}], "invalid array index"),
        ({"a": [1]}, [{"op": "add", "path": "/a/01", "value": 2}], "invalid array index"),
        ({"a": 1}, [{"op": "add", "path": "a", "value": 2}], "must be empty or start with"),
        ({"a": 1}, [{"op": "add", "path": "/~2", "value": 2}], "invalid escape"),
        ({"a": 1}, [{"op": "frobnicate", "path": "/a"}], "unknown operation"),
        ({"a": 1}, [{"path": "/a"}], "unknown operation"),
        ({"a": 1}, [{"op": "add", "path": "/b"}], 'missing "value"'),
        ({"a": {"b": 1}}, [{"op": "move", "from": "/a", "path": "/a/b/c"}], "its own child"),
        ({"a": 1}, [{"op": "copy", "from": "/x", "path": "/b"}], "does not exist"),
        ({"a": 1}, {"op": "add"}, "array of operations"),
        ({"a": 1}, ["add"], "must be an object"),
    ],
)
def test_json_patch_errors(doc: Any, ops: Any, message: str) -> None:
    with pytest.raises(PatchError) as info:
        json_patch(doc, ops)
    assert message in str(info.value)


def test_json_patch_is_atomic() -> None:
    doc = {"a": [1, 2], "b": {"c": 1}}
    ops = [
        {"op": "add", "path": "/a/-", "value": 3},
        {"op": "remove", "path": "/b/c"},
        {"op": "test", "path": "/a/0", "value": 99},
    ]
    with pytest.raises(PatchError, match="operation 2: test failed"):
        json_patch(doc, ops)
    assert doc == {"a": [1, 2], "b": {"c": 1}}


# ------------------------------------------------------------------ strategic merge patch


def _pod(*containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": list(containers), **spec},
    }


def test_smp_merges_containers_by_name() -> None:
    pod = _pod({"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"})
    got = strategic_merge_patch(
        pod, {"spec": {"containers": [{"name": "b", "image": "b:2"}]}}, "Pod"
    )
    assert got["spec"]["containers"] == [
        {"name": "a", "image": "a:1"},
        {"name": "b", "image": "b:2"},
    ]
    assert pod["spec"]["containers"][1]["image"] == "b:1"  # input untouched


def test_smp_new_list_items_go_first_like_kubernetes() -> None:
    pod = _pod({"name": "a", "image": "a:1"})
    got = strategic_merge_patch(
        pod, {"spec": {"containers": [{"name": "z", "image": "z:1"}]}}, "Pod"
    )
    assert [c["name"] for c in got["spec"]["containers"]] == ["z", "a"]


def test_smp_patch_order_then_live_order() -> None:
    # mergeSortedSlice: patch items keep patch order; server-only items slot in by live position.
    live = [{"name": n} for n in ("1", "2", "3")]
    got = strategic_merge_patch(
        _pod(*live), {"spec": {"containers": [{"name": "3", "x": 1}, {"name": "4"}]}}, "Pod"
    )
    assert [c["name"] for c in got["spec"]["containers"]] == ["1", "2", "3", "4"]


def test_smp_delete_container_with_patch_delete() -> None:
    pod = _pod({"name": "a"}, {"name": "b"}, {"name": "c"})
    got = strategic_merge_patch(
        pod, {"spec": {"containers": [{"name": "b", "$patch": "delete"}]}}, "Pod"
    )
    assert [c["name"] for c in got["spec"]["containers"]] == ["a", "c"]


def test_smp_replace_list_with_patch_replace_element() -> None:
    pod = _pod({"name": "a"}, {"name": "b"})
    patch = {"spec": {"containers": [{"name": "x", "image": "x"}, {"$patch": "replace"}]}}
    got = strategic_merge_patch(pod, patch, "Pod")
    assert got["spec"]["containers"] == [{"name": "x", "image": "x"}]


def test_smp_env_merge_inside_container() -> None:
    pod = _pod(
        {"name": "a", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
    )
    patch = {
        "spec": {
            "containers": [
                {
                    "name": "a",
                    "env": [{"name": "B", "value": "3"}, {"name": "A", "$patch": "delete"}],
                }
            ]
        }
    }
    got = strategic_merge_patch(pod, patch, "Pod")
    assert got["spec"]["containers"][0]["env"] == [{"name": "B", "value": "3"}]


def test_smp_ports_merge_by_container_port_and_mounts_by_path() -> None:
    pod = _pod(
        {
            "name": "a",
            "ports": [{"containerPort": 80, "name": "http"}],
            "volumeMounts": [{"mountPath": "/data", "name": "d"}],
        }
    )
    patch = {
        "spec": {
            "containers": [
                {
                    "name": "a",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "volumeMounts": [{"mountPath": "/data", "readOnly": True}],
                }
            ]
        }
    }
    c = strategic_merge_patch(pod, patch, "Pod")["spec"]["containers"][0]
    assert c["ports"] == [{"containerPort": 80, "name": "http", "protocol": "TCP"}]
    assert c["volumeMounts"] == [{"mountPath": "/data", "name": "d", "readOnly": True}]


def test_smp_list_without_merge_key_is_replaced() -> None:
    pod = _pod({"name": "a", "args": ["x", "y"]}, tolerations=[{"key": "k1"}, {"key": "k2"}])
    patch = {"spec": {"containers": [{"name": "a", "args": ["z"]}], "tolerations": [{"key": "k3"}]}}
    got = strategic_merge_patch(pod, patch, "Pod")
    assert got["spec"]["containers"][0]["args"] == ["z"]
    assert got["spec"]["tolerations"] == [{"key": "k3"}]


def test_smp_null_deletes_and_unmatched_nulls_are_dropped() -> None:
    pod = _pod({"name": "a", "image": "a"}, nodeSelector={"disk": "ssd", "zone": "z1"})
    patch = {
        "metadata": {"labels": {"gone": None}},
        "spec": {
            "nodeSelector": {"zone": None},
            "hostname": None,
            "containers": [{"name": "b", "image": None}],
        },
    }
    got = strategic_merge_patch(pod, patch, "Pod")
    assert got["metadata"] == {"name": "p", "labels": {}}
    assert got["spec"]["nodeSelector"] == {"disk": "ssd"}
    assert "hostname" not in got["spec"]
    assert got["spec"]["containers"][0] == {"name": "b"}


def test_smp_map_directives() -> None:
    pod = _pod({"name": "a"}, nodeSelector={"disk": "ssd", "zone": "z1"})
    got = strategic_merge_patch(
        pod, {"spec": {"nodeSelector": {"$patch": "replace", "zone": "z2"}}}, "Pod"
    )
    assert got["spec"]["nodeSelector"] == {"zone": "z2"}
    got = strategic_merge_patch(pod, {"spec": {"nodeSelector": {"$patch": "delete"}}}, "Pod")
    assert got["spec"]["nodeSelector"] == {}
    got = strategic_merge_patch(
        pod, {"spec": {"nodeSelector": {"$patch": "merge", "zone": "z3"}}}, "Pod"
    )
    assert got["spec"]["nodeSelector"] == {"disk": "ssd", "zone": "z3"}


def test_smp_set_element_order_reorders() -> None:
    pod = _pod(
        {"name": "a", "image": "a"}, {"name": "b", "image": "b"}, {"name": "c", "image": "c"}
    )
    patch = {"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}]}}
    got = strategic_merge_patch(pod, patch, "Pod")
    assert [c["name"] for c in got["spec"]["containers"]] == ["c", "a", "b"]
    assert got["spec"]["containers"][0] == {"name": "c", "image": "c"}


def test_smp_set_element_order_with_changes_as_kubectl_apply_sends() -> None:
    pod = _pod({"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"})
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": "a"}, {"name": "new"}, {"name": "b"}],
            "containers": [{"name": "new", "image": "n:1"}, {"name": "b", "image": "b:2"}],
        }
    }
    got = strategic_merge_patch(pod, patch, "Pod")
    assert got["spec"]["containers"] == [
        {"name": "a", "image": "a:1"},
        {"name": "new", "image": "n:1"},
        {"name": "b", "image": "b:2"},
    ]


def test_smp_set_element_order_keeps_server_only_items_in_place() -> None:
    pod = _pod({"name": "sidecar"}, {"name": "a"}, {"name": "b"})
    patch = {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}
    got = strategic_merge_patch(pod, patch, "Pod")
    assert [c["name"] for c in got["spec"]["containers"]] == ["sidecar", "b", "a"]


def test_smp_set_element_order_must_match_patch_order() -> None:
    pod = _pod({"name": "a"}, {"name": "b"})
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
            "containers": [{"name": "b", "x": 1}, {"name": "a", "x": 1}],
        }
    }
    with pytest.raises(PatchError, match="doesn't match \\$setElementOrder"):
        strategic_merge_patch(pod, patch, "Pod")


def test_smp_primitive_list_merge_and_delete_finalizers() -> None:
    obj = {"kind": "Pod", "metadata": {"name": "p", "finalizers": ["a", "b"]}}
    got = strategic_merge_patch(obj, {"metadata": {"finalizers": ["c", "a"]}}, "Pod")
    assert got["metadata"]["finalizers"] == ["c", "a", "b"]  # union, patch order first
    got = strategic_merge_patch(
        obj, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}, "Pod"
    )
    assert got["metadata"]["finalizers"] == ["b"]
    got = strategic_merge_patch(
        obj, {"metadata": {"$setElementOrder/finalizers": ["b", "a"]}}, "Pod"
    )
    assert got["metadata"]["finalizers"] == ["b", "a"]


def test_smp_owner_references_merge_by_uid() -> None:
    obj = {"metadata": {"ownerReferences": [{"uid": "1", "name": "rs1", "controller": True}]}}
    patch = {
        "metadata": {
            "ownerReferences": [{"uid": "1", "controller": False}, {"uid": "2", "name": "x"}]
        }
    }
    got = strategic_merge_patch(obj, patch, "Pod")
    assert got["metadata"]["ownerReferences"] == [
        {"uid": "1", "name": "rs1", "controller": False},
        {"uid": "2", "name": "x"},
    ]


def test_smp_deployment_template_uses_pod_merge_keys() -> None:
    dep = {
        "kind": "Deployment",
        "spec": {
            "replicas": 1,
            "template": {
                "spec": {
                    "containers": [
                        {"name": "web", "image": "nginx:1", "env": [{"name": "A", "value": "1"}]}
                    ]
                }
            },
        },
    }
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "web", "image": "nginx:2", "env": [{"name": "B", "value": "2"}]}
                    ]
                }
            }
        }
    }
    got = strategic_merge_patch(dep, patch, "Deployment")
    c = got["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == "nginx:2"
    assert c["env"] == [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]
    assert got["spec"]["replicas"] == 1


def test_smp_retain_keys_on_deployment_strategy() -> None:
    dep = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    got = strategic_merge_patch(dep, patch, "Deployment")
    assert got["spec"]["strategy"] == {"type": "Recreate"}
    with pytest.raises(PatchError, match="invalid patch format of retainKeys"):
        strategic_merge_patch(
            dep,
            {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}},
            "Deployment",
        )


def test_smp_volumes_retain_keys() -> None:
    pod = _pod({"name": "a"}, volumes=[{"name": "v", "emptyDir": {}}])
    patch = {
        "spec": {
            "volumes": [
                {"name": "v", "$retainKeys": ["name", "hostPath"], "hostPath": {"path": "/x"}}
            ]
        }
    }
    got = strategic_merge_patch(pod, patch, "Pod")
    assert got["spec"]["volumes"] == [{"name": "v", "hostPath": {"path": "/x"}}]


def test_smp_service_ports_merge_by_port() -> None:
    svc = {"kind": "Service", "spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}}
    got = strategic_merge_patch(
        svc, {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}, "Service"
    )
    assert got["spec"]["ports"] == [{"port": 80, "targetPort": 9090}, {"port": 443}]


def test_smp_new_key_with_directives_is_cleaned() -> None:
    got = strategic_merge_patch(
        {"kind": "Pod"},
        {
            "spec": {
                "containers": [
                    {"name": "a", "env": [{"name": "X", "value": None}]},
                    {"name": "gone", "$patch": "delete"},
                ]
            }
        },
        "Pod",
    )
    assert got["spec"]["containers"] == [{"name": "a", "env": [{"name": "X"}]}]


def test_smp_root_directives() -> None:
    assert strategic_merge_patch({"a": 1}, {"$patch": "delete"}, "Pod") == {}
    assert strategic_merge_patch({"a": 1, "b": 2}, {"$patch": "replace", "c": 3}, "Pod") == {"c": 3}
    assert strategic_merge_patch(None, {"a": 1}, "Pod") == {"a": 1}


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"spec": {"$patch": "explode"}}, "unknown patch type: explode"),
        (
            {"spec": {"containers": [{"$patch": "explode", "name": "a"}]}},
            "unknown patch type: explode",
        ),
        (
            {"spec": {"containers": [{"$patch": "merge", "name": "a"}]}},
            "merging lists cannot yet be specified",
        ),
        (
            {"spec": {"containers": [{"$patch": "delete"}]}},
            "does not contain declared merge key: name",
        ),
        ({"spec": {"containers": [{"image": "x"}]}}, "does not contain declared merge key: name"),
        ({"spec": {"$retainKeys": "name"}}, "invalid patch format of retainKeys"),
        ({"spec": {"$setElementOrder/containers": "a"}}, "must be a list"),
        (
            {"spec": {"$setElementOrder/containers": [{"image": "a"}]}},
            "does not contain declared merge key",
        ),
        ({"spec": {"$setElementOrder/": []}}, "names no field"),
        ({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}, "must be a list"),
        ({"spec": {"$bogus": 1}}, "unknown strategic merge patch directive"),
        ({"metadata": {"finalizers": [{"a": 1}]}}, "mixed maps and scalars"),
    ],
)
def test_smp_malformed_directives(patch: dict[str, Any], message: str) -> None:
    pod = _pod({"name": "a"})
    pod["metadata"]["finalizers"] = ["f"]
    before = copy.deepcopy(pod)
    with pytest.raises(PatchError) as info:
        strategic_merge_patch(pod, patch, "Pod")
    assert message in str(info.value)
    assert pod == before


def test_smp_rejects_non_object_patch() -> None:
    with pytest.raises(PatchError):
        strategic_merge_patch({}, [1], "Pod")  # type: ignore[arg-type]


# ------------------------------------------------------------------ properties

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=3))
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=10,
)
_objects = st.dictionaries(st.text(max_size=3), _json, max_size=4)


@given(_objects, _objects)
def test_merge_patch_with_null_free_patch_sets_every_key(
    target: dict[str, Any], patch: dict[str, Any]
) -> None:
    result = json_merge_patch(target, patch)
    for key, value in patch.items():
        if value is None:
            assert key not in result
        elif not isinstance(value, dict):
            assert result[key] == value


_plain_values = st.recursive(
    st.one_of(
        _scalars,
        st.lists(st.one_of(st.booleans(), st.integers(-5, 5), st.text(max_size=3)), max_size=3),
    ),
    lambda inner: st.dictionaries(st.text(alphabet="abc", max_size=3), inner, max_size=3),
    max_leaves=10,
)
_plain_objects = st.dictionaries(st.text(alphabet="abc", max_size=3), _plain_values, max_size=4)


@given(_plain_objects, _plain_objects)
def test_smp_without_schema_lists_agrees_with_merge_patch(
    target: dict[str, Any], patch: dict[str, Any]
) -> None:
    # With no merge-keyed lists and no directives, strategic merge == JSON merge patch.
    assert strategic_merge_patch(target, patch, "ConfigMap") == json_merge_patch(target, patch)


@given(_objects, st.lists(st.sampled_from(["add", "remove", "replace"]), max_size=4))
def test_json_patch_never_mutates_input(doc: dict[str, Any], kinds: list[str]) -> None:
    before = copy.deepcopy(doc)
    ops = [{"op": k, "path": "/k" + str(i), "value": i} for i, k in enumerate(kinds)]
    try:
        json_patch(doc, ops)
    except PatchError:
        pass
    assert doc == before
