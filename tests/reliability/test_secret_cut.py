"""A secret a server echoes back is masked before roachcert cuts or escapes the message that shows it: a
secret cut in two (a message kept to 200 characters) or escaped (JSON, markdown) is found no more by the
mask at the sink, and its first half would be printed. Each case drives the real command over a small
HTTP server that answers with the secret placed across the cut."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fake_http import Server, json_answer

from certs_helper import make_ca
from roachcert.adapters import Adapters, real
from roachcert.app import run
from roachcert.runtime import Runtime
from roachcert.spec import Stack

CLUSTER_ID = "2186fbdb-598c-4797-a463-aaaee865903e"
KEY = "CCDB1_" + "k7Qz" * 10  # 46 characters: its first 20 are already a give-away


def _stack(folder: Path) -> Path:
    path = folder / "frogs.yaml"
    path.write_text(
        "version: 1\ncas:\n  client-ca: {mount: m1, common_name: Client CA, issuers: [ca-a]}\n"
        f"clusters:\n  frogs: {{id: {CLUSTER_ID}, ca: client-ca, host: f.example, users: [app]}}\n"
    )
    return path


class _Vault:
    def __init__(self) -> None:
        self.pem = make_ca("Client CA")[0]

    def read_issuer_pem(self, mount: str, issuer: str) -> str | None:
        return self.pem


def _across(limit: int, prefix: str, secret: str) -> str:
    """A message whose `limit`th character falls in the middle of `secret`."""
    return prefix + "x" * (limit - len(prefix) - len(secret) // 2) + " " + secret


def _status(tmp_path: Path, answer: object, status: int = 400, *extra: str) -> tuple[int, str]:
    server = Server(lambda _method, _path: json_answer(answer, status))
    try:
        env = {
            "COCKROACH_API_KEY": KEY,
            "COCKROACH_SERVER": server.url,
            "ROACHCERT_HOME": str(tmp_path / "home"),
            "HOME": str(tmp_path),
        }
        vault = _Vault()

        def open_vault(_stack: Stack) -> _Vault:
            return vault

        runtime = Runtime(
            environ=env,
            stdout=io.StringIO(),
            stderr=io.StringIO(),
            adapters=Adapters(vault=open_vault, cloud=real(env).cloud),
        )
        code = run(["status", str(_stack(tmp_path)), *extra], runtime)
    finally:
        server.stop()
    assert isinstance(runtime.stdout, io.StringIO)
    assert isinstance(runtime.stderr, io.StringIO)
    return code, runtime.stdout.getvalue() + runtime.stderr.getvalue()


@pytest.mark.parametrize("format", ["text", "json"])
def test_an_api_key_the_cloud_api_echoes_across_the_cut_is_masked_whole(tmp_path: Path, format: str) -> None:
    # The refusal's message is kept to 200 characters; the key sits across the 200th.
    code, shown = _status(tmp_path, {"message": _across(200, "bad request:", KEY)}, 400, "--format", format)
    assert code == 1
    assert "bad request" in shown
    assert KEY[:12] not in shown, shown


def test_an_api_key_in_an_answer_that_is_not_the_apis_is_masked_before_it_is_encoded_and_cut(
    tmp_path: Path,
) -> None:
    # The odd answer is shown as the start of its JSON (80 characters): the key is masked before that.
    answer = {"status": 5, "note": _across(80 - len('{"status": 5, "note": "'), "", KEY)}
    code, shown = _status(tmp_path, answer, 200, "--format", "json")
    assert code == 1
    assert "not the API's answer" in shown
    assert KEY[:12] not in shown, shown


def test_a_token_github_echoes_across_the_cut_is_masked_whole(tmp_path: Path) -> None:
    token = "ghp_" + "T0k3n" * 8
    server = Server(
        lambda _method, _path: json_answer({"message": _across(200, "Validation Failed:", token)}, 422)
    )
    report = tmp_path / "plan.md"
    report.write_text("<!-- roachcert:stack=frogs -->\n### roachcert plan: frogs\n\nNo changes.\n")
    runtime = Runtime(
        environ={"GITHUB_TOKEN": token, "HOME": str(tmp_path)}, stdout=io.StringIO(), stderr=io.StringIO()
    )
    try:
        code = run(
            ["comment", str(report), "--repo", "o/r", "--pr", "7", "--api-url", server.url, "--author", "me"],
            runtime,
        )
    finally:
        server.stop()
    assert isinstance(runtime.stderr, io.StringIO)
    shown = runtime.stderr.getvalue()
    assert code == 1
    assert "HTTP 422" in shown
    assert token[:12] not in shown, shown


def test_a_token_a_server_that_is_not_vault_echoes_across_the_preview_is_masked_whole(tmp_path: Path) -> None:
    # Its answer is shown as a 60-character preview; the token sits across the 60th.
    token = "hvs." + "V4ult" * 8
    page = f"<html>{_across(60, '<body>denied', token)}</body></html>".encode()
    server = Server(lambda _method, _path: (200, {"Content-Type": "text/html"}, page))
    env = {"VAULT_ADDR": server.url, "VAULT_TOKEN": token, "ROACHCERT_HOME": str(tmp_path / "home")}
    runtime = Runtime(environ=env, stdout=io.StringIO(), stderr=io.StringIO())
    try:
        code = run(["render", str(_stack(tmp_path))], runtime)
    finally:
        server.stop()
    assert isinstance(runtime.stderr, io.StringIO)
    shown = runtime.stderr.getvalue()
    assert code == 1
    assert "does not answer like Vault" in shown
    assert token[:12] not in shown, shown
