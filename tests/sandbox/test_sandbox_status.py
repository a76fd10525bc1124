"""`sandbox status` names the engine in words, as the reports do, never by an environment variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from roachcert_sandbox import manager
from roachcert_sandbox.manager import SandboxState

pytestmark = pytest.mark.integration


def test_status_names_the_engine_in_words(sandbox_servers: SandboxState) -> None:
    line = manager.status(Path(sandbox_servers.root))["engine"]
    assert line.startswith("Terraform v1."), line
    assert "(embedded: " in line
    assert "ROACHCERT_TERRAFORM" not in line
