"""engines: the two questions a fleet asks. (1) 10 stacks x 5 clusters planned in parallel
(`roachcert plan DIR`) with their state in S3 (the sandbox's SeaweedFS, native S3 locking) vs local
state. (2) OpenTofu vs Terraform (the embedded engine) planning the same 50-cluster stack. Rounds
alternate the two sides on the same sandbox; each side is initialised by a warm-up plan first.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bench.common import (
    Bench,
    Outcome,
    Row,
    fmt_s,
    median,
    new_clusters,
    new_mount,
    report,
    roachcert,
    sandbox,
    say,
    timed,
    write_stack,
)

STACKS = 10
CLUSTERS = 5
BIG = 50
ROUNDS = 3
S3_GOAL = 2.0  # S3 state may cost at most this many times local state's plan time
TOFU_GOAL = 2.0  # OpenTofu at most this many times Terraform's

S3_BACKEND = """terraform:
  backend:
    type: s3
    config: {{bucket: roachcert-state, key: {key}.tfstate, region: us-east-1, use_lockfile: true,
             use_path_style: true, skip_credentials_validation: true, skip_requesting_account_id: true,
             skip_region_validation: true, skip_metadata_api_check: true}}
"""


def _alternate(
    rounds: int,
    first: list[float],
    second: list[float],
    run_first: Callable[[], object],
    run_second: Callable[[], object],
) -> None:
    """Time both sides `rounds` times, swapping which goes first each round (drift hits both alike)."""
    for round_no in range(rounds):
        steps = [(first, run_first), (second, run_second)]
        for times, action in steps if round_no % 2 == 0 else steps[::-1]:
            times.append(timed(action))


def _s3_vs_local(bench: Bench, outcome: Outcome) -> None:
    mount = new_mount("engines")
    local, remote = bench.tmp / "local", bench.tmp / "s3"
    for index in range(1, STACKS + 1):
        clusters = new_clusters(bench, CLUSTERS, prefix=f"s{index:02d}_")
        write_stack(local / f"local{index:02d}.yaml", clusters, mount=mount)
        path = write_stack(remote / f"remote{index:02d}.yaml", clusters, mount=mount)
        path.write_text(path.read_text() + S3_BACKEND.format(key=f"remote{index:02d}"))
    roachcert(bench, "ca", "ensure", str(local / "local01.yaml"))
    for folder in (local, remote):  # warm-up: init every stack (a retry covers the shared cache's relink)
        try:
            roachcert(bench, "plan", str(folder), ok=(2,))
        except RuntimeError:
            outcome.notes.append(f"the first plan of {folder.name} failed once and was retried")
            roachcert(bench, "plan", str(folder), ok=(2,))
    local_s: list[float] = []
    s3_s: list[float] = []
    _alternate(
        ROUNDS,
        local_s,
        s3_s,
        lambda: roachcert(bench, "plan", str(local), ok=(2,)),
        lambda: roachcert(bench, "plan", str(remote), ok=(2,)),
    )
    base, ours = median(local_s), median(s3_s)
    say(f"  {STACKS}x{CLUSTERS} parallel plan: local {fmt_s(base)}, S3 {fmt_s(ours)} (medians of {ROUNDS})")
    outcome.data.update({"local_state_runs_s": local_s, "s3_state_runs_s": s3_s})
    row = Row(
        "engines",
        f"{STACKS} stacks x {CLUSTERS} clusters planned in parallel: S3 state vs local state",
        f"local {fmt_s(base)}",
        f"S3 {fmt_s(ours)}",
        f"{ours / base:.2f}x",
        f"<= {S3_GOAL:.1f}x",
        ours / base <= S3_GOAL,
    )
    outcome.rows.append(row)
    report(row)


def _tofu_vs_terraform(bench: Bench, outcome: Outcome) -> None:
    clusters = new_clusters(bench, BIG, prefix="big_")
    mount = new_mount("engines_big")
    stacks: dict[str, Path] = {}
    for engine in ("terraform", "tofu"):
        path = write_stack(bench.tmp / "big" / f"big_{engine}.yaml", clusters, mount=mount)
        path.write_text(path.read_text() + f"terraform:\n  engine: {engine}\n")
        stacks[engine] = path
    roachcert(bench, "ca", "ensure", str(stacks["terraform"]))
    for path in stacks.values():
        roachcert(bench, "plan", str(path), ok=(2,))
    terraform_s: list[float] = []
    tofu_s: list[float] = []
    _alternate(
        ROUNDS,
        terraform_s,
        tofu_s,
        lambda: roachcert(bench, "plan", str(stacks["terraform"]), ok=(2,)),
        lambda: roachcert(bench, "plan", str(stacks["tofu"]), ok=(2,)),
    )
    base, ours = median(terraform_s), median(tofu_s)
    say(f"  {BIG}-cluster plan: Terraform {fmt_s(base)}, OpenTofu {fmt_s(ours)} (medians of {ROUNDS})")
    outcome.data.update({"terraform_plan_runs_s": terraform_s, "tofu_plan_runs_s": tofu_s})
    row = Row(
        "engines",
        f"one {BIG}-cluster stack planned: OpenTofu vs Terraform (embedded)",
        f"Terraform {fmt_s(base)}",
        f"OpenTofu {fmt_s(ours)}",
        f"{ours / base:.2f}x",
        f"<= {TOFU_GOAL:.1f}x",
        ours / base <= TOFU_GOAL,
    )
    outcome.rows.append(row)
    report(row)


def main() -> Outcome:
    import sys

    outcome = Outcome("engines")
    with sandbox("engines", s3=True) as bench:
        _s3_vs_local(bench, outcome)
        if (Path(sys.executable).parent / "tofu").exists():
            _tofu_vs_terraform(bench, outcome)
        else:
            outcome.findings.append("OpenTofu is not installed (scripts/ensure-tofu.sh): its row was not run")
    for row in outcome.rows:
        if not row.met:
            outcome.findings.append(f"{row.case}: {row.result}, goal {row.goal}")
    return outcome
