"""EtcdStore: kubelite's single gateway to etcd, over etcd's gRPC stubs (from aetcd), plain or TLS.

aetcd's high-level helpers lack range limits, read revisions and rich
transactions, so this module builds the protobuf requests itself and calls the
stubs on one shared gRPC channel (TLS with a client certificate for https://
URLs). Every gRPC failure leaves here as one of the `kubelite.storage` errors;
callers never see grpc types.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import grpc
from aetcd import rpc

from kubelite.storage import (
    KV,
    Compacted,
    GuardFailed,
    KeyExists,
    KeyNotFound,
    LeaseNotFound,
    RevisionMismatch,
    StorageError,
    StoreEvent,
    Unavailable,
)
from kubelite.storage.batching import Create, Outcome, Update
from kubelite.storage.compression import pack, unpack
from kubelite.telemetry.families import (
    ETCD_REQUEST_DURATION,
    ETCD_REQUEST_ERRORS,
    child_of,
    etcd_object_type,
)

_P = ParamSpec("_P")
_T = TypeVar("_T")

_CALL_TIMEOUT = 10.0  # seconds; a hung etcd surfaces as Unavailable, not a hang
_CHANNEL_OPTIONS = {
    # lists of many objects exceed gRPC's 4 MiB default
    "grpc.max_receive_message_length": 2**31 - 1,
    "grpc.max_send_message_length": 2**31 - 1,
    # notice a dead etcd on idle watch streams
    "grpc.keepalive_time_ms": 10_000,
    "grpc.keepalive_timeout_ms": 5_000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.max_pings_without_data": 0,
    # after an etcd restart, reconnect within seconds (gRPC's default backoff grows to 120s)
    "grpc.initial_reconnect_backoff_ms": 200,
    "grpc.min_reconnect_backoff_ms": 200,
    "grpc.max_reconnect_backoff_ms": 3_000,
}
_UNAVAILABLE_CODES = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
)
_COMPACTED_DETAIL = "required revision has been compacted"

_EQUAL = rpc.Compare.EQUAL
_TARGET_CREATE = rpc.Compare.CREATE
_TARGET_MOD = rpc.Compare.MOD
_EVENT_DELETE = rpc.Event.DELETE


def prefix_range_end(prefix: bytes) -> bytes:
    """The smallest key greater than every key starting with `prefix` (etcd's range_end)."""
    end = bytearray(prefix)
    for i in range(len(end) - 1, -1, -1):
        if end[i] < 0xFF:
            end[i] += 1
            return bytes(end[: i + 1])
    return b"\0"  # prefix of all 0xff: to the end of the keyspace


def _guard_compares(guards: Sequence[tuple[str, int, bytes]]) -> list[Any]:
    return [
        rpc.Compare(result=_EQUAL, target=_TARGET_MOD, key=k.encode(), mod_revision=rev)
        for k, rev, _ in guards
    ]


def _guard_puts(guards: Sequence[tuple[str, int, bytes]], stored: Callable[[bytes], bytes]) -> list[Any]:
    """Rewrite each guard key in the same transaction: its revision moves on, so anyone
    else's write guarded by the old revision now fails."""
    return [rpc.RequestOp(request_put=rpc.PutRequest(key=k.encode(), value=stored(v))) for k, _, v in guards]


def _kv(pb: Any) -> KV:
    """A stored key-value as callers see it: the value as written, uncompressed."""
    return KV(pb.key.decode(), unpack(pb.value), pb.mod_revision, pb.create_revision)


def _as_given(value: bytes) -> bytes:
    return value


_request_duration = child_of(ETCD_REQUEST_DURATION)


def _map_rpc_errors(
    fn: Callable[_P, Awaitable[_T]],
) -> Callable[_P, Awaitable[_T]]:
    """Translate grpc errors raised by `fn` into storage errors."""

    operation = fn.__name__

    @functools.wraps(fn)
    async def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        key = args[1] if len(args) > 1 and isinstance(args[1], str) else ""
        started = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        except grpc.aio.AioRpcError as exc:
            ETCD_REQUEST_ERRORS.labels(operation, etcd_object_type(key)).inc()
            raise _storage_error(exc, operation) from exc
        finally:
            _request_duration(operation, etcd_object_type(key)).observe(time.perf_counter() - started)

    return wrapper


def _storage_error(exc: grpc.aio.AioRpcError, what: str) -> StorageError:
    code = exc.code()
    details = exc.details() or ""
    if code in _UNAVAILABLE_CODES:
        return Unavailable(f"etcd {what}: {code.name}: {details}")
    if code == grpc.StatusCode.NOT_FOUND and "lease not found" in details:
        return LeaseNotFound(f"etcd {what}: {details}")
    return StorageError(f"etcd {what}: {code.name}: {details}")


def _parse_url(url: str) -> tuple[str, int, bool]:
    """(host, port, TLS) of an etcd client URL."""
    parsed = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
    if parsed.scheme not in ("http", "https", ""):
        raise ValueError(f"unsupported etcd URL scheme in {url!r} (http:// or https://)")
    return parsed.hostname or "127.0.0.1", parsed.port or 2379, parsed.scheme == "https"


@dataclass(frozen=True)
class EtcdTLS:
    """A client certificate for etcd and the CA its server certificate is signed by (PEM files)."""

    ca_file: str
    cert_file: str
    key_file: str

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(Path(self.ca_file).read_bytes(), Path(self.key_file).read_bytes(),
                                            Path(self.cert_file).read_bytes())


def _address(host: str) -> str:
    """An IPv4 address for `host` (grpc's ipv4: target takes addresses only)."""
    try:
        return socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
    except socket.gaierror as exc:
        raise ValueError(f"etcd endpoint host {host!r} does not resolve: {exc}") from None


def target_of(url: str) -> tuple[str, list[tuple[str, Any]], bool]:
    """grpc target, extra channel options and TLS for an etcd URL or a comma-separated list of
    them (every member of a cluster, as Kubernetes' --etcd-servers): the channel then fails over
    from one member to the next (pick_first over a static list); TLS checks every member's
    certificate against the first endpoint's host name."""
    endpoints = [_parse_url(u.strip()) for u in url.split(",") if u.strip()]
    if not endpoints:
        raise ValueError("no etcd endpoint given")
    if len({secure for _, _, secure in endpoints}) > 1:
        raise ValueError(f"etcd endpoints mix http and https: {url}")
    secure = endpoints[0][2]
    if len(endpoints) == 1:
        host, port, _ = endpoints[0]
        return f"{host}:{port}", [], secure
    target = "ipv4:" + ",".join(f"{_address(host)}:{port}" for host, port, _ in endpoints)
    options: list[tuple[str, Any]] = [("grpc.lb_policy_name", "pick_first")]
    if secure:
        options.append(("grpc.ssl_target_name_override", endpoints[0][0]))
    return target, options, secure


def _channel(url: str, tls: EtcdTLS | None) -> grpc.aio.Channel:
    target, extra, secure = target_of(url)
    options = [*_CHANNEL_OPTIONS.items(), *extra]
    if secure:
        if tls is None:
            raise ValueError(f"{url} is https: etcd wants a client certificate (--pki-dir, or --etcd-certfile, "
                             "--etcd-keyfile and --etcd-cafile)")
        return grpc.aio.secure_channel(target, tls.credentials(), options=options)
    return grpc.aio.insecure_channel(target, options=options)


async def _ask_progress(call: Any, wanted: asyncio.Event) -> None:
    """Send a WatchProgressRequest on `call` each time `wanted` is set (see EtcdStore.watch)."""
    while True:
        await wanted.wait()
        wanted.clear()
        try:
            await call.write(rpc.WatchRequest(progress_request=rpc.WatchProgressRequest()))
        except Exception:  # the stream ended: the watch's reader reports why
            return


class EtcdStore:
    """Async key-value store over etcd (one endpoint, or every member of a cluster, comma-separated).
    Create with `await EtcdStore.connect(url)`."""

    def __init__(self, channel: grpc.aio.Channel, url: str, *, compress: bool = True) -> None:
        self._channel = channel
        self.url = url
        # what a value is stored as (kubelite.storage.compression); reads undo either
        self._stored: Callable[[bytes], bytes] = pack if compress else _as_given
        self._kv = rpc.KVStub(channel)
        self._watch = rpc.WatchStub(channel)
        self._lease = rpc.LeaseStub(channel)
        self._metadata = None

    # -- lifecycle ---------------------------------------------------------

    @classmethod
    async def connect(cls, url: str, *, wait_seconds: float = 30, tls: EtcdTLS | None = None,
                      compress: bool = True) -> EtcdStore:
        """Connect and wait until etcd serves a linearizable read, or raise Unavailable.
        An https:// URL needs `tls` (a client certificate: etcd checks it). `compress`: store
        JSON values compressed (kubelite.storage.compression); reads handle both forms."""
        channel = _channel(url, tls)  # only builds the channel; the probe below proves etcd answers
        store = cls(channel, url, compress=compress)
        deadline = time.monotonic() + wait_seconds
        reason = "no attempt made"
        while True:
            try:
                await store._kv.Range(
                    rpc.RangeRequest(key=b"/", count_only=True),
                    timeout=max(0.5, min(2.0, deadline - time.monotonic())),
                    metadata=store._metadata,
                )
                return store
            except grpc.aio.AioRpcError as exc:
                reason = f"{exc.code().name}: {exc.details()}"
            if time.monotonic() >= deadline:
                await channel.close()
                raise Unavailable(f"etcd at {url} not reachable after {wait_seconds:g}s: {reason}")
            await asyncio.sleep(0.2)

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> EtcdStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- reads ---------------------------------------------------------------

    @_map_rpc_errors
    async def get(self, key: str) -> KV | None:
        resp = await self._kv.Range(
            rpc.RangeRequest(key=key.encode()), timeout=_CALL_TIMEOUT, metadata=self._metadata
        )
        return _kv(resp.kvs[0]) if resp.kvs else None

    @_map_rpc_errors
    async def current_revision(self) -> int:
        resp = await self._kv.Range(
            rpc.RangeRequest(key=b"/", count_only=True),
            timeout=_CALL_TIMEOUT,
            metadata=self._metadata,
        )
        return int(resp.header.revision)

    async def list(
        self,
        prefix: str,
        *,
        limit: int = 0,
        start_after: str | None = None,
        revision: int = 0,
    ) -> tuple[list[KV], int, bool]:
        """Keys under `prefix` in key order: (items, revision read at, more).

        For consistent pagination pass the previous page's last key as
        `start_after` and the first page's revision as `revision`.
        """
        items, revision, more, _ = await self.list_counted(prefix, limit=limit, start_after=start_after,
                                                           revision=revision)
        return items, revision, more

    async def list_counted(
        self,
        prefix: str,
        *,
        limit: int = 0,
        start_after: str | None = None,
        revision: int = 0,
    ) -> tuple[list[KV], int, bool, int]:
        """`list`, and how many keys the range held from its start (returned or not): etcd's
        count, from which a paged LIST tells how many items remain (remainingItemCount)."""
        raw_prefix = prefix.encode()
        start = (start_after.encode() + b"\0") if start_after is not None else raw_prefix
        request = rpc.RangeRequest(
            key=start, range_end=prefix_range_end(raw_prefix), limit=limit, revision=revision
        )
        started = time.perf_counter()
        try:
            resp = await self._kv.Range(request, timeout=_CALL_TIMEOUT, metadata=self._metadata)
        except grpc.aio.AioRpcError as exc:
            if _COMPACTED_DETAIL in (exc.details() or ""):
                raise Compacted(revision, await self._compaction_point(revision)) from exc
            ETCD_REQUEST_ERRORS.labels("list", etcd_object_type(prefix)).inc()
            raise _storage_error(exc, "list") from exc
        finally:
            ETCD_REQUEST_DURATION.labels("list", etcd_object_type(prefix)).observe(time.perf_counter() - started)
        items = [_kv(pb) for pb in resp.kvs]
        return items, (revision or int(resp.header.revision)), bool(resp.more), int(resp.count)

    def needs_rewrite(self, kv: KV) -> bool:
        """Values are stored as they are (EncryptedStore's answer differs)."""
        return False

    # -- writes --------------------------------------------------------------

    @_map_rpc_errors
    async def create(
        self, key: str, value: bytes, *, lease: int = 0,
        guards: Sequence[tuple[str, int, bytes]] = (),
    ) -> int:
        """Store `key` only if absent; returns the new revision. Raises KeyExists.

        `guards`: (key, mod_revision, value) triples: each key must still have that
        revision, and is rewritten with `value` in the same transaction (e.g. a
        Service's IP allocations); else GuardFailed.
        """
        raw = key.encode()
        resp = await self._kv.Txn(
            rpc.TxnRequest(
                compare=[
                    rpc.Compare(result=_EQUAL, target=_TARGET_CREATE, key=raw, create_revision=0),
                    *_guard_compares(guards),
                ],
                success=[
                    rpc.RequestOp(request_put=rpc.PutRequest(key=raw, value=self._stored(value), lease=lease)),
                    *_guard_puts(guards, self._stored),
                ],
                failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=raw))] if guards else [],
            ),
            timeout=_CALL_TIMEOUT,
            metadata=self._metadata,
        )
        if not resp.succeeded:
            if guards and not resp.responses[0].response_range.kvs:
                raise GuardFailed(", ".join(k for k, _, _ in guards))
            raise KeyExists(key)
        return int(resp.header.revision)

    @_map_rpc_errors
    async def update(
        self, key: str, value: bytes, *, expected_revision: int,
        guards: Sequence[tuple[str, int, bytes]] = (), lease: int = 0,
    ) -> int:
        """Replace `key` if its mod_revision is `expected_revision`; returns the new revision.
        `lease`: the key is attached to that lease (etcd deletes it when the lease expires; 0:
        none, as a put without one detaches the key from any lease it had).

        Raises KeyNotFound if the key is gone, RevisionMismatch (carrying the
        current KV, read in the same transaction) if someone wrote it since,
        GuardFailed if a `guards` key changed (see create).
        """
        raw = key.encode()
        resp = await self._kv.Txn(
            rpc.TxnRequest(
                compare=[
                    rpc.Compare(
                        result=_EQUAL, target=_TARGET_MOD, key=raw, mod_revision=expected_revision
                    ),
                    *_guard_compares(guards),
                ],
                success=[
                    rpc.RequestOp(request_put=rpc.PutRequest(key=raw, value=self._stored(value), lease=lease)),
                    *_guard_puts(guards, self._stored),
                ],
                failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=raw))],
            ),
            timeout=_CALL_TIMEOUT,
            metadata=self._metadata,
        )
        if resp.succeeded:
            return int(resp.header.revision)
        kvs = resp.responses[0].response_range.kvs
        if guards and kvs and kvs[0].mod_revision == expected_revision:
            raise GuardFailed(", ".join(k for k, _, _ in guards))
        raise self._cas_failure(key, resp)

    @_map_rpc_errors
    async def create_many(self, creates: list[Create]) -> list[Outcome]:
        """Several creates in one transaction (batching.CreateBatcher sends them): per create,
        the new revision (all share it) or KeyExists. A lease etcd no longer has fails the whole
        batch (LeaseNotFound), as it fails a lone create."""

        def txn(pending: list[int]) -> rpc.TxnRequest:
            raws = [creates[i].key.encode() for i in pending]
            return rpc.TxnRequest(
                compare=[rpc.Compare(result=_EQUAL, target=_TARGET_CREATE, key=raw, create_revision=0)
                         for raw in raws],
                success=[rpc.RequestOp(request_put=rpc.PutRequest(
                    key=raw, value=self._stored(creates[i].value), lease=creates[i].lease))
                    for i, raw in zip(pending, raws, strict=True)],
                failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=raw, count_only=True)) for raw in raws],
            )

        return await self._group_commit(len(creates), txn,
                                        lambda i, read: KeyExists(creates[i].key) if read.count else None)

    @_map_rpc_errors
    async def update_many(self, updates: list[Update]) -> list[Outcome]:
        """Several compare-and-swap updates in one transaction (batching.UpdateBatcher sends
        them): per update, the new revision (all share it) or why it was not written
        (KeyNotFound, RevisionMismatch with the current KV)."""

        def txn(pending: list[int]) -> rpc.TxnRequest:
            raws = [updates[i].key.encode() for i in pending]
            return rpc.TxnRequest(
                compare=[rpc.Compare(result=_EQUAL, target=_TARGET_MOD, key=raw,
                                     mod_revision=updates[i].expected_revision)
                         for i, raw in zip(pending, raws, strict=True)],
                success=[rpc.RequestOp(request_put=rpc.PutRequest(key=raw, value=self._stored(updates[i].value)))
                         for i, raw in zip(pending, raws, strict=True)],
                failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=raw)) for raw in raws],
            )

        def judge(i: int, read: Any) -> Outcome | None:
            if read.kvs and read.kvs[0].mod_revision == updates[i].expected_revision:
                return None  # not what failed the transaction: again
            return RevisionMismatch(updates[i].key, _kv(read.kvs[0])) if read.kvs else KeyNotFound(updates[i].key)

        return await self._group_commit(len(updates), txn, judge)

    async def _group_commit(self, count: int, txn: Callable[[list[int]], rpc.TxnRequest],
                            judge: Callable[[int, Any], Outcome | None]) -> list[Outcome]:
        """create_many's and update_many's loop: send `txn(pending)`. When a compare fails the
        transaction writes nothing; its failure branch reads every pending key, `judge` settles
        the writes that failed it (an outcome) from the rest (None), and the rest go again (each
        round settles at least one)."""
        outcomes: list[Outcome | None] = [None] * count
        pending = list(range(count))
        while pending:
            resp = await self._kv.Txn(txn(pending), timeout=_CALL_TIMEOUT, metadata=self._metadata)
            if resp.succeeded:
                for i in pending:
                    outcomes[i] = int(resp.header.revision)
                break
            still = []
            for i, read in zip(pending, resp.responses, strict=True):
                outcome = judge(i, read.response_range)
                if outcome is None:
                    still.append(i)
                else:
                    outcomes[i] = outcome
            pending = still
        return outcomes  # type: ignore[return-value] - every slot is set above

    @_map_rpc_errors
    async def delete(self, key: str, *, expected_revision: int | None = None) -> tuple[int, KV]:
        """Delete `key` (if its mod_revision is `expected_revision`, when given).

        Returns (revision of the delete, the KV as it was). Raises KeyNotFound
        or RevisionMismatch.
        """
        raw = key.encode()
        delete_op = rpc.RequestOp(
            request_delete_range=rpc.DeleteRangeRequest(key=raw, prev_kv=True)
        )
        if expected_revision is None:
            compare = [
                rpc.Compare(
                    result=rpc.Compare.GREATER, target=_TARGET_CREATE, key=raw, create_revision=0
                )
            ]
        else:
            compare = [
                rpc.Compare(
                    result=_EQUAL, target=_TARGET_MOD, key=raw, mod_revision=expected_revision
                )
            ]
        resp = await self._kv.Txn(
            rpc.TxnRequest(
                compare=compare,
                success=[delete_op],
                failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=raw))],
            ),
            timeout=_CALL_TIMEOUT,
            metadata=self._metadata,
        )
        if not resp.succeeded:
            raise self._cas_failure(key, resp)
        deleted = resp.responses[0].response_delete_range
        if not deleted.prev_kvs:  # cannot happen after a successful compare, but be explicit
            raise KeyNotFound(key)
        return int(resp.header.revision), _kv(deleted.prev_kvs[0])

    @staticmethod
    def _cas_failure(key: str, resp: Any) -> StorageError:
        kvs = resp.responses[0].response_range.kvs
        if not kvs:
            return KeyNotFound(key)
        return RevisionMismatch(key, _kv(kvs[0]))

    @_map_rpc_errors
    async def claim_compaction(self, key: str, seen_version: int, revision: int) -> tuple[bool, int, int]:
        """Kubernetes' compaction handshake (see kubelite_apiserver.compactor): write `revision`
        at `key` if the key's version is still `seen_version`. Returns (whether it was written,
        the key's version now, etcd's revision now)."""
        raw = key.encode()
        resp = await self._kv.Txn(
            rpc.TxnRequest(
                compare=[rpc.Compare(result=_EQUAL, target=rpc.Compare.VERSION, key=raw, version=seen_version)],
                success=[rpc.RequestOp(request_put=rpc.PutRequest(key=raw, value=str(revision).encode()))],
                failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=raw))],
            ),
            timeout=_CALL_TIMEOUT,
            metadata=self._metadata,
        )
        if resp.succeeded:
            return True, seen_version + 1, int(resp.header.revision)
        kvs = resp.responses[0].response_range.kvs
        return False, int(kvs[0].version) if kvs else 0, int(resp.header.revision)

    @_map_rpc_errors
    async def compact(self, revision: int) -> None:
        """Discard history before `revision`. Compacting an already compacted revision is a no-op."""
        try:
            await self._kv.Compact(
                rpc.CompactionRequest(revision=revision),
                timeout=_CALL_TIMEOUT * 3,
                metadata=self._metadata,
            )
        except grpc.aio.AioRpcError as exc:
            if _COMPACTED_DETAIL in (exc.details() or ""):
                return
            raise

    # -- watch ---------------------------------------------------------------

    async def watch(
        self, prefix: str, *, start_revision: int, progress_notify: bool = False,
        progress: asyncio.Event | None = None, shared_first: bool = False,
    ) -> AsyncIterator[StoreEvent]:
        """Every change under `prefix` from `start_revision` (inclusive), in revision order.

        `shared_first`: the changes of `start_revision` itself only if it changed more than one
        key under `prefix` (a group commit, storage/batching.py): how a watcher resumes from a
        revision R it has seen, with start_revision=R. It may have seen only some of a shared
        revision's changes, so it gets all of them again; a lone change it has seen is left out.
        etcd sends a revision's events in one response, so they are counted exactly.

        Raises Compacted when start_revision is (or, for a slow watcher,
        becomes) older than the compaction point, and Unavailable when the
        stream breaks; the caller re-lists in both cases. With
        `progress_notify`, etcd's idle progress reports come through as
        StoreEvent(type="PROGRESS") whose kv.mod_revision is the revision the
        watch has caught up to (kv.key is "").
        Setting `progress` asks etcd for one such report at once (a WatchProgressRequest, as
        Kubernetes' consistent reads from cache do): it comes once every change up to the
        revision it carries has been delivered.
        Closing or cancelling the iterator cancels the etcd watch.
        """
        raw = prefix.encode()
        create = rpc.WatchCreateRequest(
            key=raw,
            range_end=prefix_range_end(raw),
            start_revision=start_revision,
            prev_kv=True,
            progress_notify=progress_notify,
        )
        call = self._watch.Watch(metadata=self._metadata)
        asker: asyncio.Task[None] | None = None
        try:
            try:
                await call.write(rpc.WatchRequest(create_request=create))
                # only now: two writes at once on one gRPC stream fail it ("Internal error from
                # Core"), which a progress wanted before the watch was made would cause
                asker = asyncio.create_task(_ask_progress(call, progress)) if progress is not None else None
                while True:
                    resp = await call.read()
                    if resp is grpc.aio.EOF:
                        raise Unavailable(f"etcd watch on {prefix!r} ended by the server")
                    if resp.compact_revision:
                        raise Compacted(start_revision, int(resp.compact_revision))
                    if resp.canceled:
                        raise StorageError(
                            f"etcd cancelled watch on {prefix!r}: {resp.cancel_reason}"
                        )
                    if not resp.events:
                        if (progress_notify or progress is not None) and not resp.created:
                            yield StoreEvent(
                                "PROGRESS", KV("", b"", int(resp.header.revision), 0), None, False
                            )
                        continue
                    events = resp.events
                    if shared_first:
                        events, shared_first = _unless_lone(events, start_revision), False
                    for ev in events:
                        yield _event(ev)
            except grpc.aio.AioRpcError as exc:
                raise _storage_error(exc, "watch") from exc
        finally:
            if asker is not None:
                asker.cancel()
            call.cancel()

    async def _compaction_point(self, requested: int) -> int:
        """etcd's current compact revision, learnt from a throwaway watch (Range does not report it)."""
        call = self._watch.Watch(metadata=self._metadata)
        try:
            await call.write(
                rpc.WatchRequest(
                    create_request=rpc.WatchCreateRequest(
                        key=b"\0", start_revision=max(1, requested)
                    )
                )
            )
            async with asyncio.timeout(2):
                while True:
                    resp = await call.read()
                    if resp is grpc.aio.EOF:
                        return 0
                    if resp.compact_revision:
                        return int(resp.compact_revision)
                    # etcd first confirms creation, then cancels with compact_revision
        except (grpc.aio.AioRpcError, TimeoutError):
            return 0
        finally:
            call.cancel()

    # -- leases (leader election) -------------------------------------------

    @_map_rpc_errors
    async def lease_grant(self, ttl: int) -> int:
        resp = await self._lease.LeaseGrant(
            rpc.LeaseGrantRequest(TTL=ttl), timeout=_CALL_TIMEOUT, metadata=self._metadata
        )
        if resp.error:
            raise StorageError(f"etcd lease grant: {resp.error}")
        return int(resp.ID)

    @_map_rpc_errors
    async def lease_keepalive(self, lease_id: int) -> int:
        """Refresh the lease once; returns the TTL left (0 means the lease has expired)."""
        call = self._lease.LeaseKeepAlive(metadata=self._metadata, timeout=_CALL_TIMEOUT)
        try:
            await call.write(rpc.LeaseKeepAliveRequest(ID=lease_id))
            resp = await call.read()
            if resp is grpc.aio.EOF:
                raise Unavailable("etcd lease keepalive stream ended")
            return int(resp.TTL)
        finally:
            call.cancel()

    @_map_rpc_errors
    async def lease_revoke(self, lease_id: int) -> None:
        """Revoke the lease (deleting its keys); an unknown or expired lease is fine."""
        try:
            await self._lease.LeaseRevoke(
                rpc.LeaseRevokeRequest(ID=lease_id), timeout=_CALL_TIMEOUT, metadata=self._metadata
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise


def _unless_lone(events: Sequence[Any], revision: int) -> Sequence[Any]:
    """`events` (one watch response's) without the first if it is the only one of `revision`."""
    lone = events[0].kv.mod_revision == revision and (len(events) == 1 or events[1].kv.mod_revision != revision)
    return events[1:] if lone else events


def _event(ev: Any) -> StoreEvent:
    prev = _kv(ev.prev_kv) if ev.HasField("prev_kv") else None
    if ev.type == _EVENT_DELETE:
        # etcd's delete event carries an empty value; report the last value instead
        kv = KV(
            ev.kv.key.decode(),
            prev.value if prev else b"",
            ev.kv.mod_revision,
            prev.create_revision if prev else 0,
        )
        return StoreEvent("DELETE", kv, prev, False)
    kv = _kv(ev.kv)
    return StoreEvent("PUT", kv, prev, kv.create_revision == kv.mod_revision)
