"""The Typer app and the CLI edge: the only place errors become a line and an exit code."""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Sequence

import typer
from typer._click.exceptions import ClickException

from roachcert import __version__
from roachcert.errors import RoachcertError, SpecError
from roachcert.escape import printable_lines
from roachcert.exit_status import ExitStatus
from roachcert.mask import mask

app = typer.Typer(
    name="roachcert",
    help="Client CAs for CockroachDB Cloud dedicated clusters: declared in YAML, kept in Vault, applied with Terraform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)

# Each module holds one command (or group) and registers itself on the app.
COMMAND_MODULES = (
    "roachcert.commands.validate",
    "roachcert.commands.schema",
    "roachcert.commands.sandbox",
    "roachcert.commands.render",
    "roachcert.commands.plan",
    "roachcert.commands.apply",
    "roachcert.commands.adopt",
    "roachcert.commands.ca",
    "roachcert.commands.issue",
    "roachcert.commands.connect_url",
    "roachcert.commands.renew",
    "roachcert.commands.certs",
    "roachcert.commands.comment",
    "roachcert.commands.status",
    "roachcert.commands.check",
    "roachcert.commands.rotate",
)


def _version(value: bool) -> None:
    if value:
        from roachcert.terraform.engine import describe_engine

        typer.echo(f"roachcert {__version__}")
        typer.echo(describe_engine())
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


_registered: list[str] = []


def _register() -> None:
    for name in COMMAND_MODULES:
        if name not in _registered:
            importlib.import_module(name).register(app)
            _registered.append(name)


def error_line(message: str) -> None:
    # Messages may quote Vault, the Cloud API or a certificate: no control character reaches the terminal.
    sys.stderr.write(printable_lines(mask(message).rstrip("\n")) + "\n")


def main(argv: Sequence[str] | None = None) -> None:
    raise SystemExit(run(list(sys.argv[1:] if argv is None else argv)))


def run(argv: list[str]) -> int:
    from roachcert import interrupts

    with interrupts.handling():
        return _run(argv)


def _interrupted() -> int:
    """One line and 128+signal (130 for Ctrl-C, 143 for SIGTERM)."""
    import signal

    from roachcert import interrupts

    number = interrupts.signum()
    error_line(f"roachcert: interrupted by {signal.Signals(number).name}; nothing half-done was kept")
    return 128 + number


def _run(argv: list[str]) -> int:
    debug = "--debug" in argv
    try:
        _register()
        command = typer.main.get_command(app)
        result = command.main(args=argv, prog_name="roachcert", standalone_mode=False)
        code = result if isinstance(result, int) else ExitStatus.OK
        if code == ExitStatus.INTERRUPTED:
            # Typer turns Ctrl-C (and our SIGTERM) into a silent Exit(130) before the handlers below.
            return _interrupted()
        return code
    except SpecError as exc:
        for problem in exc.problems:
            error_line(problem)
        return ExitStatus.ERROR
    except RoachcertError as exc:
        error_line(f"roachcert: {exc}")
        return ExitStatus.ERROR
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        return _interrupted()
    except ClickException as exc:
        # Usage errors exit 1, not click's 2: 2 means "the plan has changes" here.
        exc.show()
        return ExitStatus.ERROR
    except KeyboardInterrupt:
        return _interrupted()
    except BrokenPipeError:
        return ExitStatus.ERROR
    except Exception as exc:
        if debug:
            error_line("".join(traceback.format_exception(exc)))
        error_line(
            f"roachcert: internal error ({type(exc).__name__}: {exc}); "
            "run again with --debug for the traceback and report it"
        )
        return ExitStatus.BUG
