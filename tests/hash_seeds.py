"""Run a snippet in fresh interpreters with different hash seeds: output that depends on set or dict
ordering of str hashes differs between them, which comparing a function with itself in one process hides."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SEEDS = ("1", "4242")


def outputs(code: str, cwd: Path | None = None) -> list[str]:
    """What `code` prints under each seed in SEEDS; each run must succeed and print something."""
    found: list[str] = []
    for seed in SEEDS:
        env = {
            **os.environ,
            "PYTHONHASHSEED": seed,
            "PYTHONPATH": os.pathsep.join([str(TESTS), str(TESTS / "backends")]),
        }
        proc = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd or TESTS,
            check=False,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout, f"the snippet printed nothing under PYTHONHASHSEED={seed}"
        found.append(proc.stdout)
    return found
