"""ServiceAccount admission (Kubernetes' plugin/pkg/admission/serviceaccount), on pod create:

1. `spec.serviceAccountName` defaults to `default` (and the deprecated `serviceAccount`
   mirrors it);
2. the account must exist, else 403 `error looking up service account <ns>/<name>`;
3. unless the pod or the account says `automountServiceAccountToken: false`, or a
   container already mounts something at the token path, the pod gets the projected
   volume `kube-api-access-<5 chars>` (a bound token, the cluster CA, the namespace)
   mounted read-only at /var/run/secrets/kubernetes.io/serviceaccount in every container.

`plan_mount` is pure; `ServiceAccountAdmission` looks the account up and applies it: in the
apiserver's ServiceAccount informer first, in etcd only when the informer has not got it (yet),
as the plugin reads its lister and then the API — one etcd read less per pod created.
Example: a pod with two containers and no volumes in namespace `web` leaves with
serviceAccountName `default`, one volume `kube-api-access-k7x2q` and two mounts of it.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

from kubelite import codec, errors
from kubelite.api.core_v1 import (
    ConfigMapProjection,
    DownwardAPIProjection,
    DownwardAPIVolumeFile,
    KeyToPath,
    ObjectFieldSelector,
    Pod,
    ProjectedVolumeSource,
    ServiceAccountTokenProjection,
    Volume,
    VolumeMount,
    VolumeProjection,
)
from kubelite.api.scheme import by_kind
from kubelite.api.serviceaccounts import ROOT_CA_CONFIGMAP

TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
TOKEN_EXPIRATION = 3607  # seconds: Kubernetes' default for these volumes (an hour and a bit)
DEFAULT_MODE = 0o644
_SUFFIX = string.ascii_lowercase + "2456789"  # utilrand's alphabet: no vowels mixups, no 0/1/3


def api_access_volume(suffix: str) -> Volume:
    return Volume(name=f"kube-api-access-{suffix}", projected=ProjectedVolumeSource(defaultMode=DEFAULT_MODE, sources=[
        VolumeProjection(serviceAccountToken=ServiceAccountTokenProjection(expirationSeconds=TOKEN_EXPIRATION,
                                                                           path="token")),
        VolumeProjection(configMap=ConfigMapProjection(name=ROOT_CA_CONFIGMAP,
                                                       items=[KeyToPath(key="ca.crt", path="ca.crt")])),
        VolumeProjection(downwardAPI=DownwardAPIProjection(items=[DownwardAPIVolumeFile(
            path="namespace", fieldRef=ObjectFieldSelector(apiVersion="v1", fieldPath="metadata.namespace"))])),
    ]))


def wants_token(pod: Pod, account: Any) -> bool:
    """The pod's own setting wins, then the account's; mounting is the default."""
    spec = pod.spec
    if spec is not None and spec.automountServiceAccountToken is not None:
        return spec.automountServiceAccountToken
    return account.automountServiceAccountToken is not False


def plan_mount(pod: Pod, suffix: str) -> None:
    """Add the token volume and a mount of it to every container (in place); nothing when a
    container already mounts something at TOKEN_PATH (the user chose what goes there)."""
    spec = pod.spec
    assert spec is not None
    containers = [*(spec.initContainers or []), *(spec.containers or [])]
    if any(m.mountPath == TOKEN_PATH for c in containers for m in c.volumeMounts or []):
        return
    volume = api_access_volume(suffix)
    spec.volumes = [*(spec.volumes or []), volume]
    for c in containers:
        c.volumeMounts = [*(c.volumeMounts or []), VolumeMount(name=volume.name, readOnly=True, mountPath=TOKEN_PATH)]


class ServiceAccountAdmission:
    def __init__(self, store: Any, *, informer: Any = None) -> None:
        """`informer`: the apiserver's ServiceAccount informer (kubelite.reconcile.Informer), if
        it keeps one; an account it lacks is still looked up in etcd (it may be seconds old)."""
        self.store = store
        self.informer = informer
        self.accounts = by_kind("v1", "ServiceAccount")

    async def _account(self, namespace: str, name: str) -> Any:
        cached = self.informer.get(namespace, name) if self.informer is not None else None
        if cached is not None:
            return cached
        kv = await self.store.get(self.accounts.key(namespace, name))
        return codec.decoder_for(self.accounts.type).decode(kv.value) if kv is not None else None

    async def __call__(self, info: Any, obj: Any) -> None:
        if info.kind != "Pod" or obj.spec is None:
            return
        spec = obj.spec
        name = spec.serviceAccountName or spec.serviceAccount or "default"
        spec.serviceAccountName = spec.serviceAccount = name
        namespace = obj.metadata.namespace or "default"
        account = await self._account(namespace, name)
        if account is None:
            raise errors.forbidden_error("pods", obj.metadata.name or "",
                                         f'error looking up service account {namespace}/{name}: '
                                         f'serviceaccount "{name}" not found')
        if wants_token(obj, account):
            plan_mount(obj, "".join(secrets.choice(_SUFFIX) for _ in range(5)))
