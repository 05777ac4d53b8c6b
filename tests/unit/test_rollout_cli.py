"""Pure parts of `kubelite rollout`, `scale` and `set image`: target parsing, kubectl's status
messages, which revision `undo` picks and the patch it sends, image updates, flags."""

from __future__ import annotations

import pytest

from kubelite_cli.commands.rollout import (
    history_rows,
    parse_targets,
    restart_patch,
    revision_replica_set,
    rollback_patch,
    status_message,
)
from kubelite_cli.commands.set_image import split_targets_and_images, with_images
from kubelite_cli.errors import CLIError
from kubelite_cli.parser import parse_args

D_UID = "d-uid"


def dep(generation: int = 2, observed: int = 2, replicas: int = 3, updated: int = 3, total: int = 3,
        available: int = 3, reason: str = "NewReplicaSetAvailable", paused: bool = False,
        annotations: dict[str, str] | None = None, image: str = "nginx:2") -> dict:
    return {
        "metadata": {"name": "web", "uid": D_UID, "generation": generation,
                     "annotations": annotations or {"deployment.kubernetes.io/revision": "2"}},
        "spec": {"replicas": replicas, "paused": paused,
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": image}]}}},
        "status": {"observedGeneration": observed, "updatedReplicas": updated, "replicas": total,
                   "availableReplicas": available,
                   "conditions": [{"type": "Progressing", "status": "True", "reason": reason}]},
    }


def rs(revision: int | None, image: str, owner: str = D_UID, cause: str | None = None) -> dict:
    annotations = {}
    if revision is not None:
        annotations["deployment.kubernetes.io/revision"] = str(revision)
    if cause:
        annotations["kubernetes.io/change-cause"] = cause
    annotations["deployment.kubernetes.io/desired-replicas"] = "3"
    return {
        "metadata": {"name": f"web-{revision}", "annotations": annotations,
                     "ownerReferences": [{"uid": owner, "controller": True, "kind": "Deployment", "name": "web",
                                          "apiVersion": "apps/v1"}]},
        "spec": {"template": {"metadata": {"labels": {"app": "web", "pod-template-hash": f"h{revision}"}},
                              "spec": {"containers": [{"name": "web", "image": image}]}}},
    }


@pytest.mark.parametrize(("args", "expected"), [
    (["deploy/web"], [("deploy", "web")]),
    (["deployment", "a", "b"], [("deployment", "a"), ("deployment", "b")]),
    (["deploy/a", "rs/b"], [("deploy", "a"), ("rs", "b")]),
])
def test_parse_targets(args: list[str], expected: list[tuple[str, str]]) -> None:
    assert parse_targets(args) == expected


@pytest.mark.parametrize("args", [[], ["deployment"], ["deploy/"]])
def test_parse_targets_errors(args: list[str]) -> None:
    with pytest.raises(CLIError):
        parse_targets(args)


@pytest.mark.parametrize(("d", "message", "done"), [
    (dep(generation=3, observed=2), "Waiting for deployment spec update to be observed...", False),
    (dep(updated=1), 'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...',
     False),
    (dep(total=5), 'Waiting for deployment "web" rollout to finish: 2 old replicas are pending termination...', False),
    (dep(available=2), 'Waiting for deployment "web" rollout to finish: 2 of 3 updated replicas are available...',
     False),
    (dep(), 'deployment "web" successfully rolled out', True),
])
def test_status_messages_are_kubectls(d: dict, message: str, done: bool) -> None:
    assert status_message(d) == (message, done)


def test_status_fails_on_progress_deadline() -> None:
    with pytest.raises(CLIError, match='deployment "web" exceeded its progress deadline'):
        status_message(dep(updated=1, reason="ProgressDeadlineExceeded"))


def test_undo_picks_previous_or_given_revision_of_own_replica_sets() -> None:
    rss = [rs(1, "nginx:1"), rs(2, "nginx:2"), rs(3, "nginx:3"), rs(9, "other", owner="someone-else")]
    assert revision_replica_set(dep(), rss, 0)["metadata"]["name"] == "web-2"
    assert revision_replica_set(dep(), rss, 1)["metadata"]["name"] == "web-1"
    with pytest.raises(CLIError, match="unable to find specified revision 9 in history"):
        revision_replica_set(dep(), rss, 9)
    with pytest.raises(CLIError, match='no rollout history found for deployment "web"'):
        revision_replica_set(dep(), [rs(1, "nginx:1")], 0)


def test_rollback_patch_drops_hash_label_and_merges_annotations() -> None:
    d = dep(annotations={"deployment.kubernetes.io/revision": "3", "team": "a",
                         "kubectl.kubernetes.io/last-applied-configuration": "{}"})
    patch = rollback_patch(d, rs(1, "nginx:1", cause="v1"))
    template, annotations = patch[0], patch[1]
    assert template["op"] == "replace" and template["path"] == "/spec/template"
    assert template["value"]["metadata"]["labels"] == {"app": "web"}
    assert template["value"]["spec"]["containers"][0]["image"] == "nginx:1"
    assert annotations["path"] == "/metadata/annotations"
    # the deployment keeps its own revision and last-applied; the replica set's others come along
    assert annotations["value"] == {"deployment.kubernetes.io/revision": "3",
                                    "kubectl.kubernetes.io/last-applied-configuration": "{}",
                                    "kubernetes.io/change-cause": "v1"}


def test_history_rows() -> None:
    rows = history_rows(dep(), [rs(2, "b", cause="set image b"), rs(1, "a"), rs(5, "x", owner="other")])
    assert rows == [(1, "<none>"), (2, "set image b")]


def test_set_image_updates_named_or_all_containers() -> None:
    targets, images = split_targets_and_images(["deploy/web", "web=nginx:3"])
    assert targets == ["deploy/web"] and images == {"web": "nginx:3"}
    out = with_images(dep(), images)
    assert out["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:3"
    assert with_images(dep(), {"*": "busybox"})["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox"
    with pytest.raises(CLIError, match='unable to find container named "nope"'):
        with_images(dep(), {"nope": "x"})
    with pytest.raises(CLIError):
        split_targets_and_images(["deploy/web"])


def test_restart_patch_sets_restarted_at() -> None:
    from datetime import UTC, datetime

    patch = restart_patch(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert patch == {"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": "2026-01-02T03:04:05Z"}}}}}


