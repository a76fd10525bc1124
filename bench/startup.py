"""startup: `roachcert --help` beside `python -c "import typer"`, whole processes, interleaved.

Neither side needs a server. Each round runs the baseline, `roachcert --help`, `roachcert --version`
(which also asks the engine its version) and `roachcert plan --help` (typer builds one command's
options, and pulls in pydantic for their coercion), the order rotating; medians of ROUNDS rounds.
The goal is on `--help` only: the other two show what a command adds to bare start-up.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from bench.common import ROACHCERT, Outcome, Row, fmt_s, interleaved, loadavg, median, report, run, say, timed

ROUNDS = 15
GOAL = 1.2  # issue #29


def main() -> Outcome:
    outcome = Outcome("startup")
    env = {**os.environ, "NO_COLOR": "1"}
    sides = {
        "python -c 'import typer'": [sys.executable, "-c", "import typer"],
        "roachcert --help": [str(ROACHCERT), "--help"],
        "roachcert plan --help": [str(ROACHCERT), "plan", "--help"],
        "roachcert --version": [str(ROACHCERT), "--version"],
    }
    for argv in sides.values():  # warm the page cache and the .pyc files
        run(argv, env)
    before = loadavg()

    def side(argv: list[str]) -> Callable[[], float]:
        return lambda: timed(lambda: run(argv, env))

    times = interleaved({name: side(argv) for name, argv in sides.items()}, ROUNDS)
    medians = {name: median(values) for name, values in times.items()}
    base = medians["python -c 'import typer'"]
    ours = medians["roachcert --help"]
    ratio = ours / base
    for name, seconds in medians.items():
        say(f"  {name:<28} median {seconds:.3f} s ({seconds / base:.2f}x the bare typer import)")
    outcome.data = {
        "rounds": ROUNDS,
        "runs_s": times,
        "median_s": medians,
        "ratio": ratio,
        "goal_ratio_at_most": GOAL,
        "met": ratio <= GOAL,
        "loadavg_before": before,
        "loadavg_after": loadavg(),
    }
    row = Row(
        benchmark="startup",
        case="`roachcert --help`, whole process",
        baseline=f"{fmt_s(base)} (python -c 'import typer')",
        roachcert=fmt_s(ours),
        result=f"{ratio:.2f}x the time",
        goal=f"<= {GOAL:.2f}x",
        met=ratio <= GOAL,
    )
    outcome.rows.append(row)
    report(row)
    if ratio > GOAL:
        outcome.findings.append(
            f"`roachcert --help` takes {ratio:.2f}x a bare `import typer` ({ours - base:.3f} s more)"
        )
    return outcome
