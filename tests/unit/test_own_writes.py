"""OwnWrites (the apiserver's note of its own writes until its cache's watch brings them): pure."""

from __future__ import annotations

from kubelite_apiserver.ownwrites import OwnWrites


def test_a_write_is_newer_until_the_copy_reaches_its_revision() -> None:
    own = OwnWrites()
    own.note("ns", "p", 705, "created")
    assert own.newer_than("ns", "p", 0) == (705, "created")  # the copy has not got the pod
    assert own.newer_than("ns", "p", 700) == (705, "created")
    assert own.newer_than("ns", "p", 705) is None  # the copy caught up: the entry goes
    assert len(own) == 0 and own.newer_than("ns", "p", 0) is None


def test_only_the_newest_write_is_kept_whatever_order_the_answers_come_in() -> None:
    own = OwnWrites()
    own.note("ns", "p", 707, "bound")
    own.note("ns", "p", 705, "created")  # an older write's answer arriving late
    assert own.newer_than("ns", "p", 700) == (707, "bound")
    own.note("ns", "p", 709, None)  # deleted
    assert own.newer_than("ns", "p", 707) == (709, None)


def test_the_oldest_entries_go_beyond_the_limit() -> None:
    own = OwnWrites(limit=2)
    own.note("ns", "a", 1, "a")
    own.note("ns", "b", 2, "b")
    own.note("ns", "a", 3, "a again")  # refreshed: now the newest
    own.note("ns", "c", 4, "c")
    assert own.newer_than("ns", "b", 0) is None  # pushed out: costs only the read it would save
    assert own.newer_than("ns", "a", 0) == (3, "a again") and own.newer_than("ns", "c", 0) == (4, "c")


def test_the_stored_form_is_the_published_json_without_its_resource_version() -> None:
    from kubelite import codec
    from kubelite.api.core_v1 import Pod
    from kubelite_apiserver.ownwrites import stored_form
    from kubelite_apiserver.podrecord import written_pod

    pod = codec.convert({"apiVersion": "v1", "kind": "Pod",
                         "metadata": {"name": "web-1", "namespace": "shop", "uid": "u1", "resourceVersion": "705"},
                         "spec": {"nodeName": "n3", "containers": [{"name": "c", "image": "busybox"}]}}, Pod)
    encoded = codec.encode(pod)
    pod.metadata.resourceVersion = None
    assert stored_form(encoded, "705") == codec.encode(pod)  # byte for byte what etcd holds
    assert stored_form(encoded, "706") is None  # not there: the caller reads etcd
    written = written_pod(codec.decoder_for(Pod).decode(encoded), encoded)
    assert (written.metadata.uid, written.spec.nodeName, written.raw()) == ("u1", "n3", encoded)
    assert written.stored() == codec.encode(pod)
