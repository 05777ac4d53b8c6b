"""Encryption at rest, as Kubernetes' apiserver does it (--encryption-provider-config).

The configuration is Kubernetes' `apiserver.config.k8s.io/v1 EncryptionConfiguration`:

    resources:
    - resources: [secrets]
      providers:
      - aesgcm: {keys: [{name: key2, secret: <base64 of 32 bytes>}, {name: key1, secret: ...}]}
      - identity: {}

The first provider's first key encrypts every write of those resources; every key of every
provider can read, so old data stays readable through a rotation, and `identity` reads
what was stored before encryption was on. A stored value is

    k8s:enc:aesgcm:v1:<key name>:<12-byte nonce><AES-GCM ciphertext and tag>

with the etcd key as associated data (a value copied to another key does not decrypt).
`EncryptedStore` wraps an EtcdStore and applies this to the configured resources' keys
only; everything else passes through untouched. `new_config`/`rotated` build the file
`kubelite certs` writes and `kubelite encryption rotate` rewrites.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kubelite.storage import KV, RevisionMismatch, StorageError, StoreEvent
from kubelite.storage.batching import Create, Outcome, Update

PREFIX = b"k8s:enc:"
AESGCM_PREFIX = b"k8s:enc:aesgcm:v1:"
NONCE = 12


class EncryptionConfigError(ValueError):
    """The configuration file is unreadable or names something unsupported."""


@dataclass(frozen=True)
class Key:
    name: str
    secret: bytes  # 16, 24 or 32 bytes


@dataclass(frozen=True)
class Rule:
    resources: tuple[str, ...]  # plurals ("secrets"); "configmaps" etc. work the same
    keys: tuple[Key, ...]  # every aesgcm key, all of them read
    identity_reads: bool
    identity_writes: bool = False  # identity is the first provider: writes are plaintext

    @property
    def writer(self) -> Key | None:
        """The key new writes use (None: plaintext)."""
        return None if self.identity_writes or not self.keys else self.keys[0]


def _keys(provider: dict[str, Any], where: str) -> tuple[Key, ...]:
    keys = []
    for i, k in enumerate(provider.get("keys") or []):
        try:
            secret = base64.b64decode(str(k["secret"]), validate=True)
        except (KeyError, ValueError, TypeError):
            raise EncryptionConfigError(f"{where}.keys[{i}].secret: not base64") from None
        if len(secret) not in (16, 24, 32):
            raise EncryptionConfigError(f"{where}.keys[{i}].secret: an AES key is 16, 24 or 32 bytes, "
                                        f"not {len(secret)}")
        if not k.get("name") or ":" in str(k["name"]):
            raise EncryptionConfigError(f"{where}.keys[{i}].name: required, without ':'")
        keys.append(Key(str(k["name"]), secret))
    if not keys:
        raise EncryptionConfigError(f"{where}.keys: at least one key")
    return tuple(keys)


def _rule(entry: dict[str, Any], where: str) -> Rule:
    resources = tuple(str(r).split(".")[0] for r in entry.get("resources") or [])
    keys: list[Key] = []
    identity, first_is_identity = False, False
    for i, provider in enumerate(entry.get("providers") or []):
        kind = next(iter(provider), "") if isinstance(provider, dict) else ""
        if kind == "identity":
            identity, first_is_identity = True, first_is_identity or i == 0
        elif kind == "aesgcm":
            keys.extend(_keys(provider["aesgcm"] or {}, f"{where}.providers[{i}].aesgcm"))
        else:
            raise EncryptionConfigError(f"{where}.providers[{i}]: {kind or 'empty'} is not supported "
                                        "(aesgcm and identity are)")
    if not resources or not (keys or identity):
        raise EncryptionConfigError(f"{where}: needs resources and providers")
    return Rule(resources, tuple(keys), identity, first_is_identity)


def parse_config(text: str) -> list[Rule]:
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise EncryptionConfigError(f"not YAML: {exc}") from None
    if doc.get("kind") != "EncryptionConfiguration":
        raise EncryptionConfigError("kind must be EncryptionConfiguration")
    return [_rule(entry, f"resources[{i}]") for i, entry in enumerate(doc.get("resources") or [])]


def load_config(path: str | Path) -> list[Rule]:
    return parse_config(Path(path).read_text())


def key_name(stored: bytes) -> str:
    """The key a stored value was written with ("" for plaintext)."""
    if not stored.startswith(AESGCM_PREFIX):
        return ""
    return stored[len(AESGCM_PREFIX):].partition(b":")[0].decode(errors="replace")


class Transformer:
    """Values of one resource to and from their stored form (pure; no I/O)."""

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.by_name = {k.name: AESGCM(k.secret) for k in rule.keys}

    def write(self, key: str, value: bytes) -> bytes:
        first = self.rule.writer
        if first is None:
            return value
        nonce = os.urandom(NONCE)
        return AESGCM_PREFIX + first.name.encode() + b":" + nonce + self.by_name[first.name].encrypt(
            nonce, value, key.encode())

    def read(self, key: str, stored: bytes) -> bytes:
        if not stored.startswith(PREFIX):
            if self.rule.identity_reads:
                return stored
            raise StorageError(f"{key} is stored unencrypted and no identity provider may read it")
        if not stored.startswith(AESGCM_PREFIX):
            raise StorageError(f"{key}: stored with an unknown provider {stored[:32]!r}")
        name, _, rest = stored[len(AESGCM_PREFIX):].partition(b":")
        aead = self.by_name.get(name.decode(errors="replace"))
        if aead is None:
            raise StorageError(f"{key}: encrypted with key {name.decode(errors='replace')!r}, which the "
                               "encryption configuration no longer has")
        try:
            return aead.decrypt(rest[:NONCE], rest[NONCE:], key.encode())
        except Exception:
            raise StorageError(f"{key}: does not decrypt (tampered, or moved from another key)") from None



class EncryptedStore:
    """An EtcdStore whose values under `/registry/<resource>/` for the configured resources
    are encrypted on the way in and decrypted on the way out. Anything else is the store's."""

    MAX_STALE = 100_000  # remembered stale reads (a full rotation of that many Secrets at once)

    def __init__(self, store: Any, rules: list[Rule]) -> None:
        self._store = store
        self._rules: list[tuple[str, Transformer]] = []
        self._stale: set[tuple[str, int]] = set()  # (key, mod_revision) read with an old key or as plaintext
        self.configure(rules)

    def configure(self, rules: list[Rule]) -> None:
        """Take a new configuration (the first key of each resource now writes)."""
        self._rules = [(f"/registry/{res}/", Transformer(rule)) for rule in rules for res in rule.resources]
        self._stale.clear()

    def needs_rewrite(self, kv: KV) -> bool:
        """The value was read with a key that no longer writes (or unencrypted): an update that
        changes nothing must still write it, so a rotation re-encrypts by rewriting objects."""
        return (kv.key, kv.mod_revision) in self._stale

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _for(self, key: str) -> Transformer | None:
        for prefix, t in self._rules:
            if key.startswith(prefix):
                return t
        return None

    def _in(self, key: str, value: bytes) -> bytes:
        t = self._for(key)
        return value if t is None else t.write(key, value)

    def _out(self, kv: KV | None) -> KV | None:
        if kv is None or (t := self._for(kv.key)) is None or not kv.value:
            return kv
        if key_name(kv.value) != (t.rule.writer.name if t.rule.writer else ""):
            if len(self._stale) >= self.MAX_STALE:
                self._stale.clear()
            self._stale.add((kv.key, kv.mod_revision))
        return replace(kv, value=t.read(kv.key, kv.value))

    async def get(self, key: str) -> KV | None:
        return self._out(await self._store.get(key))

    async def list(self, prefix: str, **kw: Any) -> tuple[list[KV], int, bool]:
        items, rev, more = await self._store.list(prefix, **kw)
        return [self._out(kv) for kv in items], rev, more  # type: ignore[misc]

    async def list_counted(self, prefix: str, **kw: Any) -> tuple[list[KV], int, bool, int]:
        items, rev, more, count = await self._store.list_counted(prefix, **kw)
        return [self._out(kv) for kv in items], rev, more, count  # type: ignore[misc]

    async def create(self, key: str, value: bytes, **kw: Any) -> int:
        return int(await self._store.create(key, self._in(key, value), **kw))

    async def update(self, key: str, value: bytes, **kw: Any) -> int:
        try:
            return int(await self._store.update(key, self._in(key, value), **kw))
        except RevisionMismatch as exc:
            raise RevisionMismatch(exc.key, self._out(exc.current)) from None

    async def create_many(self, creates: list[Create]) -> list[Outcome]:
        return await self._store.create_many([replace(c, value=self._in(c.key, c.value)) for c in creates])

    async def update_many(self, updates: list[Update]) -> list[Outcome]:
        outcomes = await self._store.update_many([replace(u, value=self._in(u.key, u.value)) for u in updates])
        return [RevisionMismatch(o.key, self._out(o.current)) if isinstance(o, RevisionMismatch) else o
                for o in outcomes]

    async def delete(self, key: str, **kw: Any) -> tuple[int, KV]:
        try:
            rev, kv = await self._store.delete(key, **kw)
        except RevisionMismatch as exc:
            raise RevisionMismatch(exc.key, self._out(exc.current)) from None
        return rev, self._out(kv)  # type: ignore[return-value]

    async def watch(self, prefix: str, **kw: Any) -> AsyncIterator[StoreEvent]:
        async for ev in self._store.watch(prefix, **kw):
            if ev.type == "PROGRESS" or self._for(ev.kv.key) is None:
                yield ev
            else:
                yield replace(ev, kv=self._out(ev.kv), prev=self._out(ev.prev))


