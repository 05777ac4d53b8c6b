"""The `kubelite` command: parse, dispatch, and turn every failure into one stderr line."""

from __future__ import annotations

import logging
import sys

from kubelite_cli.errors import error_line
from kubelite_cli.parser import build_parser, parse_args


def run(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.WARNING),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not getattr(args, "handler", None):
        build_parser().print_help(sys.stderr)
        return 1
    return int(args.handler(args) or 0)


def main(argv: list[str] | None = None) -> None:
    try:
        code = run(argv)
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        code = 0
    except Exception as exc:  # the top: one readable line, never a traceback
        logging.getLogger("kubelite").debug("failed", exc_info=True)
        print(error_line(exc), file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.exit(code)


if __name__ == "__main__":
    main()
