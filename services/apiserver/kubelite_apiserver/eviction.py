"""pods/eviction (Kubernetes' pkg/registry/core/pod/storage/eviction.go): delete a pod only if
its PodDisruptionBudget allows, and count the disruption on the budget first.

A pod that has finished, is not yet running on a node's behalf (Pending) or is already being
deleted needs no budget. Otherwise the one budget selecting it must have been observed by
the disruption controller at its current generation and allow a disruption: its
`disruptionsAllowed` goes down by one and the pod is listed in `disruptedPods` (so the
controller does not count it healthy meanwhile) in one compare-and-swap, and then the pod is
deleted. Refusals are 429 TooManyRequests with the reason as a DisruptionBudget cause,
which `kubectl drain` retries.

Example: a budget minAvailable 2 over 3 ready pods has disruptionsAllowed 1: the first
eviction is 201 and leaves 0; a second one right after is 429 "Cannot evict pod as it would
violate the pod's disruption budget." until a replacement is ready again.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import msgspec

from kubelite import codec, errors
from kubelite.api.core_v1 import PODS, Pod
from kubelite.api.meta import StatusCause, StatusDetails
from kubelite.api.policy_v1 import (
    ALWAYS_ALLOW,
    PODDISRUPTIONBUDGETS,
    Eviction,
    PodDisruptionBudget,
    selects,
)
from kubelite.errors import APIError
from kubelite.timefmt import rfc3339
from kubelite_apiserver.params import ListOptions
from kubelite_apiserver.podconditions import set_pod_condition

VIOLATES = "Cannot evict pod as it would violate the pod's disruption budget."
# Kubernetes' EvictionsRetry: when the budget changed between reading and counting (another
# eviction, the disruption controller's status write), decide again up to 20 times, 0.5 s
# apart (+ up to 10 % jitter). Five attempts back to back once lost to a drain's concurrent
# evictions and the controller's writes (tests/compat, kubectl drain, CI).
EVICTION_ATTEMPTS = 20
RETRY_PAUSE_SECONDS = 0.5
RETRY_JITTER = 0.1


def _too_many(name: str, cause: str) -> APIError:
    return APIError(429, "TooManyRequests", VIOLATES, StatusDetails(
        name=name, kind="pods", causes=[StatusCause(reason="DisruptionBudget", message=cause)]))


def _ready(pod: Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or [] if pod.status else []))


def needs_no_budget(pod: Pod) -> bool:
    """canIgnorePDB: finished, Pending, or already being deleted."""
    phase = pod.status.phase if pod.status else None
    return phase in ("Succeeded", "Failed", "Pending") or pod.metadata.deletionTimestamp is not None


def budget_decision(pdb: PodDisruptionBudget, pod: Pod) -> tuple[bool, str]:
    """(counts against the budget, refusal cause or ""). An unready pod may go without using the
    budget when the budget is met anyway (IfHealthyBudget) or always (AlwaysAllow)."""
    st = pdb.status
    name = pdb.metadata.name
    if st is None or (st.observedGeneration or 0) < (pdb.metadata.generation or 0):
        return True, f"The disruption budget {name} is still being processed by the server."
    if not _ready(pod):
        always = pdb.spec is not None and pdb.spec.unhealthyPodEvictionPolicy == ALWAYS_ALLOW
        if always or (st.currentHealthy or 0) >= (st.desiredHealthy or 0) > 0:
            return False, ""
    if (st.disruptionsAllowed or 0) <= 0:
        return True, (f"The disruption budget {name} needs {st.desiredHealthy or 0} healthy pods and has "
                      f"{st.currentHealthy or 0} currently")
    return True, ""


async def evict(reg: Any, namespace: str, name: str, body: bytes, content_type: str) -> tuple[int, bytes]:
    eviction = codec.decode_body(body, content_type, Eviction) if body.strip() else Eviction()
    if eviction.metadata.name and eviction.metadata.name != name:
        raise errors.bad_request(f"name in URL does not match name in Eviction object: {eviction.metadata.name}")
    options = eviction.deleteOptions
    dry = bool(options and options.dryRun)
    for attempt in range(EVICTION_ATTEMPTS):
        if attempt:
            await asyncio.sleep(RETRY_PAUSE_SECONDS * (1 + random.random() * RETRY_JITTER))
        pod: Pod = await reg.get(PODS, namespace, name)
        # a resourceVersion precondition is the client's view of the pod before the
        # DisruptionTarget write below changes it: checked here, then only the uid is kept
        preconditions = dict((options.preconditions if options else None) or {})
        wanted_rv = preconditions.pop("resourceVersion", None)
        if wanted_rv and wanted_rv != pod.metadata.resourceVersion:
            raise errors.conflict("pods", name, "the object has been modified; please apply your changes to the "
                                                "latest version and try again")
        if not needs_no_budget(pod):
            pdb = await _budget_of(reg, pod)
            if pdb is not None:
                counts, cause = budget_decision(pdb, pod)
                if cause:
                    raise _too_many(name, cause)
                if counts and not dry and not await _take_one(reg, pdb, name):
                    continue  # the budget changed under us: decide again
        if not needs_no_budget(pod) and not dry:
            await _mark_disruption(reg, pod)
        await reg.delete(PODS, namespace, name, grace=options.gracePeriodSeconds if options else None,
                         preconditions=preconditions or None, dry_run=dry)
        return 201, msgspec.json.encode({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})
    raise errors.conflict("poddisruptionbudgets.policy", "", "too many concurrent evictions; try again")


async def _mark_disruption(reg: Any, pod: Pod) -> None:
    """DisruptionTarget True (reason EvictionByEvictionAPI) on the pod before it goes, as
    Kubernetes does: a Job's podFailurePolicy can tell an eviction from a crash by it."""
    set_pod_condition(pod, "DisruptionTarget", "True", "EvictionByEvictionAPI", "Eviction API: evicting")
    try:
        await reg.update(PODS, pod.metadata.namespace or "", pod.metadata.name or "",
                         msgspec.structs.replace(pod, apiVersion="v1", kind="Pod"), subresource="status")
    except APIError as exc:
        if exc.code not in (404, 409):  # gone, or changed: the delete below decides
            raise


async def _budget_of(reg: Any, pod: Pod) -> PodDisruptionBudget | None:
    listed = await reg.list(PODDISRUPTIONBUDGETS, pod.metadata.namespace or "", ListOptions())
    decoder = codec.decoder_for(PodDisruptionBudget)
    labels = pod.metadata.labels or {}
    matching = []
    for raw in listed.items:
        pdb = decoder.decode(raw)
        if selects(pdb, labels):
            matching.append(pdb)
    if len(matching) > 1:
        raise APIError(500, "InternalError", "This pod has more than one PodDisruptionBudget, which the eviction "
                                             "subresource does not support.")
    return matching[0] if matching else None


async def _take_one(reg: Any, pdb: PodDisruptionBudget, pod_name: str) -> bool:
    """Count the disruption on the budget (compare-and-swap on its resourceVersion)."""
    st = pdb.status
    assert st is not None
    fresh = msgspec.structs.replace(st, disruptionsAllowed=(st.disruptionsAllowed or 0) - 1,
                                    disruptedPods={**(st.disruptedPods or {}), pod_name: rfc3339()})
    typed = msgspec.structs.replace(pdb, apiVersion="policy/v1", kind="PodDisruptionBudget", status=fresh)
    try:
        await reg.update(PODDISRUPTIONBUDGETS, pdb.metadata.namespace or "", pdb.metadata.name or "", typed,
                         subresource="status")
    except APIError as exc:
        if exc.code == 409:
            return False
        raise
    return True