# --- the configuration file ------------------------------------------------------------------

def new_key(name: str) -> dict[str, str]:
    return {"name": name, "secret": base64.b64encode(secrets.token_bytes(32)).decode()}


def new_config() -> dict[str, Any]:
    """Secrets encrypted with one fresh AES-256-GCM key; plaintext from before stays readable."""
    return {"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
            "resources": [{"resources": ["secrets"],
                           "providers": [{"aesgcm": {"keys": [new_key("key1")]}}, {"identity": {}}]}]}


def rotated(doc: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """`doc` with a new key first in every aesgcm provider (the old ones still read); returns it
    and the new key's name. Example: keys [key1] -> [key2, key1]."""
    doc = yaml.safe_load(yaml.safe_dump(doc))
    names = [k["name"] for entry in doc["resources"] for p in entry["providers"] if "aesgcm" in p
             for k in p["aesgcm"]["keys"]]
    fresh = f"key{1 + max((int(n[3:]) for n in names if n[3:].isdigit()), default=0)}"
    for entry in doc["resources"]:
        for p in entry["providers"]:
            if "aesgcm" in p:
                p["aesgcm"]["keys"] = [new_key(fresh), *p["aesgcm"]["keys"]]
                break
    return doc, fresh


def retired(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` with only the writing key of every aesgcm provider: once everything is rewritten,
    the old keys can go. Example: keys [key2, key1] -> [key2]."""
    doc = yaml.safe_load(yaml.safe_dump(doc))
    for entry in doc["resources"]:
        for p in entry["providers"]:
            if "aesgcm" in p:
                p["aesgcm"]["keys"] = p["aesgcm"]["keys"][:1]
    return doc


def write_config(path: str | Path, doc: dict[str, Any]) -> None:
    """Atomically, 0600 (it holds the keys)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(yaml.safe_dump(doc, sort_keys=False))
    tmp.replace(path)