def test_verbs_parse() -> None:
    a = parse_args(["rollout", "undo", "deploy/web", "--to-revision", "2", "-n", "x"])
    assert (a.rollout_verb, a.targets, a.to_revision, a.namespace) == ("undo", ["deploy/web"], 2, "x")
    a = parse_args(["scale", "--replicas", "4", "deployment", "web"])
    assert (a.replicas, a.targets) == (4, ["deployment", "web"])
    a = parse_args(["set", "image", "deploy/web", "web=nginx:2"])
    assert a.args == ["deploy/web", "web=nginx:2"]
    a = parse_args(["rollout", "status", "deploy/web", "--watch=false"])
    assert a.watch is False


# -- DaemonSets and StatefulSets: kubectl's status viewers and rollbackers --------------


def test_daemonset_status_messages() -> None:
    from kubelite_cli.commands.rollout_revisions import daemonset_status

    def ds(gen: int, st: dict) -> dict:
        return {"metadata": {"name": "agent", "generation": gen}, "spec": {}, "status": st}

    assert daemonset_status(ds(2, {"observedGeneration": 1}))[1] is False
    msg, done = daemonset_status(ds(2, {"observedGeneration": 2, "desiredNumberScheduled": 3,
                                        "updatedNumberScheduled": 1}))
    assert not done
    assert msg == 'Waiting for daemon set "agent" rollout to finish: 1 out of 3 new pods have been updated...'
    msg, _ = daemonset_status(ds(2, {"observedGeneration": 2, "desiredNumberScheduled": 3,
                                     "updatedNumberScheduled": 3, "numberAvailable": 2}))
    assert msg == 'Waiting for daemon set "agent" rollout to finish: 2 of 3 updated pods are available...'
    assert daemonset_status(ds(2, {"observedGeneration": 2, "desiredNumberScheduled": 3,
                                   "updatedNumberScheduled": 3, "numberAvailable": 3})) == \
        ('daemon set "agent" successfully rolled out', True)
    with pytest.raises(CLIError, match="only available for RollingUpdate"):
        daemonset_status({"metadata": {"name": "x"}, "spec": {"updateStrategy": {"type": "OnDelete"}}})


def test_statefulset_status_messages() -> None:
    from kubelite_cli.commands.rollout_revisions import statefulset_status

    def sts(st: dict, partition: int | None = None) -> dict:
        strategy = {"type": "RollingUpdate", **({"rollingUpdate": {"partition": partition}}
                                                if partition is not None else {})}
        return {"metadata": {"name": "web", "generation": 2}, "spec": {"replicas": 3, "updateStrategy": strategy},
                "status": {"observedGeneration": 2, **st}}

    assert statefulset_status(sts({"readyReplicas": 1})) == ("Waiting for 2 pods to be ready...", False)
    assert statefulset_status(sts({"readyReplicas": 3, "updatedReplicas": 1}, partition=1)) == \
        ("Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated...", False)
    assert statefulset_status(sts({"readyReplicas": 3, "updatedReplicas": 3}, partition=0))[1] is True
    assert statefulset_status(sts({"readyReplicas": 3, "updatedReplicas": 1, "currentRevision": "web-a",
                                   "updateRevision": "web-b"}))[0] == \
        "waiting for statefulset rolling update to complete 1 pods at revision web-b..."
    assert statefulset_status(sts({"readyReplicas": 3, "currentReplicas": 3, "currentRevision": "web-b",
                                   "updateRevision": "web-b"})) == \
        ("statefulset rolling update complete 3 pods at revision web-b...", True)


def test_revision_undo_picks_and_skips() -> None:
    from kubelite_cli.commands import rollout_revisions as revs

    owner = {"metadata": {"uid": "u"}, "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "v2"}]}}}}

    def rev(n: int, image: str, uid: str = "u") -> dict:
        return {"metadata": {"name": f"r{n}", "ownerReferences": [{"uid": uid, "controller": True}]}, "revision": n,
                "data": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]},
                                               "$patch": "replace"}}}}

    history = revs.owned([rev(2, "v2"), rev(1, "v1"), rev(3, "x", uid="other")], owner)
    assert [r["revision"] for r in history] == [1, 2]
    assert revs.pick(history, 0, "ds")["revision"] == 1
    assert revs.matches_current(owner, history[1]) and not revs.matches_current(owner, history[0])
    with pytest.raises(CLIError, match="unable to find specified revision 7"):
        revs.pick(history, 7, "ds")
    assert revs.history_rows(history) == [(1, "<none>"), (2, "<none>")]
