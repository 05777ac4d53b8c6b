"""`kubelite rollout status|history|undo|pause|resume|restart TYPE/NAME`, as kubectl does them.

Everything goes through the API. `undo` is client-side, as in kubectl: find the
replica set of the wanted revision and patch its pod template (without the
pod-template-hash label) back into the deployment. The message texts are
kubectl's.
"""

from __future__ import annotations

import argparse
import copy
import time
from datetime import UTC, datetime
from typing import Any

from kubelite.api.scheme import ResourceInfo
from kubelite_cli.commands import rollout_revisions as revs
from kubelite_cli.errors import CLIError
from kubelite_cli.session import Session, parse_targets, qualified_kind, resolve_resource

JSON = dict[str, Any]

POD_TEMPLATE_HASH = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
TIMED_OUT_REASON = "ProgressDeadlineExceeded"
# deployment annotations that a rollback keeps from the deployment rather than the replica set
ANNOTATIONS_TO_SKIP = (
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
)


# --------------------------------------------------------------------------
# pure helpers
# --------------------------------------------------------------------------


def qualified_plural(info: ResourceInfo) -> str:
    """'deployments.apps': how kubectl names a resource in "already paused" errors."""
    return info.group_resource


def revision_of(obj: JSON) -> int | None:
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def controlled_by(obj: JSON, owner: JSON) -> bool:
    uid = (owner.get("metadata") or {}).get("uid")
    return any(ref.get("controller") and ref.get("uid") == uid
               for ref in (obj.get("metadata") or {}).get("ownerReferences") or [])


def template_without_hash(template: JSON | None) -> JSON:
    out = copy.deepcopy(template or {})
    labels = (out.get("metadata") or {}).get("labels")
    if labels is not None:
        labels.pop(POD_TEMPLATE_HASH, None)
    return out


def _strip_empty(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_empty(v) for k, v in value.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_strip_empty(v) for v in value]
    return value


def equal_ignore_hash(a: JSON | None, b: JSON | None) -> bool:
    return _strip_empty(template_without_hash(a)) == _strip_empty(template_without_hash(b))


def revision_replica_set(deployment: JSON, rss: list[JSON], to_revision: int) -> JSON:
    """kubectl's deploymentRevision: the replica set of `to_revision`, or for 0 the one
    before the latest."""
    name = deployment["metadata"]["name"]
    owned = [rs for rs in rss if controlled_by(rs, deployment)]
    if to_revision > 0:
        for rs in owned:
            if revision_of(rs) == to_revision:
                return rs
        raise CLIError(f"unable to find specified revision {to_revision} in history")
    ranked = sorted((rs for rs in owned if revision_of(rs) is not None), key=lambda rs: revision_of(rs) or 0)
    if len(ranked) < 2:
        raise CLIError(f'no rollout history found for deployment "{name}"')
    return ranked[-2]


def rollback_patch(deployment: JSON, rs: JSON) -> list[JSON]:
    """The JSON patch kubectl sends: the replica set's template (hash label removed) and the
    deployment's annotations merged with the replica set's."""
    annotations = {k: v for k, v in ((deployment.get("metadata") or {}).get("annotations") or {}).items()
                   if k in ANNOTATIONS_TO_SKIP}
    for k, v in ((rs.get("metadata") or {}).get("annotations") or {}).items():
        if k not in ANNOTATIONS_TO_SKIP:
            annotations[k] = v
    return [
        {"op": "replace", "path": "/spec/template", "value": template_without_hash((rs.get("spec") or {}).get("template"))},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ]


def status_message(d: JSON) -> tuple[str, bool]:
    """kubectl's DeploymentStatusViewer: (message, done). Raises CLIError when the progress
    deadline was exceeded."""
    name = d["metadata"]["name"]
    spec, status = d.get("spec") or {}, d.get("status") or {}
    if (d["metadata"].get("generation") or 0) <= (status.get("observedGeneration") or 0):
        for cond in status.get("conditions") or []:
            if cond.get("type") == "Progressing" and cond.get("reason") == TIMED_OUT_REASON:
                raise CLIError(f'deployment "{name}" exceeded its progress deadline')
        replicas = spec.get("replicas", 1)
        updated = status.get("updatedReplicas") or 0
        total = status.get("replicas") or 0
        available = status.get("availableReplicas") or 0
        if updated < replicas:
            return (f'Waiting for deployment "{name}" rollout to finish: {updated} out of {replicas} '
                    "new replicas have been updated..."), False
        if total > updated:
            return (f'Waiting for deployment "{name}" rollout to finish: {total - updated} old replicas '
                    "are pending termination..."), False
        if available < updated:
            return (f'Waiting for deployment "{name}" rollout to finish: {available} of {updated} '
                    "updated replicas are available..."), False
        return f'deployment "{name}" successfully rolled out', True
    return "Waiting for deployment spec update to be observed...", False


