"""Running a kubelite service process: uvloop when present, SIGTERM/SIGINT cancel the main
coroutine (so its `finally` blocks release leases and close connections), and a startup
failure is one readable line on stderr with a non-zero exit, never a traceback."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable


def run_service(
    command: str,
    main: Callable[[], Awaitable[None]],
    *,
    fatal: tuple[type[BaseException], ...] = (),
) -> None:
    """Run `main` until it returns or a signal arrives. Unreachable etcd or NATS (and any
    exception type in `fatal`) ends the process with one line, `<command>: <reason>`."""
    from kubelite.storage import StorageError

    fatal = (ConnectionError, OSError, StorageError, *fatal)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    async def runner() -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)  # type: ignore[union-attr]
        with contextlib.suppress(asyncio.CancelledError):
            await main()

    try:
        asyncio.run(runner())
    except fatal as exc:
        sys.exit(f"{command}: {exc}")


def wait_for_children_with_pidfds() -> None:
    """Call from the running loop of a process that spawns many subprocesses (the node agent:
    `ip`, `nft`, probes' commands). Python 3.11's default child watcher starts one thread per
    child just to wait for it, which showed in profiles of a pod burst; a pidfd watched by the
    loop itself does it without one (the default from 3.12 on, where this does nothing)."""
    import os
    import warnings

    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return
    watcher = asyncio.PidfdChildWatcher()
    watcher.attach_loop(asyncio.get_running_loop())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        asyncio.set_child_watcher(watcher)
