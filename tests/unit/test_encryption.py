"""Encryption at rest, the pure part: the configuration file, the stored form, rotation."""

from __future__ import annotations

import base64

import pytest
import yaml

from kubelite.storage import StorageError
from kubelite.storage.encryption import (
    AESGCM_PREFIX,
    EncryptionConfigError,
    Transformer,
    new_config,
    parse_config,
    retired,
    rotated,
)

KEY = "/registry/secrets/default/db"


def _transformer(doc: dict) -> Transformer:
    [rule] = parse_config(yaml.safe_dump(doc))
    return Transformer(rule)


def test_values_are_stored_with_the_first_key_and_read_back() -> None:
    t = _transformer(new_config())
    stored = t.write(KEY, b'{"data":{"password":"aHVudGVyMg=="}}')
    assert stored.startswith(AESGCM_PREFIX + b"key1:")
    assert b"aHVudGVyMg" not in stored and b"password" not in stored
    assert t.read(KEY, stored) == b'{"data":{"password":"aHVudGVyMg=="}}'
    assert t.write(KEY, b"x") != t.write(KEY, b"x")  # a fresh nonce every write


def test_a_value_moved_to_another_key_or_tampered_does_not_decrypt() -> None:
    t = _transformer(new_config())
    stored = t.write(KEY, b"secret")
    with pytest.raises(StorageError, match="does not decrypt"):
        t.read("/registry/secrets/default/other", stored)
    with pytest.raises(StorageError, match="does not decrypt"):
        t.read(KEY, stored[:-1] + bytes([stored[-1] ^ 1]))


def test_plaintext_from_before_is_read_by_identity() -> None:
    assert _transformer(new_config()).read(KEY, b'{"plain":1}') == b'{"plain":1}'
    only_aes = new_config()
    only_aes["resources"][0]["providers"] = only_aes["resources"][0]["providers"][:1]
    with pytest.raises(StorageError, match="unencrypted"):
        _transformer(only_aes).read(KEY, b'{"plain":1}')


def test_identity_first_writes_plaintext_but_still_reads_encrypted() -> None:
    doc = new_config()
    old = _transformer(doc).write(KEY, b"v")
    doc["resources"][0]["providers"].reverse()  # identity first: decrypting everything back out
    t = _transformer(doc)
    assert t.write(KEY, b"v") == b"v" and t.read(KEY, old) == b"v"


def test_rotation_adds_a_key_first_and_retiring_drops_the_rest() -> None:
    doc = new_config()
    old = _transformer(doc).write(KEY, b"v")
    doc2, name = rotated(doc)
    assert name == "key2"
    t2 = _transformer(doc2)
    assert t2.write(KEY, b"v").startswith(AESGCM_PREFIX + b"key2:") and t2.read(KEY, old) == b"v"
    t3 = _transformer(retired(doc2))
    with pytest.raises(StorageError, match="no longer has"):
        t3.read(KEY, old)
    assert t3.read(KEY, t2.write(KEY, b"v")) == b"v"


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.update(kind="Other"), "kind must be EncryptionConfiguration"),
    (lambda d: d["resources"][0]["providers"][0]["aesgcm"]["keys"][0].update(secret="!!"), "not base64"),
    (lambda d: d["resources"][0]["providers"][0]["aesgcm"]["keys"][0].update(
        secret=base64.b64encode(b"short").decode()), "16, 24 or 32 bytes"),
    (lambda d: d["resources"][0]["providers"].insert(0, {"kms": {}}), "kms is not supported"),
    (lambda d: d["resources"][0]["providers"][0]["aesgcm"]["keys"][0].update(name="a:b"), "without ':'"),
])
def test_a_bad_configuration_is_refused_with_its_field(change, message: str) -> None:
    doc = new_config()
    change(doc)
    with pytest.raises(EncryptionConfigError, match=message):
        parse_config(yaml.safe_dump(doc))
