"""The `kubernetes` Service in `default`: how pods reach the apiserver(s), as Kubernetes'
master endpoint reconciler keeps it. The Service takes the first address of the service
range (10.96.0.1 by default) on port 443 and has no selector; its Endpoints list each
apiserver's advertised address and port, added by every replica when it starts.

`plan_endpoints` is pure. Example: replicas 10.0.0.10:6443 and 10.0.0.11:6443 started in
turn give one subset with addresses [10.0.0.10, 10.0.0.11] and the port `https` 6443.
Deliberate difference: a replica that stops is not removed (Kubernetes' lease
reconciler would); the proxy stops sending to it when connections fail.
"""

from __future__ import annotations

import logging
from typing import Any

from kubelite import codec, errors
from kubelite.api.scheme import by_kind
from kubelite.credentials import service_ip

log = logging.getLogger("kubelite.apiserver.kubernetes-service")

NAME, NAMESPACE = "kubernetes", "default"


def service_body(cluster_ip: str, port: int) -> dict[str, Any]:
    return {"metadata": {"name": NAME, "namespace": NAMESPACE,
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"type": "ClusterIP", "clusterIP": cluster_ip, "sessionAffinity": "None",
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]}}


def plan_endpoints(current: dict[str, Any] | None, address: str, port: int) -> dict[str, Any] | None:
    """The Endpoints with this replica's address in, or None when it is already there."""
    wanted_port = {"name": "https", "port": port, "protocol": "TCP"}
    subsets = (current or {}).get("subsets") or []
    for subset in subsets:
        if subset.get("ports") == [wanted_port]:
            ips = [a.get("ip") for a in subset.get("addresses") or []]
            if address in ips:
                return None
            subset["addresses"] = [*(subset.get("addresses") or []), {"ip": address}]
            break
    else:
        subsets.append({"addresses": [{"ip": address}], "ports": [wanted_port]})
    body = dict(current or {"metadata": {"name": NAME, "namespace": NAMESPACE}})
    body["subsets"] = subsets
    return body


async def ensure_kubernetes_service(reg: Any, *, service_range: str, address: str, port: int) -> None:
    services, endpoints = by_kind("v1", "Service"), by_kind("v1", "Endpoints")
    if await reg.store.get(services.key(NAMESPACE, NAME)) is None:
        try:
            await reg.create(services, NAMESPACE, codec.convert(service_body(service_ip(service_range), port),
                                                                services.type))
        except errors.APIError as exc:
            if exc.code != 409:
                log.warning("could not create the kubernetes Service: %s", exc)
    for _ in range(5):
        try:
            current = codec.to_builtins((await reg.get_object(endpoints, NAMESPACE, NAME))[0])
        except errors.APIError as exc:
            if exc.code != 404:
                raise
            current = None
        body = plan_endpoints(current, address, port)
        if body is None:
            return
        try:
            obj = codec.convert(body, endpoints.type)
            if current is None:
                await reg.create(endpoints, NAMESPACE, obj)
            else:
                await reg.update(endpoints, NAMESPACE, NAME, obj)
            return
        except errors.APIError as exc:
            if exc.code != 409:
                log.warning("could not write the kubernetes Endpoints: %s", exc)
                return
