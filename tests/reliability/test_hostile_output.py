"""Text from outside (a CA's subject) never reaches a terminal or a pull-request report raw: ESC, BEL, CR and
LF in a CN are shown as escapes by `status` (text), `plan --format markdown`, `plan` (text) and `validate`;
JSON keeps them JSON-escaped. Markdown also escapes table and HTML metacharacters."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
import requests
from faultkit import Cli, wait_settled

from certs_helper import make_ca
from roachcert.escape import printable, printable_lines, quoted
from roachcert_sandbox.manager import SandboxState, register_cluster

EVIL_CN = "Evil\x1b]0;pwned\x07\r\nFAKE|<b>x</b>\u202e"
RAW = ("\x1b", "\x07", "\r", "\u202e", "<b>")


def evil_stack(folder: Path, sandbox: SandboxState | None = None, days: int = 365) -> Path:
    """A stack trusting a CA with a hostile CN; on the sandbox, its cluster holds another CA set out of band."""
    (folder / "evil.pem").write_text(make_ca(EVIL_CN, days=days)[0], encoding="utf-8")
    cluster_id = str(uuid.uuid4())
    if sandbox is not None:
        register_cluster(sandbox, cluster_id, "frogs")
        response = requests.post(
            f"{sandbox.emulator_url}/api/v1/clusters/{cluster_id}/client-ca-cert",
            headers={"Authorization": f"Bearer {os.environ['COCKROACH_API_KEY']}"},
            json={"x509_pem_cert": make_ca("Out of band CA")[0]},
            timeout=10,
        )
        response.raise_for_status()
        wait_settled(sandbox, [cluster_id])
    path = folder / "hostile.yaml"
    path.write_text(
        "version: 1\ncas:\n  evil: {pem_file: evil.pem}\nclusters:\n"
        f"  frogs: {{id: {cluster_id}, ca: evil, host: frogs.example.test}}\n",
        encoding="utf-8",
    )
    return path


def assert_escaped(text: str, *, markdown: bool = False, shown: bool = True) -> None:
    for raw in RAW if markdown else RAW[:-1]:
        assert raw not in text, f"{raw!r} reached the output:\n{text!r}"
    assert "\\x1b" in text or not shown
    if not markdown:
        assert "\nFAKE" not in text  # the CN's line break would forge a line of its own


def test_the_escape_is_reprs_and_keeps_printable_text() -> None:
    assert printable("plain é 😀 \\ text") == "plain é 😀 \\ text"
    assert printable(EVIL_CN) == repr(EVIL_CN)[1:-1]
    assert quoted(EVIL_CN) == repr(EVIL_CN)
    assert printable_lines("one\x1b\ntwo\r") == "one\\x1b\ntwo\\r"


@pytest.mark.integration
def test_status_plan_and_markdown_escape_a_hostile_subject(
    sandbox: SandboxState, tmp_path: Path, cli: Cli
) -> None:
    path = str(evil_stack(tmp_path, sandbox))
    status = cli("status", path)
    assert status.code == 2  # drift: the spec's CA is listed, with its subject
    assert_escaped(status.out)
    markdown = cli.ok("plan", path, "--format", "markdown", expect=2)
    assert_escaped(markdown.out, markdown=True)
    assert "\\|" in markdown.out
    assert "&lt;b&gt;" in markdown.out
    text = cli.ok("plan", path, expect=2)
    assert_escaped(text.text, shown=False)  # the text plan names clusters, not CAs
    as_json = cli.ok("plan", path, "--format", "json", expect=2)
    assert "\x1b" not in as_json.out
    status_json = cli("status", path, "--format", "json")
    assert "\x1b" not in status_json.out
    assert "\\u001b" in status_json.out
    subjects = [cert["subject"] for cert in json.loads(status_json.out)["clusters"][0]["only_in_spec"]]
    assert subjects == ["CN=" + EVIL_CN.replace(";", "\\;").replace("<", "\\<").replace(">", "\\>")]


def test_validate_escapes_a_hostile_subject(tmp_path: Path, cli: Cli) -> None:
    outcome = cli("validate", str(evil_stack(tmp_path, days=5)))  # expiring soon: validate names it
    assert_escaped(outcome.text)


def test_an_error_line_quoting_outside_text_is_escaped(tmp_path: Path, cli: Cli) -> None:
    # A file name is outside text too: one line, whatever it holds.
    path = tmp_path / "no\x1b]0;x\x07such.yaml"
    outcome = cli.fails("validate", str(path))
    assert "\x1b" not in outcome.err
    assert "\x07" not in outcome.err
    assert len(outcome.err.strip().splitlines()) == 1


def test_a_block_of_output_keeps_its_layout_but_no_control_character() -> None:
    from roachcert.escape import printable_block

    assert printable_block("a\tb\nc\n") == "a\tb\nc\n"
    assert printable_block("Error: \x1b]0;x\x07 \rover\n") == "Error: \\x1b]0;x\\x07 \\rover\n"


def test_terraform_output_is_escaped_as_it_is_read(tmp_path: Path) -> None:
    """The runner reads a real process's output: the provider relays Cloud API text through it."""
    import sys

    from roachcert.terraform.engine import Engine
    from roachcert.terraform.runner import Terraform

    fake = tmp_path / "terraform"
    fake.write_text(
        f"#!{sys.executable}\nprint('Error: \\x1b]0;owned\\x07 api said\\rfake')\n", encoding="utf-8"
    )
    fake.chmod(0o755)
    result = Terraform(tmp_path, Engine(fake, "test"), os.environ).run("plan", stream=False)
    # A lone CR is read as a line break (universal newlines): it can no longer overwrite the line.
    assert result.output == "Error: \\x1b]0;owned\\x07 api said\nfake\n"
