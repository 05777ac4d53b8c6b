"""`kubelite encryption rotate`: a new key for Secrets at rest, every Secret rewritten with it.

Kubernetes' procedure in one command: the new key goes first in the EncryptionConfiguration
(`<data-dir>/pki/encryption.yaml`; the old keys stay, so everything stays readable); the
apiserver re-reads the file; every Secret is written again through the API (an unchanged
update still writes when its stored form uses an old key); etcd is read back until every
Secret uses the new key. `--retire-old` then drops the old keys from the file.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

import yaml

from kubelite.credentials import ENCRYPTION_CONFIG, etcd_client_tls
from kubelite.errors import APIError
from kubelite.storage.encryption import key_name as stored_key
from kubelite.storage.encryption import retired, rotated, write_config
from kubelite.storage.etcd import EtcdStore
from kubelite_cli.cluster.state import load_state
from kubelite_cli.errors import CLIError
from kubelite_cli.session import Session

SECRETS_PREFIX = "/registry/secrets/"


async def stale_keys(store: EtcdStore, key_name: str) -> list[str]:
    """etcd keys of the Secrets not yet encrypted with `key_name`."""
    items, _, _ = await store.list(SECRETS_PREFIX)
    return [kv.key for kv in items if stored_key(kv.value) != key_name]


def rewrite(session: Session, etcd_key: str) -> None:
    """Write one Secret back unchanged (the apiserver re-encrypts it); gone meanwhile is fine."""
    namespace, _, name = etcd_key[len(SECRETS_PREFIX):].partition("/")
    try:
        body: Any = session.api.get("secrets", namespace, name)
        session.api.update("secrets", namespace, name, body)
    except APIError as exc:
        if exc.code not in (404, 409):  # deleted, or changed (and so rewritten) meanwhile
            raise


async def migrate(session: Session, etcd_url: str, key_name: str, wait_seconds: float, pki_dir: Path) -> int:
    tls = etcd_client_tls(pki_dir, "admin") if etcd_url.startswith("https://") else None
    store = await EtcdStore.connect(etcd_url, wait_seconds=10, tls=tls)
    try:
        deadline = time.monotonic() + wait_seconds
        total = len((await store.list(SECRETS_PREFIX))[0])
        while stale := await stale_keys(store, key_name):
            if time.monotonic() > deadline:
                raise CLIError(f"{len(stale)} of {total} Secrets still not encrypted with {key_name} after "
                               f"{wait_seconds:.0f}s (is the apiserver reading {ENCRYPTION_CONFIG}?)")
            for key in stale:
                await asyncio.to_thread(rewrite, session, key)
            await asyncio.sleep(0.5)  # an apiserver that has not re-read the file yet writes the old key
        return total
    finally:
        await store.close()


def run_rotate(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir).expanduser().resolve()
    path = data_dir / "pki" / ENCRYPTION_CONFIG
    if not path.is_file():
        raise CLIError(f"no encryption configuration at {path} (made by `kubelite certs` / `kubelite up`)")
    state = load_state(data_dir)
    etcd_url = args.etcd or (state.etcd_url if state else "")
    if not etcd_url:
        raise CLIError("no etcd URL: pass --etcd (the check reads etcd to see every Secret re-encrypted)")
    if args.kubeconfig is None and (data_dir / "kubeconfig").is_file():
        args.kubeconfig = str(data_dir / "kubeconfig")
    session = Session.from_args(args)
    try:
        doc, key_name = rotated(yaml.safe_load(path.read_text()))
        write_config(path, doc)
        print(f"{key_name} now encrypts Secrets ({path}); the old keys still read")
        total = asyncio.run(migrate(session, etcd_url, key_name, args.timeout, data_dir / "pki"))
        print(f"all {total} Secrets in etcd are encrypted with {key_name}")
        if args.retire_old:
            write_config(path, retired(doc))
            print("old keys removed from the configuration")
    finally:
        session.close()
    return 0
