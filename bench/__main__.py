"""`make bench` entry point: `python -m bench [NAME...]`, NAME one of startup, render, plan, issue, parallel,
engines, fastpath.

Each benchmark brings up a sandbox of its own under a temp folder (ROACHCERT_HOME there too), runs the
baseline and roachcert interleaved on the same servers, prints both, the ratio and the goal, and writes
bench/results/NAME.json. At the end a markdown table of every benchmark run is printed.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable

from bench.common import Outcome, Row, loadavg, machine, save, say

NAMES = ("startup", "render", "plan", "issue", "parallel", "engines", "fastpath")


def _runner(name: str) -> Callable[[], Outcome]:
    if name == "startup":
        from bench.startup import main as startup

        return startup
    if name == "issue":
        from bench.issue import main as issue

        return issue
    if name == "plan":
        from bench.plan import main as plan

        return plan
    if name == "render":
        from bench.render import main as render

        return render
    if name == "fastpath":
        from bench.fastpath import main as fastpath

        return fastpath
    if name == "engines":
        from bench.engines import main as engines

        return engines
    from bench.parallel import main as parallel

    return parallel


def compile_bytecode() -> str:
    """Write the bytecode of roachcert's and the sandbox's modules, as installing a wheel does.

    An editable install compiles nothing, and with PYTHONDONTWRITEBYTECODE set (or a __pycache__ left
    from an older checkout) every CLI process the benchmarks time would compile each changed module
    again (~70 ms a process here), a cost no installed roachcert pays and the baselines' libraries never do.
    """
    import compileall
    import importlib.util

    folders = []
    for package in ("roachcert", "roachcert_sandbox"):
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.submodule_search_locations:
            folders.extend(spec.submodule_search_locations)
    ok = all(compileall.compile_dir(folder, quiet=1) for folder in folders)
    return f"bytecode compiled for {', '.join(folders)}" + ("" if ok else " (some modules failed to compile)")


def table(rows: list[Row]) -> str:
    lines = [
        "| benchmark | case | baseline | roachcert | result | goal | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        met = "yes" if row.met else "**no**"
        lines.append(
            f"| {row.benchmark} | {row.case} | {row.baseline} | {row.roachcert} | {row.result} | {row.goal} | {met} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"one or more of {', '.join(NAMES)} (default: all)"
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in NAMES]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}: choose from {', '.join(NAMES)}")
    names: list[str] = list(dict.fromkeys(args.names)) or list(NAMES)
    say(compile_bytecode())
    rows: list[Row] = []
    notes: list[str] = []
    failed: list[str] = []
    began = time.monotonic()
    for name in names:
        say(f"\n== {name} (load average {' '.join(str(value) for value in loadavg())})")
        start = time.monotonic()
        try:
            outcome = _runner(name)()
        except Exception:
            say(traceback.format_exc().rstrip())
            failed.append(name)
            continue
        outcome.data["wall_s"] = round(time.monotonic() - start, 1)
        path = save(outcome)
        say(f"  ({outcome.data['wall_s']:.0f} s) wrote {path}")
        rows.extend(outcome.rows)
        notes.extend(f"{name}: {note}" for note in outcome.findings)
    facts = machine()
    say(f"\n== summary ({time.monotonic() - began:.0f} s)\n")
    say(table(rows))
    say(
        f"\nMachine: {facts['cpu_count']} x {facts['cpu_model']}, Python {facts['python']}, {facts['engine']}, "
        f"{facts['openbao']}; {facts['date']}; load average at the end {facts['loadavg_at_end']}."
    )
    for note in notes:
        say(f"- {note}")
    if failed:
        say(f"\nfailed to run: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
