"""The cluster's PKI, generated on first start and reused afterwards (as k3s does).

Layout under `<data dir>/pki/` (every file 0600, the directory 0700):

    cluster-ca.{crt,key}   signs serving certificates (apiserver, NATS)
    client-ca.{crt,key}    signs client certificates: people (CN user, O groups) and components
    etcd-ca.{crt,key}      signs etcd's serving and client certificates
    sa.{key,pub}           signs and checks ServiceAccount tokens
    <name>.{crt,key}       leaf certificates issued from those CAs

Keys are ECDSA P-256: fast to generate on a small machine, accepted by Go's TLS
stack (kubectl, etcd, nats-server) and by Python's ssl module.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
LEAF_DAYS = 365
CLOCK_SKEW = dt.timedelta(minutes=5)  # certificates are valid from a little before now
CAS = ("cluster-ca", "client-ca", "etcd-ca")


@dataclass(frozen=True)
class KeyPair:
    cert_pem: bytes
    key_pem: bytes

    @property
    def cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)

    def private_key(self) -> ec.EllipticCurvePrivateKey:
        key = serialization.load_pem_private_key(self.key_pem, password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(common_name: str, organizations: Iterable[str] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def subject_dn(common_name: str, organizations: Iterable[str] = ()) -> str:
    """The RFC 4514 string of a certificate subject ("CN=system:node:n1,O=system:nodes"),
    as nats-server names the user of a mapped client certificate."""
    return _name(common_name, organizations).rfc4514_string()


def new_ca(common_name: str, *, days: int = CA_DAYS) -> KeyPair:
    key = _new_key()
    now = dt.datetime.now(dt.UTC)
    name = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW).not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def _sans(dns_names: Iterable[str], ip_addresses: Iterable[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ip_addresses]
    return names


def issue(
    ca: KeyPair,
    common_name: str,
    *,
    organizations: Iterable[str] = (),
    dns_names: Iterable[str] = (),
    ip_addresses: Iterable[str] = (),
    server: bool = False,
    client: bool = False,
    days: int = LEAF_DAYS,
) -> KeyPair:
    """A leaf certificate signed by `ca`. For a client certificate Kubernetes reads the user
    from CN and the groups from O ("admin", O=system:masters); a serving certificate needs
    every name and address clients use in its SANs."""
    key = _new_key()
    now = dt.datetime.now(dt.UTC)
    ca_cert = ca.cert
    usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + ([ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organizations)).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW).not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, key_cert_sign=False,
                                     crl_sign=False, content_commitment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), critical=False)
    )
    sans = _sans(dns_names, ip_addresses)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca.private_key(), hashes.SHA256())
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def identity_of(cert: x509.Certificate) -> tuple[str, tuple[str, ...]]:
    """(user, groups) a client certificate stands for: CN and every O, as Kubernetes reads them."""
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    orgs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return (str(cn[0].value) if cn else ""), tuple(str(o.value) for o in orgs)


def peer_identity(ssl_object: Any) -> tuple[str, tuple[str, ...]] | None:
    """(user, groups) of the verified client certificate of a TLS connection (its
    `ssl_object`), None without one: what the apiserver and every /metrics endpoint read."""
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    return identity_of(x509.load_der_x509_certificate(der)) if der else None


def _write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read, without a moment of wider permissions."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class ClusterPKI:
    """The files under one `pki/` directory; `ensure()` creates what is missing and keeps the rest."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def crt(self, name: str) -> Path:
        return self.root / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.root / f"{name}.key"

    def load(self, name: str) -> KeyPair:
        return KeyPair(self.crt(name).read_bytes(), self.key(name).read_bytes())

    def has(self, name: str) -> bool:
        return self.crt(name).is_file() and self.key(name).is_file()

    def save(self, name: str, pair: KeyPair) -> None:
        _write_private(self.key(name), pair.key_pem)
        _write_private(self.crt(name), pair.cert_pem)

    def ensure(self) -> None:
        """The three CAs and the ServiceAccount signing key, created once and reused."""
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        for name in CAS:
            if not self.has(name):
                self.save(name, new_ca(f"kubelite-{name}"))
        if not (self.root / "sa.key").is_file():
            key = _new_key()
            _write_private(self.root / "sa.key", _key_pem(key))
            _write_private(self.root / "sa.pub", key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

    def ensure_leaf(
        self,
        name: str,
        ca: str,
        common_name: str,
        *,
        organizations: Iterable[str] = (),
        dns_names: Iterable[str] = (),
        ip_addresses: Iterable[str] = (),
        server: bool = False,
        client: bool = False,
    ) -> KeyPair:
        """`<name>.crt` from CA `ca`: kept when it already names the same subject and SANs, was
        signed by that CA and has more than 30 days left; issued afresh otherwise."""
        orgs, dns, ips = tuple(organizations), tuple(dns_names), tuple(ip_addresses)
        issuer = self.load(ca)
        if self.has(name):
            current = self.load(name)
            cert = current.cert
            same = (identity_of(cert) == (common_name, orgs) and cert.issuer == issuer.cert.subject
                    and _sans_of(cert) == {*dns, *(str(ipaddress.ip_address(i)) for i in ips)})
            if same and not _expiring(cert):
                return current
        pair = issue(issuer, common_name, organizations=orgs, dns_names=dns, ip_addresses=ips,
                     server=server, client=client)
        self.save(name, pair)
        return pair


def _sans_of(cert: x509.Certificate) -> set[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(n.value) for n in ext}


def _expiring(cert: x509.Certificate, within: dt.timedelta = dt.timedelta(days=30)) -> bool:
    return cert.not_valid_after_utc - dt.datetime.now(dt.UTC) < within
