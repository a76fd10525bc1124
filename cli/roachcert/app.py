"""The Typer app and the CLI edge: the only place errors become a line and an exit code."""

from __future__ import annotations

import functools
import importlib
import sys
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import typer
import typer._click as click
from typer._click.exceptions import ClickException, UsageError
from typer._click.utils import make_default_short_help
from typer.core import TyperGroup

from roachcert import __version__
from roachcert.errors import RoachcertError, SpecError
from roachcert.exit_status import ExitStatus
from roachcert.mask import learn_urls
from roachcert.runtime import Runtime

HELP = "Client CAs for CockroachDB Cloud dedicated clusters: declared in YAML, kept in Vault, applied with Terraform."


@dataclass(frozen=True)
class Entry:
    """One top-level command: its module (which has `register(app)`) and the first sentence of its help."""

    module: str
    summary: str


# Listed in the order `--help` shows them (typer lists commands before groups). The summaries are what
# `--help` prints, so listing the commands imports none of them; tests/test_startup.py holds each summary
# to the command's own help.
COMMANDS: dict[str, Entry] = {
    "init": Entry(
        "roachcert.commands.init",
        "Draft a stack from the organization's clusters: ids, SQL hosts, and the client CA each trusts today.",
    ),
    "validate": Entry(
        "roachcert.commands.validate",
        "Check stack files: syntax, fields, references, and the PEM files of CAs kept outside Vault.",
    ),
    "schema": Entry(
        "roachcert.commands.schema",
        "Print the JSON Schema of stack files (point yaml-language-server at it for completion).",
    ),
    "render": Entry(
        "roachcert.commands.render",
        "Render the stack's Terraform root module into .roachcert/STACK/ (reads CA PEMs from Vault).",
    ),
    "plan": Entry(
        "roachcert.commands.plan", "Render each stack and run terraform plan; save the plan for `apply`."
    ),
    "apply": Entry(
        "roachcert.commands.apply",
        "Apply the plan saved by `roachcert plan`; refuse a stale one and any deletion without --allow-destroy.",
    ),
    "unmanage": Entry(
        "roachcert.commands.apply",
        "Stop managing a cluster removed from the stack WITHOUT deleting its CA (next plan + apply).",
    ),
    "manage": Entry(
        "roachcert.commands.apply",
        "Undo `unmanage`: the next plan manages the cluster again (declare it in the stack, or the plan deletes "
        "its CA).",
    ),
    "adopt": Entry(
        "roachcert.commands.adopt",
        "Import every declared cluster whose client CA is set but not in state (terraform import): state only, "
        "nothing is written to any cluster.",
    ),
    "issue": Entry(
        "roachcert.commands.issue",
        "Issue a client certificate from the CA's current issuer and print the connection URL.",
    ),
    "connect-url": Entry(
        "roachcert.commands.connect_url",
        "Print the connection URL `issue` prints, without issuing; Vault is not contacted.",
    ),
    "renew": Entry(
        "roachcert.commands.renew",
        "Re-issue the client certificates past their threshold; leave the fresh ones untouched.",
    ),
    "certs": Entry(
        "roachcert.commands.certs",
        "List every client certificate roachcert delivered or finds on disk for the stack: cluster, user, "
        "issuer, serial, expiry, whether it is the one on disk, whether the cluster still trusts its issuer.",
    ),
    "comment": Entry(
        "roachcert.commands.comment",
        "Post each stack's plan report on the pull request, editing that stack's earlier comment.",
    ),
    "status": Entry(
        "roachcert.commands.status",
        "Compare each cluster's client CA in the Cloud API with the bundle the stack renders now.",
    ),
    "check": Entry(
        "roachcert.commands.check",
        "Open a real TLS SQL connection with USER's certificate (sslmode=verify-full) and run SELECT "
        "current_user; print the user on success, else one line saying what is wrong.",
    ),
    "ca": Entry("roachcert.commands.ca", "Client CAs in Vault's PKI engine."),
    "rotate": Entry(
        "roachcert.commands.rotate", "Issuer rotation: append a new issuer, re-issue, drop the old one."
    ),
}

# Each module holds one command (or group, or a few commands) and registers itself on an app.
COMMAND_MODULES = tuple(dict.fromkeys(entry.module for entry in COMMANDS.values()))
# Commands other distributions add (roachcert-sandbox adds `sandbox`): an entry point NAME = "MODULE"
# whose module has `register(app)` and a one-line `SUMMARY`. Looked up only when a name is not ours.
PLUGIN_GROUP = "roachcert.commands"


@functools.cache
def plugins() -> dict[str, Entry]:
    from roachcert.entry_points import entry_points

    found: dict[str, Entry] = {}
    for point in entry_points(PLUGIN_GROUP, sys.path):
        if point.name in COMMANDS:
            continue  # a plugin never replaces one of roachcert's own commands
        try:
            summary = str(importlib.import_module(point.value).SUMMARY)
        except (ImportError, AttributeError):
            continue  # a broken plugin must not break roachcert's own commands
        found[point.name] = Entry(point.value, summary)
    return found


def command_entry(name: str) -> Entry:
    """A command of roachcert's table, else a plugin's (KeyError when neither has the name)."""
    return COMMANDS[name] if name in COMMANDS else plugins()[name]


