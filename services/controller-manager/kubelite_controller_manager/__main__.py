"""kubelite-controller-manager: the reconcile loops (see app.py)."""

from __future__ import annotations

import asyncio
import sys

from kubelite.logsetup import setup_logging
from kubelite.storage import StorageError
from kubelite_controller_manager.app import main_async, parse_options


def main(argv: list[str] | None = None) -> None:
    options = parse_options(argv)
    setup_logging("controller-manager", options.log_level)
    try:
        code = asyncio.run(main_async(options))
    except (ConnectionError, OSError, StorageError) as exc:  # etcd or NATS unreachable
        sys.exit(f"kubelite-controller-manager: {exc}")
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
