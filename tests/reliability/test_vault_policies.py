"""The Vault policies shipped in examples/vault/, against the sandbox's real OpenBao: a token holding only
one of them runs its commands; the same policy with any one capability taken away fails in one line naming
the path and the capability it lacked. Together: each policy is enough, and nothing in it is spare."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Any

import hvac
import pytest
from faultkit import Cli, SandboxStack

from roachcert_sandbox.manager import SandboxState

pytestmark = pytest.mark.integration
POLICIES = Path(__file__).resolve().parents[2] / "examples" / "vault"
STANZA = re.compile(r'path "(?P<path>[^"]+)" \{\s*capabilities = \[(?P<caps>[^\]]*)\]\s*\}')
# What any token may hold without a grant that matters here (a policy cannot be empty).
NOTHING = 'path "secret/roachcert-nothing" {\n  capabilities = ["read"]\n}\n'


def policy_text(name: str, mount: str) -> str:
    return (POLICIES / name).read_text(encoding="utf-8").replace("cockroach_client_ca", mount)


def capabilities(text: str) -> list[tuple[str, str]]:
    """(path, capability) for every capability the policy grants."""
    return [
        (match["path"], cap.strip().strip('"'))
        for match in STANZA.finditer(text)
        for cap in match["caps"].split(",")
    ]


def without(text: str, path: str, capability: str) -> str:
    """The policy with one capability on one path taken away (the stanza too, when it was its last)."""

    def narrow(match: re.Match[str]) -> str:
        if match["path"] != path:
            return match[0]
        caps = [cap.strip() for cap in match["caps"].split(",") if cap.strip().strip('"') != capability]
        return f'path "{path}" {{\n  capabilities = [{", ".join(caps)}]\n}}' if caps else ""

    narrowed = STANZA.sub(narrow, text)
    return narrowed if STANZA.search(narrowed) else NOTHING


@pytest.fixture
def root(sandbox: SandboxState) -> Any:
    """The sandbox's root token, kept before a test swaps VAULT_TOKEN for a narrower one."""
    return hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["VAULT_TOKEN"])


def token_with(root: Any, text: str, default_policy: bool) -> str:
    """A token holding this policy; `default_policy` adds Vault's `default` (what a login gives)."""
    name = f"pol-{uuid.uuid4().hex[:8]}"
    root.sys.create_or_update_policy(name, text)
    created = root.auth.token.create(policies=[name], no_default_policy=not default_policy, ttl="10m")
    token: str = created["auth"]["client_token"]
    return token


def denied(err: str, path: str, capability: str) -> None:
    """One error line, the last (after any warnings, or apply's plan), naming the path (a `+` in the policy
    stands for one segment) and the missing capability."""
    errors = [line for line in err.splitlines() if line.startswith("roachcert: ")]
    assert len(errors) == 1, err
    line = errors[0]
    assert err.rstrip("\n").endswith(line)
    pattern = re.escape(path).replace(r"\+", "[^/ ]+")
    assert re.fullmatch(
        rf"roachcert: Vault denied '{capability}' on {pattern}: "
        rf"the token's policies lack the '{capability}' capability there",
        line,
    ), line


def grown(stack: SandboxStack, ttl: str = "4320h") -> str:
    """The stack with a second issuer and a longer CA ttl: the mount's max lease TTL must be raised."""
    stack.issuers = ["ca-a", "ca-b"]
    path = stack.write()
    path.write_text(path.read_text().replace("ttl: 2160h", f"ttl: {ttl}"))
    return str(path)


ENSURE = capabilities(policy_text("roachcert-ca-ensure.hcl", "MOUNT"))


