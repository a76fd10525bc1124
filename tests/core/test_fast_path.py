"""The no-change fast path on the sandbox, through the CLI: a plan whose files, engine, provider, state,
environment and Cloud reads all match the last full no-change plan says "no changes" without running
`terraform plan`; every condition that breaks the proof makes Terraform run again.

Terraform runs are counted by an engine wrapper (ROACHCERT_TERRAFORM) that logs its argv."""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pipeline_kit import Scenario, check_goldens, plan_reports, scenario

from certs_helper import make_ca
from roachcert import guard_facts
from roachcert.plan_seen import SEEN_FILE
from roachcert.terraform.engine import resolve_engine

pytestmark = pytest.mark.integration
__all__ = ["scenario"]  # the fixture, imported for the tests below

VERIFIED = "verified without Terraform: files, state and {n} Cloud reads unchanged"


class Logged:
    """The engine behind a wrapper script that logs each command line, then runs the real engine."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str = "engine-logged") -> None:
        self.real = resolve_engine(os.environ, want="terraform").path
        self.log = tmp_path / "engine-argv.log"
        self.path = tmp_path / name
        self.monkeypatch = monkeypatch
        self.write()

    def write(self, extra: str = "") -> None:
        self.path.write_text(
            f'#!/bin/sh\n{extra}printf "%s\\n" "$*" >> "{self.log}"\nexec "{self.real}" "$@"\n'
        )
        self.path.chmod(self.path.stat().st_mode | stat.S_IXUSR)
        self.monkeypatch.setenv("ROACHCERT_TERRAFORM", str(self.path))

    def runs(self, command: str) -> int:
        try:
            lines = self.log.read_text().splitlines()
        except FileNotFoundError:
            return 0
        return sum(1 for line in lines if line.split(" ", 1)[0] == command)


def plan(scenario: Scenario, engine: Logged, *args: str) -> tuple[int, str, bool]:
    """`roachcert plan STACK ARGS`: exit code, stdout+stderr, and whether `terraform plan` ran."""
    before = engine.runs("plan")
    code, out, err = scenario.cli("plan", str(scenario.path), *args)
    return code, out + err, engine.runs("plan") > before


def settle(scenario: Scenario, cluster_id: str) -> None:
    deadline = time.monotonic() + 30
    while scenario.cloud(cluster_id).get("status") == "PENDING" and time.monotonic() < deadline:
        time.sleep(0.1)


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Logged:
    return Logged(tmp_path, monkeypatch)


@pytest.fixture
def converged(scenario: Scenario, engine: Logged) -> Scenario:
    """Two clusters applied, then a full no-change plan that records what it saw."""
    for name in ("frogs", "toads"):
        scenario.add(name)
    scenario.converge()
    for cluster in scenario.clusters.values():
        settle(scenario, cluster.cluster_id)
    code, out, ran = plan(scenario, engine)
    assert (code, ran) == (0, True), out
    assert (scenario.workdir() / SEEN_FILE).exists(), "a full no-change plan leaves its record"
    return scenario


def test_unchanged_stack_is_verified_without_terraform_in_every_format(
    converged: Scenario, engine: Logged
) -> None:
    scenario = converged
    inits = engine.runs("init")
    for chosen in ("text", "markdown", "json"):
        code, out, ran = plan(scenario, engine, "--format", chosen)
        assert code == 0, out
        assert not ran, "terraform plan ran for an unchanged stack"
        assert VERIFIED.format(n=2) in out, out
    assert engine.runs("init") == inits, "the fast path needs no init"
    code, out, err = scenario.cli("plan", str(scenario.path), "--format", "json")
    document = json.loads(out)["stacks"][0]
    assert document["status"] == "no_changes"
    assert document["verified_without_terraform"] == VERIFIED.format(n=2)
    assert document["raw_plan"] is None
    assert document["counts"]["unchanged"] == 2
    assert not (scenario.workdir() / "roachcert.tfplan").exists(), "the fast path saves no plan"
    seen = (scenario.workdir() / SEEN_FILE).read_text()
    assert os.environ["COCKROACH_API_KEY"] not in seen, "no secret in the record"
    # apply finds nothing to apply, as after a no-change plan from Terraform
    code, out, err = scenario.cli("apply", str(scenario.path))
    assert (code, out.strip()) == (0, f"{scenario.name}: no changes to apply"), out + err
    # --full runs Terraform and agrees
    code, out, ran = plan(scenario, engine, "--full")
    assert (code, ran) == (0, True), out
    assert "verified without Terraform" not in out


def test_verified_report_goldens(converged: Scenario, engine: Logged) -> None:
    reports = plan_reports([str(converged.path)], converged, 0)
    assert engine.runs("plan") == 2, "the converging plan and the recording one only"
    check_goldens("verified", reports, converged.tmp_path)


def test_apply_auto_approve_after_a_fast_no_change(converged: Scenario, engine: Logged) -> None:
    scenario = converged
    (scenario.workdir() / ".roachcert-plan.json").unlink()
    before = engine.runs("plan")
    code, out, err = scenario.cli("apply", str(scenario.path), "--auto-approve")
    assert code == 0, out + err
    assert f"{scenario.name}: no changes to apply" in out
    assert engine.runs("plan") == before
    assert engine.runs("apply") == 1, "only the converging apply ran"


def test_a_users_only_edit_is_still_verified(converged: Scenario, engine: Logged) -> None:
    # Users are not in the rendered files: Terraform's inputs are unchanged, so is its verdict.
    scenario = converged
    scenario.clusters["frogs"].users = ("app", "reporting")
    scenario.write()
    code, out, ran = plan(scenario, engine)
    assert (code, ran) == (0, False), out
    code, out, err = scenario.cli("apply", str(scenario.path))
    assert code == 0, out + err
    assert "no changes to apply" in out


def test_console_edit_is_reported_as_drift(converged: Scenario, engine: Logged) -> None:
    scenario = converged
    frogs = scenario.clusters["frogs"].cluster_id
    other = make_ca("Console Edit CA")[0]
    scenario.cloud(frogs, method="PATCH", pem=other)
    settle(scenario, frogs)
    code, out, ran = plan(scenario, engine, "--format", "json")
    assert (code, ran) == (2, True), out
    stack = json.loads(out[: out.rindex("}") + 1])["stacks"][0]
    assert stack["verified_without_terraform"] is None
    assert [change["cluster"] for change in stack["changes"]] == ["frogs"]


def _stack_edit(s: Scenario, _e: Logged, _m: pytest.MonkeyPatch) -> int:
    s.clusters["frogs"].cas = ("client-ca", "legacy-ca")
    s.write()
    return 2


def _console_revert_to_same_set_reordered(s: Scenario, _e: Logged, _m: pytest.MonkeyPatch) -> int:
    # The same certificate set in another order: not the exact declared text, so not proven.
    frogs = s.clusters["frogs"].cluster_id
    pem = str(s.cloud(frogs)["x509_pem_cert"])
    blocks = [b + "-----END CERTIFICATE-----\n" for b in pem.split("-----END CERTIFICATE-----")[:-1]]
    s.cloud(frogs, method="PATCH", pem="".join(reversed(blocks)) + "\n")
    settle(s, frogs)
    return -1  # Terraform's verdict depends on the provider; only that it ran is checked


def _failed(s: Scenario, _e: Logged, _m: pytest.MonkeyPatch) -> int:
    s.faults(answer_status="FAILED")
    return -1


def _pending(s: Scenario, _e: Logged, _m: pytest.MonkeyPatch) -> int:
    s.faults(answer_status="PENDING")
    return 1  # stops before Terraform: never "no changes"


def _read_error(s: Scenario, _e: Logged, _m: pytest.MonkeyPatch) -> int:
    s.faults(fail_next=1, fail_status=404, fail_method="GET")
    return 1


def _unmanage(s: Scenario, _e: Logged, _m: pytest.MonkeyPatch) -> int:
    del s.clusters["toads"]
    s.write()
    s.ok("unmanage", str(s.path), "toads")
    return 2


def _other_engine(s: Scenario, e: Logged, m: pytest.MonkeyPatch) -> int:
    Logged(s.tmp_path, m, name="engine-logged-2")  # another path, same log
    return 0


def _engine_upgrade(_s: Scenario, e: Logged, _m: pytest.MonkeyPatch) -> int:
    time.sleep(0.01)
    e.write(extra=": upgraded\n")
    return 0


def _provider_upgrade(s: Scenario, _e: Logged, _m: pytest.MonkeyPatch) -> int:
    providers = s.workdir() / ".terraform" / "providers"
    files = [
        Path(folder) / name for folder, _, names in os.walk(providers, followlinks=True) for name in names
    ]
    assert files
    later = time.time() + 5
    for path in files:
        os.utime(path, (later, later))
    return 0


def _cli_args(_s: Scenario, _e: Logged, m: pytest.MonkeyPatch) -> int:
    m.setenv("TF_CLI_ARGS_plan", "-parallelism=3")
    return 0


def _workspace_env(_s: Scenario, _e: Logged, m: pytest.MonkeyPatch) -> int:
    m.setenv("TF_WORKSPACE", "default")
    return 0


def _workspace_selected(s: Scenario, _e: Logged, _m: pytest.MonkeyPatch) -> int:
    (s.workdir() / ".terraform" / "environment").write_text("other")
    return -1


def _state_by_hand(s: Scenario, _e: Logged, _m: pytest.MonkeyPatch) -> int:
    path = s.workdir() / "terraform.tfstate"
    state = json.loads(path.read_text())
    state["serial"] += 1  # what another runner's write looks like
    path.write_text(json.dumps(state, indent=2))
    return 0


def _lock_file(s: Scenario, _e: Logged, _m: pytest.MonkeyPatch) -> int:
    path = s.workdir() / ".terraform.lock.hcl"
    path.write_text(path.read_text() + "\n# edited\n")
    return 0


def _hand_set(s: Scenario, _e: Logged, _m: pytest.MonkeyPatch) -> int:
    cert = guard_facts.HandSetCert("0" * 64, "CN=by hand", "")
    fact = guard_facts.HandSet("frogs", s.clusters["frogs"].cluster_id, (cert,))
    guard_facts.save_hand_set(s.workdir(), {"frogs": fact})
    return -1


def _tf_encryption(_s: Scenario, _e: Logged, m: pytest.MonkeyPatch) -> int:
    m.setenv("TF_ENCRYPTION", 'key_provider "pbkdf2" "k" { passphrase = "a-passphrase-of-length" }')
    return -1  # Terraform ignores it, OpenTofu would need it for the state: the fast path vouches for neither


def _environment(_s: Scenario, _e: Logged, m: pytest.MonkeyPatch) -> int:
    m.setenv("TF_LOG", "")  # a variable the engine reads, new since the record
    return 0


def _cli_config_other(s: Scenario, _e: Logged, m: pytest.MonkeyPatch) -> int:
    # TF_CLI_CONFIG_FILE names another file, with the same bytes: only the name changed.
    other = s.tmp_path / "other.tfrc"
    other.write_bytes(Path(os.environ["TF_CLI_CONFIG_FILE"]).read_bytes())
    m.setenv("TF_CLI_CONFIG_FILE", str(other))
    return 0


def _cli_config_edited(s: Scenario, e: Logged, m: pytest.MonkeyPatch) -> int:
    # The file TF_CLI_CONFIG_FILE named at the recording plan, edited since (the sandbox's own is shared).
    mine = s.tmp_path / "mine.tfrc"
    mine.write_bytes(Path(os.environ["TF_CLI_CONFIG_FILE"]).read_bytes())
    m.setenv("TF_CLI_CONFIG_FILE", str(mine))
    assert plan(s, e, "--full")[::2] == (0, True)
    assert plan(s, e)[::2] == (0, False), "recorded with this file: the fast path answers"
    mine.write_text(mine.read_text() + "# edited\n")
    return 0


CONDITIONS: dict[str, Callable[[Scenario, Logged, pytest.MonkeyPatch], int]] = {
    "stack_edit": _stack_edit,
    "console_reorder": _console_revert_to_same_set_reordered,
    "failed": _failed,
    "pending": _pending,
    "read_error_404": _read_error,
    "unmanage": _unmanage,
    "other_engine": _other_engine,
    "engine_upgrade": _engine_upgrade,
    "provider_upgrade": _provider_upgrade,
    "tf_cli_args": _cli_args,
    "tf_workspace": _workspace_env,
    "workspace_selected": _workspace_selected,
    "state_by_hand": _state_by_hand,
    "lock_file": _lock_file,
    "hand_set_record": _hand_set,
    "engine_environment": _environment,
    "tf_encryption": _tf_encryption,
    "cli_config_other": _cli_config_other,
    "cli_config_edited": _cli_config_edited,
}


@pytest.mark.parametrize("condition", sorted(CONDITIONS))
def test_each_condition_makes_terraform_plan(
    condition: str, converged: Scenario, engine: Logged, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = converged
    expect = CONDITIONS[condition](scenario, engine, monkeypatch)
    code, out, ran = plan(scenario, engine)
    assert "verified without Terraform" not in out, out
    if expect == 1:
        assert code == 1, out  # the plan stopped before Terraform: an error, never "no changes"
    else:
        assert ran, f"{condition}: terraform plan did not run\n{out}"
        assert expect in (-1, code), out


@pytest.mark.parametrize("flag", ["--full", "--no-cloud-read"])
def test_flags_make_terraform_plan(flag: str, converged: Scenario, engine: Logged) -> None:
    code, out, ran = plan(converged, engine, flag)
    assert (code, ran) == (0, True), out
    assert "verified without Terraform" not in out


def test_after_an_apply_the_next_plan_runs_terraform(converged: Scenario, engine: Logged) -> None:
    scenario = converged
    scenario.clusters["frogs"].cas = ("client-ca", "legacy-ca")
    scenario.write()
    code, out, ran = plan(scenario, engine)
    assert (code, ran) == (2, True), out
    scenario.ok("apply", str(scenario.path))
    settle(scenario, scenario.clusters["frogs"].cluster_id)
    assert not (scenario.workdir() / SEEN_FILE).exists()
    code, out, ran = plan(scenario, engine)
    assert (code, ran) == (0, True), out
    code, out, ran = plan(scenario, engine)
    assert (code, ran) == (0, False), out


# -- the fast path and the full plan on the same scenarios ------------------------------------------------

WALK_SEEDS = [int(seed) for seed in os.environ.get("ROACHCERT_FAST_PATH_SEEDS", "29,2029").split(",")]
WALK_STEPS = int(os.environ.get("ROACHCERT_FAST_PATH_STEPS", "12"))


# Each edit once or twice as likely as the others; "nothing" is where the fast path must answer.
EDITS = (
    *("nothing", "stack", "cloud_back", "cloud_delete", "engine", "add", "unmanage", "users"),
    *("cloud_other", "cloud_other", "state", "state"),
)


class Walker:
    """A seeded random walk of edits to a converged stack: the stack, the Cloud side, the state, the
    unmanage list, the engine; sometimes an apply, sometimes nothing (where the fast path answers)."""

    def __init__(
        self, scenario: Scenario, engine: Logged, monkeypatch: pytest.MonkeyPatch, seed: int
    ) -> None:
        import random

        self.s, self.e, self.m = scenario, engine, monkeypatch
        self.rng = random.Random(seed)
        self.engines = [engine.path, scenario.tmp_path / "engine-logged-b"]
        Logged(scenario.tmp_path, monkeypatch, name="engine-logged-b")
        monkeypatch.setenv("ROACHCERT_TERRAFORM", str(engine.path))
        self.spare = make_ca("Walk Console CA")[0]
        self.applied: dict[str, str] = {}  # what each cluster trusted after the last apply
        self.settle_all()

    def settle_all(self) -> None:
        for name, cluster in self.s.clusters.items():
            settle(self.s, cluster.cluster_id)
            self.applied[name] = str(self.s.cloud(cluster.cluster_id).get("x509_pem_cert") or "")

    def converge(self) -> None:
        """Apply what the stack declares (whatever it drops), then a full plan that records it."""
        self.s.cli("plan", str(self.s.path), "--full")
        self.s.cli("apply", str(self.s.path), "--allow-destroy", "--allow-replace-ca")
        self.settle_all()
        self.s.cli("plan", str(self.s.path), "--full")

    def step(self) -> str:
        s, rng = self.s, self.rng
        name = rng.choice(sorted(s.clusters)) if s.clusters else ""
        kind = rng.choice(EDITS)
        if kind == "stack" and name:
            cluster = s.clusters[name]
            cluster.cas = ("client-ca",) if len(cluster.cas) > 1 else ("client-ca", "legacy-ca")
            s.write()
        elif kind in ("cloud_other", "cloud_back", "cloud_delete") and name:
            cluster_id = s.clusters[name].cluster_id
            if kind == "cloud_delete":
                s.cloud(cluster_id, method="DELETE")
            else:
                back = self.applied.get(name, self.spare)
                s.cloud(cluster_id, method="PATCH", pem=self.spare if kind == "cloud_other" else back)
            settle(s, cluster_id)
        elif kind == "state":
            path = s.workdir() / "terraform.tfstate"
            state = json.loads(path.read_text())
            resources = state.get("resources", [])
            certs = [r for r in resources if r.get("type") == "cockroach_client_ca_cert"]
            if certs and rng.random() < 0.6:  # another runner's `state rm`: Terraform would create it
                resources.remove(rng.choice(certs))
            state["serial"] += 1
            path.write_text(json.dumps(state, indent=2))
        elif kind == "engine":
            self.m.setenv("ROACHCERT_TERRAFORM", str(rng.choice(self.engines)))
        elif kind == "apply":
            self.converge()
        elif kind == "users" and name:
            s.clusters[name].users = (*s.clusters[name].users, f"u{rng.randrange(100)}")
            s.write()
        elif kind == "add":
            s.add(f"c{rng.randrange(10**6)}")
            s.write()
        elif kind == "unmanage" and len(s.clusters) > 1:
            del s.clusters[name]
            s.write()
            s.cli("unmanage", str(s.path), name)
        return kind


@pytest.mark.parametrize("seed", WALK_SEEDS)
def test_fast_path_never_says_no_changes_where_terraform_sees_some(
    seed: int, converged: Scenario, engine: Logged, monkeypatch: pytest.MonkeyPatch
) -> None:
    walker = Walker(converged, engine, monkeypatch, seed)
    verified = 0
    history: list[str] = []
    for _ in range(WALK_STEPS):
        # Most steps start from a recorded no-change plan: the edit is what the fast path must notice.
        kinds = [walker.step() for _ in range(walker.rng.choice([1, 1, 2]))]
        fast, out, ran = plan(converged, engine)
        full, full_out, _ = plan(converged, engine, "--full")
        said = "verified without Terraform" in out
        verified += said
        history.append(f"{'+'.join(kinds)}:{fast}{'v' if said else ''}/{full}")
        if fast == 0:
            assert full == 0, (
                f"seed {seed}, steps {history}: the fast plan said no changes"
                f"{' (verified without Terraform)' if said else ''}, the full plan exits {full}\n{full_out}"
            )
        assert not (said and ran)
        if full != 0:  # back to a recorded no-change plan: the next edit is what the fast path must notice
            walker.converge()
    print(f"seed {seed}: {history}")
    assert verified, f"seed {seed}: the walk never reached the fast path ({history})"
