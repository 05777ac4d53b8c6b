"""What a pod refers to by name: the ConfigMaps and Secrets of its env, envFrom and volumes
(projected ones included). The node agent fetches exactly these; the apiserver lets a node
read exactly these (node restriction)."""

from __future__ import annotations

from kubelite.api.core_v1 import Pod


def referenced_config(pod: Pod) -> tuple[set[str], set[str]]:
    """Names of the ConfigMaps and Secrets the pod's env, envFrom and volumes refer to."""
    configmaps: set[str] = set()
    secrets: set[str] = set()
    spec = pod.spec
    if spec is None:
        return configmaps, secrets
    for c in [*(spec.initContainers or []), *(spec.containers or [])]:
        for src in c.envFrom or []:
            if src.configMapRef and src.configMapRef.name:
                configmaps.add(src.configMapRef.name)
            if src.secretRef and src.secretRef.name:
                secrets.add(src.secretRef.name)
        for var in c.env or []:
            vf = var.valueFrom
            if vf and vf.configMapKeyRef and vf.configMapKeyRef.name:
                configmaps.add(vf.configMapKeyRef.name)
            if vf and vf.secretKeyRef and vf.secretKeyRef.name:
                secrets.add(vf.secretKeyRef.name)
    for vol in spec.volumes or []:
        if vol.configMap and vol.configMap.name:
            configmaps.add(vol.configMap.name)
        if vol.secret and vol.secret.secretName:
            secrets.add(vol.secret.secretName)
        for src in vol.projected.sources or [] if vol.projected else []:
            if src.configMap and src.configMap.name:
                configmaps.add(src.configMap.name)
            if src.secret and src.secret.name:
                secrets.add(src.secret.name)
    return configmaps, secrets


def referenced_claims(pod: Pod) -> set[str]:
    """Names of the PersistentVolumeClaims the pod's volumes mount."""
    return {v.persistentVolumeClaim.claimName for v in (pod.spec.volumes or [] if pod.spec else [])
            if v.persistentVolumeClaim is not None and v.persistentVolumeClaim.claimName}
