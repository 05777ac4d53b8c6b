"""Structured, quiet-by-default logging shared by every service (`--log-level`).

Lines are logfmt (`time=… level=… component=… msg="…" key=value`) so they
read well in a terminal and parse with any log tool.
"""

from __future__ import annotations

import logging
import sys
import time

LEVELS = ("debug", "info", "warning", "error")


class LogfmtFormatter(logging.Formatter):
    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        msg = record.getMessage().replace('"', "'")
        line = (
            f'time={ts}.{int(record.msecs):03d}Z level={record.levelname.lower()} '
            f'component={self.component} logger={record.name} msg="{msg}"'
        )
        extra = getattr(record, "kv", None)
        if extra:
            line += " " + " ".join(f"{k}={_quote(v)}" for k, v in extra.items())
        if record.exc_info:
            line += " exc=" + _quote(self.formatException(record.exc_info))
        return line


def _quote(v: object) -> str:
    s = str(v)
    if not s or any(c in s for c in ' "=\n'):
        return '"' + s.replace('"', "'").replace("\n", "\\n") + '"'
    return s


def setup_logging(component: str, level: str = "info") -> None:
    # The lines name no source file, line, function, thread or process (LogfmtFormatter), so
    # a record need not find them: the stack walk behind them was ~1.5 % of a node agent's
    # CPU in a burst of pod starts (the logging HOWTO's "Optimization" section).
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogfmtFormatter(component))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Libraries are noisy at info; keep them at warning unless debugging.
    for noisy in ("uvicorn.access", "nats", "grpc", "aetcd", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if level == "debug" else logging.WARNING)


def add_log_level_flag(parser) -> None:
    parser.add_argument(
        "--log-level", default="info", choices=LEVELS, help="log verbosity (default: info)"
    )
