"""A password in a server URL (`VAULT_ADDR=https://user:PASSWORD@vault-gw…`, a COCKROACH_SERVER or GitHub API
URL with user-info, `vault.addr` in the stack file, `--api-url`) never shows: not on the terminal, in a
report, in the job summary, in a pull-request comment, nor in any file roachcert keeps. Each URL shows as
`http://user:***@host`. Run as a user would: a plan that fails because Vault is unreachable, one that fails
at the Cloud API, then `comment` posting the report and failing to reach GitHub."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from faultkit import Cli, SandboxStack, texts_under

from roachcert.mask import mask
from roachcert.plan_record import PLAN_LOG
from roachcert.spec import load_stack_text
from roachcert_sandbox.manager import SandboxState
from test_github import REPO, TOKEN, FakeGitHub, github  # noqa: F401 (the fixture)

pytestmark = pytest.mark.integration

PASSWORDS = {
    "VAULT_ADDR": "vault-gw-Pa55word",
    "COCKROACH_SERVER": "cloud-gw-Pa55word",
    "GITHUB_API_URL": "github-gw-Pa55word",
    "vault.addr": "stack-file-Pa55word",
    "--api-url": "api-url-opt-Pa55word",
    "short": "pw1",  # too short to mask on its own; its URL form is masked all the same
}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ensured_stack(
    sandbox: SandboxState,
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    github: FakeGitHub,  # noqa: F811
    api_userinfo: str,
) -> tuple[int, Path, SandboxStack, str]:
    """A one-cluster stack with its CA ensured, GitHub's API reached through `api_userinfo@`, a job summary
    file; returns a closed port, the summary, the stack and its file."""
    closed = _closed_port()
    host = github.url.removeprefix("http://")
    summary = tmp_path / "summary.md"
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_API_URL", f"http://{api_userinfo}@{host}")
    stack = SandboxStack(sandbox, tmp_path, name="prod")
    stack.add_clusters(1)
    path = str(stack.write())
    cli.ok("ca", "ensure", path)
    return closed, summary, stack, path


def test_url_passwords_never_show_after_a_failed_plan_and_a_comment_run(
    sandbox: SandboxState,
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    github: FakeGitHub,  # noqa: F811
) -> None:
    closed, summary, stack, path = _ensured_stack(
        sandbox, tmp_path, cli, monkeypatch, github, f"gh-user:{PASSWORDS['GITHUB_API_URL']}"
    )
    # Through a gateway that takes basic auth (OpenBao ignores it): the plan runs Terraform and keeps its log.
    gateway = sandbox.vault_addr.replace("http://", f"http://vault-user:{PASSWORDS['VAULT_ADDR']}@")
    monkeypatch.setenv("VAULT_ADDR", gateway)
    cli.ok("plan", path, "--format", "markdown", "--out", str(tmp_path / "plan-ok.md"), expect=2)
    assert (stack.workdir / PLAN_LOG).is_file()
    monkeypatch.setenv("VAULT_ADDR", f"http://vault-user:{PASSWORDS['VAULT_ADDR']}@127.0.0.1:{closed}")

    # Vault unreachable: every report says so, naming the address without its password.
    md = cli.fails("plan", path, "--format", "markdown", "--out", str(tmp_path / "plan.md"))
    cli.fails("plan", path, "--format", "json", "--out", str(tmp_path / "plan.json"))
    text = cli.fails("plan", path)
    shown = f"http://vault-user:***@127.0.0.1:{closed}"
    assert shown in md.err
    assert shown in text.out + text.err
    assert shown in (tmp_path / "plan.md").read_text()
    assert shown in json.dumps(json.loads((tmp_path / "plan.json").read_text()))
    assert shown in summary.read_text()

    # The Cloud API behind a gateway taking basic auth (the emulator refuses it: HTTP 401).
    cloud = sandbox.emulator_url.replace("http://", f"http://cloud-user:{PASSWORDS['COCKROACH_SERVER']}@")
    monkeypatch.setenv("COCKROACH_SERVER", cloud)
    failed = cli.fails("plan", path, "--format", "markdown", "--out", str(tmp_path / "plan-cloud.md"))
    assert "http://cloud-user:***@127.0.0.1" in failed.err
    monkeypatch.setenv("COCKROACH_SERVER", sandbox.emulator_url)

    # The address written in the stack file instead, with a password too short to mask on its own.
    monkeypatch.delenv("VAULT_ADDR")
    for password in (PASSWORDS["vault.addr"], PASSWORDS["short"]):
        stack.path.write_text(
            stack.path.read_text().split("vault:")[0]
            + f"vault:\n  addr: http://stack-user:{password}@127.0.0.1:{closed}\n"
        )
        failed = cli.fails("plan", path, "--format", "markdown", "--out", str(tmp_path / "plan-stack.md"))
        assert f"http://stack-user:***@127.0.0.1:{closed}" in failed.err

    # `comment` posts the report; a section also quoting the raw URL (a report made elsewhere) is masked.
    report = tmp_path / "edited.md"  # an input of the test, left out of the scan below
    report.write_text(
        (tmp_path / "plan.md").read_text()
        + f"\nraw: http://vault-user:{PASSWORDS['VAULT_ADDR']}@vault-gw.example\n"
    )
    posted = cli.ok("comment", str(report), "--repo", REPO, "--pr", "7")
    assert "stack prod: posted" in posted.out
    [comment] = github.comments
    assert "http://vault-user:***@vault-gw.example" in comment["body"]
    assert shown in comment["body"]
    unreachable = f"http://gh-user:{PASSWORDS['--api-url']}@127.0.0.1:{closed}"
    failed = cli.fails("comment", str(report), "--repo", REPO, "--pr", "7", "--api-url", unreachable)
    assert f"cannot reach GitHub at http://gh-user:***@127.0.0.1:{closed}" in failed.err

    # Zero hits anywhere: printed, reported, summarised, posted (as sent), or kept under the folder.
    scanned: dict[str, str] = {
        **{str(file): content for file, content in texts_under(tmp_path) if file not in (report, stack.path)},
        **{f"output of roachcert {' '.join(o.args)}": o.text for o in cli.outcomes},
        **{f"request {n} to GitHub": json.dumps(r["body"]) for n, r in enumerate(github.requests)},
    }
    assert any(name.endswith("summary.md") for name in scanned)
    assert any("/.roachcert/prod/" in name for name in scanned), sorted(scanned)
    hits = [
        f"{what} in {where}"
        for where, content in scanned.items()
        for what, password in PASSWORDS.items()
        if what != "short" and password in content
    ]
    hits += [
        f"the short password's URL in {where}"
        for where, content in scanned.items()
        if f"stack-user:{PASSWORDS['short']}@" in content
    ]
    assert not hits, hits


def test_a_stack_files_urls_teach_the_mask_their_passwords(tmp_path: Path) -> None:
    # A backend's URL (an S3-compatible store behind a gateway) and vault.addr: learned where the stack is
    # read, so an error quoting the password alone, or percent-decoded, is masked too.
    text = (
        "version: 1\n"
        "vault: {addr: 'https://vault-user:vault%40file-pass@vault.example'}\n"
        "cas:\n  client-ca: {mount: m1, common_name: Client CA, issuers: [ca-a]}\n"
        "clusters: {}\n"
        "terraform:\n  backend:\n    type: s3\n    config:\n      bucket: state\n"
        "      endpoints: {s3: 'https://state-user:backend-pass-123@minio.example'}\n"
    )
    load_stack_text(text, tmp_path / "prod.yaml")
    assert mask("auth failed for backend-pass-123", os.environ) == "auth failed for ***"
    assert mask("bad password vault@file-pass", os.environ) == "bad password ***"
    assert mask("bad password vault%40file-pass", os.environ) == "bad password ***"


TOKEN_USERS = {
    "VAULT_ADDR": "ghp_VaultGwTokenUser0001",
    "GITHUB_API_URL": "x-access-token-GithubUser02",
    "--api-url": "glpat-ApiUrlOptionToken03",
}


def test_a_token_given_as_a_urls_user_never_shows(
    sandbox: SandboxState,
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    github: FakeGitHub,  # noqa: F811
) -> None:
    # `https://TOKEN@host` (GitHub's, a gateway's or a proxy's token as the user, no password): masked
    # whole as `http://***@host` in every stream and file, and on its own once configured.
    closed, summary, stack, path = _ensured_stack(
        sandbox, tmp_path, cli, monkeypatch, github, TOKEN_USERS["GITHUB_API_URL"]
    )
    monkeypatch.setenv("VAULT_ADDR", f"http://{TOKEN_USERS['VAULT_ADDR']}@127.0.0.1:{closed}")
    shown = f"http://***@127.0.0.1:{closed}"
    md = cli.fails("plan", path, "--format", "markdown", "--out", str(tmp_path / "plan.md"))
    cli.fails("plan", path, "--format", "json", "--out", str(tmp_path / "plan.json"))
    text = cli.fails("plan", path)
    assert shown in md.err
    assert shown in text.out + text.err
    assert shown in (tmp_path / "plan.md").read_text()
    assert shown in summary.read_text()
    cli.fails("status", path)
    posted = cli.ok("comment", str(tmp_path / "plan.md"), "--repo", REPO, "--pr", "7")
    assert "stack prod: posted" in posted.out
    unreachable = f"http://{TOKEN_USERS['--api-url']}@127.0.0.1:{closed}"
    failed = cli.fails(
        "comment", str(tmp_path / "plan.md"), "--repo", REPO, "--pr", "7", "--api-url", unreachable
    )
    assert f"cannot reach GitHub at http://***@127.0.0.1:{closed}" in failed.err
    scanned: dict[str, str] = {
        **{str(file): content for file, content in texts_under(tmp_path) if file != stack.path},
        **{f"output of roachcert {' '.join(o.args)}": o.text for o in cli.outcomes},
        **{f"request {n} to GitHub": json.dumps(r["body"]) for n, r in enumerate(github.requests)},
    }
    hits = [
        f"{what} in {where}"
        for where, content in scanned.items()
        for what, token in TOKEN_USERS.items()
        if token in content
    ]
    assert not hits, hits
