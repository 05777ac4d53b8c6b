"""Validation of discovery.k8s.io/v1 EndpointSlice, after pkg/apis/discovery/validation.

Minimal: the object meta, addressType (IPv4/IPv6/FQDN, immutable), addresses of
the declared type, port names (DNS-1123 labels, unique), port numbers and protocols.
"""

from __future__ import annotations

import ipaddress

from kubelite.api.discovery_v1 import ADDRESS_TYPES, EndpointSlice
from kubelite.api.meta import ObjectMeta
from kubelite.api.validation.names import (
    each_invalid,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_valid_port_num,
    name_is_dns_subdomain,
    validate_immutable,
    validate_object_meta,
    validate_object_meta_update,
)
from kubelite.errors import FieldError, duplicate, invalid, not_supported, required

PORT_PROTOCOLS = ["SCTP", "TCP", "UDP"]
MAX_ADDRESSES = 100
MAX_ENDPOINTS = 1000
MAX_PORTS = 100


def _address_errors(address: str, address_type: str) -> list[str]:
    if address_type == "FQDN":
        return is_dns1123_subdomain(address)
    want = 4 if address_type == "IPv4" else 6
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return ["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"]
    if ip.version != want:
        return [f"must be an {address_type} address"]
    return []


def _validate_body(eps: EndpointSlice) -> list[FieldError]:
    errs: list[FieldError] = []
    address_type = eps.addressType
    if not address_type:
        errs.append(required("addressType"))
    elif address_type not in ADDRESS_TYPES:
        errs.append(not_supported("addressType", address_type, list(ADDRESS_TYPES)))
    endpoints = eps.endpoints or []
    if len(endpoints) > MAX_ENDPOINTS:
        errs.append(FieldError(type="TooMany", field="endpoints",
                               detail=f"must have at most {MAX_ENDPOINTS} items"))
    for i, ep in enumerate(endpoints):
        p = f"endpoints[{i}]"
        addresses = ep.addresses or []
        if not addresses:
            errs.append(required(f"{p}.addresses", "must contain at least 1 address"))
        elif len(addresses) > MAX_ADDRESSES:
            errs.append(invalid(f"{p}.addresses", len(addresses),
                                f"must contain at most {MAX_ADDRESSES} addresses"))
        if address_type in ADDRESS_TYPES:
            for j, address in enumerate(addresses):
                errs += each_invalid(f"{p}.addresses[{j}]", address, _address_errors(address, address_type))
    ports = eps.ports or []
    if len(ports) > MAX_PORTS:
        errs.append(FieldError(type="TooMany", field="ports", detail=f"must have at most {MAX_PORTS} items"))
    names: set[str] = set()
    for i, port in enumerate(ports):
        p = f"ports[{i}]"
        name = port.name or ""
        if name:
            errs += each_invalid(f"{p}.name", name, is_dns1123_label(name))
        if name in names:
            errs.append(duplicate(f"{p}.name", name))
        names.add(name)
        if port.port is not None:
            errs += each_invalid(f"{p}.port", port.port, is_valid_port_num(port.port))
        if port.protocol is not None and port.protocol not in PORT_PROTOCOLS:
            errs.append(not_supported(f"{p}.protocol", port.protocol, PORT_PROTOCOLS))
    return errs


def _meta(eps: EndpointSlice) -> ObjectMeta:
    return eps.metadata if eps.metadata is not None else ObjectMeta()


def validate_endpoint_slice(eps: EndpointSlice) -> list[FieldError]:
    errs = validate_object_meta(_meta(eps), namespaced=True, name_fn=name_is_dns_subdomain)
    return errs + _validate_body(eps)


def validate_endpoint_slice_update(new: EndpointSlice, old: EndpointSlice) -> list[FieldError]:
    errs = validate_object_meta_update(_meta(new), _meta(old)) + _validate_body(new)
    return errs + validate_immutable(new.addressType, old.addressType, "addressType")


__all__ = ["validate_endpoint_slice", "validate_endpoint_slice_update"]
