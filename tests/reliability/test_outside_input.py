"""Input from outside never crashes roachcert and never reaches its reader raw (issue 26, items 1-6), each
through the CLI a user runs: a credential with an invisible character, odd but well-formed JSON from the
Cloud API, Vault or GitHub, foreign lines in the delivered inventory, a big inventory, a Cloud status with
control characters, a huge --lock-timeout. Every failure is one line and exit 1, before any request where
the input is ours; never exit 3."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from fake_http import Answer, Server, deep, json_answer, serving
from faultkit import Cli, Outcome
from typer._click import core as click

from certs_helper import make_ca
from roachcert.app import app
from roachcert.certs import inventory

CLUSTER = "2186fbdb-598c-4797-a463-aaaee865903e"
INVISIBLE = {"zero-width space": "\u200b", "byte order mark": "\ufeff", "bell": "\x07"}


def one_line(outcome: Outcome) -> str:
    lines = [line for line in outcome.err.splitlines() if line.strip()]
    assert len(lines) == 1, outcome.text
    assert_lacks(outcome.text, "internal error", "Traceback")
    return lines[0]


def assert_has(text: str, *parts: str) -> None:
    missing = [part for part in parts if part not in text]
    assert not missing, f"{missing} not in {text!r}"


def assert_lacks(text: str, *parts: str) -> None:
    found = [part for part in parts if part in text]
    assert not found, f"{found} in {text!r}"


@pytest.fixture(autouse=True)
def _state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROACHCERT_HOME", str(tmp_path / "state"))


@pytest.fixture
def pem_stack(tmp_path: Path) -> Path:
    """A stack whose CA is a PEM file: no Vault; `status` and `plan` read only the Cloud API."""
    (tmp_path / "ca.pem").write_text(make_ca("Outside input CA")[0])
    path = tmp_path / "st.yaml"
    path.write_text(
        "version: 1\ncas:\n  a: {pem_file: ca.pem}\n"
        f"clusters:\n  frogs: {{id: {CLUSTER}, ca: a, host: frogs.example.test, users: [app]}}\n"
    )
    return path


@pytest.fixture
def vault_stack(tmp_path: Path) -> Path:
    path = tmp_path / "vs.yaml"
    path.write_text(
        "version: 1\ncas:\n  client-ca:\n    mount: pki_outside\n    common_name: Outside client CA\n"
        "    ttl: 2160h\n    issuers: [ca-a]\n    role: {name: client, max_ttl: 24h, key_type: ec}\n"
        f"clusters:\n  frogs: {{id: {CLUSTER}, ca: client-ca, host: frogs.example.test}}\n"
    )
    return path


def _answer_with(answer: Answer) -> Iterator[Server]:
    with serving(lambda method, path: answer) as server:
        yield server


@pytest.fixture
def quiet_server() -> Iterator[Server]:
    """A server that answers an empty JSON object: a test expects it to get no request at all."""
    yield from _answer_with(json_answer({}))


# -- 1: a credential with an invisible character ------------------------------------------------------
@pytest.mark.parametrize("char", sorted(INVISIBLE), ids=sorted(INVISIBLE))
@pytest.mark.parametrize("command", ["status", "plan"])
def test_an_invisible_character_in_the_cloud_api_key_is_named_before_any_request(
    char: str, command: str, pem_stack: Path, quiet_server: Server, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COCKROACH_SERVER", quiet_server.url)
    monkeypatch.setenv("COCKROACH_API_KEY", f"key{INVISIBLE[char]}secretvalue")
    line = one_line(cli.fails(command, str(pem_stack)))
    assert_has(line, "COCKROACH_API_KEY", "character 4 of 15", f"U+{ord(INVISIBLE[char]):04X}")
    assert_lacks(line, "secretvalue")
    assert quiet_server.requests == []


@pytest.mark.parametrize("char", sorted(INVISIBLE), ids=sorted(INVISIBLE))
def test_an_invisible_character_in_the_vault_token_is_named_before_any_request(
    char: str, vault_stack: Path, quiet_server: Server, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAULT_ADDR", quiet_server.url)
    monkeypatch.setenv("VAULT_TOKEN", f"{INVISIBLE[char]}hvs.sometoken")
    line = one_line(cli.fails("ca", "ensure", str(vault_stack)))
    assert_has(line, "VAULT_TOKEN", "character 1 of 14")
    assert quiet_server.requests == []


def test_an_invisible_character_in_the_github_token_is_named_before_any_request(
    tmp_path: Path, quiet_server: Server, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = tmp_path / "plan.md"
    report.write_text("<!-- roachcert:stack=st -->\nplan\n")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_token\u200b")
    line = one_line(
        cli.fails("comment", str(report), "--repo", "o/r", "--pr", "1", "--api-url", quiet_server.url)
    )
    assert_has(line, "GITHUB_TOKEN", "character 10 of 10")
    assert quiet_server.requests == []


# -- 2: odd but well-formed JSON -----------------------------------------------------------------------
CLOUD_ANSWERS: dict[str, Answer] = {
    "deep": (200, {"Content-Type": "application/json"}, deep(100_000)),
    "status-a-number": json_answer({"status": 5, "x509_pem_cert": ""}),
    "pem-a-list": json_answer({"status": "IS_SET", "x509_pem_cert": ["x"]}),
    "lone-surrogate": json_answer({"status": "IS_SET", "x509_pem_cert": "\ud800"}),
    # 5: a status that would write an escape sequence and a fake line into the plan report
    "status-with-escapes": json_answer({"status": "IS_SET\x1b[2J\nNo changes: fake", "x509_pem_cert": ""}),
}


@pytest.mark.parametrize("answer", sorted(CLOUD_ANSWERS))
def test_an_odd_cloud_api_answer_is_one_line_naming_the_request(
    answer: str, pem_stack: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(lambda method, path: CLOUD_ANSWERS[answer]) as server:
        monkeypatch.setenv("COCKROACH_SERVER", server.url)
        monkeypatch.setenv("COCKROACH_API_KEY", "a-valid-looking-key")
        outcome = cli.fails("plan", str(pem_stack))
    line = one_line(outcome)
    assert_has(line, server.url, f"GET /api/v1/clusters/{CLUSTER}/client-ca-cert", "not the API's answer")
    assert_lacks(outcome.text, "\x1b", "\nNo changes")


VAULT_ANSWERS: dict[str, Answer] = {
    "deep": (200, {"Content-Type": "application/json"}, deep(100_000)),
    "lone-surrogate": json_answer({"data": {"type": "pki\udfff"}}),
    "nested-past-the-limit": json_answer({"data": json.loads("[" * 40 + "]" * 40)}),
}


@pytest.mark.parametrize("answer", sorted(VAULT_ANSWERS))
def test_an_odd_vault_answer_is_one_line_naming_the_request(
    answer: str, vault_stack: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(lambda method, path: VAULT_ANSWERS[answer]) as server:
        monkeypatch.setenv("VAULT_ADDR", server.url)
        monkeypatch.setenv("VAULT_TOKEN", "hvs.token")
        line = one_line(cli.fails("ca", "ensure", str(vault_stack)))
    assert_has(line, server.url, "does not answer like Vault", "sys/mounts/pki_outside")


GITHUB_LISTS: dict[str, Answer] = {
    "id-not-a-number": json_answer([{"id": "12ab", "body": "<!-- roachcert:stack=st -->\nold"}]),
    "id-true": json_answer([{"id": True, "body": "<!-- roachcert:stack=st -->\nold"}]),
    "deep": (200, {"Content-Type": "application/json"}, b"[" * 100_000 + b"]" * 100_000),
    "not-a-list": json_answer({"message": "ok"}),
    "body-a-number": json_answer([{"id": 1, "body": 7}]),
}


@pytest.mark.parametrize("answer", sorted(GITHUB_LISTS))
def test_an_odd_github_answer_is_one_line_naming_the_request(
    answer: str, tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = tmp_path / "plan.md"
    report.write_text("<!-- roachcert:stack=st -->\nplan\n")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_validtoken")
    with serving(lambda method, path: GITHUB_LISTS[answer]) as server:
        line = one_line(
            cli.fails("comment", str(report), "--repo", "o/r", "--pr", "3", "--api-url", server.url)
        )
    assert_has(line, server.url, "listing the comments of o/r#3", "not the API's answer")


# -- 3 and 4: the delivered inventory -----------------------------------------------------------------
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _event(n: int, *, delivered: bool, user: str = "app", cluster: str = "frogs") -> dict[str, object]:
    at = T0 + timedelta(minutes=15 * n)
    return {
        "cluster": cluster,
        "user": user,
        "folder": f"/certs/{cluster}",
        "at": at.isoformat(),
        "delivered": delivered,
        "serial": f"{n:04x}" if delivered else "",
        "mount": "pki",
        "issuer": "pki/ca-a",
        "issuer_sha256": "",
        "not_before": at.isoformat() if delivered else None,
        "not_after": (at + timedelta(days=1)).isoformat() if delivered else None,
        "error": "" if delivered else f"Vault refused (try {n})",
    }


FOREIGN = [
    '{"cluster": "frogs", "user": "app", "folder": "/x", "at": "2026-01-02T00:00:00", "delivered": true}',
    '{"cluster": "frogs", "user": "\\ud800", "folder": "/x", "at": "2026-01-02T00:00:00+00:00", "delivered": true}',
    '{"cluster": ' + "[" * 5000 + "]" * 5000 + "}",
    '{"cluster": ["frogs"], "user": 5, "folder": "/x", "at": "2026-01-02T00:00:00+00:00", "delivered": "yes"}',
    '{"cluster": "frogs", "user": "app", "folder": "/x", "at": "2026-01-02T00:00:00+00:00", "delivered": true,'
    ' "not_after": "2026-01-05T00:00:00"}',
    "[1, 2, 3]",
    '{"torn": ',
]


def write_inventory(stack: str, lines: list[str]) -> Path:
    path = inventory.inventory_path(os.environ, stack)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_foreign_inventory_lines_are_skipped_with_one_note_in_certs_metrics_and_rotate_status(
    pem_stack: Path, tmp_path: Path, cli: Cli
) -> None:
    good = [json.dumps(_event(0, delivered=True)), json.dumps(_event(1, delivered=False))]
    path = write_inventory("st", [good[0], *FOREIGN, good[1]])
    skipped = "lines 2, 3, 4, 5, 6 and 2 more"
    metrics = tmp_path / "certs.prom"
    for args in (["certs", str(pem_stack)], ["certs", str(pem_stack), "--metrics", str(metrics)]):
        outcome = cli.ok(*args)
        assert one_line(outcome) == f"note: {path}: skipped {skipped}: not a delivery record roachcert wrote"
        assert_has(outcome.out, "frogs/app", "0000")
    assert "roachcert_client_cert_expiry_timestamp_seconds" in metrics.read_text()
    outcome = cli.ok("rotate", "status", str(pem_stack))
    assert one_line(outcome).startswith(f"note: {path}: skipped {skipped}")


def test_the_rotation_guard_reads_past_foreign_lines() -> None:
    from roachcert.vault.rotation import delivered_records

    write_inventory("st", [*FOREIGN, json.dumps(_event(2, delivered=True))])
    notes: list[str] = []
    records = delivered_records(inventory.load(os.environ, "st", notes.append))
    assert list(records) == [("frogs", "app")]
    assert len(notes) == 1
    assert records[("frogs", "app")].not_after.tzinfo is not None


def test_rotate_status_is_linear_in_failed_deliveries(pem_stack: Path, cli: Cli) -> None:
    """A renew timer failing every 15 minutes for 200 days: 20,000 lines (quadratic took minutes)."""
    lines = [json.dumps(_event(0, delivered=True))]
    lines += [json.dumps(_event(n, delivered=False, user=f"u{n % 20}")) for n in range(1, 20_000)]
    write_inventory("st", lines)
    started = time.monotonic()
    cli.ok("rotate", "status", str(pem_stack))
    assert time.monotonic() - started < 10
    failed = inventory.failure_reasons(inventory.load(os.environ, "st"))
    assert failed["u19"] == "Vault refused (try 19999)"
    assert len(failed) == 20


def test_certs_reads_a_big_inventory_in_linear_time(pem_stack: Path, cli: Cli) -> None:
    lines = [json.dumps(_event(n, delivered=True, user="app")) for n in range(50_000)]
    write_inventory("st", lines)
    started = time.monotonic()
    outcome = cli.ok("certs", str(pem_stack), "--format", "json")
    assert time.monotonic() - started < 15
    assert len(json.loads(outcome.out)["certificates"]) == 50_000


def test_failed_deliveries_no_command_needs_are_compacted_away(pem_stack: Path, cli: Cli) -> None:
    """Appends past each COMPACT_EVERY step rewrite the file: what `certs` and `rotate status` show stays."""
    for n in range(3):
        inventory.record(os.environ, "st", inventory._decode(_event(n, delivered=True, user=f"u{n}")))
    write_inventory("st", [*inventory.inventory_path(os.environ, "st").read_text().splitlines(), FOREIGN[0]])
    before = cli.ok("certs", str(pem_stack), "--format", "json").out
    for n in range(3, 3000):
        inventory.record(os.environ, "st", inventory._decode(_event(n, delivered=False, user=f"u{n % 4}")))
    path = inventory.inventory_path(os.environ, "st")
    assert path.stat().st_size < inventory.COMPACT_EVERY  # ~1 MB appended: it was compacted on the way
    inventory.compact(path)
    lines = path.read_text().splitlines()
    assert FOREIGN[0] in lines  # not ours to drop
    assert sum(1 for line in lines if '"delivered": false' in line) == 4
    assert cli.ok("certs", str(pem_stack), "--format", "json").out == before
    assert inventory.failure_reasons(inventory.load(os.environ, "st")) == {
        f"u{n % 4}": f"Vault refused (try {n})" for n in range(2996, 3000)
    }
    assert not list(path.parent.glob(".*.tmp"))


# -- 6: --lock-timeout beyond what the engine accepts --------------------------------------------------
def _commands_with(option: str) -> list[list[str]]:
    found: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:
        if hasattr(command, "list_commands"):  # a group
            context = click.Context(command)
            for name in command.list_commands(context):
                sub = command.get_command(context, name)
                if sub is not None:
                    walk(sub, [*path, name])
        elif any(option in param.opts for param in command.params):
            found.append(path)

    walk(typer.main.get_command(app), [])
    return found


LOCK_COMMANDS = _commands_with("--lock-timeout")


def test_every_command_with_a_lock_timeout_is_checked() -> None:
    assert {"plan", "apply", "issue", "renew", "render", "adopt"} <= {" ".join(c) for c in LOCK_COMMANDS}


@pytest.mark.parametrize("command", LOCK_COMMANDS, ids=[" ".join(c) for c in LOCK_COMMANDS])
@pytest.mark.parametrize("value", ["9" * 400, "99999999999h", "3000000h"])
def test_a_lock_timeout_beyond_the_engine_is_refused_before_any_work(
    command: list[str], value: str, pem_stack: Path, cli: Cli
) -> None:
    line = one_line(cli.fails(*command, "--lock-timeout", value, str(pem_stack)))
    assert line.startswith("roachcert: --lock-timeout "), line
    assert_has(line, "2562047h")
    assert not (pem_stack.parent / "state").exists()


def test_the_longest_wait_the_engine_takes_is_accepted() -> None:
    from roachcert.commands.args import MAX_WAIT_SECONDS, lock_timeout_seconds

    assert lock_timeout_seconds("2562047h") == MAX_WAIT_SECONDS
    assert lock_timeout_seconds("1m30s") == 90


def test_a_stack_id_is_a_uuid() -> None:  # keeps CLUSTER honest for the stacks above
    assert str(uuid.UUID(CLUSTER)) == CLUSTER


def test_certs_escapes_what_the_inventory_says(pem_stack: Path, cli: Cli) -> None:
    event = {**_event(0, delivered=True), "folder": "/certs/\x1b[2J\nfrogs", "serial": "01\u202e"}
    write_inventory("st", [json.dumps(event)])
    outcome = cli.ok("certs", str(pem_stack))
    assert_lacks(outcome.out, "\x1b", "\u202e", "\nfrogs")
    assert_has(outcome.out, "\\x1b[2J\\nfrogs", "01\\u202e")


def test_a_secret_in_the_inventory_is_masked_in_certs_json_and_metrics(
    pem_stack: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    # A quote and a backslash in the secret: json.dumps escapes them, so only a mask before encoding
    # finds it; the metrics file is a sink of its own.
    secret = 'pa"ss\\word-outside-1'
    monkeypatch.setenv("PGPASSWORD", secret)
    event = {**_event(0, delivered=True), "folder": f"/certs/{secret}"}
    write_inventory("st", [json.dumps(event)])
    metrics = tmp_path / "certs.prom"
    out = cli.ok("certs", str(pem_stack), "--format", "json", "--metrics", str(metrics)).out
    for text in (out, metrics.read_text(encoding="utf-8")):
        assert secret not in text
        assert json.dumps(secret)[1:-1] not in text
    assert '"folder": "/certs/***"' in out
