"""The two engines the integration tests run on: Terraform (the embedded engine) and OpenTofu (the one
`make setup` built). Without OpenTofu its tests skip with the line scripts/ensure-tofu.sh left, except
under ROACHCERT_REQUIRE_TOFU=1 (CI), where they fail: they must run there."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from roachcert.terraform.runner import Terraform

TOFU_VERSION = "1.11.6"  # scripts/ensure-tofu.sh VERSION
ENGINES = ("terraform", "tofu")


def tofu_path() -> Path | None:
    path = Path(sys.executable).parent / "tofu"
    return path if path.is_file() and os.access(path, os.X_OK) else None


def tofu_unavailable_line() -> str:
    from roachcert_sandbox.providers import cache_dir

    note = cache_dir().parents[1] / "tofu" / TOFU_VERSION / "unavailable.txt"
    try:
        line = note.read_text(encoding="utf-8").strip()
    except OSError:
        line = "scripts/ensure-tofu.sh has not run (make setup)"
    return f"OpenTofu not installed: {line or 'no reason recorded'}"


def require_engine(name: str) -> None:
    """Skip (or, under ROACHCERT_REQUIRE_TOFU=1, fail) a test whose engine is not installed here."""
    if name != "tofu" or tofu_path() is not None:
        return
    if os.environ.get("ROACHCERT_REQUIRE_TOFU") == "1":
        pytest.fail(f"{tofu_unavailable_line()} (ROACHCERT_REQUIRE_TOFU=1: the OpenTofu tests must run)")
    pytest.skip(tofu_unavailable_line())


def fmt_unclean(tf: Terraform) -> tuple[str, ...]:
    """Files `terraform fmt` would change in the runner's folder (empty when all are clean)."""
    result = tf.run("fmt", "-check", "-list=true", "-no-color", stream=False, data=True)
    assert result.returncode in (0, 3), result.output
    return tuple(line.strip() for line in result.stdout.splitlines() if line.strip())
