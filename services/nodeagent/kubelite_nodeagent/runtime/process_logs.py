"""Reading the process runtime's CRI-format log files (`<RFC3339Nano> <stream> <F|P> <text>`)."""

from __future__ import annotations

import asyncio
import calendar
import time
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path

from kubelite_nodeagent.runtime.base import LogOptions

FOLLOW_POLL_SECONDS = 0.2


class LogRecord:
    __slots__ = ("partial", "stream", "text", "timestamp")

    def __init__(self, timestamp: str, stream: str, partial: bool, text: bytes) -> None:
        self.timestamp = timestamp
        self.stream = stream
        self.partial = partial
        self.text = text


def parse_record(line: bytes) -> LogRecord | None:
    """One log file line (without its newline) -> record; None for a malformed line."""
    parts = line.split(b" ", 3)
    if len(parts) < 3 or parts[2] not in (b"F", b"P"):
        return None
    text = parts[3] if len(parts) == 4 else b""
    return LogRecord(parts[0].decode(), parts[1].decode(), parts[2] == b"P", text)


def timestamp_seconds(stamp: str) -> float:
    """RFC3339Nano in UTC ('2026-01-02T03:04:05.123456789Z') -> unix seconds."""
    whole, _, frac = stamp.rstrip("Z").partition(".")
    secs = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    return secs + (float(f"0.{frac}") if frac else 0.0)


def render(record: LogRecord, timestamps: bool) -> bytes:
    """What a reader sees for one record (a P record continues on the next one)."""
    out = record.text if record.partial else record.text + b"\n"
    return (record.timestamp.encode() + b" " + out) if timestamps else out


def select_records(
    records: Iterable[LogRecord], tail_lines: int | None, since: float | None
) -> list[LogRecord]:
    """Apply sinceSeconds (as an absolute time) and tailLines, counting full lines (pure)."""
    chosen = [r for r in records if since is None or timestamp_seconds(r.timestamp) >= since]
    if tail_lines is None:
        return chosen
    if tail_lines <= 0:
        return []
    full_lines = 0
    for index in range(len(chosen) - 1, -1, -1):
        if not chosen[index].partial:
            full_lines += 1
            if full_lines > tail_lines:
                return chosen[index + 1 :]
    return chosen


def _records(data: bytes) -> tuple[list[LogRecord], bytes]:
    """Complete records in `data` and the trailing incomplete line."""
    lines = data.split(b"\n")
    rest = lines.pop()
    return [r for r in map(parse_record, lines) if r is not None], rest


async def read_log_file(
    path: Path, options: LogOptions, exited: Callable[[], bool]
) -> AsyncIterator[bytes]:
    """Stream a log file as kubectl logs shows it; with follow, until `exited()` and drained."""
    limit = options.limit_bytes
    sent = 0
    since = time.time() - options.since_seconds if options.since_seconds is not None else None
    try:
        f = open(path, "rb")  # noqa: ASYNC230 - local file, streamed in small reads
    except FileNotFoundError:
        return
    with f:
        records, rest = _records(f.read())
        batch = select_records(records, options.tail_lines, since)
        while True:
            chunk = b"".join(render(r, options.timestamps) for r in batch)
            if limit is not None and chunk:
                chunk = chunk[: max(0, limit - sent)]
            if chunk:
                sent += len(chunk)
                yield chunk
            if not options.follow or (limit is not None and sent >= limit):
                return
            finished = exited()  # read before the data, so nothing written at exit is missed
            data = f.read()
            if not data:
                if finished:
                    return
                await asyncio.sleep(FOLLOW_POLL_SECONDS)
                batch = []
                continue
            records, rest = _records(rest + data)
            batch = [r for r in records if since is None or timestamp_seconds(r.timestamp) >= since]
