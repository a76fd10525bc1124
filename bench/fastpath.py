"""fastpath: the no-change fast path (plan_seen) against raw `terraform plan`, on unchanged stacks.

Two cases, each stack planned and applied first, then planned once in full (which records what Terraform
saw), so every timed `roachcert plan` is answered without Terraform: its Cloud reads, Vault bundles,
render and identity checks only.
- one stack of 50 clusters, and one of 1,000: `roachcert plan STACK` vs the same engine's `terraform plan`
  in its folder;
- `roachcert plan DIR` of 10 stacks (5 clusters each) vs raw `terraform plan` in the 10 folders, as many
  at once as roachcert plans stacks (one per CPU); `roachcert plan DIR --full` is timed beside them.
Rounds alternate which side goes first; medians are compared. Each timed fast plan is checked to say
"verified without Terraform", so a fall-back to Terraform cannot pass for the fast path.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import (
    Bench,
    Outcome,
    Row,
    fmt_s,
    interleaved,
    loadavg,
    median,
    new_clusters,
    new_mount,
    report,
    roachcert,
    run,
    sandbox,
    say,
    timed,
    write_stack,
)

CLUSTERS = 50
BIG = 1000  # ROACHCERT_BENCH_BIG=0 leaves it out, as in the plan benchmark
BIG_GOAL = 0.4
BIG_ROUNDS = 3
STACKS = 10
STACK_CLUSTERS = 5
ROUNDS = 7
GOAL = 0.6
VERIFIED = "verified without Terraform"


def _converge(bench: Bench, target: Path, stacks: list[Path]) -> None:
    for stack in stacks:
        roachcert(bench, "ca", "ensure", str(stack))
    roachcert(bench, "plan", str(target), ok=(2,))
    for stack in stacks:
        roachcert(bench, "apply", str(stack))
    roachcert(bench, "plan", str(target), "--full")  # records what Terraform saw


def _fast(bench: Bench, target: Path) -> float:
    def once() -> None:
        out = roachcert(bench, "plan", str(target))
        if VERIFIED not in out:
            raise RuntimeError(f"roachcert plan {target} ran Terraform: the fast path did not answer")

    return timed(once)


def _single(
    bench: Bench, raw_argv: list[str], env: dict[str, str], name: str, clusters: int, rounds: int
) -> dict[str, list[float]]:
    """One stack of `clusters`, converged and recorded, then planned: raw engine vs the fast path."""
    stack = write_stack(
        bench.tmp / name / f"{name}.yaml",
        new_clusters(bench, clusters, prefix=name[:3]),
        mount=new_mount(name[:4]),
    )
    _converge(bench, stack, [stack])
    workdir = bench.home / name
    run(raw_argv, env, cwd=workdir)  # warm
    say(f"  {clusters} clusters, load before: {loadavg()}")
    return interleaved(
        {
            "terraform plan": lambda: timed(lambda: run(raw_argv, env, cwd=workdir)),
            "roachcert plan (fast path)": lambda: _fast(bench, stack),
        },
        rounds,
    )


def main() -> Outcome:
    outcome = Outcome("fastpath")
    with sandbox("fastpath") as bench:
        engine = bench.env["ROACHCERT_TERRAFORM"]
        env = {**bench.env, "TF_IN_AUTOMATION": "1"}
        raw_argv = [engine, "plan", "-input=false", "-no-color", "-out=bench.tfplan"]

        one = _single(bench, raw_argv, env, "fifty", CLUSTERS, ROUNDS)
        big: dict[str, list[float]] = {}
        if os.environ.get("ROACHCERT_BENCH_BIG", "1") != "0":
            big = _single(bench, raw_argv, env, "thousand", BIG, BIG_ROUNDS)

        folder = bench.tmp / "fleet"
        stacks = [
            write_stack(
                folder / f"s{index:02d}.yaml",
                new_clusters(bench, STACK_CLUSTERS, prefix=f"s{index:02d}x"),
                mount=new_mount(f"f{index}"),
            )
            for index in range(STACKS)
        ]
        _converge(bench, folder, stacks)
        folders = [bench.home / stack.stem for stack in stacks]
        workers = max(1, min(os.cpu_count() or 2, STACKS))

        def raw_all() -> None:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(lambda path: run(raw_argv, env, cwd=path), folders))

        raw_all()  # warm
        say(f"  plan DIR of {STACKS} stacks, load before: {loadavg()}")
        many = interleaved(
            {
                "terraform plan x10": lambda: timed(raw_all),
                "roachcert plan DIR (fast path)": lambda: _fast(bench, folder),
                "roachcert plan DIR --full": lambda: timed(
                    lambda: roachcert(bench, "plan", str(folder), "--full")
                ),
            },
            ROUNDS,
        )
        load = loadavg()

    raw_one, fast_one = median(one["terraform plan"]), median(one["roachcert plan (fast path)"])
    raw_many, fast_many = median(many["terraform plan x10"]), median(many["roachcert plan DIR (fast path)"])
    full_many = median(many["roachcert plan DIR --full"])
    outcome.data = {
        "single": {"clusters": CLUSTERS, "runs_s": one, "ratio": fast_one / raw_one},
        "dir": {
            "stacks": STACKS,
            "clusters_per_stack": STACK_CLUSTERS,
            "raw_parallelism": workers,
            "runs_s": many,
            "ratio": fast_many / raw_many,
            "full_ratio": full_many / raw_many,
        },
        "goal_ratio_at_most": GOAL,
        "loadavg_at_end": list(load),
    }
    outcome.notes.append(
        "fast path: stack planned, applied and planned once with --full before timing; every timed "
        f"roachcert plan said '{VERIFIED}'. Raw side: the same engine binary in the same folders."
    )
    rows = [
        Row(
            benchmark="fastpath",
            case=f"{CLUSTERS} clusters, no changes: fast path",
            baseline=f"{fmt_s(raw_one)} (terraform plan)",
            roachcert=fmt_s(fast_one),
            result=f"{fast_one / raw_one:.2f}x the time",
            goal=f"<= {GOAL:.2f}x",
            met=fast_one / raw_one <= GOAL,
        ),
        Row(
            benchmark="fastpath",
            case=f"plan DIR, {STACKS} unchanged stacks x {STACK_CLUSTERS} clusters: fast path "
            f"(--full: {fmt_s(full_many)})",
            baseline=f"{fmt_s(raw_many)} (terraform plan in each folder, {workers} at once)",
            roachcert=fmt_s(fast_many),
            result=f"{fast_many / raw_many:.2f}x the time",
            goal=f"<= {GOAL:.2f}x",
            met=fast_many / raw_many <= GOAL,
        ),
    ]
    if big:
        raw_big, fast_big = median(big["terraform plan"]), median(big["roachcert plan (fast path)"])
        outcome.data["big"] = {"clusters": BIG, "runs_s": big, "ratio": fast_big / raw_big}
        rows.insert(
            1,
            Row(
                benchmark="fastpath",
                case=f"{BIG:,} clusters, no changes: fast path",
                baseline=f"{fmt_s(raw_big)} (terraform plan)",
                roachcert=fmt_s(fast_big),
                result=f"{fast_big / raw_big:.2f}x the time",
                goal=f"<= {BIG_GOAL:.2f}x",
                met=fast_big / raw_big <= BIG_GOAL,
            ),
        )
    for row in rows:
        outcome.rows.append(row)
        report(row)
    return outcome
