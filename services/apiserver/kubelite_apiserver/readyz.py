"""/readyz (and /livez, /healthz) as kube-apiserver answers them: named checks, one answer.

Kubernetes' healthz handler (k8s.io/apiserver/pkg/server/healthz): every check runs; if one
fails the answer is 500 with a line per check, `[+]name ok` or `[-]name failed: reason
withheld`, then `readyz check failed`; if all pass, `ok` (with `?verbose`, the lines and
`readyz check passed`). `?exclude=name` (repeatable) skips a check; `/readyz/<name>` runs only
that one (`ok`, or 500 `internal server error: <why>`). The `etcd` check is why it matters
here: an apiserver that cannot reach etcd says so, and HAProxy in front of a lab's
apiservers (which checks /readyz) sends it no requests; `kubelite up` waits on it after
restarting etcd.

Example: etcd down, GET /readyz?verbose → 500

    [+]ping ok
    [-]etcd failed: reason withheld
    [+]informer-sync ok
    [+]shutdown ok
    readyz check failed
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import parse_qs

# A check answers "" when healthy, else why not (never shown on the aggregate, as Kubernetes).
Check = Callable[[], Awaitable[str]]


def endpoint(path: str) -> tuple[str, str] | None:
    """("readyz", "") for /readyz, ("readyz", "etcd") for /readyz/etcd; None for other paths."""
    parts = path.strip("/").split("/")
    if parts[0] not in ("readyz", "livez", "healthz") or len(parts) > 2:
        return None
    return parts[0], parts[1] if len(parts) == 2 else ""


async def answer(kind: str, only: str, query: str, checks: Mapping[str, Check]) -> tuple[int, bytes]:
    """The status code and body for /<kind>[/<only>]?<query> (see the module doc)."""
    if only:
        if only not in checks:
            return 404, b"404 page not found\n"
        why = await checks[only]()
        return (500, f"internal server error: {why}\n".encode()) if why else (200, b"ok")
    params = parse_qs(query, keep_blank_values=True)
    excluded = set(params.get("exclude", []))
    lines, failed = [], False
    for name, check in checks.items():
        if name in excluded:
            lines.append(f"[+]{name} excluded: ok")
            continue
        if await check():
            failed = True
            lines.append(f"[-]{name} failed: reason withheld")
        else:
            lines.append(f"[+]{name} ok")
    if failed:
        return 500, ("\n".join(lines) + f"\n{kind} check failed\n").encode()
    if "verbose" not in params:
        return 200, b"ok"
    return 200, ("\n".join(lines) + f"\n{kind} check passed\n").encode()


class Throttled:
    """A check run at most once per `interval` seconds, its answer shared: callers meanwhile
    get the last one (or wait for the one running), so polling /readyz, which anyone may,
    never turns into more than one etcd request a second.

    Example (interval 1 s): calls at 0.0, 0.3 and 0.9 s share the probe started at 0.0; a call
    at 1.2 s starts the next one."""

    def __init__(self, check: Check, interval: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._check, self.interval, self._clock = check, interval, clock
        self._probe: asyncio.Future[str] | None = None
        self._started = 0.0

    async def __call__(self) -> str:
        now = self._clock()
        if self._probe is None or (self._probe.done() and now - self._started >= self.interval):
            self._probe, self._started = asyncio.ensure_future(self._check()), now
        return await asyncio.shield(self._probe)  # a caller's cancel is not the probe's
