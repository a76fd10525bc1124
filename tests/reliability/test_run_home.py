"""A run's home folder is its environment's HOME: `~/.vault-token`, the default `~/.postgresql/root.crt`
and a `~/` path on the command line are looked for there, never under the process's HOME (Path.home()
and expanduser read os.environ). A run whose environment has no HOME gets the user's home from the
password database, as Python itself falls back to."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_http import Server, json_answer

from roachcert.app import run
from roachcert.runtime import Runtime

CLUSTER_ID = "2186fbdb-598c-4797-a463-aaaee865903e"
PROCESS_TOKEN = "hvs.the-process-users-own-token"
STACK = (
    "version: 1\ncas:\n  client-ca: {mount: m1, common_name: Client CA, issuers: [ca-a]}\n"
    f"clusters:\n  frogs: {{id: {CLUSTER_ID}, ca: client-ca, host: f.example, users: [app]}}\n"
)


@pytest.fixture
def process_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "process-home"
    folder.mkdir()
    (folder / ".vault-token").write_text(PROCESS_TOKEN + "\n")
    monkeypatch.setenv("HOME", str(folder))
    return folder


@pytest.fixture
def vault() -> Iterator[Server]:
    server = Server(lambda _method, _path: json_answer({"errors": ["permission denied"]}, 403))
    yield server
    server.stop()


def _runtime(**environ: str) -> Runtime:
    return Runtime(environ=environ, stdout=io.StringIO(), stderr=io.StringIO())


def _stack(tmp_path: Path) -> Path:
    path = tmp_path / "frogs.yaml"
    path.write_text(STACK)
    return path


@pytest.mark.parametrize("run_home", [True, False], ids=["run-home", "no-home"])
def test_the_process_users_vault_token_never_goes_with_a_run(
    tmp_path: Path, process_home: Path, vault: Server, run_home: bool
) -> None:
    environ = {"VAULT_ADDR": vault.url, "ROACHCERT_HOME": str(tmp_path / "state")}
    if run_home:
        (tmp_path / "run-home").mkdir()
        environ["HOME"] = str(tmp_path / "run-home")
    runtime = _runtime(**environ)
    assert run(["render", str(_stack(tmp_path))], runtime) == 1
    assert vault.requests
    assert all(headers.get("X-Vault-Token") != PROCESS_TOKEN for headers in vault.headers)
    assert isinstance(runtime.stderr, io.StringIO)
    assert "no token" in runtime.stderr.getvalue()


def test_a_tilde_path_on_the_command_line_is_under_the_runs_home(tmp_path: Path, process_home: Path) -> None:
    run_home = tmp_path / "run-home"
    runtime = _runtime(HOME=str(run_home), ROACHCERT_HOME=str(tmp_path / "state"))
    argv = ["connect-url", str(_stack(tmp_path)), "frogs", "app", "--sslrootcert=~/ca.crt", "--no-fetch"]
    assert run(argv, runtime) == 0
    assert isinstance(runtime.stdout, io.StringIO)
    url = runtime.stdout.getvalue()
    assert f"sslrootcert={run_home / 'ca.crt'}" in url, url
    assert str(process_home) not in url


def test_no_home_anywhere_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vault: Server) -> None:
    # A container's arbitrary uid has no entry in the password database; with no HOME either there is
    # no ~/.vault-token to look for: one line, not an internal error.
    def no_entry(uid: int) -> object:
        raise KeyError(uid)

    monkeypatch.setattr("pwd.getpwuid", no_entry)
    runtime = _runtime(VAULT_ADDR=vault.url, ROACHCERT_HOME=str(tmp_path / "state"))
    assert run(["render", str(_stack(tmp_path))], runtime) == 1
    assert isinstance(runtime.stderr, io.StringIO)
    assert "set HOME" in runtime.stderr.getvalue()
