"""The ConfigMaps and Secrets a pod refers to, fetched through the API once per sync."""

from __future__ import annotations

import base64
from typing import Any

from kubelite.api.core_v1 import Pod
from kubelite.api.podrefs import referenced_claims, referenced_config
from kubelite.api.serviceaccounts import ROOT_CA_CONFIGMAP
from kubelite.client.nats import NatsAPIClient
from kubelite.errors import APIError
from kubelite_nodeagent import envresolve, volumes
from kubelite_nodeagent.rootca import RootCACache
from kubelite_nodeagent.servicecache import ServiceCache


class ConfigFetcher:
    """ConfigMaps and Secrets fetched once per sync (only those the pod refers to)."""

    def __init__(self, *, services: ServiceCache | None = None, root_ca: RootCACache | None = None) -> None:
        """`services`: the process's watched Services; None, or before its first list, they are
        read from the API. `root_ca`: the process's kube-root-ca.crt ConfigMaps (None: read
        from the API each time)."""
        self.cache = services
        self.root_ca = root_ca
        self._sources: envresolve.ConfigSources | None = None
        self._services: list[Any] | None = None
        self._master: list[Any] | None = None
        self.binary: dict[str, dict[str, bytes]] = {}

    async def services(self, api: NatsAPIClient, pod: Pod) -> list[Any]:
        """Services of the pod's namespace (for the service-link env vars), once per sync."""
        if self._services is None and self.cache is not None:
            self._services = self.cache.namespace(pod.metadata.namespace or "default")
        if self._services is None:
            try:
                self._services, _ = await api.list("services", pod.metadata.namespace or "default")
            except APIError:
                self._services = []
        return self._services

    async def master_service(self, api: NatsAPIClient) -> list[Any]:
        """The `kubernetes` Service of `default` (empty when there is none): every pod gets its
        variables (KUBERNETES_SERVICE_HOST, ...), service links or not, as the kubelet does;
        in-cluster clients find the apiserver by them."""
        if self._master is None and self.cache is not None:
            self._master = self.cache.master()
        if self._master is None:
            self._master = [m] if (m := await _get_or_none(api, "services", "default", "kubernetes")) else []
        return self._master

    async def sources(self, api: NatsAPIClient, pod: Pod) -> envresolve.ConfigSources:
        if self._sources is not None:
            return self._sources
        namespace = pod.metadata.namespace or "default"
        cm_names, secret_names = referenced_config(pod)
        configmaps: dict[str, dict[str, str]] = {}
        secrets: dict[str, dict[str, str]] = {}
        for name in sorted(cm_names):
            if name == ROOT_CA_CONFIGMAP and self.root_ca is not None:
                obj = await self.root_ca.get(api, namespace)
            else:
                obj = await _get_or_none(api, "configmaps", namespace, name)
            if obj is not None:
                configmaps[name] = dict(obj.data or {})
                self.binary[f"configmap/{name}"] = volumes.configmap_bytes(obj.data, obj.binaryData)
        for name in sorted(secret_names):
            obj = await _get_or_none(api, "secrets", namespace, name)
            if obj is not None:
                secrets[name] = envresolve.decode_secret_data(obj.data, obj.stringData)
                raw = {k: base64.b64decode(v) for k, v in (obj.data or {}).items()}
                raw.update({k: v.encode() for k, v in (obj.stringData or {}).items()})
                self.binary[f"secret/{name}"] = raw
        claims = {name: path for name in sorted(referenced_claims(pod))
                  if (path := await _claim_path(api, namespace, name)) is not None}
        self._sources = envresolve.ConfigSources(configmaps=configmaps, secrets=secrets, claims=claims)
        return self._sources


async def _get_or_none(api: NatsAPIClient, resource: str, namespace: str, name: str):
    try:
        return await api.get(resource, namespace, name)
    except APIError as exc:
        if exc.code == 404:
            return None
        raise


async def _claim_path(api: NatsAPIClient, namespace: str, name: str) -> str | None:
    """The directory of the volume bound to claim `name`: its local or hostPath path (None while
    the claim is missing or not bound yet)."""
    claim = await _get_or_none(api, "persistentvolumeclaims", namespace, name)
    volume_name = claim.spec.volumeName if claim is not None and claim.spec else None
    if not volume_name or claim.metadata.deletionTimestamp is not None:
        return None
    pv = await _get_or_none(api, "persistentvolumes", "", volume_name)
    spec = pv.spec if pv is not None else None
    if spec is None or spec.claimRef is None or spec.claimRef.uid != claim.metadata.uid:
        return None
    source = spec.local or spec.hostPath
    return source.path if source is not None else None
