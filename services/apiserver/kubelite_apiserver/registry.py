"""The generic registry: every verb on every resource, with Kubernetes' semantics.

One code path for all kinds (per-kind rules live in strategies.py), called by
both transports (HTTP in http.py, NATS in natsrpc.py) so they answer alike.
Writes are etcd compare-and-swap transactions: a stale resourceVersion is a
409 Conflict, never a lost update. After each committed write the change is
published on NATS (events.py).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import msgspec

from kubelite import codec, errors
from kubelite.api import fields as fieldsel
from kubelite.api import labels as labelsel
from kubelite.api.meta import Object, ObjectMeta, StatusCause
from kubelite.api.scheme import ResourceInfo
from kubelite.errors import APIError
from kubelite.storage import (
    KV,
    Compacted,
    GuardFailed,
    KeyExists,
    KeyNotFound,
    LeaseNotFound,
    RevisionMismatch,
)
from kubelite.storage.batching import Create, CreateBatcher, Outcome, Update, UpdateBatcher
from kubelite.storage.leases import LeaseManager
from kubelite_apiserver import apply, clock, strategies
from kubelite_apiserver.namespaces import NamespaceCache
from kubelite_apiserver.params import (
    ListOptions,
    decode_continue,
    encode_continue,
    exact_revision_asked,
)
from kubelite_apiserver.watchhub import WatchHubs

PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
}
# A compare-and-swap lost to a concurrent writer is tried again from a fresh read until this
# many seconds have passed, as Kubernetes' GuaranteedUpdate loops until the request's deadline
# (kube-apiserver's --request-timeout, 1m). A count of 8 gave merge patches of one busy
# ConfigMap 409s under load (scale bench churn at 5,000 nodes), which Kubernetes never returns
# for a patch without a resourceVersion. Someone wins every round, so the loop always progresses.
CONFLICT_RETRY_SECONDS = 60.0
ALLOCATION_RETRIES = 8  # a create whose Service IP or NodePort was reclaimed meanwhile allocates again


def conflict_retries() -> Iterator[int]:
    """Attempt numbers of a compare-and-swap loop, until CONFLICT_RETRY_SECONDS have passed."""
    deadline = time.monotonic() + CONFLICT_RETRY_SECONDS
    attempt = 0
    while attempt == 0 or time.monotonic() < deadline:
        yield attempt
        attempt += 1
# Updates of these resources reach etcd in group commits (storage/batching.py: the keywords of
# its WriteBatcher). Node Lease renewals, 500 a second at 5,000 nodes, wait up to 50 ms for each
# other (a fifth of the cost to etcd and the apiserver, against a 40 s grace period). Pod
# bindings and status writes wait for nothing: one goes at once while fewer than two groups are
# on their way, the rest gather meanwhile. Objects written together share a resourceVersion
# (docs/architecture.md).
COALESCED_UPDATES: dict[str, dict[str, Any]] = {
    "leases.coordination.k8s.io": {"linger": 0.05},
    "pods": {"max_in_flight": 2},
}
# Creates, likewise: Events, written by every component about every pod (four per pod started,
# ~1.8 CPU-ms each across the cluster alone; docs/benchmarks.md), wait up to 10 ms; nobody orders
# Events by resourceVersion. Pods gather while others are on their way, as their updates do.
COALESCED_CREATES: dict[str, dict[str, Any]] = {
    "events": {"linger": 0.01},
    "pods": {"max_in_flight": 2},
}


@dataclass
class ListResult:
    items: list[bytes]  # encoded objects
    resource_version: int
    continue_token: str
    remaining: int | None = None


class Registry:
    def __init__(self, store, publisher, *, admission=None, allocator=None, admission_checks=(),
                 metrics=None, ttls: dict[str, int] | None = None) -> None:
        """`ttls`: group_resource -> seconds its objects live after their last write (Events:
        the apiserver's --event-ttl), as Kubernetes' TTLFunc; etcd deletes them then."""
        self.store = store
        self.metrics = metrics  # metricsapi.MetricsStore: metrics.k8s.io, served from memory
        self.publisher = publisher
        self.admission = admission or strategies.AdmissionConfig()
        self.allocator = allocator
        self.namespaces = NamespaceCache(store)
        # (info, object about to be written) -> None or raise APIError; after validation
        self.admission_checks: list[Any] = list(admission_checks)
        # (info, object about to be deleted) -> None or raise APIError
        self.delete_checks: list[Any] = []
        # async (info, object about to be created) -> None: may change it (ServiceAccount admission)
        self.create_admission: list[Any] = []
        # async (info, object just created) -> None: follow-up writes (a new namespace's defaults)
        self.after_create: list[Any] = []
        # group_resource -> a cache answering some LISTs from memory, and the read of an update
        # (podcache.PodCache; see read_for_update)
        self.caches: dict[str, Any] = {}
        self.hubs = WatchHubs(self)  # one etcd watch per resource for HTTP watches (watchhub.py)
        # group_resource -> updates sent to etcd in groups (COALESCED_UPDATES)
        self.batchers = {gr: UpdateBatcher(self._update_many, **how) for gr, how in COALESCED_UPDATES.items()}
        self.create_batchers = {gr: CreateBatcher(self._create_many, **how)
                                for gr, how in COALESCED_CREATES.items()}
        self.ttls = dict(ttls or {})
        self.leases = LeaseManager(self._grant)  # shared by the objects written close together

    async def _grant(self, ttl: int) -> int:
        return await self.store.lease_grant(ttl)  # self.store, as it is now (encryption reloads)

    async def _lease(self, info: ResourceInfo) -> int:
        """The etcd lease a write of `info`'s objects carries (0: none, they do not expire)."""
        ttl = self.ttls.get(info.group_resource)
        return await self.leases.lease(ttl) if ttl else 0

    async def _with_lease(self, info: ResourceInfo, write: Callable[[int], Awaitable[int]]) -> int:
        """`write(lease)` with the lease `info`'s objects carry; when etcd no longer has the shared
        lease (revoked, or an etcd restored from an older backup), once more on a new one."""
        lease = await self._lease(info)
        try:
            return await write(lease)
        except LeaseNotFound:
            self.leases.forget(lease)
            return await write(await self._lease(info))

    async def _create_many(self, creates: list[Create]) -> list[Outcome]:
        return await self.store.create_many(creates)  # self.store, as it is now (encryption reloads)

    async def _store_create(self, info: ResourceInfo, key: str, data: bytes, guards: list, lease: int) -> int:
        batcher = None if guards else self.create_batchers.get(info.group_resource)
        if batcher is not None:
            return await batcher.create(Create(key, data, lease))
        return await self.store.create(key, data, guards=guards, lease=lease)

    async def _update_many(self, updates: list[Update]) -> list[Outcome]:
        return await self.store.update_many(updates)  # self.store, as it is now (encryption reloads)

    async def announce(self, info: ResourceInfo, event_type: str, obj: Object, encoded: bytes) -> None:
        """After every write: tell the resource's cache (what this apiserver wrote, ownwrites.py),
        then everyone (its change event on the bus)."""
        cache = self.caches.get(info.group_resource)
        if cache is not None:
            meta = obj.metadata
            cache.written(meta.namespace or "", meta.name or "", int(meta.resourceVersion or 0),
                          None if event_type == "DELETED" else obj, encoded)
        await self.publisher.publish(info, event_type, obj, encoded)

    # ------------------------------------------------------------------ read
    def decode(self, info: ResourceInfo, kv: KV) -> Object:
        obj = codec.decoder_for(info.type).decode(kv.value)
        obj.metadata.resourceVersion = str(kv.mod_revision)
        return obj

    async def get_object(self, info: ResourceInfo, namespace: str, name: str) -> tuple[Object, KV]:
        kv = await self.store.get(info.key(namespace, name))
        if kv is None:
            raise errors.not_found(info.group_resource, name)
        return self.decode(info, kv), kv

    async def get(self, info: ResourceInfo, namespace: str, name: str) -> Object:
        return (await self.get_object(info, namespace, name))[0]

    async def read_for_update(self, info: ResourceInfo, namespace: str, name: str, *,
                              fresh: bool) -> tuple[KV | None, bool]:
        """The stored object a read-modify-write starts from, and whether it came from a cache
        (as Kubernetes' GuaranteedUpdate starts from the watch cache's copy). The cached copy
        may be behind etcd, so only a successful compare-and-swap is trusted: a conflict, an
        error or a no-op found on it is decided again on a `fresh` read from etcd. Saves a
        round trip to etcd on most pod updates (binding, status)."""
        cache = None if fresh else self.caches.get(info.group_resource)
        kv = cache.current(info.key(namespace, name), namespace, name) if cache is not None else None
        if kv is not None:
            return kv, True
        return await self.store.get(info.key(namespace, name)), False

    async def list(self, info: ResourceInfo, namespace: str, opts: ListOptions) -> ListResult:
        label_sel, field_sel = compile_selectors(info, opts)
        cache = self.caches.get(info.group_resource)
        if cache is not None and (cached := await cache.list(namespace, opts, label_sel, field_sel)) is not None:
            return cached
        prefix = info.key_prefix(namespace)
        revision, start_after = 0, None
        if opts.continue_token:
            token = decode_continue(opts.continue_token)
            revision, start_after = token.rv, token.start
        elif exact_revision_asked(opts):
            revision = _parse_rv(opts.resource_version)
        items: list[bytes] = []
        limit = opts.limit
        last_key = ""
        more = False
        in_range = -1  # keys from the page's start on, as etcd counted them in its first range
        try:
            while True:
                # Over-fetch when filtering so a page is usually one etcd round trip.
                batch = 0 if not limit else max(limit - len(items), 0) * (1 if not (label_sel or field_sel) else 4)
                kvs, read_rev, more, count = await self.store.list_counted(
                    prefix, limit=batch, start_after=start_after, revision=revision
                )
                in_range = count if in_range < 0 else in_range
                revision = read_rev
                for kv in kvs:
                    last_key = kv.key
                    obj = self.decode(info, kv)
                    if not matches(obj, label_sel, field_sel):
                        continue
                    items.append(codec.encode(obj))
                    if limit and len(items) >= limit:
                        more = more or kv is not kvs[-1]
                        break
                if not more or (limit and len(items) >= limit) or not kvs:
                    break
                start_after = kvs[-1].key
        except Compacted:
            if opts.continue_token:
                raise errors.expired(
                    "The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter."
                ) from None
            raise errors.expired(f"too old resource version: {revision}") from None
        token = encode_continue(revision, last_key) if (limit and more) else ""
        # As Kubernetes' etcd3 store: how many remain, only when nothing was filtered out
        remaining = in_range - len(items) if token and not (label_sel or field_sel) else None
        return ListResult(items, revision, token, remaining)

    # ---------------------------------------------------------------- create
    async def create(
        self, info: ResourceInfo, namespace: str, obj: Object, *, dry_run: bool = False,
        manager: str | None = None, managed: list | None = None,
    ) -> Object:
        """POST. `manager` owns every field set (managedFields, operation Update), unless
        `managed` (server-side apply's entries) is given."""
        self._check_type_meta(info, obj)
        meta = obj.metadata
        if info.namespaced:
            if meta.namespace and namespace and meta.namespace != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta.namespace = namespace or meta.namespace or "default"
        else:
            meta.namespace = None
        if not meta.name and meta.generateName:
            meta.name = clock.generated_name(meta.generateName)
        meta.uid = clock.new_uid()
        meta.creationTimestamp = clock.rfc3339()
        meta.resourceVersion = None
        meta.generation = 1 if info.has_spec else None
        meta.deletionTimestamp = None
        meta.deletionGracePeriodSeconds = None
        meta.selfLink = None
        meta.managedFields = None
        apply_defaults(obj)
        strategies.prepare_for_create(info, obj)  # after defaults: QoS reads defaulted requests
        strategies.admit_create(info, obj, self.admission)
        if info.namespaced:  # NamespaceLifecycle admits first: a missing namespace is a 404
            await self._check_namespace_open(meta.namespace)
        for admit in self.create_admission:
            await admit(info, obj)
        self._validate(info, obj, None)
        if managed is not None:
            meta.managedFields = _entries(managed)
        elif manager:
            meta.managedFields = _entries(apply.record_update(
                None, None, codec.to_builtins(obj), manager=manager, kind=info.kind,
                api_version=info.api_version, subresource="", now=clock.rfc3339()))
        key = info.key(meta.namespace, meta.name)
        before_allocation = codec.encode(obj)
        for _attempt in range(ALLOCATION_RETRIES):
            releases, guards = await self._allocate(info, obj, None)
            if dry_run:
                await self._run(releases)
                return obj
            data = codec.encode(obj)
            try:
                rev = await self._with_lease(
                    info, lambda lease: self._store_create(info, key, data, guards, lease))  # noqa: B023
                break
            except GuardFailed:
                # A concurrent reclaim took one of our allocations before we stored the
                # Service: give the rest back and allocate again (allocator.py).
                await self._run(releases)
                obj = codec.decoder_for(info.type).decode(before_allocation)
                meta = obj.metadata
            except KeyExists:
                await self._run(releases)
                raise errors.already_exists(info.group_resource, meta.name) from None
            except BaseException:
                await self._run(releases)
                raise
        else:
            raise errors.conflict(info.group_resource, meta.name or "", "allocations kept being taken; try again")
        meta.resourceVersion = str(rev)
        if info.kind == "Namespace":
            self.namespaces.note(meta.name or "", "Active")
        encoded = codec.encode(obj)
        await self.announce(info, "ADDED", obj, encoded)
        for follow_up in self.after_create:
            await follow_up(info, obj)
        return obj

    # ---------------------------------------------------------------- update
    async def update(
        self,
        info: ResourceInfo,
        namespace: str,
        name: str,
        new: Object,
        *,
        subresource: str = "",
        dry_run: bool = False,
        manager: str | None = None,
    ) -> tuple[Object, bool]:
        """PUT. Returns (object, created)."""
        self._check_type_meta(info, new)
        if new.metadata.name and new.metadata.name != name:
            raise errors.bad_request(
                f"the name of the object ({new.metadata.name}) does not match the name on the URL ({name})"
            )
        if info.namespaced and new.metadata.namespace and new.metadata.namespace != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        new.metadata.name = name
        wanted_rv = new.metadata.resourceVersion

        async def write(kv: KV, old: Object, cached: bool) -> Object:
            return await self._write_update(info, kv, old, msgspec.structs.replace(new), subresource, dry_run,
                                            manager=manager, cached=cached)

        written = await self._read_modify_write(info, namespace, name, wanted_rv, dry_run, write)
        if written is not None:
            return written, False
        if subresource or not strategies.allow_create_on_update(info):
            raise errors.not_found(info.group_resource, name)
        new.metadata.resourceVersion = None
        return await self.create(info, namespace, new, dry_run=dry_run, manager=manager), True

    async def _read_modify_write(
        self, info: ResourceInfo, namespace: str, name: str, wanted_rv: str | None, dry_run: bool,
        write: Callable[[KV, Object, bool], Awaitable[Object]],
    ) -> Object | None:
        """The retry loop of update and patch: `write(kv, old, cached)` on the stored object
        (None: there is none), again from a fresh read after a lost race; a copy from the cache is
        trusted only for a swap that succeeds (read_for_update)."""
        fresh = dry_run
        for _ in conflict_retries():
            kv, cached = await self.read_for_update(info, namespace, name, fresh=fresh)
            fresh = True
            if kv is None:
                return None
            if wanted_rv and wanted_rv != str(kv.mod_revision):
                if cached:
                    continue
                raise errors.conflict(info.group_resource, name)
            try:
                return await write(kv, self.decode(info, kv), cached)
            except _Retry:
                if wanted_rv and not cached:
                    raise errors.conflict(info.group_resource, name) from None
            except APIError:
                if not cached:
                    raise
        raise errors.conflict(info.group_resource, name, "too many concurrent writers; try again")

    async def _write_update(
        self, info: ResourceInfo, kv: KV, old: Object, new: Object, subresource: str, dry_run: bool,
        *, manager: str | None = None, managed: list | None = None, cached: bool = False,
    ) -> Object:
        if subresource == "status":
            new = strategies.prepare_for_status_update(new, old)
        elif subresource == "finalize":
            new = strategies.prepare_for_finalize(new, old)
        elif subresource == "ephemeralcontainers":
            new = strategies.prepare_for_ephemeral_update(new, old)
            apply_defaults(new)
        else:
            _keep_server_meta(new.metadata, old.metadata)
            strategies.prepare_for_update(info, new, old)
            apply_defaults(new)
        self._validate(info, new, old, status_only=subresource in ("status", "finalize"),
                       ephemeral=subresource == "ephemeralcontainers")
        if not info.has_spec:
            new.metadata.generation = None
        elif not subresource and _spec_bytes(new) != _spec_bytes(old):
            new.metadata.generation = (old.metadata.generation or 1) + 1
        else:
            new.metadata.generation = old.metadata.generation
        new.metadata.resourceVersion = None
        old.metadata.resourceVersion = None
        if managed is not None:
            new.metadata.managedFields = _entries(managed)
        elif manager:
            new.metadata.managedFields = _entries(apply.record_update(
                codec.to_builtins(old.metadata.managedFields), codec.to_builtins(old),
                codec.to_builtins(new), manager=manager, kind=info.kind,
                api_version=info.api_version, subresource=subresource, now=clock.rfc3339()))
        data = codec.encode(new)
        if data == kv.value and cached:
            raise _Retry()  # a no-op against a cached copy: etcd's may differ (read_for_update)
        if data == kv.value and not self.store.needs_rewrite(kv):
            # no-op: Kubernetes neither writes nor bumps resourceVersion (unless the stored form
            # is stale: encrypted with a retired key, which a rotation rewrites this way)
            new.metadata.resourceVersion = str(kv.mod_revision)
            return new
        releases, guards = await self._allocate(info, new, old) if not subresource else ([], [])
        if guards:
            data = codec.encode(new)  # with the NodePorts just allocated
        if dry_run:
            await self._run(releases)
            new.metadata.resourceVersion = str(kv.mod_revision)
            return new
        if new.metadata.deletionTimestamp and not new.metadata.finalizers and _finalized(info, new):
            # The last finalizer is gone from an object being deleted: remove it now.
            return await self._remove(info, kv, new)
        try:
            rev = await self._store_update(info, kv, data, guards)
        except (RevisionMismatch, KeyNotFound, GuardFailed):
            await self._run(releases)
            raise _Retry() from None
        new.metadata.resourceVersion = str(rev)
        await self._release_dropped(info, new, old)
        await self.announce(info, "MODIFIED", new, codec.encode(new))
        return new

    async def _store_update(self, info: ResourceInfo, kv: KV, data: bytes, guards: list) -> int:
        batcher = None if guards else self.batchers.get(info.group_resource)
        if batcher is not None:
            return await batcher.update(Update(kv.key, data, kv.mod_revision))
        return await self._with_lease(info, lambda lease: self.store.update(
            kv.key, data, expected_revision=kv.mod_revision, guards=guards, lease=lease))

    # ----------------------------------------------------------------- patch
    async def patch(
        self,
        info: ResourceInfo,
        namespace: str,
        name: str,
        patch_body: bytes,
        content_type: str,
        *,
        subresource: str = "",
        dry_run: bool = False,
        manager: str | None = None,
        force: bool = False,
        view: Any = None,
    ) -> tuple[Object, bool]:
        """(the object, whether it was created: only a server-side apply creates). `view` (a
        kubelite.api.versions.ServedVersion): the patch is written against that version of the
        object (autoscaling/v1), so it is applied to the object converted to it."""
        kind = PATCH_TYPES.get(content_type.split(";")[0].strip())
        if kind is None:
            raise errors.unsupported_media_type(content_type)
        if kind == "apply" and view is not None:
            raise APIError(415, "UnsupportedMediaType", f"server-side apply is served at the stored version of "
                           f"{info.group_resource} ({info.api_version}), not at {view.api_version}")
        apply.check_patch_options(kind == "apply", manager, force)
        if kind == "apply":
            return await self.server_side_apply(
                info, namespace, name, patch_body, manager or "", force=force,
                subresource=subresource, dry_run=dry_run)
        patch_doc = codec.parse_json_value(patch_body)
        if kind == "json" and not isinstance(patch_doc, list):
            raise errors.bad_request("json patch must be a JSON array of operations")
        if kind != "json" and not isinstance(patch_doc, dict):
            raise errors.bad_request("patch must be a JSON object")
        wanted_rv = None
        if isinstance(patch_doc, dict):
            meta = patch_doc.get("metadata")
            if meta is not None and not isinstance(meta, dict):  # found by tests/integration/test_fuzz_api.py
                raise errors.bad_request("metadata in a patch must be an object")
            wanted_rv = (meta or {}).get("resourceVersion")

        async def write(kv: KV, old: Object, cached: bool) -> Object:
            return await self._patch_once(info, name, kind, patch_doc, old, kv, subresource, dry_run,
                                          manager=manager, view=view, cached=cached)

        written = await self._read_modify_write(info, namespace, name, wanted_rv, dry_run, write)
        if written is None:
            raise errors.not_found(info.group_resource, name)
        return written, False

    async def _patch_once(
        self, info: ResourceInfo, name: str, kind: str, patch_doc: Any, old: Object, kv: KV, subresource: str,
        dry_run: bool, *, manager: str | None, view: Any, cached: bool,
    ) -> Object:
        """Apply the patch to `old` and write the result (raises _Retry on a lost race)."""
        from kubelite.api import patch as patching

        current = codec.to_builtins(old)
        if view is not None:
            current = view.from_storage(current)
        try:
            if kind == "json":
                patched = patching.json_patch(current, patch_doc)
            elif kind == "merge":
                patched = patching.json_merge_patch(current, patch_doc)
            else:
                patched = patching.strategic_merge_patch(current, patch_doc, info.kind)
        except patching.PatchError as exc:
            raise APIError(422, "Invalid", f"the patch could not be applied: {exc}") from None
        if not isinstance(patched, dict):
            raise errors.bad_request("the patch produced something that is not an object")
        if view is not None:
            try:
                patched = view.to_storage(patched)
            except ValueError as exc:
                raise errors.bad_request(str(exc)) from None
        new = codec.convert(patched, info.type)
        if new.metadata.name != name:
            raise errors.bad_request("metadata.name: the patch may not change the name")
        return await self._write_update(info, kv, old, new, subresource, dry_run, manager=manager, cached=cached)

    async def server_side_apply(
        self, info: ResourceInfo, namespace: str, name: str, body: bytes, manager: str, *,
        force: bool = False, subresource: str = "", dry_run: bool = False,
    ) -> tuple[Object, bool]:
        """PATCH application/apply-patch+yaml: merge the applied configuration, track and
        check field ownership (apply.py); a missing object is created. (object, created)."""
        config = codec.decode_body(body, "application/apply-patch+yaml", dict)
        if not isinstance(config, dict):
            raise errors.bad_request("apply patch must be an object")
        if subresource:
            raise errors.method_not_allowed(f"apply is not supported on {subresource}")
        for field in ("apiVersion", "kind"):
            if not config.get(field):
                raise errors.bad_request(f"invalid object type: {field} must be set in an apply patch")
        meta = config.get("metadata") if isinstance(config.get("metadata"), dict) else {}
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request("the name of the object does not match the name on the URL")
        wanted_rv = meta.get("resourceVersion")
        for _ in conflict_retries():
            kv = await self.store.get(info.key(namespace, name))
            now = clock.rfc3339()
            if kv is None:
                merged, entries = apply.apply_config(
                    None, config, None, manager=manager, force=force, kind=info.kind,
                    api_version=info.api_version, now=now)
                merged.setdefault("metadata", {})["name"] = name
                obj = codec.convert(merged, info.type)
                try:
                    return await self.create(info, namespace, obj, dry_run=dry_run, managed=entries), True
                except APIError as exc:
                    if exc.code == 409 and exc.reason == "AlreadyExists":
                        continue
                    raise
            old = self.decode(info, kv)
            if wanted_rv and wanted_rv != str(kv.mod_revision):
                raise errors.conflict(info.group_resource, name)
            live = codec.to_builtins(old)
            entries_before = live.get("metadata", {}).pop("managedFields", None)
            merged, entries = apply.apply_config(
                live, config, entries_before, manager=manager, force=force, kind=info.kind,
                api_version=info.api_version, now=now)
            new = codec.convert(merged, info.type)
            try:
                return await self._write_update(info, kv, old, new, "", dry_run, managed=entries), False
            except _Retry:
                continue
        raise errors.conflict(info.group_resource, name, "too many concurrent writers; try again")

    # ---------------------------------------------------------------- delete
    async def delete(
        self,
        info: ResourceInfo,
        namespace: str,
        name: str,
        *,
        grace: int | None = None,
        propagation: str = "",
        preconditions: dict | None = None,
        dry_run: bool = False,
    ) -> Object:
        """DELETE. Marks the object (deletionTimestamp) when it must go gracefully or
        has finalizers; removes it from etcd otherwise. Returns the last state.

        Starts from the cache's copy where there is one (read_for_update), as Kubernetes'
        Delete starts from the watch cache's: a pod's two deletes (the user's, then the node
        agent's confirmation) read etcd only when the copy turns out stale. Every write is a
        compare-and-swap on the copy's revision; anything decided without a write (a failed
        precondition, a refusal, "already being deleted") is decided again on etcd's copy."""
        fresh = dry_run
        for _ in conflict_retries():
            kv, cached = await self.read_for_update(info, namespace, name, fresh=fresh)
            fresh = True
            if kv is None:
                raise errors.not_found(info.group_resource, name)
            try:
                return await self._delete_once(info, kv, self.decode(info, kv), grace=grace,
                                               propagation=propagation, preconditions=preconditions or {},
                                               dry_run=dry_run, cached=cached)
            except _Retry:
                continue
            except APIError:
                if not cached:
                    raise
        raise errors.conflict(info.group_resource, name, "too many concurrent writers; try again")

    async def _delete_once(self, info: ResourceInfo, kv: KV, obj: Object, *, grace: int | None,
                           propagation: str, preconditions: dict, dry_run: bool, cached: bool) -> Object:
        """One attempt of `delete` on `kv`; _Retry when it must read again."""
        name = obj.metadata.name or ""
        if preconditions.get("uid") and preconditions["uid"] != obj.metadata.uid:
            raise errors.conflict(
                info.group_resource, name,
                f"Precondition failed: UID in precondition: {preconditions['uid']}, UID in object meta: "
                f"{obj.metadata.uid}",
            )
        if preconditions.get("resourceVersion") and preconditions["resourceVersion"] != str(kv.mod_revision):
            raise errors.conflict(info.group_resource, name)
        for check in self.delete_checks:  # e.g. the node restriction (noderestriction.py)
            check(info, obj)
        meta = obj.metadata
        finalizers = list(meta.finalizers or [])
        # propagationPolicy is recorded as Kubernetes does: finalizers the garbage collector acts on.
        if propagation == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        elif propagation == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        if info.kind == "Namespace":
            return await self._mark_namespace_terminating(info, kv, obj, dry_run)
        graceful, grace_secs = strategies.deletes_gracefully(info, obj, grace)
        if meta.deletionTimestamp:
            # Already being deleted: a grace-0 delete (node agent's confirmation) finishes it.
            if grace == 0 and not finalizers:
                return obj if dry_run else await self._remove(info, kv, obj)
            if grace is not None and (meta.deletionGracePeriodSeconds or 0) > grace:
                meta.deletionGracePeriodSeconds = grace
            elif cached:
                raise _Retry()  # nothing to write: say so only from etcd's copy
            else:
                return obj
        elif not graceful and not finalizers:
            return obj if dry_run else await self._remove(info, kv, obj)
        else:
            meta.deletionTimestamp = clock.rfc3339(clock.now() + _seconds(grace_secs if graceful else 0))
            meta.deletionGracePeriodSeconds = grace_secs if graceful else 0
        meta.finalizers = finalizers or None
        if dry_run:
            return obj
        meta.resourceVersion = None
        try:
            rev = await self.store.update(kv.key, codec.encode(obj), expected_revision=kv.mod_revision)
        except (RevisionMismatch, KeyNotFound):
            raise _Retry() from None
        meta.resourceVersion = str(rev)
        await self.announce(info, "MODIFIED", obj, codec.encode(obj))
        return obj

    async def _mark_namespace_terminating(self, info, kv: KV, ns: Object, dry_run: bool) -> Object:
        """Deleting a namespace moves it to Terminating; the namespace controller empties
        it and removes the `kubernetes` finalizer, after which it is deleted."""
        if ns.metadata.name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            raise errors.forbidden_error(
                "namespaces", ns.metadata.name, "this namespace may not be deleted"
            )
        spec_finalizers = list(getattr(getattr(ns, "spec", None), "finalizers", None) or [])
        if not spec_finalizers and not ns.metadata.finalizers:
            return ns if dry_run else await self._remove_guarded(info, kv, ns)
        if ns.metadata.deletionTimestamp:
            return ns
        ns.metadata.deletionTimestamp = clock.rfc3339()
        ns.metadata.deletionGracePeriodSeconds = 0
        if getattr(ns, "status", None) is not None:
            ns.status.phase = "Terminating"
        if dry_run:
            return ns
        ns.metadata.resourceVersion = None
        rev = await self.store.update(kv.key, codec.encode(ns), expected_revision=kv.mod_revision)
        ns.metadata.resourceVersion = str(rev)
        self.namespaces.note(ns.metadata.name or "", "Terminating")
        await self.announce(info, "MODIFIED", ns, codec.encode(ns))
        return ns

    async def _remove_guarded(self, info: ResourceInfo, kv: KV, obj: Object) -> Object:
        try:
            return await self._remove(info, kv, obj)
        except _Retry:
            raise errors.conflict(info.group_resource, obj.metadata.name or "") from None

    async def _remove(self, info: ResourceInfo, kv: KV, obj: Object) -> Object:
        try:
            rev, _prev = await self.store.delete(kv.key, expected_revision=kv.mod_revision)
        except (RevisionMismatch, KeyNotFound):
            raise _Retry() from None
        obj.metadata.resourceVersion = str(rev)
        if info.kind == "Namespace":
            self.namespaces.note(obj.metadata.name or "", None)
        await self._release_all(info, obj)
        await self.announce(info, "DELETED", obj, codec.encode(obj))
        return obj

    # --------------------------------------------------------------- helpers
    def _check_type_meta(self, info: ResourceInfo, obj: Object) -> None:
        if obj.apiVersion and obj.apiVersion != info.api_version:
            raise errors.bad_request(
                f"the API version in the data ({obj.apiVersion}) does not match the expected API version ({info.api_version})"
            )
        if obj.kind and obj.kind != info.kind:
            raise errors.bad_request(
                f"the kind in the data ({obj.kind}) does not match the expected kind ({info.kind})"
            )
        obj.apiVersion = info.api_version
        obj.kind = info.kind
        if obj.metadata is None:
            obj.metadata = ObjectMeta()

    def _validate(
        self, info: ResourceInfo, new: Object, old: Object | None, *, status_only: bool = False,
        ephemeral: bool = False,
    ) -> None:
        from kubelite.api import validation

        if old is None:
            errs = validation.validate(new)
        elif ephemeral:
            errs = validation.validate_ephemeral_update(new, old)
        elif status_only:
            errs = validation.validate_status_update(new, old)
        else:
            errs = validation.validate_update(new, old)
        if errs:
            raise errors.invalid_object(info.kind, new.metadata.name or "", errs, info.group)
        for check in self.admission_checks:  # e.g. RBAC's escalation guard (authz.py)
            check(info, new)

    async def _check_namespace_open(self, namespace: str | None) -> None:
        phase = await self.namespaces.phase(namespace or "")
        if phase is None:
            raise errors.not_found("namespaces", namespace or "")
        if phase == "Terminating":
            err = errors.forbidden_error(
                "namespaces", namespace or "",
                f"unable to create new content in namespace {namespace} because it is being terminated",
            )
            err.details.causes = [StatusCause(
                reason="NamespaceTerminating", field="metadata.namespace",
                message=f"namespace {namespace} is being terminated",
            )]
            raise err

    async def _allocate(self, info: ResourceInfo, new: Object, old: Object | None) -> tuple[list, list]:
        """Service IP/NodePort allocation: (release callbacks to undo on failure, guards the
        write must check)."""
        if info.kind != "Service" or self.allocator is None:
            return [], []
        from kubelite_apiserver.services import allocate_service

        return await allocate_service(self.allocator, new, old)

    async def _release_dropped(self, info: ResourceInfo, new: Object, old: Object) -> None:
        if info.kind == "Service" and self.allocator is not None:
            from kubelite_apiserver.services import release_dropped

            await release_dropped(self.allocator, new, old)

    async def _release_all(self, info: ResourceInfo, obj: Object) -> None:
        if info.kind == "Service" and self.allocator is not None:
            from kubelite_apiserver.services import release_all

            await release_all(self.allocator, obj)

    @staticmethod
    async def _run(callbacks: list) -> None:
        for cb in callbacks:
            try:
                await cb()
            except Exception:  # best effort; a leaked allocation is reclaimed later
                pass


class _Retry(Exception):
    """The compare-and-swap lost a race; re-read and try again."""


def _seconds(n: int):
    import datetime as dt

    return dt.timedelta(seconds=n)


def _parse_rv(rv: str) -> int:
    try:
        return int(rv)
    except ValueError:
        raise errors.bad_request(f'invalid resource version "{rv}"') from None


def _keep_server_meta(new: ObjectMeta, old: ObjectMeta) -> None:
    """Fields only the server sets survive a client's PUT/PATCH unchanged."""
    new.uid = old.uid
    new.creationTimestamp = old.creationTimestamp
    new.deletionTimestamp = old.deletionTimestamp
    new.deletionGracePeriodSeconds = old.deletionGracePeriodSeconds
    new.namespace = old.namespace
    new.selfLink = None
    new.managedFields = old.managedFields
    if new.generateName is None:
        new.generateName = old.generateName


def _finalized(info: ResourceInfo, obj: Object) -> bool:
    """Beyond metadata.finalizers: a pod being deleted also waits for its node agent's
    confirmation (grace 0), and a namespace for its spec.finalizers (the namespace
    controller's "content is gone")."""
    if info.kind == "Pod" and getattr(obj.spec, "nodeName", None):
        return obj.metadata.deletionGracePeriodSeconds == 0
    if info.kind == "Namespace":
        return not getattr(getattr(obj, "spec", None), "finalizers", None)
    return True


def _spec_bytes(obj: Object) -> bytes:
    spec = getattr(obj, "spec", None)
    if spec is None:
        # Kinds without spec (ConfigMap, Secret): their payload fields count as "spec".
        return b""
    return codec.encode(spec)


def _entries(entries: list | None) -> list | None:
    from kubelite.api.meta import ManagedFieldsEntry

    # Built directly: the entries come from apply.py already well-formed (no validation pass).
    return [ManagedFieldsEntry(**e) for e in entries] if entries else None


def apply_defaults(obj: Object) -> None:
    from kubelite.api.defaults import apply_defaults as _apply

    _apply(obj)


def compile_selectors(info: ResourceInfo, opts: ListOptions) -> tuple[Any, Any]:
    label_sel = field_sel = None
    if opts.label_selector:
        try:
            label_sel = labelsel.parse_selector(opts.label_selector)
        except ValueError as exc:
            raise errors.bad_request(str(exc)) from None
    if opts.field_selector:
        try:
            field_sel = fieldsel.convert_for_kind(
                fieldsel.parse_field_selector(opts.field_selector), info.kind
            )
        except ValueError as exc:
            raise errors.bad_request(str(exc)) from None
    return label_sel, field_sel


def selector(label_sel: Any, field_sel: Any) -> Callable[[Any], bool] | None:
    """`matches` with these compiled selectors, as one predicate; None when there are none."""
    if label_sel is None and field_sel is None:
        return None
    return partial(matches, label_sel=label_sel, field_sel=field_sel)


def matches(obj: Object, label_sel: Any, field_sel: Any) -> bool:
    """Does `obj` satisfy the compiled label and field selectors (None: no constraint)?"""
    if label_sel is not None and not label_sel.matches(obj.metadata.labels or {}):
        return False
    if field_sel is not None and not field_sel.matches_object(obj, obj.kind):
        return False
    return True

