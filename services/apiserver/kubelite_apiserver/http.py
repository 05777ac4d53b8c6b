"""The HTTP front end: a plain ASGI app (served by uvicorn) over the shared dispatcher.

Routing is Kubernetes' URL scheme (requestinfo.py); everything else —
validation, storage, errors — is the same code the NATS transport calls.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from prometheus_client import REGISTRY, generate_latest

from kubelite import errors
from kubelite.api.coordination_v1 import LEASES
from kubelite.api.core_v1 import EVENTS, PODS
from kubelite.api.scheme import by_plural
from kubelite.api.versions import alternate
from kubelite.auth.user import UserInfo
from kubelite.bus.api import APIRequest
from kubelite.bus.identity import BusIdentity
from kubelite.credentials import BusCredentials, load_bus_credentials
from kubelite.errors import APIError
from kubelite.gctune import tune_gc
from kubelite.storage.etcd import EtcdStore
from kubelite_apiserver import (
    authz,
    compactor,
    dashboard,
    discovery,
    metrics,
    noderestriction,
    openapi,
    openapi_proto,
    params,
    protobuf,
    proxy,
    readyz,
    reviews,
    streaming,
    tables,
)
from kubelite_apiserver.allocator import ServiceAllocator
from kubelite_apiserver.audit import AuditLog
from kubelite_apiserver.authn import Authenticator, load_token_file
from kubelite_apiserver.bootstrap import (
    SYSTEM_NAMESPACES,
    ensure_bootstrap_policy,
    ensure_system_namespaces,
)
from kubelite_apiserver.config import Config, from_env
from kubelite_apiserver.crds import CRDController
from kubelite_apiserver.dispatch import answer_as, dispatch, resolve, status_body
from kubelite_apiserver.encryptionreload import ConfigWatcher, encrypted
from kubelite_apiserver.events import Publisher
from kubelite_apiserver.kubernetesservice import ensure_kubernetes_service
from kubelite_apiserver.logs import pod_log_stream
from kubelite_apiserver.metricsapi import MetricsStore
from kubelite_apiserver.natsrpc import NatsAPI
from kubelite_apiserver.nsdefaults import NamespaceDefaults
from kubelite_apiserver.podcache import PodCache
from kubelite_apiserver.podrecord import cached_refs
from kubelite_apiserver.registry import Registry
from kubelite_apiserver.requestinfo import RequestInfo, parse_request
from kubelite_apiserver.saadmission import ServiceAccountAdmission
from kubelite_apiserver.satokens import ServiceAccountTokens, is_token_request, serve_token_request
from kubelite_apiserver.storageadmission import StorageAdmission, ensure_default_storage_class
from kubelite_apiserver.strategies import AdmissionConfig
from kubelite_apiserver.updatecopies import UpdateCopies
from kubelite_apiserver.watch import watch_events

log = logging.getLogger("kubelite.apiserver.http")

JSON = [(b"content-type", b"application/json")]
NOT_FOUND = errors.no_such_resource()


def bus_credentials(cfg: Config) -> BusCredentials:
    return load_bus_credentials(BusIdentity("apiserver"), ca_file=cfg.nats_ca_file, cert_file=cfg.nats_cert_file,
                                key_file=cfg.nats_key_file)


ETCD_CHECK_TIMEOUT = 2.0  # seconds: kube-apiserver's --etcd-healthcheck-timeout default
ETCD_CHECK_INTERVAL = 1.0  # at most one etcd probe a second, however often /readyz is asked


async def _ok() -> str:
    return ""


_LIVE: dict[str, readyz.Check] = {"ping": _ok}  # /livez, /healthz: the process answers


class APIServer:
    """Connections and the registry for one worker process; also the ASGI callable."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.store: EtcdStore | None = None
        self.nc: Any = None
        self.reg: Registry | None = None
        self.nats_api: NatsAPI | None = None
        self.ready = False
        self.stopping = asyncio.Event()
        self.health_checks: dict[str, readyz.Check] = {
            "ping": _ok, "etcd": readyz.Throttled(self._etcd_check, ETCD_CHECK_INTERVAL),
            "informer-sync": self._synced_check, "shutdown": self._shutdown_check,
        }
        self.authn = Authenticator()
        self.rbac: authz.RBACCache | None = None
        self.crds: CRDController | None = None
        self.sa_tokens: ServiceAccountTokens | None = None
        self.audit: AuditLog | None = None
        self.encryption: ConfigWatcher | None = None
        self.node_refs: noderestriction.NodeReferences | None = None
        self.pod_cache: PodCache | None = None
        self.lease_copies: UpdateCopies | None = None
        self.compactor: asyncio.Task[None] | None = None
        self.authz = authz.Authorizer(authz.RBAC, authz.bootstrap_source())

    # ------------------------------------------------------------ lifecycle
    async def startup(self) -> None:
        from kubelite.bus.connection import connect_nats

        cfg = self.cfg
        self.store = await EtcdStore.connect(cfg.etcd, wait_seconds=cfg.connect_wait_seconds, tls=cfg.etcd_tls(),
                                             compress=cfg.storage_compression != "none")
        self.nc = await connect_nats(cfg.nats, name="kubelite-apiserver", wait_seconds=cfg.connect_wait_seconds,
                                     credentials=bus_credentials(cfg))
        storage: Any = self.store
        if cfg.encryption_provider_config:
            storage = encrypted(self.store, cfg.encryption_provider_config)
            self.encryption = ConfigWatcher(storage, cfg.encryption_provider_config)
            self.encryption.start()
        admission = AdmissionConfig(
            default_not_ready_toleration_seconds=cfg.default_not_ready_toleration_seconds,
            default_unreachable_toleration_seconds=cfg.default_unreachable_toleration_seconds,
        )
        self.metrics = MetricsStore()
        await self.metrics.subscribe(self.nc)
        # whole seconds, as kube-apiserver's TTLFunc (a TTL under a second: Events never expire)
        ttls = {EVENTS.group_resource: int(cfg.event_ttl)} if int(cfg.event_ttl) > 0 else {}
        self.reg = Registry(storage, Publisher(self.nc), admission=admission, metrics=self.metrics, ttls=ttls)
        self.reg.allocator = ServiceAllocator(
            self.store, cfg.service_cluster_ip_range, cfg.node_port_range(), self._service_exists
        )
        self.reg.namespaces.start()
        root_ca = Path(cfg.root_ca_file).read_text() if cfg.root_ca_file else ""  # noqa: ASYNC240 - once, at start
        ns_defaults = NamespaceDefaults(self.reg, root_ca_pem=root_ca)
        self.reg.after_create.append(ns_defaults)
        await ensure_system_namespaces(self.reg)
        for ns in SYSTEM_NAMESPACES:  # made before this start (or before these defaults existed)
            await ns_defaults.ensure(ns)
        await ensure_kubernetes_service(self.reg, service_range=cfg.service_cluster_ip_range,
                                        address=cfg.advertise_address, port=cfg.port)
        await ensure_bootstrap_policy(self.reg)
        await ensure_default_storage_class(self.reg)
        tokens = load_token_file(cfg.token_auth_file) if cfg.token_auth_file else {}
        if cfg.service_account_key_file:
            self.sa_tokens = ServiceAccountTokens(
                self.store, self.reg, public_key=Path(cfg.service_account_key_file),
                signing_key=Path(cfg.service_account_signing_key_file) if cfg.service_account_signing_key_file else None)
            await self.sa_tokens.start()
        # after the system objects above (none is a pod), so the lookups can use the informer
        self.reg.create_admission.append(ServiceAccountAdmission(
            self.store, informer=self.sa_tokens.accounts if self.sa_tokens else None))
        self.reg.create_admission.append(StorageAdmission(self.store))
        if cfg.audit_log_path:
            self.audit = AuditLog(cfg.audit_log_path)
        self.authn = Authenticator(tokens=tokens, anonymous_auth=cfg.anonymous_auth,
                                   service_accounts=self.sa_tokens)
        if cfg.authorization_mode == authz.RBAC:
            self.rbac = authz.RBACCache(self.store)
            await self.rbac.start()
        self.authz = authz.Authorizer(cfg.authorization_mode, self.rbac or authz.bootstrap_source())
        self.crds = CRDController(self.reg, self.store, on_change=openapi.invalidate)
        self.reg.after_create.append(self.crds.after_create)
        self.crds_task = asyncio.get_running_loop().create_task(self.crds.run())
        await self.crds.crds.wait_synced()  # every CRD served from the first request
        self.reg.admission_checks += [authz.escalation_guard(self.authz), noderestriction.on_write]
        self.pod_cache = PodCache(self.reg.store)
        self.node_refs = noderestriction.NodeReferences(self.reg.store, pods=self.pod_cache.informer,
                                                          refs_of=cached_refs)
        self.pod_cache.start()
        if cfg.etcd_compaction_interval > 0:
            self.compactor = asyncio.get_running_loop().create_task(
                compactor.run(self.store, cfg.etcd_compaction_interval), name="etcd-compactor")
        self.reg.caches[PODS.group_resource] = self.pod_cache
        self.lease_copies = UpdateCopies(self.reg.store, LEASES)  # node heartbeats: no etcd read each
        self.lease_copies.start()
        self.reg.caches[LEASES.group_resource] = self.lease_copies
        self.reg.delete_checks.append(noderestriction.on_delete)
        self.nats_api = NatsAPI(self.nc, self.reg, admit=self.admit, audit=self.audit, sa_tokens=self.sa_tokens)
        await self.nats_api.start()
        tune_gc()
        self.ready = True
        log.info("apiserver ready on https://%s:%d (authorization %s)", cfg.bind_address, cfg.port,
                 cfg.authorization_mode)

    async def _etcd_check(self) -> str:
        """etcd answers a read within ETCD_CHECK_TIMEOUT (kube-apiserver's
        --etcd-healthcheck-timeout); "" when it does, else why not."""
        if self.store is None:
            return "not connected"
        try:
            async with asyncio.timeout(ETCD_CHECK_TIMEOUT):
                await self.store.current_revision()
        except TimeoutError:
            return f"no answer within {ETCD_CHECK_TIMEOUT:g}s"
        except Exception as exc:  # any failure is the answer; /readyz/etcd shows it
            return str(exc) or type(exc).__name__
        return ""

    async def _synced_check(self) -> str:
        """Started, and the caches that serve requests have listed once (as kube-apiserver's
        informer-sync check: it does not fail again later, a relist is the cache's business)."""
        if self.stopping.is_set():
            return ""
        if not self.ready:
            return "caches not synced yet"
        caches = {"pods": self.pod_cache, "leases": self.lease_copies}
        waiting = [name for name, cache in caches.items() if cache is None or not cache.informer.has_synced]
        return f"not synced: {', '.join(waiting)}" if waiting else ""

    async def _shutdown_check(self) -> str:
        return "shutting down" if self.stopping.is_set() else ""

    async def shutdown(self) -> None:
        self.ready = False
        self.stopping.set()
        if self.nats_api is not None:
            await self.nats_api.drain(self.cfg.shutdown_grace_seconds)
        if self.rbac is not None:
            await self.rbac.stop()
        if self.pod_cache is not None:
            await self.pod_cache.stop()
        if self.reg is not None:
            await self.reg.hubs.stop()
        if self.lease_copies is not None:
            await self.lease_copies.stop()
        if self.compactor is not None:
            self.compactor.cancel()
            await asyncio.gather(self.compactor, return_exceptions=True)
        if self.crds is not None:
            await self.crds.stop(grace_seconds=1)
            await self.crds.crds.stop()
        if self.encryption is not None:
            await self.encryption.stop()
        if self.sa_tokens is not None:
            await self.sa_tokens.stop()
        if self.audit is not None:
            self.audit.close()
        if self.reg is not None:
            await self.reg.namespaces.stop()
        if self.nc is not None:
            try:
                await self.nc.drain()
            except Exception:
                pass
        if self.store is not None:
            await self.store.close()

    async def _service_exists(self, namespace: str, name: str, uid: str) -> bool:
        from kubelite.api.scheme import by_kind

        info = by_kind("v1", "Service")
        kv = await self.store.get(info.key(namespace, name))
        return kv is not None and uid.encode() in kv.value

    # ----------------------------------------------------------------- ASGI
    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] == "websocket":  # pods/exec, pods/portforward (streaming.py)
            await streaming.serve_websocket(self, scope, receive, send)
            return
        if scope["type"] != "http":
            return
        started, status = time.time(), [0]

        async def recorded_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            with metrics.in_flight(scope["method"]):
                await self._serve_http(scope, receive, recorded_send)
        finally:
            status[0] = status[0] or scope.get("kubelite.upgraded", 0)  # 101: written by the upgrade itself
            info = scope.get("kubelite.info")
            apply = "apply-patch" in _header(scope, b"content-type")
            metrics.observe(metrics.labels(info, "apiserver", apply=apply), status[0], time.time() - started,
                            long_running=metrics.is_long_running(info))
            if self.audit is not None:
                self.audit.record(scope, info, scope.get("kubelite.user"), status[0], started)

    async def _serve_http(self, scope: dict, receive: Any, send: Any) -> None:
        query = dict(parse_qsl(scope.get("query_string", b"").decode(), keep_blank_values=True))
        path: str = scope["path"]
        method: str = scope["method"]
        try:
            info = parse_request(method, path, query)
            user = await self.check_access(scope, info)
            if not info.is_resource and dashboard.is_dashboard(path):
                code, ctype, body = dashboard.serve(path)
                await _respond(send, code, body, ctype, dashboard.SECURITY_HEADERS)
                return
            if not info.is_resource and path.rstrip("/") == "/openapi/v2" and \
                    openapi_proto.wanted(_header(scope, b"accept")):
                body = openapi_proto.document_of(openapi.v2_document())
                await _respond(send, 200, body, openapi_proto.CONTENT_TYPE.encode())
                return
            if not info.is_resource and (probe := readyz.endpoint(path)) is not None:
                code, body = await readyz.answer(*probe, scope.get("query_string", b"").decode(),
                                                 self.health_checks if probe[0] == "readyz" else _LIVE)
                await _respond(send, code, body)
                return
            if not info.is_resource:
                code, body = self._non_resource(path, scope)
                await _respond(send, code, body)
                return
            if not self.ready:
                raise errors.service_unavailable("apiserver is starting")
            if info.subresource == "proxy" and info.resource in ("pods", "services") and not info.group:
                await proxy.serve(self.reg, info, scope, receive, send)
                return
            if info.resource == "pods" and info.subresource in streaming.SUBRESOURCES:
                await streaming.serve_http(self, scope, info)  # a SPDY upgrade (spdyserve.py)
                return
            if info.verb == "get" and info.resource == "pods" and info.subresource == "log":
                await self._logs(info, query, receive, send)
                return
            if info.verb == "watch":
                if (watched := by_plural(info.group, info.resource)) is not None and watched.extra.get("metrics"):
                    raise errors.method_not_allowed("watch is not supported on the resource metrics API")
                with metrics.long_running(metrics.labels(info, "apiserver")):
                    await self._watch(info, query, receive, send, _header(scope, b"accept"))
                return
            req_body = await _read_body(receive)
            ctype = _header(scope, b"content-type") or "application/json"
            served_info = by_plural(info.group, info.resource)  # unknown: 404 from dispatch, whatever the body
            served = served_info is not None
            if req_body and protobuf.is_protobuf(ctype) and served:
                req_body, ctype = protobuf.to_json(req_body), "application/json"
            if info.verb in ("create", "update") and req_body and served and not _json_or_yaml(ctype):
                raise APIError(415, "UnsupportedMediaType",
                               "the body of the request was in an unknown format - accepted media "
                               f"types include: application/json, application/yaml (got {ctype!r})")
            req = APIRequest(
                verb=info.verb, resource=info.resource, group=info.group, version=info.version,
                namespace=info.namespace, name=info.name, subresource=info.subresource,
                params=query, contentType=ctype, userAgent=_header(scope, b"user-agent"),
            )
            if served_info is not None and served_info.extra.get("virtual"):  # reviews: answered, never stored
                res = resolve(req)  # the checks dispatch would make: verb, scope
                code, body = await reviews.serve(self.authz, self.authn, user, res, info.namespace, req_body, ctype)
                await _respond(send, code, body)
                return
            if is_token_request(info.resource, info.subresource, info.verb):
                code, body = await serve_token_request(self.sa_tokens, info.namespace, info.name, req_body, ctype)
                await _respond(send, code, body)
                return
            wants_table = tables.wants_table(_header(scope, b"accept"))
            if wants_table and info.verb in ("get", "list") and (
                    served := alternate(info.group, info.version, info.resource)) is not None:
                req = msgspec.structs.replace(req, version=served.storage_version)  # a Table is version-free
            code, body = await dispatch(self.reg, req, req_body)
            if code == 200 and info.verb in ("get", "list") and not info.subresource:
                if wants_table:
                    res = resolve(req)
                    body = tables.to_table(res, body, query.get("includeObject", "Metadata"))
                    await _respond(send, code, body, tables.TABLE_CONTENT_TYPE)
                    return
        except APIError as exc:
            code, body = exc.code, status_body(exc)
        await _respond(send, code, body)

    async def check_access(self, scope: dict, info: RequestInfo) -> UserInfo:
        """Authenticate (401) and authorize (403) one request; the user when allowed."""
        scope["kubelite.info"] = info  # for the audit log, whatever the outcome
        user = authz.impersonate(self.authz, await self.authn.authenticate(scope), scope.get("headers", ()))
        scope["kubelite.user"] = user
        await self.admit(user, info)
        return user

    async def admit(self, user: UserInfo, info: RequestInfo) -> None:
        """The gate every request passes, over HTTPS or NATS: RBAC (with CURRENT_USER set for the
        admission checks), then what a node may read."""
        authz.admit(self.authz, user, info)
        if self.node_refs is not None:
            await self.node_refs.check(user, info)

    def _non_resource(self, path: str, scope: dict) -> tuple[int, bytes]:
        path = path.rstrip("/") or "/"
        if path == "/metrics":
            return 200, generate_latest(REGISTRY)
        if path == "/version":
            return 200, msgspec.json.encode(discovery.version_info())
        if path == "/api":
            host = _header(scope, b"host") or f"{self.cfg.bind_address}:{self.cfg.port}"
            return 200, msgspec.json.encode(discovery.api_versions(host))
        if path == "/apis":
            return 200, msgspec.json.encode(discovery.api_group_list())
        if path == "/openapi/v3":
            return 200, openapi.v3_index()
        if path.startswith("/openapi/v3/"):
            doc = openapi.v3_document(path[len("/openapi/v3/"):])
            return (200, doc) if doc is not None else (404, status_body(NOT_FOUND))
        if path == "/openapi/v2":
            if "protobuf" in _header(scope, b"accept").split(",")[0]:  # another protobuf than gnostic's
                return 406, status_body(APIError(406, "NotAcceptable", "only application/json and "
                                                 f"{openapi_proto.CONTENT_TYPE} are served"))
            return 200, openapi.v2_document()
        parts = path.strip("/").split("/")
        doc = None
        if parts[0] == "api" and len(parts) == 2:
            doc = discovery.resource_list("", parts[1])
        elif parts[0] == "apis" and len(parts) == 2:
            doc = discovery.api_group(parts[1])
        elif parts[0] == "apis" and len(parts) == 3:
            doc = discovery.resource_list(parts[1], parts[2])
        if doc is None:
            return 404, status_body(NOT_FOUND)
        return 200, msgspec.json.encode(doc)

    async def _watch(self, info, query: dict[str, str], receive: Any, send: Any, accept: str) -> None:
        req = APIRequest(
            verb="watch", resource=info.resource, group=info.group, version=info.version,
            namespace=info.namespace, name=info.name,
        )
        res = resolve(req)
        opts = params.list_options(query)
        if info.name:  # /pods/NAME?watch=true is a watch with a field selector on the name
            sel = f"metadata.name={info.name}"
            opts = dataclasses.replace(
                opts, field_selector=",".join(x for x in (opts.field_selector, sel) if x))
        events = watch_events(self.reg, res, info.namespace, opts)  # bad options: a 400 here, before the stream
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")]})
        await send({"type": "http.response.body", "body": b"", "more_body": True})

        as_table = tables.wants_table(accept)
        include = query.get("includeObject", "Metadata")
        served = alternate(info.group, info.version, info.resource)

        async def pump() -> None:
            async for chunk in events:  # one or more events, newline-separated (watch.py)
                if as_table:
                    chunk = b"\n".join(tables.watch_event_as_table(res, line, include) for line in chunk.split(b"\n"))
                elif served is not None:
                    chunk = b"\n".join(answer_as(served, line) for line in chunk.split(b"\n"))
                await send({"type": "http.response.body", "body": chunk + b"\n", "more_body": True})

        async def disconnected() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return

        tasks = [asyncio.create_task(pump()), asyncio.create_task(disconnected()),
                 asyncio.create_task(self.stopping.wait())]
        timeout = opts.timeout_seconds or None
        try:
            await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            failed = (await asyncio.gather(*tasks, return_exceptions=True))[0]
            await events.aclose()
        if isinstance(failed, Exception):  # the stream ends (the client watches again); say why
            log.error("watch of %s ended by an error", info.resource, exc_info=failed)
        try:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except Exception:
            pass

    async def _logs(self, info, query: dict[str, str], receive: Any, send: Any) -> None:
        first, stream = await pod_log_stream(self.reg, self.nc, info.namespace, info.name, query)
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/plain"), (b"transfer-encoding", b"chunked")]})
        await send({"type": "http.response.body", "body": first, "more_body": True})

        async def pump() -> None:
            async for chunk in stream:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})

        async def disconnected() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        tasks = [asyncio.create_task(pump()), asyncio.create_task(disconnected()),
                 asyncio.create_task(self.stopping.wait())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await stream.aclose()
        try:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except Exception:
            pass

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _json_or_yaml(content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    return media in ("application/json", "application/yaml", "text/yaml", "application/x-yaml", "*/*", "")


def _header(scope: dict, name: bytes) -> str:
    for k, v in scope.get("headers", ()):
        if k == name:
            return v.decode("latin-1")
    return ""


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


# A body larger than this goes out in pieces of this size, each sent once the connection has
# taken the previous one (uvicorn waits for the transport to drain). Written at once, a 343 MB
# LIST of 150,000 pods sat whole in the TLS transport's buffer, and that buffer outlived the
# connection as cyclic garbage until the next full collection (bench/scale_bench.py RSS).
RESPONSE_CHUNK = 1 << 20


async def _respond(send: Any, code: int, body: bytes, ctype: bytes | None = None,
                   extra_headers: list[tuple[bytes, bytes]] | None = None) -> None:
    if ctype is None:
        ctype = b"application/json" if body[:1] in (b"{", b"[") else b"text/plain; charset=utf-8"
    # as Kubernetes' JSON serializer ends every document; sent apart so a big body is not copied
    tail = b"\n" if ctype.startswith(b"application/json") and not body.endswith(b"\n") else b""
    await send({"type": "http.response.start", "status": code,
                "headers": [(b"content-type", ctype), (b"content-length", str(len(body) + len(tail)).encode()),
                            *(extra_headers or [])]})
    if len(body) <= RESPONSE_CHUNK:
        await send({"type": "http.response.body", "body": body + tail if tail else body})
        return
    view = memoryview(body)
    for start in range(0, len(body), RESPONSE_CHUNK):
        await send({"type": "http.response.body", "body": bytes(view[start:start + RESPONSE_CHUNK]),
                    "more_body": True})
    await send({"type": "http.response.body", "body": tail})


def create_app() -> APIServer:
    """uvicorn factory: each worker process builds its own connections from the env config."""
    return APIServer(from_env())
