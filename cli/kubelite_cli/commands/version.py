"""`kubelite version`: the client's version, then the server's (/version)."""

from __future__ import annotations

import argparse
from importlib.metadata import PackageNotFoundError, version

from kubelite_cli.session import Session


def client_version() -> str:
    try:
        return version("kubelite-cli")
    except PackageNotFoundError:
        return "unknown"


def run(args: argparse.Namespace) -> int:
    print(f"Client Version: v{client_version()} (kubelite)", flush=True)
    session = Session.from_args(args)
    try:
        info = session.api.raw_get("/version")
    finally:
        session.close()
    git = info.get("gitVersion") or "unknown"
    print(f"Server Version: {git}", flush=True)
    return 0
