"""From parsed flags to a service's options object, one field per flag."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def options_from(args: argparse.Namespace, cls: type[T], **overrides: Any) -> T:
    """`cls(field=args.field, ...)` for every field of `cls` (a dataclass or msgspec Struct)
    that a flag set, then `overrides` for the ones that need converting."""
    if dataclasses.is_dataclass(cls):
        names = [f.name for f in dataclasses.fields(cls)]
    else:
        names = list(cls.__struct_fields__)  # type: ignore[attr-defined]
    values = {n: getattr(args, n) for n in names if hasattr(args, n)}
    return cls(**{**values, **overrides})


def add_pki_dir_flag(parser: argparse.ArgumentParser) -> None:
    """--pki-dir DIR: where a component finds its client certificate for NATS (and the
    cluster CA), as `kubelite certs --data-dir D` writes them to D/pki. Needed to connect:
    the cluster's nats-server takes nothing but certificates (kubelite.credentials says so
    in one line when it is missing)."""
    parser.add_argument("--pki-dir", default="", metavar="DIR",
                        help="this process's certificates, as `kubelite certs --data-dir D` writes them to D/pki "
                             "(NATS takes only client certificates)")


def add_etcd_tls_flags(parser: argparse.ArgumentParser) -> None:
    """Kubernetes' --etcd-cafile/--etcd-certfile/--etcd-keyfile; with --pki-dir and an https://
    etcd URL they default to etcd-ca.crt and this component's etcd-<component>.crt/.key."""
    parser.add_argument("--etcd-cafile", default="", help="CA of etcd's serving certificate")
    parser.add_argument("--etcd-certfile", default="", help="client certificate for etcd")
    parser.add_argument("--etcd-keyfile", default="", help="its private key")


def etcd_tls_from(args: argparse.Namespace, component: str) -> Any:
    """The EtcdTLS the flags name (explicit files, else --pki-dir's for an https:// URL), or None."""
    from kubelite.credentials import etcd_client_tls
    from kubelite.storage.etcd import EtcdTLS

    if args.etcd_certfile:
        return EtcdTLS(ca_file=args.etcd_cafile, cert_file=args.etcd_certfile, key_file=args.etcd_keyfile)
    if str(args.etcd).startswith("https://") and getattr(args, "pki_dir", ""):
        return etcd_client_tls(args.pki_dir, component)
    return None
