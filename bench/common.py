"""What every benchmark shares: a sandbox of its own, timing, stack files, machine facts, results."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from roachcert.planning import PlanOptions

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
VENV_BIN = Path(sys.executable).parent
ROACHCERT = VENV_BIN / "roachcert"


@dataclass(frozen=True)
class Row:
    """One line of the final table."""

    benchmark: str
    case: str
    baseline: str
    roachcert: str
    result: str  # the ratio (or the measured value) as shown
    goal: str
    met: bool


@dataclass
class Outcome:
    name: str
    rows: list[Row] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # how it was measured
    findings: list[str] = field(default_factory=list)  # missed goals and their causes; printed at the end


def say(text: str) -> None:
    print(text, flush=True)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def fmt_s(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds < 10 else f"{seconds:.1f} s"


# -- the sandbox ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bench:
    """A sandbox (real OpenBao, the Cloud API emulator, the provider mirror) under a temp folder."""

    tmp: Path
    home: Path  # ROACHCERT_HOME
    state: Any  # roachcert_sandbox.manager.SandboxState
    env: dict[str, str]  # the whole environment for roachcert and terraform subprocesses

    def register(self, cluster_id: str, name: str) -> None:
        from roachcert_sandbox.manager import register_cluster

        register_cluster(self.state, cluster_id, name)


def _scrubbed_environ() -> dict[str, str]:
    drop = ("VAULT_", "BAO_", "COCKROACH_", "ROACHCERT_", "TF_", "GITHUB_", "AWS_")
    return {key: value for key, value in os.environ.items() if not key.startswith(drop)}


def _healthy(url: str) -> bool:
    import requests

    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


@contextlib.contextmanager
def sandbox(name: str, *, s3: bool = False) -> Iterator[Bench]:
    """Bring up a sandbox of the benchmark's own (with `s3`, its SeaweedFS too), and always take it down."""
    from roachcert_sandbox import manager
    from roachcert_sandbox.errors import FOLDER

    tmp = Path(tempfile.mkdtemp(prefix=f"roachcert-bench-{name}-"))
    home = tmp / "home"
    user_home = tmp / "user-home"  # HOME for every child: the stand-in provider caches a cert there
    user_home.mkdir(parents=True)
    root = home / FOLDER
    saved = dict(os.environ)
    try:
        os.environ["ROACHCERT_HOME"] = str(home)
        state = manager.up([], root=root, pending_seconds=0.05, s3=s3)
        # Which provider every Terraform figure of this benchmark is made with (the stand-in, or the real
        # one from ROACHCERT_PROVIDER_BINARY), printed with the results and kept in their JSON.
        PROVIDERS.add(manager.provider_line(state).split(" (")[0])
        say(f"  provider: {manager.provider_line(state)}")
        env = {
            **_scrubbed_environ(),
            **manager.environment(state),
            "ROACHCERT_HOME": str(home),
            "ROACHCERT_STANDIN_POLL_TIMEOUT": "60",
            "HOME": str(user_home),
            "CHECKPOINT_DISABLE": "1",
            "NO_COLOR": "1",
        }
        # In-process calls (plan breakdown, Vault read counting) see the same environment.
        os.environ.clear()
        os.environ.update(env)
        yield Bench(tmp=tmp, home=home, state=state, env=env)
    finally:
        with contextlib.suppress(Exception):
            manager.down(root)
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(tmp, ignore_errors=True)


