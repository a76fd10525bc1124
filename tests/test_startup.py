"""Start-up: `--help` lists every command without importing any, and each command imports only its own."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import typer

from certs_helper import make_ca
from roachcert import app as app_module
from roachcert_sandbox.manager import register_cluster

if TYPE_CHECKING:
    from roachcert_sandbox.manager import SandboxState

# What the heavy libraries are; none belongs to listing commands or printing versions.
HEAVY = {"pydantic", "pydantic_core", "cryptography", "yaml", "hvac", "jinja2", "requests", "rich"}

_PROBE = """
import json, sys
from roachcert.app import run
try:
    code = run(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def _imports(
    *argv: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> tuple[int, set[str], set[str]]:
    """Run roachcert in a fresh interpreter: its exit code, top-level packages and roachcert modules."""
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=cwd,
        env=env,
    )
    # The last line, after whatever a drawn progress bar left on it.
    last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
    assert '{"code"' in last, proc.stdout + proc.stderr
    probe = json.loads(last[last.index('{"code"') :])
    modules: list[str] = probe["modules"]
    return (
        int(probe["code"]),
        {name.split(".")[0] for name in modules},
        {name for name in modules if name.startswith("roachcert")},
    )


def _eager_group() -> typer.core.TyperGroup:
    """The app as it was built before the registry was lazy: every module registered on one Typer."""
    eager = typer.Typer(
        name="roachcert",
        help=app_module.HELP,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        context_settings={"help_option_names": ["-h", "--help"]},
        rich_markup_mode=None,
    )
    eager.registered_callback = app_module.app.registered_callback
    for module in [*app_module.COMMAND_MODULES, *(entry.module for entry in app_module.plugins().values())]:
        __import__(module, fromlist=["register"]).register(eager)
    return typer.main.get_group(eager)


@pytest.mark.parametrize("argv", [["--help"], ["-h"], [], ["--version"]])
def test_listing_commands_and_versions_import_no_heavy_library(argv: list[str]) -> None:
    code, packages, ours = _imports(*argv)
    assert code in (0, 1)  # no arguments prints the help and exits 1, as before
    assert packages.isdisjoint(HEAVY), sorted(packages & HEAVY)
    assert not any(name.startswith("roachcert.commands.") for name in ours), sorted(ours)


@pytest.mark.parametrize("argv", [["sandbox", "--help"], ["comment", "--help"], ["sandbox", "env", "--help"]])
def test_sandbox_and_comment_import_no_stack_model_nor_crypto(argv: list[str]) -> None:
    # typer itself coerces parameters through pydantic, so only roachcert's own heavy paths are held here.
    code, packages, ours = _imports(*argv)
    assert code == 0
    assert packages.isdisjoint({"cryptography", "yaml", "hvac", "jinja2"}), sorted(packages)
    assert "roachcert.spec" not in ours
    expected = "roachcert_sandbox.command" if argv[0] == "sandbox" else f"roachcert.commands.{argv[0]}"
    assert ours & {*app_module.COMMAND_MODULES, "roachcert_sandbox.command"} == {expected}


@pytest.mark.parametrize("name", sorted(set(app_module.COMMANDS) - {"schema"}))
def test_a_command_help_loads_no_stack_model_nor_crypto(name: str) -> None:
    # `schema` prints the models' JSON Schema, so it alone needs them to describe itself.
    code, packages, ours = _imports(name, "--help")
    assert code == 0
    assert packages.isdisjoint({"cryptography", "yaml", "hvac", "jinja2"}), sorted(packages)
    assert "roachcert.spec" not in ours


def test_running_one_command_imports_only_its_module() -> None:
    code, _packages, ours = _imports("schema")
    assert code == 0
    # Shared helpers (commands.args, commands.context) are no command's module.
    assert ours & set(app_module.COMMAND_MODULES) == {"roachcert.commands.schema"}


def test_the_table_lists_every_command_each_module_registers_in_help_order() -> None:
    assert list(_eager_group().commands) == [*app_module.COMMANDS, *app_module.plugins()]


def test_the_sandbox_is_a_plugin_the_product_only_finds_through_its_entry_point() -> None:
    assert "sandbox" not in app_module.COMMANDS
    assert app_module.plugins()["sandbox"].module == "roachcert_sandbox.plugin"
    code, _packages, ours = _imports("--help")
    assert code == 0
    assert "roachcert_sandbox.command" not in ours  # listed from its summary, built only when it runs


@pytest.mark.parametrize("limit", [20, 45, 60, 74, 120, 400])
def test_each_summary_is_what_the_command_own_help_shortens_to(limit: int) -> None:
    for name, command in _eager_group().commands.items():
        summary = typer._click.utils.make_default_short_help(app_module.command_entry(name).summary, limit)
        assert summary == command.get_short_help_str(limit), name


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["plan", "--help"], ["sandbox", "--help"], ["sandbox", "up", "--help"], ["ca", "--help"]],
)
def test_help_reads_as_the_eager_app_printed_it(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    def printed(group: typer._click.Command) -> str:
        with contextlib.suppress(typer.Exit):
            group.main(args=list(argv), prog_name="roachcert", standalone_mode=False)
        return capsys.readouterr().out

    lazy = printed(typer.main.get_command(app_module.app))
    assert lazy.startswith("Usage: roachcert")
    assert lazy == printed(_eager_group())


def test_a_typo_still_gets_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    assert app_module.run(["plna"]) == 1
    assert "No such command 'plna'. Did you mean 'plan'?" in capsys.readouterr().err


# -- each command's import set (issue #29: import only what runs, when it runs) -------------------------
# The libraries a command loads only when it needs them: a certificate parsed (cryptography), Vault or an
# HTTP API called (hvac, requests, urllib3), templates rendered (jinja2), a progress bar drawn (rich).
CLIENTS = {"hvac", "requests", "urllib3"}
# The plan's pipeline past rendering: the engine, the fast path's record, the plan's reports.
PLAN_ONLY = (
    "roachcert.planning",
    "roachcert.plan_pool",
    "roachcert.plan_seen",
    "roachcert.guard_facts",
    "roachcert.reports",
    "roachcert.github",
    "roachcert.terraform.runner",
    "roachcert.terraform.engine",
)


def test_validate_loads_no_client_no_crypto_no_templates_no_bar(repo_root: Path) -> None:
    code, packages, ours = _imports("validate", str(repo_root / "stacks" / "example.yaml"))
    assert code == 0
    assert packages.isdisjoint(CLIENTS | {"cryptography", "jinja2", "rich"}), sorted(packages)
    assert not any(
        name.startswith(("roachcert.certs", "roachcert.vault", "roachcert.cloud")) for name in ours
    )


def test_validate_loads_cryptography_only_to_parse_a_pem_file(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text(make_ca("Legacy client CA")[0], encoding="utf-8")
    stack = tmp_path / "st.yaml"
    stack.write_text(
        "version: 1\ncas:\n  legacy: {pem_file: ca.pem}\n"
        f"clusters:\n  frogs: {{id: {uuid.uuid4()}, ca: legacy, host: frogs.example.test}}\n",
        encoding="utf-8",
    )
    code, packages, _ours = _imports("validate", str(stack))
    assert code == 0
    assert "cryptography" in packages  # the PEM file's certificate is parsed and checked
    assert packages.isdisjoint(CLIENTS | {"jinja2", "rich"}), sorted(packages)


def test_certs_loads_no_client_no_templates_no_bar(repo_root: Path, tmp_path: Path) -> None:
    code, packages, _ours = _imports("certs", str(repo_root / "stacks" / "example.yaml"), cwd=tmp_path)
    assert code == 0
    assert packages.isdisjoint(CLIENTS | {"jinja2", "rich"}), sorted(packages)


def test_commands_on_the_sandbox_load_only_what_they_run(
    sandbox: SandboxState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE"):  # either makes rich draw without a terminal
        monkeypatch.delenv(name, raising=False)
    cluster_id = str(uuid.uuid4())
    register_cluster(sandbox, cluster_id, "frogs")
    stack = tmp_path / "st.yaml"
    stack.write_text(
        f"version: 1\ncas:\n  client-ca:\n    mount: pki_{uuid.uuid4().hex[:8]}\n    common_name: Imports CA\n"
        "    issuers: [ca-a]\n    role: {name: client, key_type: ec}\n"
        f"clusters:\n  frogs: {{id: {cluster_id}, ca: client-ca, host: frogs.example.test, users: [app]}}\n",
        encoding="utf-8",
    )
    assert app_module.run(["ca", "ensure", str(stack)]) == 0
    # Planning reads issuers from Vault: no key, CSR or rotation code, and no bar.
    not_planning = ("roachcert.certs", "roachcert.vault.rotation", "roachcert.vault.ca_ensure")
    for argv, expected in ((["render"], 0), (["plan"], 2)):
        code, packages, ours = _imports(*argv, str(stack), cwd=tmp_path)
        assert code == expected, argv
        assert "rich" not in packages, argv
        assert not any(name.startswith(not_planning) for name in ours), (argv, sorted(ours))
        if argv == ["render"]:
            # Rendering runs no engine and reads no Cloud API: none of the plan's pipeline is loaded.
            assert not any(name.startswith((*PLAN_ONLY, "roachcert.cloud")) for name in ours), sorted(ours)
    assert app_module.run(["apply", str(stack)]) == 0
    code, packages, _ours = _imports("status", str(stack), cwd=tmp_path)
    assert code == 0
    assert packages.isdisjoint({"jinja2", "rich"}), sorted(packages)
    # stderr is a pipe here: no bar can draw, so rich is not loaded; neither are the templates.
    for argv in (["frogs", "app"], ["--all"]):
        code, packages, ours = _imports(
            "issue", str(stack), *argv, "--out", str(tmp_path / "certs"), cwd=tmp_path
        )
        assert code == 0, argv
        assert packages.isdisjoint({"jinja2", "rich"}), (argv, sorted(packages))
        assert not any(name.startswith((*PLAN_ONLY, "roachcert.terraform")) for name in ours), sorted(ours)
    # Where rich would draw anyway (TTY_COMPATIBLE=1), the bar is drawn as before.
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    code, packages, _ours = _imports(
        "issue", str(stack), "--all", "--force", "--out", str(tmp_path / "certs"), cwd=tmp_path
    )
    assert code == 0
    assert "rich" in packages


def test_a_pem_file_only_stack_never_opens_vault(sandbox: SandboxState, tmp_path: Path) -> None:
    # Every CA a PEM file: plan, apply, adopt and status need no Vault address or token, and never load hvac.
    cluster_id = str(uuid.uuid4())
    register_cluster(sandbox, cluster_id, "frogs")
    (tmp_path / "ca.pem").write_text(make_ca("PEM-only client CA")[0], encoding="utf-8")
    stack = tmp_path / "st.yaml"
    stack.write_text(
        "version: 1\ncas:\n  legacy: {pem_file: ca.pem}\n"
        f"clusters:\n  frogs: {{id: {cluster_id}, ca: legacy, host: frogs.example.test, users: [app]}}\n",
        encoding="utf-8",
    )
    env = {name: value for name, value in os.environ.items() if not name.startswith("VAULT_")}
    env["HOME"] = str(tmp_path)  # no ~/.vault-token either
    for argv, expected in (
        (["plan"], 2),
        (["status"], 2),
        (["apply"], 0),
        (["status"], 0),
        (["plan", "--full"], 0),
        (["adopt"], 0),
    ):
        code, packages, _ours = _imports(*argv, str(stack), cwd=tmp_path, env=env)
        assert code == expected, argv
        assert "hvac" not in packages, argv
