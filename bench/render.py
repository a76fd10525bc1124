"""render: the pure render() of 1,000 clusters, and Vault reads per plan as clusters grow.

1. `render(stack, bundles)` for a 1,000-cluster stack with fixed bundles (two issuers' PEMs): median of
   several runs, goal < 0.5 s. Loading the stack file (YAML + validation) is timed beside it.
   Then the whole `roachcert render STACK` process (imports, load, Vault, render, write) beside a Python
   process loading the same file with PyYAML's libyaml loader, interleaved, goal <= 4x; a probe in a fresh
   interpreter times each step.
2. Stacks of 10, 100 and 1,000 clusters sharing one CA with two issuers: a counting wrapper around
   `VaultAdapter.read_issuer_pem` (and one around every Vault HTTP request) while roachcert prepares the
   plan (`render_stack`: read bundles, render, write: the only step of a plan that talks to Vault), and
   while a whole `plan_stack` runs (up to FULL_PLAN_UP_TO clusters). Goal: reads = issuers, flat in clusters.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.common import (
    ROACHCERT,
    Outcome,
    Row,
    fmt_s,
    interleaved,
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

RENDER_CLUSTERS = 1000
RENDER_RUNS = 7
RENDER_GOAL = 0.5
SIZES = (10, 100, 1000)
FULL_PLAN_UP_TO = 1000
REGISTER_UP_TO = 100  # registering takes ~12 ms a cluster; bigger stacks are planned without the Cloud read
ISSUERS = ("ca-a", "ca-b")


@contextlib.contextmanager
def counting(counts: dict[str, int]) -> Iterator[None]:
    """Count issuer reads and every Vault HTTP request the adapter sends."""
    from roachcert.vault.adapter import VaultAdapter

    read, send = VaultAdapter.read_issuer_pem, VaultAdapter._send

    def counted_read(self: VaultAdapter, mount: str, issuer: str) -> str | None:
        counts["issuer_reads"] = counts.get("issuer_reads", 0) + 1
        return read(self, mount, issuer)

    def counted_send(self: VaultAdapter, *args: Any, **kwargs: Any) -> Any:
        counts["http_requests"] = counts.get("http_requests", 0) + 1
        return send(self, *args, **kwargs)

    VaultAdapter.read_issuer_pem = counted_read  # type: ignore[method-assign]
    VaultAdapter._send = counted_send  # type: ignore[method-assign]
    try:
        yield
    finally:
        VaultAdapter.read_issuer_pem = read  # type: ignore[method-assign]
        VaultAdapter._send = send  # type: ignore[method-assign]


LIBYAML_LOAD = "import sys, yaml; yaml.load(open(sys.argv[1], encoding='utf-8'), Loader=yaml.CSafeLoader)"
WHOLE_ROUNDS = 7
WHOLE_GOAL = 4.0  # issue #29


def render_steps(stack_path: Path) -> dict[str, float]:
    """Seconds of each step of `roachcert render` run in a fresh interpreter, imports included."""
    probe = (
        "import json, os, sys, time\nfrom pathlib import Path\n"
        "t = time.perf_counter()\n"
        "from roachcert import rendering\n"
        "from roachcert.bundles import cluster_bundles\n"
        "from roachcert.paths import stack_dir\n"
        "from roachcert.vault.adapter import open_vault\n"
        "out = {'imports': time.perf_counter() - t}\n"
        "t = time.perf_counter(); stack = rendering.load_stack(Path(sys.argv[1])); out['load + validate'] = time.perf_counter() - t\n"
        "t = time.perf_counter(); b = cluster_bundles(stack, open_vault(stack, os.environ)); out['Vault bundles'] = time.perf_counter() - t\n"
        "t = time.perf_counter(); files = rendering.render_module(stack, {n: x.pem for n, x in b.items()}); out['render'] = time.perf_counter() - t\n"
        "t = time.perf_counter(); rendering.write_workdir(stack_dir(stack.name, os.environ), files); out['write'] = time.perf_counter() - t\n"
        "print(json.dumps(out))\n"
    )
    runs = [
        json.loads(run([sys.executable, "-c", probe, str(stack_path)], os.environ).stdout) for _ in range(3)
    ]
    return {name: median([one[name] for one in runs]) for name in runs[0]}


def main() -> Outcome:
    from bench.common import process_options
    from roachcert.bundles import cluster_bundles
    from roachcert.planning import plan_stack
    from roachcert.rendering import render_stack
    from roachcert.spec import load_stack
    from roachcert.terraform.module import render_module
    from roachcert.vault.adapter import open_vault

    outcome = Outcome("render")
    with sandbox("render") as bench:
        mount = new_mount("render")
        stacks: dict[int, Path] = {}
        for size in SIZES:
            clusters = new_clusters(bench if size <= REGISTER_UP_TO else None, size, prefix=f"r{size}_")
            stacks[size] = write_stack(
                bench.tmp / "stacks" / f"render{size}.yaml", clusters, mount=mount, issuers=ISSUERS
            )
        roachcert(bench, "ca", "ensure", str(stacks[SIZES[0]]))

        # 1. pure render of 1,000 clusters
        big = stacks[RENDER_CLUSTERS]
        loads: list[float] = []
        for _ in range(3):
            start = time.perf_counter()
            stack = load_stack(big)
            loads.append(time.perf_counter() - start)
        one = next(
            iter(
                cluster_bundles(
                    stack, open_vault(stack, os.environ), clusters=[next(iter(stack.clusters))]
                ).values()
            )
        )
        bundles = {name: one.pem for name in stack.clusters}
        files = render_module(stack, bundles)  # warm the template cache of this process
        renders: list[float] = []
        for _ in range(RENDER_RUNS):
            start = time.perf_counter()
            files = render_module(stack, bundles)
            renders.append(time.perf_counter() - start)
        render_median = median(renders)
        size_kb = sum(len(text) for text in files.values()) / 1024
        say(
            f"  render() of {RENDER_CLUSTERS} clusters: median {render_median:.3f} s over {RENDER_RUNS} runs "
            f"({size_kb:.0f} KiB of HCL); load_stack: {median(loads):.3f} s"
        )
        render_row = Row(
            benchmark="render",
            case=f"render() of {RENDER_CLUSTERS} clusters, fixed bundles",
            baseline="-",
            roachcert=fmt_s(render_median),
            result=fmt_s(render_median),
            goal=f"< {RENDER_GOAL} s",
            met=render_median < RENDER_GOAL,
        )
        outcome.rows.append(render_row)
        report(render_row)
        outcome.data["render"] = {
            "clusters": RENDER_CLUSTERS,
            "runs_s": renders,
            "median_s": render_median,
            "goal_s": RENDER_GOAL,
            "met": render_median < RENDER_GOAL,
            "rendered_kib": round(size_kb, 1),
            "load_stack_median_s": median(loads),
        }

        # 1b. the whole `roachcert render` process beside libyaml loading the same file
        yaml_argv = [sys.executable, "-c", LIBYAML_LOAD, str(big)]
        render_argv = [str(ROACHCERT), "render", str(big)]
        run(yaml_argv, bench.env)
        run(render_argv, bench.env, cwd=bench.tmp)  # warm: .pyc files, Vault's mount
        times = interleaved(
            {
                "libyaml load": lambda: timed(lambda: run(yaml_argv, bench.env)),
                "roachcert render": lambda: timed(lambda: run(render_argv, bench.env, cwd=bench.tmp)),
            },
            WHOLE_ROUNDS,
        )
        base, ours = median(times["libyaml load"]), median(times["roachcert render"])
        whole_ratio = ours / base
        try:
            steps = render_steps(big)
        except RuntimeError as exc:  # the package moved under the probe: report the whole figures anyway
            say(f"  (no step breakdown: {exc})")
            steps = {}
        say(
            f"  whole process, {RENDER_CLUSTERS} clusters: libyaml load {base:.3f} s, roachcert render {ours:.3f} s "
            f"({whole_ratio:.2f}x); in-process steps: "
            + ", ".join(f"{name} {seconds:.3f} s" for name, seconds in steps.items())
        )
        whole_row = Row(
            benchmark="render",
            case=f"`roachcert render` of {RENDER_CLUSTERS} clusters, whole process",
            baseline=f"{fmt_s(base)} (python: libyaml load of the file)",
            roachcert=fmt_s(ours),
            result=f"{whole_ratio:.2f}x the time",
            goal=f"<= {WHOLE_GOAL:g}x",
            met=whole_ratio <= WHOLE_GOAL,
        )
        outcome.rows.append(whole_row)
        report(whole_row)
        outcome.data["whole_render"] = {
            "clusters": RENDER_CLUSTERS,
            "runs_s": times,
            "libyaml_load_median_s": base,
            "roachcert_render_median_s": ours,
            "ratio": whole_ratio,
            "goal_ratio_at_most": WHOLE_GOAL,
            "met": whole_ratio <= WHOLE_GOAL,
            "in_process_steps_s": steps,
        }
        if whole_ratio > WHOLE_GOAL:
            outcome.findings.append(
                f"`roachcert render` of {RENDER_CLUSTERS} clusters takes {whole_ratio:.2f}x a libyaml load "
                f"({ours:.2f} s): in-process "
                + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in steps.items())
                + "; the rest is the Python process"
            )

        # 2. Vault reads as clusters grow
        reads: dict[str, Any] = {}
        for size in SIZES:
            counts: dict[str, int] = {}
            with counting(counts):
                start = time.perf_counter()
                options = process_options()
                render_stack(stacks[size], options.environ, options.adapters)
                prep = time.perf_counter() - start
            entry: dict[str, Any] = {
                "render_stack_issuer_reads": counts.get("issuer_reads", 0),
                "render_stack_http_requests": counts.get("http_requests", 0),
                "render_stack_s": prep,
            }
            line = (
                f"  {size:>5} clusters: bundles+render+write {prep:.2f} s, "
                f"{entry['render_stack_issuer_reads']} issuer reads, "
                f"{entry['render_stack_http_requests']} Vault requests"
            )
            if size <= FULL_PLAN_UP_TO:
                counts = {}
                with counting(counts):
                    start = time.perf_counter()
                    # Clusters past REGISTER_UP_TO are unknown to the emulator: plan them without the
                    # Cloud-side read (it reads no issuer; the reads counted here are Vault's).
                    plan_stack(stacks[size], process_options(cloud_read=size <= REGISTER_UP_TO))
                    entry["plan_s"] = time.perf_counter() - start
                entry["plan_issuer_reads"] = counts.get("issuer_reads", 0)
                entry["plan_http_requests"] = counts.get("http_requests", 0)
                line += (
                    f"; whole plan {entry['plan_s']:.1f} s, {entry['plan_issuer_reads']} issuer reads, "
                    f"{entry['plan_http_requests']} Vault requests"
                )
            say(line)
            reads[str(size)] = entry

    key = "plan_issuer_reads"
    per_size = [reads[str(size)].get(key, reads[str(size)]["render_stack_issuer_reads"]) for size in SIZES]
    flat = all(count == len(ISSUERS) for count in per_size) and all(
        reads[str(size)]["render_stack_issuer_reads"] == len(ISSUERS) for size in SIZES
    )
    outcome.data["vault_reads"] = {"issuers": len(ISSUERS), "per_clusters": reads, "flat": flat}
    reads_row = Row(
        benchmark="render",
        case=f"Vault issuer reads per plan, {' / '.join(str(s) for s in SIZES)} clusters",
        baseline=f"{len(ISSUERS)} issuers",
        roachcert=" / ".join(str(count) for count in per_size),
        result="flat" if flat else "grows",
        goal=f"= {len(ISSUERS)} (issuers), flat",
        met=flat,
    )
    outcome.rows.append(reads_row)
    report(reads_row)
    return outcome