def command_app() -> typer.Typer:
    """A bare app with the root's settings: modules register on it; its children are built like the root's."""
    return typer.Typer(pretty_exceptions_enable=False, add_completion=False, rich_markup_mode=None)


def load_command(name: str) -> click.Command:
    """Import the module of one command and build that command alone."""
    sub = command_app()
    importlib.import_module(command_entry(name).module).register(sub)
    group = typer.main.get_group(sub)
    return group.commands[name]


class _Commands(Mapping[str, click.Command]):
    """The root's commands: every name is known from the table, a module is imported on first look-up."""

    def __init__(self) -> None:
        self.loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in COMMANDS and name not in plugins():
            raise KeyError(name)
        if name not in self.loaded:
            self.loaded[name] = load_command(name)
        return self.loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter({**COMMANDS, **plugins()})

    def __len__(self) -> int:
        return len({**COMMANDS, **plugins()})


class LazyGroup(TyperGroup):
    """The root group: `--help` lists the table; running a command imports only that command's module.

    Start-up then costs typer and little else: no pydantic, cryptography, PyYAML, hvac or Jinja2 until
    a command needs them.
    """

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        # Typer's own lookups (get_command, list_commands, suggestions for a typo) read self.commands.
        self.commands = _Commands()  # type: ignore[assignment]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # As TyperGroup.format_commands does, from the table's summaries instead of the built commands.
        every = {**COMMANDS, **plugins()}
        limit = formatter.width - 6 - max(len(name) for name in every)
        rows = [(name, make_default_short_help(entry.summary, limit)) for name, entry in every.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


app = typer.Typer(
    cls=LazyGroup,
    name="roachcert",
    help=HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)


def _version(ctx: typer.Context, value: bool) -> None:
    if value:
        from roachcert.runtime import of
        from roachcert.terraform.engine import describe_engine

        run = of(ctx)
        run.out(f"roachcert {__version__}")
        run.out(describe_engine(run.environ))
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_version,
        is_eager=True,
        help="Show roachcert's and the engine's versions.",
    ),
    debug: bool = typer.Option(False, "--debug", help="Show a traceback when roachcert itself fails."),
) -> None:
    """Declare client CAs per cluster in stacks/NAME.yaml; roachcert makes it so."""


def main(argv: Sequence[str] | None = None) -> None:
    raise SystemExit(run(list(sys.argv[1:] if argv is None else argv)))


def run(argv: list[str], runtime: Runtime | None = None) -> int:
    """Run one command; what it reads and writes, and the adapters it opens, come from `runtime`
    (the process's own when None)."""
    from roachcert import interrupts

    chosen = runtime or Runtime()
    learn_urls(*argv)  # a URL given as an option (--api-url): its password is masked like the environment's
    with interrupts.handling():
        return _run(argv, chosen)


def _interrupted(runtime: Runtime) -> int:
    """One line and 128+signal (130 for Ctrl-C, 143 for SIGTERM)."""
    import signal

    from roachcert import interrupts

    number = interrupts.signum()
    runtime.err(f"roachcert: interrupted by {signal.Signals(number).name}; nothing half-done was kept")
    return 128 + number


def _run(argv: list[str], runtime: Runtime) -> int:
    debug = "--debug" in argv
    try:
        command = typer.main.get_command(app)
        # The run's Runtime rides on click's context: every command takes it from there (runtime.of).
        result = command.main(args=argv, prog_name="roachcert", standalone_mode=False, obj=runtime)
        code = result if isinstance(result, int) else ExitStatus.OK
        if code == ExitStatus.INTERRUPTED:
            # Typer turns Ctrl-C (and our SIGTERM) into a silent Exit(130) before the handlers below.
            return _interrupted(runtime)
        return code
    except SpecError as exc:
        for problem in exc.problems:
            runtime.err(problem)
        return ExitStatus.ERROR
    except RoachcertError as exc:
        runtime.err(f"roachcert: {exc}")
        return ExitStatus.ERROR
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        return _interrupted(runtime)
    except ClickException as exc:
        # Usage errors exit 1, not click's 2 (2 means "the plan has changes" here), in roachcert's one-line
        # shape like every other failure, through the run's masked stderr.
        runtime.err(_usage_line(exc))
        return ExitStatus.ERROR
    except KeyboardInterrupt:
        return _interrupted(runtime)
    except BrokenPipeError:
        return ExitStatus.ERROR
    except Exception as exc:
        if debug:
            runtime.err("".join(traceback.format_exception(exc)))
        runtime.err(_internal_error_line(argv, exc, runtime))
        return ExitStatus.BUG


def _usage_line(exc: ClickException) -> str:
    message = " ".join(exc.format_message().split())
    command = exc.ctx.command_path if isinstance(exc, UsageError) and exc.ctx is not None else None
    return f"roachcert: {message}" + (f" (see `{command} --help`)" if command else "")


def _internal_error_line(argv: Sequence[str], exc: Exception, runtime: Runtime) -> str:
    from roachcert.crash_log import write_crash_log
    from roachcert.paths import state_root

    try:
        root = state_root(runtime.environ)
    except RoachcertError:
        log = None
    else:
        log = write_crash_log(root, argv, exc, runtime.environ)
    where = f"the traceback is in {log}" if log else "run again with --debug for the traceback"
    return f"roachcert: internal error ({type(exc).__name__}: {exc}); {where}; please report it"