def history_rows(deployment: JSON, rss: list[JSON]) -> list[tuple[int, str]]:
    """(revision, change-cause) of every replica set the deployment owns, oldest first."""
    rows = {}
    for rs in rss:
        if not controlled_by(rs, deployment):
            continue
        rev = revision_of(rs)
        if rev is None:
            continue
        cause = ((rs.get("spec") or {}).get("template") or {}).get("metadata", {}).get("annotations", {}) \
            .get(CHANGE_CAUSE) or ((rs.get("metadata") or {}).get("annotations") or {}).get(CHANGE_CAUSE)
        rows[rev] = cause or "<none>"
    return sorted(rows.items())


def describe_template(template: JSON) -> list[str]:
    """A short kubectl-like view of a pod template for `history --revision`."""
    meta, spec = template.get("metadata") or {}, template.get("spec") or {}
    labels = meta.get("labels") or {}
    lines = ["Pod Template:", "  Labels:\t" + (",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "<none>")]
    annotations = meta.get("annotations") or {}
    if annotations:
        lines.append("  Annotations:\t" + ",".join(f"{k}: {v}" for k, v in sorted(annotations.items())))
    lines.append("  Containers:")
    for c in spec.get("containers") or []:
        lines.append(f"   {c.get('name')}:")
        lines.append(f"    Image:\t{c.get('image', '<none>')}")
        ports = ",".join(f"{p.get('containerPort')}/{p.get('protocol', 'TCP')}" for p in c.get("ports") or [])
        lines.append(f"    Port:\t{ports or '<none>'}")
        if c.get("command"):
            lines.append("    Command:\t" + " ".join(c["command"]))
        env = c.get("env") or []
        lines.append("    Environment:\t" + ("<none>" if not env else ""))
        lines.extend(f"      {e.get('name')}:\t{e.get('value', '')}" for e in env)
    return lines


# --------------------------------------------------------------------------
# verbs
# --------------------------------------------------------------------------


ROLLOUT_KINDS = ("Deployment", "DaemonSet", "StatefulSet")


def _rollout_target(kind: str, verb: str) -> ResourceInfo:
    info = resolve_resource(kind)
    if info.kind not in ROLLOUT_KINDS:
        raise CLIError(f'no rollout support for "{qualified_plural(info)}" '
                       "(deployments, daemonsets and statefulsets)")
    if verb in ("pause", "resume") and info.kind != "Deployment":
        raise CLIError(f"{qualified_plural(info)} cannot be {verb}d (only deployments)")
    return info


def _revisions(session: Session, owner: JSON) -> list[JSON]:
    items = session.api.list("controllerrevisions", owner["metadata"].get("namespace")).get("items") or []
    return revs.owned(items, owner)


def _owned_replica_sets(session: Session, deployment: JSON) -> list[JSON]:
    ns = deployment["metadata"].get("namespace")
    items = session.api.list("replicasets", ns).get("items") or []
    return [rs for rs in items if controlled_by(rs, deployment)]


def run(args: argparse.Namespace) -> int:
    session = Session.from_args(args)
    try:
        handler = {
            "status": _status, "history": _history, "undo": _undo,
            "pause": _pause, "resume": _resume, "restart": _restart,
        }[args.rollout_verb]
        code = 0
        for kind, name in parse_targets(args.targets):
            info = _rollout_target(kind, args.rollout_verb)
            code = max(code, handler(session, info, name, args) or 0)
        return code
    finally:
        session.close()


def _status(session: Session, info: ResourceInfo, name: str, args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.timeout if args.timeout and args.timeout > 0 else None
    last = ""
    while True:
        d = session.api.get(info, session.namespace, name)
        if args.revision:
            current = revision_of(d)
            if current != args.revision:
                raise CLIError(f"desired revision ({args.revision}) is different from the running revision ({current})")
        viewer = {"DaemonSet": revs.daemonset_status, "StatefulSet": revs.statefulset_status}.get(
            info.kind, status_message)
        message, done = viewer(d)
        if message != last:
            print(message, flush=True)
            last = message
        if done or not args.watch:
            return 0
        if deadline is not None and time.monotonic() >= deadline:
            raise CLIError("timed out waiting for the condition")
        time.sleep(0.5)


def _history(session: Session, info: ResourceInfo, name: str, args: argparse.Namespace) -> int:
    d = session.api.get(info, session.namespace, name)
    if info.kind != "Deployment":
        return _revision_history(session, info, d, args)
    rss = _owned_replica_sets(session, d)
    if args.revision:
        for rs in rss:
            if revision_of(rs) == args.revision:
                print(f"{qualified_kind(info)}/{name} with revision #{args.revision}")
                print("\n".join(describe_template((rs.get("spec") or {}).get("template") or {})))
                return 0
        raise CLIError(f"unable to find the specified revision {args.revision}")
    print(f"{qualified_kind(info)}/{name} ")
    rows = history_rows(d, rss)
    width = max([len("REVISION"), *(len(str(r)) for r, _ in rows)])
    print(f"{'REVISION':<{width}}  CHANGE-CAUSE")
    for rev, cause in rows:
        print(f"{rev:<{width}}  {cause}")
    print()
    return 0


def _revision_history(session: Session, info: ResourceInfo, obj: JSON, args: argparse.Namespace) -> int:
    name = obj["metadata"]["name"]
    history = _revisions(session, obj)
    if args.revision:
        for r in history:
            if r.get("revision") == args.revision:
                print(f"{qualified_kind(info)}/{name} with revision #{args.revision}")
                print("\n".join(describe_template(revs.template_of(r))))
                return 0
        raise CLIError(f"unable to find the specified revision {args.revision}")
    print(f"{qualified_kind(info)}/{name} ")
    rows = revs.history_rows(history)
    width = max([len("REVISION"), *(len(str(r)) for r, _ in rows)])
    print(f"{'REVISION':<{width}}  CHANGE-CAUSE")
    for rev, cause in rows:
        print(f"{rev:<{width}}  {cause}")
    print()
    return 0


def _revision_undo(session: Session, info: ResourceInfo, obj: JSON, args: argparse.Namespace) -> int:
    """kubectl's DaemonSet/StatefulSet rollbacker: apply the revision's patch."""
    name = obj["metadata"]["name"]
    target = revs.pick(_revisions(session, obj), args.to_revision, f"{info.kind.lower()} {name!r}")
    if revs.matches_current(obj, target):
        print(f"{qualified_kind(info)}/{name} skipped rollback (current template already matches revision "
              f"{target.get('revision')})")
        return 0
    try:
        session.api.patch(info, session.namespace, name, target.get("data") or {}, patch_type="strategic")
    except Exception as exc:
        raise CLIError(f"failed restoring revision {target.get('revision')}: {exc}") from exc
    print(f"{qualified_kind(info)}/{name} rolled back")
    return 0


def _undo(session: Session, info: ResourceInfo, name: str, args: argparse.Namespace) -> int:
    d = session.api.get(info, session.namespace, name)
    if info.kind != "Deployment":
        return _revision_undo(session, info, d, args)
    if (d.get("spec") or {}).get("paused"):
        raise CLIError("you cannot rollback a paused deployment; resume it first with "
                       "'kubelite rollout resume' and try again")
    rs = revision_replica_set(d, _owned_replica_sets(session, d), args.to_revision)
    if equal_ignore_hash((rs.get("spec") or {}).get("template"), (d.get("spec") or {}).get("template")):
        print(f"{qualified_kind(info)}/{name} skipped rollback (current template already matches "
              f"revision {revision_of(rs)})")
        return 0
    try:
        session.api.patch(info, session.namespace, name, rollback_patch(d, rs), patch_type="json")
    except Exception as exc:
        raise CLIError(f"failed restoring revision {revision_of(rs)}: {exc}") from exc
    print(f"{qualified_kind(info)}/{name} rolled back")
    return 0


def _pause(session: Session, info: ResourceInfo, name: str, args: argparse.Namespace) -> int:
    d = session.api.get(info, session.namespace, name)
    if (d.get("spec") or {}).get("paused"):
        raise CLIError(f'{qualified_plural(info)} "{name}" is already paused')
    session.api.patch(info, session.namespace, name, {"spec": {"paused": True}})
    print(f"{qualified_kind(info)}/{name} paused")
    return 0


def _resume(session: Session, info: ResourceInfo, name: str, args: argparse.Namespace) -> int:
    d = session.api.get(info, session.namespace, name)
    if not (d.get("spec") or {}).get("paused"):
        raise CLIError(f'{qualified_plural(info)} "{name}" is not paused')
    session.api.patch(info, session.namespace, name, {"spec": {"paused": None}})
    print(f"{qualified_kind(info)}/{name} resumed")
    return 0


def restart_patch(now: datetime) -> JSON:
    return {"spec": {"template": {"metadata": {"annotations": {
        RESTARTED_AT: now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}}}}}


def _restart(session: Session, info: ResourceInfo, name: str, args: argparse.Namespace) -> int:
    d = session.api.get(info, session.namespace, name)
    if (d.get("spec") or {}).get("paused"):
        raise CLIError("can't restart paused deployment (run rollout resume first)")
    session.api.patch(info, session.namespace, name, restart_patch(datetime.now(UTC)))
    print(f"{qualified_kind(info)}/{name} restarted")
    return 0
