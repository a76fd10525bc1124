"""`make bench` entry point."""

from __future__ import annotations

import sys


def main() -> int:
    print("benchmarks: none yet", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
