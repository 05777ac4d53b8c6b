"""Shared metadata types: ObjectMeta, ListMeta, OwnerReference, Status, WatchEvent."""

from __future__ import annotations

from typing import Any

import msgspec

from kubelite.api.base import Model


class OwnerReference(Model):
    apiVersion: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    blockOwnerDeletion: bool | None = None


class ManagedFieldsEntry(Model):
    manager: str | None = None
    operation: str | None = None
    apiVersion: str | None = None
    time: str | None = None
    fieldsType: str | None = None
    fieldsV1: dict[str, Any] | None = None
    subresource: str | None = None


class ObjectMeta(Model):
    name: str | None = None
    generateName: str | None = None
    namespace: str | None = None
    selfLink: str | None = None
    uid: str | None = None
    resourceVersion: str | None = None
    generation: int | None = None
    creationTimestamp: str | None = None
    deletionTimestamp: str | None = None
    deletionGracePeriodSeconds: int | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    ownerReferences: list[OwnerReference] | None = None
    finalizers: list[str] | None = None
    managedFields: list[ManagedFieldsEntry] | None = None


class ListMeta(Model):
    resourceVersion: str | None = None
    continue_: str | None = msgspec.field(default=None, name="continue")
    remainingItemCount: int | None = None
    selfLink: str | None = None


class TypeMeta(Model):
    apiVersion: str | None = None
    kind: str | None = None


class StatusCause(Model):
    reason: str | None = None
    message: str | None = None
    field: str | None = None


class StatusDetails(Model):
    name: str | None = None
    group: str | None = None
    kind: str | None = None
    uid: str | None = None
    causes: list[StatusCause] | None = None
    retryAfterSeconds: int | None = None


class Status(Model):
    """metav1.Status: the body of every error and of some successful deletes."""

    # Always sent (no defaults, so omit_defaults never drops them); kind before apiVersion, as
    # Kubernetes' serializer writes a Status.
    kind: str | None = None
    apiVersion: str | None = None
    metadata: ListMeta = msgspec.field(default_factory=ListMeta)
    status: str | None = None  # "Success" | "Failure"
    message: str | None = None
    reason: str | None = None
    details: StatusDetails | None = None
    code: int | None = None


class Condition(Model):
    """metav1.Condition shape used by several status types (type/status/reason/message)."""

    type: str
    status: str
    observedGeneration: int | None = None
    lastTransitionTime: str | None = None
    lastUpdateTime: str | None = None
    lastProbeTime: str | None = None
    lastHeartbeatTime: str | None = None
    reason: str | None = None
    message: str | None = None


class Object(Model):
    """Base of every top-level kind: apiVersion, kind, metadata."""

    apiVersion: str | None = None
    kind: str | None = None
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)


class WatchEvent(Model):
    """One watch event, as `?watch=true` streams them and as NATS carries them.

    type: ADDED | MODIFIED | DELETED | BOOKMARK | ERROR. `object` is the full
    object as JSON (for ERROR, a Status).
    """

    type: str
    object: msgspec.Raw