def run(
    argv: Sequence[str],
    env: Mapping[str, str],
    cwd: Path | None = None,
    ok: Sequence[int] = (0,),
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        list(argv),
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if proc.returncode not in ok:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
        raise RuntimeError(f"{' '.join(map(str, argv))} exited {proc.returncode}:\n{tail}")
    return proc


def listen_overflows() -> int:
    """The kernel's count of connections dropped because a listen queue was full (all sockets)."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return 0
    for header, values in zip(lines[::2], lines[1::2], strict=False):
        if header.startswith("TcpExt:"):
            fields = dict(zip(header.split()[1:], values.split()[1:], strict=False))
            return int(fields.get("ListenOverflows", 0))
    return 0


def machine_busy_seconds() -> float:
    """CPU seconds all cores of the machine have spent busy since boot (/proc/stat), for telling how much
    of the machine other work took while a benchmark ran."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return 0.0
    ticks = [int(value) for value in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    busy = sum(ticks[:8]) - idle  # guest time is already inside user
    return busy / os.sysconf("SC_CLK_TCK")


def timed_stalls(action: Callable[[], object]) -> tuple[float, int]:
    """Seconds, and the listen-queue overflows seen meanwhile (each one a dropped SYN, resent after 1 s)."""
    before = listen_overflows()
    seconds = timed(action)
    return seconds, listen_overflows() - before


def timed_rss(
    argv: Sequence[str], env: Mapping[str, str], cwd: Path | None = None, ok: Sequence[int] = (0,)
) -> tuple[float, float]:
    """Wall seconds of one command and its peak memory in MiB: the largest resident set of the process
    or of any child it waited for (wait4's rusage), so a Python CLI and the engine it starts both count."""
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: a chatty child cannot block on it
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        if code not in ok:
            errors.seek(0)
            tail = "\n".join(errors.read().decode(errors="replace").strip().splitlines()[-20:])
            raise RuntimeError(f"{' '.join(map(str, argv))} exited {code}:\n{tail}")
    return seconds, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def loadavg() -> tuple[float, float, float]:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return (0.0, 0.0, 0.0)
    return (round(one, 2), round(five, 2), round(fifteen, 2))


def interleaved(sides: Mapping[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Run each side once per round, the order rotating round by round, so drift in the machine's load
    falls on every side alike; returns each side's timings."""
    names = list(sides)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_no in range(rounds):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(sides[name]())
    return times


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def roachcert(bench: Bench, *args: str, ok: Sequence[int] = (0,), cwd: Path | None = None) -> str:
    return run([str(ROACHCERT), *args], bench.env, cwd=cwd or bench.tmp, ok=ok).stdout


# -- stacks -------------------------------------------------------------------------------------------------
STACK = """\
version: 1
cas:
  client-ca:
    mount: {mount}
    common_name: Bench client CA
    ttl: 2160h
    issuers: [{issuers}]
    role: {{name: client, max_ttl: 24h, key_type: {key_type}}}
clusters:
{clusters}"""


def cluster_names(count: int, prefix: str = "c") -> list[str]:
    return [f"{prefix}{index:04d}" for index in range(1, count + 1)]


def write_stack(
    path: Path,
    clusters: Mapping[str, str],
    *,
    mount: str,
    users: Sequence[str] = ("root",),
    issuers: Sequence[str] = ("ca-a",),
    key_type: str = "ec",
) -> Path:
    blocks = "".join(
        f"  {name}:\n    id: {cid}\n    ca: client-ca\n    host: {name.replace('_', '-')}.bench.crdb.io\n"
        f"    users: [{', '.join(users)}]\n"
        for name, cid in clusters.items()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        STACK.format(mount=mount, issuers=", ".join(issuers), key_type=key_type, clusters=blocks),
        encoding="utf-8",
    )
    return path


def new_clusters(bench: Bench | None, count: int, prefix: str = "c") -> dict[str, str]:
    """`count` clusters with fresh ids, registered with the sandbox's Cloud API when there is one."""
    clusters = {name: str(uuid.uuid4()) for name in cluster_names(count, prefix)}
    if bench is not None:
        for name, cid in clusters.items():
            bench.register(cid, name)
    return clusters


def new_mount(tag: str) -> str:
    return f"bench_{tag}_{uuid.uuid4().hex[:6]}"


# -- machine and results ------------------------------------------------------------------------------------
def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


_ENGINE: list[str] = []
PROVIDERS: set[str] = set()  # the providers the benchmarks' sandboxes ran


def process_options(**flags: Any) -> PlanOptions:
    """An in-process plan's options as `roachcert plan` builds them for a run in this process."""
    from roachcert.adapters import real
    from roachcert.planning import PlanOptions

    return PlanOptions(os.environ, real(os.environ), **flags)


def engine_version() -> str:
    if not _ENGINE:
        from roachcert.terraform.engine import Engine
        from roachcert.terraform.engine import engine_version as version

        path = VENV_BIN / "roachcert-terraform"
        try:
            _ENGINE.append(f"{version(Engine(path, 'embedded'), os.environ)} (embedded, {path.name})")
        except Exception as exc:
            _ENGINE.append(f"unknown ({exc})")
    return _ENGINE[0]


def bao_version() -> str:
    proc = subprocess.run(
        [str(VENV_BIN / "bao"), "version"],
        capture_output=True,
        text=True,
        check=False,
        env=_scrubbed_environ(),
    )
    return proc.stdout.strip() or "unknown"


def machine() -> dict[str, Any]:
    try:
        load = os.getloadavg()
    except OSError:
        load = (0.0, 0.0, 0.0)
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "engine": engine_version(),
        "provider": sorted(PROVIDERS) or ["none started"],
        "openbao": bao_version(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "loadavg_at_end": [round(value, 2) for value in load],
    }


def save(outcome: Outcome) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{outcome.name}.json"
    document = {
        "benchmark": outcome.name,
        "machine": machine(),
        "results": outcome.data,
        "rows": [row.__dict__ for row in outcome.rows],
        "notes": outcome.notes,
        "findings": outcome.findings,
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def report(row: Row) -> None:
    mark = "met" if row.met else "MISSED"
    say(
        f"  {row.case}: baseline {row.baseline} | roachcert {row.roachcert} | "
        f"{row.result} (goal {row.goal}: {mark})"
    )