def test_ca_ensure_policy_is_enough(
    root: Any, sandbox: SandboxState, tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = SandboxStack(sandbox, tmp_path)
    stack.add_clusters(1, register=False)
    path = str(stack.write())
    monkeypatch.setenv(
        "VAULT_TOKEN",
        token_with(root, policy_text("roachcert-ca-ensure.hcl", stack.mount), default_policy=False),
    )
    cli.ok("ca", "ensure", path)  # a new mount, its first issuer, the role
    cli.ok("ca", "ensure", grown(stack))  # raise the max lease TTL, rotate a new issuer in, make it default
    cli.ok("ca", "ensure", str(stack.path), "--check")


@pytest.mark.parametrize(("path", "capability"), ENSURE, ids=[f"{p}:{c}" for p, c in ENSURE])
def test_ca_ensure_policy_without_any_one_capability_fails_naming_it(
    root: Any,
    sandbox: SandboxState,
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    capability: str,
) -> None:
    stack = SandboxStack(sandbox, tmp_path)
    stack.add_clusters(1, register=False)
    first = str(stack.write())
    narrow = without(
        policy_text("roachcert-ca-ensure.hcl", stack.mount), path.replace("MOUNT", stack.mount), capability
    )
    monkeypatch.setenv("VAULT_TOKEN", token_with(root, narrow, default_policy=True))
    outcome = cli(*("ca", "ensure", first))
    if outcome.code == 0:
        outcome = cli.fails("ca", "ensure", grown(stack))
    assert outcome.code == 1, outcome.text
    denied(outcome.err, path.replace("MOUNT", stack.mount), capability)


def test_issue_policy_is_enough_and_nothing_less(
    root: Any, one_cluster: SandboxStack, tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = policy_text("roachcert-issue.hcl", one_cluster.mount)
    path = str(one_cluster.path)
    monkeypatch.setenv("VAULT_TOKEN", token_with(root, text, default_policy=False))
    cli.ok("issue", path, "c0", "app", "--out", str(tmp_path / "issued"))
    cli.ok("renew", path, "c0", "app", "--out", str(tmp_path / "renewed"))
    assert (tmp_path / "renewed" / "client.app.crt").is_file()
    for granted, capability in capabilities(text):
        monkeypatch.setenv(
            "VAULT_TOKEN", token_with(root, without(text, granted, capability), default_policy=True)
        )
        denied(
            cli.fails("issue", path, "c0", "root", "--out", str(tmp_path / "refused")).err,
            granted,
            capability,
        )
    assert not (tmp_path / "refused").exists()


def test_plan_and_status_need_no_vault_grant_and_rotate_status_needs_the_plan_policy(
    root: Any, one_cluster: SandboxStack, tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(one_cluster.path)
    cli.ok("issue", path, "c0", "app", "--out", str(tmp_path / "issued"))  # a stored certificate to read
    monkeypatch.delenv("VAULT_TOKEN")  # no login at all
    cli.ok("plan", path, expect=2)
    assert "not set yet" in cli.ok("status", path, expect=2).out  # not applied yet
    text = policy_text("roachcert-plan.hcl", one_cluster.mount)
    monkeypatch.setenv("VAULT_TOKEN", token_with(root, text, default_policy=False))
    cli.ok("rotate", "status", path)
    for granted, capability in capabilities(text):
        monkeypatch.setenv(
            "VAULT_TOKEN", token_with(root, without(text, granted, capability), default_policy=True)
        )
        denied(cli.fails("rotate", "status", path).err, granted, capability)


def test_apply_shrinking_a_bundle_needs_the_plan_policy(
    root: Any, one_cluster: SandboxStack, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """apply's rotation guard lists the mount's certificates when a bundle shrinks."""
    text = policy_text("roachcert-plan.hcl", one_cluster.mount)
    path = grown(one_cluster, ttl="2160h")
    cli.ok("ca", "ensure", path)  # the sandbox's root token: the new issuer
    plan_token = token_with(root, text, default_policy=False)
    monkeypatch.setenv("VAULT_TOKEN", plan_token)
    cli.ok("apply", path, "--auto-approve")
    one_cluster.issuers = ["ca-b"]
    path = str(one_cluster.write())
    monkeypatch.setenv(
        "VAULT_TOKEN",
        token_with(root, without(text, f"{one_cluster.mount}/certs", "list"), default_policy=True),
    )
    refused = cli.fails("apply", path, "--auto-approve")
    denied(refused.err, f"{one_cluster.mount}/certs", "list")
    monkeypatch.setenv("VAULT_TOKEN", plan_token)
    cli.ok("apply", path, "--auto-approve")
