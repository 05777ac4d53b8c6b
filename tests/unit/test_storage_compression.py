"""Stored-value compression (kubelite.storage.compression): what is packed, and that it reads back."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import pytest

from kubelite.storage import StorageError
from kubelite.storage.compression import PREFIX, pack, unpack
from kubelite.storage.dictionary_v1 import DICTIONARY

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from informer_memory_bench import stored_copies


def test_dictionary_v1_never_changes() -> None:
    # Values written in format v1 decompress with these bytes only. A better dictionary is a
    # new format beside this one (a new prefix), never an edit of this one.
    assert hashlib.sha256(DICTIONARY).hexdigest() == (
        "bc239965edc97ff4f5386dec0a7bb5189cc882fb71ee7b0876d86bf8e0785fed")


def test_a_running_pod_is_stored_in_under_a_fifth_of_its_json() -> None:
    for value in stored_copies(20):
        stored = pack(value)
        assert stored.startswith(PREFIX)
        assert len(stored) < len(value) / 5, (len(value), len(stored))
        assert unpack(stored) == value


def test_every_kind_of_json_object_round_trips() -> None:
    values = [json.dumps(o, separators=(",", ":")).encode() for o in (
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x" * 300}, "data": {"k": "ü ✓ \u0000"}},
        {"kind": "Secret", "data": {"blob": "QUJD" * 5000}},  # larger than the 32 KiB window
        {"a": list(range(2000))},
    )]
    for value in values:
        assert unpack(pack(value)) == value


@pytest.mark.parametrize("value", [
    b"",
    b"12345",  # compact_rev_key's revision
    b"default/web/4f1c",  # an allocation's owner
    b'{"kind":"Lease"}',  # shorter than MIN_SIZE
    b"k8s:enc:aesgcm:v1:key1:" + bytes(range(256)) * 4,  # encrypted at rest: already dense
    b"[" + b"1," * 100 + b"1]",  # not an object
])
def test_values_that_are_not_json_objects_are_stored_as_given(value: bytes) -> None:
    assert pack(value) == value
    assert unpack(value) == value


def test_a_value_that_would_not_shrink_is_stored_as_given() -> None:
    value = b'{"r":"' + os.urandom(300) + b'"}'  # random bytes: deflate only adds framing
    assert pack(value) == value


def test_plain_json_reads_as_is() -> None:
    # what an apiserver with --storage-compression=none, or before compression, wrote
    value = stored_copies(1)[0]
    assert unpack(value) == value


@pytest.mark.parametrize("stored", [
    PREFIX + b"not deflate at all",
    PREFIX + pack(stored_copies(1)[0])[len(PREFIX):][:-20],  # cut short
])
def test_a_damaged_value_is_a_storage_error_not_garbage(stored: bytes) -> None:
    with pytest.raises(StorageError, match="stored value"):
        unpack(stored)
