"""Console entry point (stub until this service is implemented)."""

import sys


def main() -> None:
    sys.exit("kubelite_proxy: not implemented yet")


if __name__ == "__main__":
    main()
