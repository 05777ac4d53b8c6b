"""Rollouts of DaemonSets and StatefulSets: status from their counters, history and undo from
their ControllerRevisions, as kubectl's DaemonSet/StatefulSet status viewers, history viewers
and rollbackers do (pure; the verbs in rollout.py call them). Message texts are kubectl's."""

from __future__ import annotations

from typing import Any

from kubelite_cli.errors import CLIError

JSON = dict[str, Any]
CHANGE_CAUSE = "kubernetes.io/change-cause"


def _only_rolling(obj: JSON) -> None:
    strategy = ((obj.get("spec") or {}).get("updateStrategy") or {}).get("type", "RollingUpdate")
    if strategy != "RollingUpdate":
        raise CLIError("rollout status is only available for RollingUpdate strategy type")


def daemonset_status(ds: JSON) -> tuple[str, bool]:
    """kubectl's DaemonSetStatusViewer."""
    _only_rolling(ds)
    name, st = ds["metadata"]["name"], ds.get("status") or {}
    if (ds["metadata"].get("generation") or 0) > (st.get("observedGeneration") or 0):
        return "Waiting for daemon set spec update to be observed...", False
    desired, updated = st.get("desiredNumberScheduled") or 0, st.get("updatedNumberScheduled") or 0
    available = st.get("numberAvailable") or 0
    if updated < desired:
        return (f'Waiting for daemon set "{name}" rollout to finish: {updated} out of {desired} new pods have '
                "been updated..."), False
    if available < desired:
        return (f'Waiting for daemon set "{name}" rollout to finish: {available} of {desired} updated pods are '
                "available..."), False
    return f'daemon set "{name}" successfully rolled out', True


def statefulset_status(sts: JSON) -> tuple[str, bool]:
    """kubectl's StatefulSetStatusViewer (a partition, even 0, reports a partitioned roll out)."""
    _only_rolling(sts)
    spec, st = sts.get("spec") or {}, sts.get("status") or {}
    observed = st.get("observedGeneration") or 0
    if not observed or (sts["metadata"].get("generation") or 0) > observed:
        return "Waiting for statefulset spec update to be observed...", False
    replicas, ready, updated = spec.get("replicas", 1), st.get("readyReplicas") or 0, st.get("updatedReplicas") or 0
    if ready < replicas:
        return f"Waiting for {replicas - ready} pods to be ready...", False
    rolling = (spec.get("updateStrategy") or {}).get("rollingUpdate")
    if rolling is not None:
        partition = rolling.get("partition")
        if partition is not None and partition > 0 and updated < replicas - partition:
            return (f"Waiting for partitioned roll out to finish: {updated} out of {replicas - partition} new pods "
                    "have been updated..."), False
        return f"partitioned roll out complete: {updated} new pods have been updated...", True
    if st.get("updateRevision") != st.get("currentRevision"):
        return (f"waiting for statefulset rolling update to complete {updated} pods at revision "
                f"{st.get('updateRevision')}..."), False
    return (f"statefulset rolling update complete {st.get('currentReplicas') or 0} pods at revision "
            f"{st.get('currentRevision')}..."), True


def owned(revisions: list[JSON], owner: JSON) -> list[JSON]:
    uid = owner["metadata"].get("uid")
    return sorted((r for r in revisions if any(ref.get("controller") and ref.get("uid") == uid
                                                for ref in r["metadata"].get("ownerReferences") or [])),
                  key=lambda r: r.get("revision") or 0)


def history_rows(revisions: list[JSON]) -> list[tuple[int, str]]:
    return [(r.get("revision") or 0, ((r["metadata"].get("annotations") or {}).get(CHANGE_CAUSE)) or "<none>")
            for r in revisions]


def template_of(revision: JSON) -> JSON:
    template = dict(((revision.get("data") or {}).get("spec") or {}).get("template") or {})
    template.pop("$patch", None)
    return template


def pick(revisions: list[JSON], to_revision: int, what: str) -> JSON:
    """The revision to go back to: `to_revision`, or for 0 the one before the latest."""
    if to_revision > 0:
        for r in revisions:
            if r.get("revision") == to_revision:
                return r
        raise CLIError(f"unable to find specified revision {to_revision} in history")
    if len(revisions) < 2:
        raise CLIError(f"no last revision to roll back to for {what}")
    return revisions[-2]


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def matches_current(owner: JSON, revision: JSON) -> bool:
    return _clean((owner.get("spec") or {}).get("template")) == _clean(template_of(revision))
