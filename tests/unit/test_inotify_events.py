"""Parsing the kernel's struct inotify_event records (runtime/filewatch.py)."""

from __future__ import annotations

import struct

from kubelite_nodeagent.runtime.filewatch import (
    IN_IGNORED,
    IN_MOVED_TO,
    IN_Q_OVERFLOW,
    parse_events,
)

EVENT = struct.Struct("iIII")


def test_names_are_nul_padded_and_events_follow_each_other() -> None:
    raw = (EVENT.pack(3, IN_MOVED_TO, 7, 16) + b"exit.json".ljust(16, b"\0")
           + EVENT.pack(3, IN_IGNORED, 0, 0)
           + EVENT.pack(-1, IN_Q_OVERFLOW, 0, 0)
           + EVENT.pack(4, IN_MOVED_TO, 0, 32) + b"started.json".ljust(32, b"\0"))
    assert parse_events(raw) == [(3, IN_MOVED_TO, "exit.json"), (3, IN_IGNORED, ""),
                                 (-1, IN_Q_OVERFLOW, ""), (4, IN_MOVED_TO, "started.json")]


def test_a_truncated_record_is_not_invented() -> None:
    assert parse_events(EVENT.pack(3, IN_MOVED_TO, 0, 16)[:10]) == []
