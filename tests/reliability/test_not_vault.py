"""A VAULT_ADDR that is not Vault: real small HTTP servers on 127.0.0.1 answering HTML, redirects, empty JSON,
HTML 404s and wrong types. Every command that reads Vault ends in one line naming the address, the request and
what came back, exit 1; never an internal error, never advice to run `ca ensure`, never exit 0."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_http import Answer, Server
from faultkit import Cli, SandboxStack

from roachcert.vault import transport
from roachcert_sandbox.manager import SandboxState

pytestmark = pytest.mark.integration

HTML = b"<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>"


def _json(status: int, body: Any, kind: str = "application/json") -> Answer:
    return status, {"Content-Type": kind}, json.dumps(body).encode()


# Each server answers every request the same way (except where the path matters).
SERVERS: dict[str, Callable[[str], Answer]] = {
    "html-200": lambda path: (200, {"Content-Type": "text/html"}, HTML),
    "html-404": lambda path: (404, {"Content-Type": "text/html"}, HTML),
    "redirect": lambda path: (302, {"Location": "https://login.example.com/sso", "Content-Length": "0"}, b""),
    "redirect-loop": lambda path: (307, {"Location": path, "Content-Length": "0"}, b""),
    "empty-json": lambda path: _json(200, {}),
    "json-list": lambda path: _json(200, []),
    "wrong-types": lambda path: _json(
        200, {"data": {"certificate": 5, "type": ["pki"], "keys": "x", "default": 7, "key_info": 3}}
    ),
    "json-as-text": lambda path: _json(200, {"data": {}}, kind="text/plain"),
    "404-json-not-vault": lambda path: _json(404, {"detail": "Not Found"}),
}


@pytest.fixture(params=sorted(SERVERS))
def not_vault(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    monkeypatch.setattr(transport, "BACKOFF", 0.001)
    answer = SERVERS[request.param]
    server = Server(lambda _method, path: answer(path))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def stack_on(sandbox: SandboxState, tmp_path: Path) -> SandboxStack:
    stack = SandboxStack(sandbox, tmp_path)
    stack.add_clusters(1)
    stack.write()
    return stack


COMMANDS = {
    "plan": lambda path, out: ["plan", path],
    "issue": lambda path, out: ["issue", path, "c0", "root", "--out", out],
    "ca ensure": lambda path, out: ["ca", "ensure", path],
    "rotate status": lambda path, out: ["rotate", "status", path],
    "status": lambda path, out: ["status", path],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_server_that_is_not_vault_is_one_line_exit_1(
    not_vault: Server,
    stack_on: SandboxStack,
    command: str,
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VAULT_ADDR", not_vault.url)
    args = COMMANDS[command](str(stack_on.path), str(tmp_path / "certs"))
    outcome = cli.fails(*args)
    lines = [line for line in outcome.err.splitlines() if line.strip()]
    assert len(lines) == 1, outcome.text
    line = lines[0]
    assert not_vault.url in line, line
    assert "ca ensure" not in outcome.text, line  # a web server's 404 says nothing about Vault's mounts
    assert "/v1/" in line or " on http" in line or "sys/" in line or "/issuer" in line, line
    assert not (tmp_path / "certs").exists() or not any((tmp_path / "certs").rglob("*.key"))
