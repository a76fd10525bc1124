"""Renewal's pure parts: when a certificate is due, which users a run covers, refused options."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from roachcert.certs import renewal
from roachcert.certs.issue import IssueError
from roachcert.spec import load_stack

STACK = """\
version: 1
cas:
  client-ca:
    mount: m1
    common_name: Client CA
    issuers: [a]
    role: {name: client, max_ttl: 48h, key_type: ec}
  legacy:
    pem_file: legacy.pem
clusters:
  frogs:
    id: 2186fbdb-598c-4797-a463-aaaee865903e
    ca: client-ca
    host: frogs.example.test
    users: [root, app]
  legacy-only:
    id: 5b3c1f0e-7a2d-4c8e-9f61-0d2e4a6b8c11
    ca: legacy
    host: legacy.example.test
    users: [root]
"""


@pytest.fixture
def stack_path(tmp_path: Path) -> Path:
    from certs_helper import make_ca

    (tmp_path / "legacy.pem").write_text(make_ca("Legacy")[0])
    path = tmp_path / "stack.yaml"
    path.write_text(STACK)
    return path


def test_due_at_two_thirds_or_before_the_end() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = start + timedelta(hours=48)
    assert renewal.renew_at(start, end, None) == start + timedelta(hours=32)
    assert renewal.renew_at(start, end, timedelta(hours=6)) == start + timedelta(hours=42)


def test_targets(stack_path: Path) -> None:
    stack = load_stack(stack_path)
    assert renewal.targets(stack, "frogs", "app") == [("frogs", "app")]
    assert renewal.targets(stack, "frogs", None) == [("frogs", "root"), ("frogs", "app")]
    assert renewal.targets(stack, None, None) == [
        ("frogs", "root"),
        ("frogs", "app"),
        ("legacy-only", "root"),
    ]
    with pytest.raises(IssueError, match="no cluster 'toads'"):
        renewal.targets(stack, "toads", None)
    with pytest.raises(IssueError, match="user 'bob' is not declared"):
        renewal.targets(stack, "frogs", "bob")


def test_before_must_be_shorter_than_the_roles_max_ttl(stack_path: Path) -> None:
    stack = load_stack(stack_path)
    everyone = renewal.targets(stack, None, None)
    renewal.check_before(stack, everyone, timedelta(hours=47))  # a PEM-only cluster is skipped here
    with pytest.raises(
        renewal.RenewError, match="--before 48h is not shorter than role client's max_ttl 48h"
    ):
        renewal.check_before(stack, everyone, timedelta(hours=48))


def test_exec_is_split_like_a_shell_and_never_run_by_one() -> None:
    assert renewal.exec_argv("systemctl reload 'my app'") == ["systemctl", "reload", "my app"]
    assert renewal.exec_argv("echo $(id); rm -rf /") == ["echo", "$(id);", "rm", "-rf", "/"]
    with pytest.raises(renewal.RenewError, match="--exec is empty"):
        renewal.exec_argv("  ")
    with pytest.raises(renewal.RenewError, match="No closing quotation"):
        renewal.exec_argv("reload 'x")
