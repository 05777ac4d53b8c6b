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
