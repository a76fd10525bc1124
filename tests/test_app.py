"""The CLI edge: every exception becomes roachcert's own exit status, never another program's code."""

from __future__ import annotations

from pathlib import Path

import pytest

from roachcert.app import run
from roachcert.errors import SpecError, VaultError
from roachcert.exit_status import ExitStatus
from roachcert.terraform.errors import TerraformCommandError


@pytest.fixture(autouse=True)
def _in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # an internal error writes its crash log under ./.roachcert/


def _raising(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    def boom() -> dict[str, object]:
        raise exc

    monkeypatch.setattr("roachcert.commands.schema.stack_schema", boom)


@pytest.mark.parametrize("returncode", [3, 2, -9, 247, 1])
def test_a_failed_engine_exits_1_whatever_its_own_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], returncode: int
) -> None:
    _raising(monkeypatch, TerraformCommandError("apply", returncode, "Error: boom"))
    assert run(["schema"]) == ExitStatus.ERROR
    assert f"terraform apply failed (exit {returncode})" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (VaultError("sealed"), ExitStatus.ERROR),
        (SpecError(["s.yaml:3: cas: bad", "s.yaml:9: clusters: bad"]), ExitStatus.ERROR),
        (KeyboardInterrupt(), ExitStatus.INTERRUPTED),
        (BrokenPipeError(), ExitStatus.ERROR),
        (ValueError("oops"), ExitStatus.BUG),
    ],
)
def test_each_kind_of_failure_has_its_status(
    monkeypatch: pytest.MonkeyPatch, exc: BaseException, status: ExitStatus
) -> None:
    _raising(monkeypatch, exc)
    assert run(["schema"]) == status


def test_spec_errors_print_one_line_each(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _raising(monkeypatch, SpecError(["s.yaml:3: cas: bad", "s.yaml:9: clusters: bad"]))
    run(["schema"])
    assert capsys.readouterr().err.splitlines() == ["s.yaml:3: cas: bad", "s.yaml:9: clusters: bad"]


def test_a_usage_error_exits_1_not_clicks_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["plan", "--no-such-flag"]) == ExitStatus.ERROR


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["plan", "--no-such-flag"], "No such option: --no-such-flag"),
        (["issue"], "Missing argument 'STACK'"),
        (["plan", "--parallelism", "-1", "s.yaml"], "Invalid value for '--parallelism'"),
        (["certs", "--format", "xml", "."], "Invalid value for '--format'"),
    ],
)
def test_every_usage_error_is_roachcerts_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], said: str
) -> None:
    assert run(argv) == ExitStatus.ERROR
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("roachcert: ")
    assert said in line
    assert f"(see `roachcert {argv[0]} --help`)" in line


def test_an_internal_error_leaves_a_masked_crash_log_it_names(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("VAULT_TOKEN", "hvs.crashsecret")
    _raising(monkeypatch, ValueError("oops hvs.crashsecret"))
    assert run(["schema"]) == ExitStatus.BUG
    [line] = capsys.readouterr().err.splitlines()
    [log] = (tmp_path / ".roachcert").glob("crash-*.log")
    assert f"the traceback is in {log}" in line
    assert "hvs.crashsecret" not in line
    text = log.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text
    assert "ValueError: oops ***" in text
    assert "argv: schema" in text
    assert "hvs.crashsecret" not in text
    assert log.stat().st_mode & 0o777 == 0o600


def test_success_is_0() -> None:
    assert run(["schema"]) == ExitStatus.OK
