"""`renew --exec CMD` against a real OpenBao: the command gets roachcert's environment without roachcert's
credentials; `--exec-env NAME` passes one on, on purpose."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from roachcert.app import run
from roachcert_sandbox.openbao import RunningOpenBao

pytestmark = pytest.mark.integration

CREDENTIALS = {
    "COCKROACH_API_KEY": "CCDB1_cloud-api-key-value",
    "GITHUB_TOKEN": "ghs_github-token-value",
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEEXAMPLE00",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-access-key-value",
    "AWS_SESSION_TOKEN": "aws-session-token-value",
    "VAULT_ROLE_ID": "vault-role-id-value",
    "VAULT_SECRET_ID": "vault-secret-id-value",
    "TF_TOKEN_app_terraform_io": "tfc-token-value",
    "DEPLOY_PASSWORD": "some-deploy-password",
    "PROXY_URL": "https://proxy-user:proxy-pass-value@proxy.example.test",  # a value holding a secret
}
_DUMP = "import json, os, sys; json.dump(dict(os.environ), open(sys.argv[1], 'w'))"


@pytest.fixture
def ensured(ensure_stack: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    stack = ensure_stack()
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("RELOAD_TARGET", "app.service")
    return stack


def _renew_and_dump(stack: Path, dump: Path, *extra: str) -> dict[str, str]:
    command = f"{sys.executable} -c {json.dumps(_DUMP)} {dump}"
    assert run(["renew", str(stack), "frogs", "app", "--exec", command, *extra]) == 0
    seen: dict[str, str] = json.loads(dump.read_text())
    return seen


def test_the_exec_command_gets_no_credentials(
    ensured: Path, vault_env: RunningOpenBao, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seen = _renew_and_dump(ensured, tmp_path / "env.json")
    assert "1 renewed" in capsys.readouterr().out
    assert seen["ROACHCERT_RENEWED"] == "frogs/app"
    assert seen["RELOAD_TARGET"] == "app.service"  # the rest of the environment is kept
    assert seen["VAULT_ADDR"] == vault_env.addr
    assert "PATH" in seen
    leaked = sorted(set(seen) & {*CREDENTIALS, "VAULT_TOKEN"})
    assert not leaked, leaked
    text = json.dumps(seen)
    for value in [*CREDENTIALS.values(), vault_env.token]:
        assert value not in text


def test_exec_env_passes_a_named_credential_on(ensured: Path, tmp_path: Path) -> None:
    seen = _renew_and_dump(
        ensured, tmp_path / "env.json", "--exec-env", "GITHUB_TOKEN", "--exec-env", "AWS_ACCESS_KEY_ID"
    )
    assert seen["GITHUB_TOKEN"] == CREDENTIALS["GITHUB_TOKEN"]
    assert seen["AWS_ACCESS_KEY_ID"] == CREDENTIALS["AWS_ACCESS_KEY_ID"]
    assert "VAULT_TOKEN" not in seen
    assert "COCKROACH_API_KEY" not in seen


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (("--exec-env", "GITHUB_TOKEN"), "give --exec too"),
        (("--exec", "true", "--exec-env", "NOT A NAME"), "is not an environment variable name"),
    ],
)
def test_exec_env_misuse_is_one_line(
    ensured: Path, capsys: pytest.CaptureFixture[str], extra: tuple[str, ...], said: str
) -> None:
    assert run(["renew", str(ensured), "frogs", "app", *extra]) == 1
    err = capsys.readouterr().err
    assert said in err
    assert err.count("\n") == 1
