"""The runner: argv, environment, masking, exit codes, init caching and locking, Ctrl-C; and a whole
lifecycle with the real engine, the stand-in provider and the Cloud API emulator."""

from __future__ import annotations

import io
import json
import os
import signal
import stat
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from certs_helper import key_pem, make_ca
from engine_choice import fmt_unclean
from roachcert.errors import TerraformError
from roachcert.plan_summary import PlanSummary
from roachcert.spec.models import Stack
from roachcert.terraform.engine import Engine, engine_version
from roachcert.terraform.errors import TerraformCommandError
from roachcert.terraform.module import render_module
from roachcert.terraform.plan_json import summarise
from roachcert.terraform.resources import trigger_name
from roachcert.terraform.runner import LOCK_NAME, Terraform
from roachcert.terraform.workdir import write_workdir

EMBEDDED = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "roachcert-terraform"
needs_engine = pytest.mark.skipif(not EMBEDDED.is_file(), reason="the embedded engine is not installed")

# A stand-in engine: records argv and environment, prints what FAKE_PRINT says, exits with FAKE_EXIT.
FAKE = """\
import json, os, signal, sys, time
record = os.environ["FAKE_RECORD"]
def log(**item):
    with open(record, "a") as handle:
        handle.write(json.dumps(item) + "\\n")
env = {k: v for k, v in os.environ.items() if k.startswith(("TF_", "CHECKPOINT"))}
secrets = sorted(k for k in os.environ if k in ("VAULT_TOKEN", "VAULT_SECRET_ID", "VAULT_ROLE_ID", "GITHUB_TOKEN"))
log(argv=sys.argv[1:], env=env, secrets=secrets, start=time.time(), cwd=os.getcwd())
mode = os.environ.get("FAKE_MODE", "")
if mode == "sigint":
    hits = []
    signal.signal(signal.SIGINT, lambda *_: hits.append(1))
    print("working", flush=True)
    log(ready=True)
    while not hits:
        time.sleep(0.01)
    print("Interrupt received, stopping gracefully", flush=True)
    time.sleep(0.3)
    log(sigints=len(hits))
    print("stopped", flush=True)
    sys.exit(1)
if mode == "slow":
    time.sleep(0.3)
if sys.argv[1:2] == ["show"] or sys.argv[1:2] == ["version"]:
    sys.stderr.write("a warning on stderr\\n")
    print(os.environ.get("FAKE_JSON", "{}"))
else:
    for line in os.environ.get("FAKE_PRINT", "").split("|"):
        print(line, flush=True)
    print("to stderr", file=sys.stderr, flush=True)
if mode == "slow":
    os.makedirs(".terraform", exist_ok=True)
log(end=time.time())
sys.exit(int(os.environ.get("FAKE_EXIT", "0")))
"""


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Engine, Path]:
    script = tmp_path / "fake-terraform"
    script.write_text(f"#!{sys.executable}\n{FAKE}")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    record = tmp_path / "record.jsonl"
    monkeypatch.setenv("FAKE_RECORD", str(record))
    return Engine(script, "ROACHCERT_TERRAFORM"), record


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def calls(path: Path) -> list[dict[str, Any]]:
    return [item for item in records(path) if "argv" in item]


def workdir(tmp_path: Path) -> Path:
    folder = tmp_path / ".roachcert" / "demo"
    folder.mkdir(parents=True)
    return folder


def test_argv_and_environment(
    tmp_path: Path, fake: tuple[Engine, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, record = fake
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", "/home/someone/.terraformrc")  # the machine's: never used
    monkeypatch.setenv("TF_CLI_ARGS_plan", "-refresh=false")
    folder = workdir(tmp_path)
    assert Terraform(folder, engine, os.environ).plan("p.tfplan").returncode == 0
    [call] = calls(record)
    assert call["argv"] == ["plan", "-input=false", "-no-color", "-detailed-exitcode", "-out=p.tfplan"]
    assert call["cwd"] == str(folder)
    env = call["env"]
    assert env["TF_IN_AUTOMATION"] == "1"
    assert env["CHECKPOINT_DISABLE"] == "1"
    assert env["TF_CLI_CONFIG_FILE"] == str(tmp_path / ".roachcert" / "cli-config" / "terraformrc")
    assert Path(env["TF_CLI_CONFIG_FILE"]).is_file()
    assert env["TF_PLUGIN_CACHE_DIR"] == str(tmp_path / ".roachcert" / "plugin-cache")
    assert "TF_CLI_ARGS_plan" not in env


def test_no_engine_subcommand_sees_roachcerts_credentials(
    tmp_path: Path, fake: tuple[Engine, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, record = fake
    for name in ("VAULT_TOKEN", "VAULT_SECRET_ID", "VAULT_ROLE_ID", "GITHUB_TOKEN"):
        monkeypatch.setenv(name, f"secret-{name}")
    tf = Terraform(workdir(tmp_path), engine, os.environ)
    tf.init(force=True)
    tf.plan("p")
    tf.show_json("p")
    tf.apply("p")
    tf.import_resource("a.b", "id")
    tf.state_pull()
    engine_version(engine, os.environ)
    seen = calls(record)
    assert {call["argv"][0] for call in seen} == {
        "init",
        "plan",
        "show",
        "apply",
        "import",
        "state",
        "version",
    }
    assert all(call["secrets"] == [] for call in seen), seen


def test_caller_cli_config_is_used(tmp_path: Path, fake: tuple[Engine, Path]) -> None:
    engine, record = fake
    config = tmp_path / "mirror.tfrc"
    config.write_text("")
    Terraform(workdir(tmp_path), engine, os.environ, extra={"TF_CLI_CONFIG_FILE": str(config)}).apply(
        "p.tfplan"
    )
    [call] = calls(record)
    assert call["argv"] == ["apply", "-input=false", "-no-color", "p.tfplan"]
    assert call["env"]["TF_CLI_CONFIG_FILE"] == str(config)


def test_the_cli_config_tf_cli_config_file_names_is_used_when_it_is_a_file(
    tmp_path: Path, fake: tuple[Engine, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, record = fake
    (tmp_path / "mirror.tfrc").write_text("disable_checkpoint = true\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", "mirror.tfrc")  # relative: Terraform runs in the stack's folder
    tf = Terraform(workdir(tmp_path), engine, os.environ)
    tf.apply("p.tfplan")
    # Named but missing (these machines preset one): our own, so Terraform does not warn on every command.
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(tmp_path / "gone.tfrc"))
    tf.apply("p.tfplan")
    used, fallback = (call["env"]["TF_CLI_CONFIG_FILE"] for call in calls(record))
    assert used == str(tmp_path / "mirror.tfrc")
    assert fallback == str(tmp_path / ".roachcert" / "cli-config" / "terraformrc")


def test_output_is_masked_streamed_and_captured(
    tmp_path: Path, fake: tuple[Engine, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, _ = fake
    monkeypatch.setenv("VAULT_TOKEN", "hvs.verysecrettoken")
    key = key_pem(make_ca("x")[1])
    body = key.splitlines()[1]
    monkeypatch.setenv("FAKE_PRINT", "|".join(["token hvs.verysecrettoken here", *key.splitlines(), "after"]))
    out = io.StringIO()
    tf = Terraform(workdir(tmp_path), engine, os.environ, out=out, prefix="[demo] ")
    run = tf.plan("p")
    assert run.returncode == 0
    shown = out.getvalue()
    assert "[demo] token *** here\n" in shown
    assert "hvs.verysecrettoken" not in shown
    assert body not in shown
    assert "PRIVATE KEY REDACTED" in shown
    assert "[demo] after\n" in shown
    assert "[demo] to stderr\n" in shown
    assert run.output == shown.replace("[demo] ", "")
    # The runner keeps no per-call state: a later command's output never stands in for the plan's.
    assert not hasattr(tf, "last_output")


def test_plan_exit_codes(tmp_path: Path, fake: tuple[Engine, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    engine, _ = fake
    tf = Terraform(workdir(tmp_path), engine, os.environ)
    monkeypatch.setenv("FAKE_EXIT", "2")
    assert tf.plan("p").returncode == 2
    monkeypatch.setenv("FAKE_EXIT", "1")
    monkeypatch.setenv("COCKROACH_API_KEY", "cc-api-key-secret")
    monkeypatch.setenv(
        "FAKE_PRINT", "|".join(f"line {i}" for i in range(40)) + "|Error: bad key cc-api-key-secret"
    )
    with pytest.raises(TerraformCommandError) as caught:
        tf.plan("p")
    message = str(caught.value)
    assert message.startswith("terraform plan failed (exit 1):")
    assert "Error: bad key ***" in message
    assert "line 39" in message
    assert "line 0\n" not in message  # only the tail
    assert "cc-api-key-secret" not in message
    assert caught.value.returncode == 1
    assert isinstance(caught.value, TerraformError)


def test_show_json_keeps_stdout_apart(
    tmp_path: Path, fake: tuple[Engine, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, record = fake
    monkeypatch.setenv("FAKE_JSON", '{"format_version": "1.2", "resource_changes": []}')
    out = io.StringIO()
    tf = Terraform(workdir(tmp_path), engine, os.environ, out=out)
    assert tf.show_json("p") == {"format_version": "1.2", "resource_changes": []}
    assert calls(record)[0]["argv"] == ["show", "-json", "-no-color", "p"]
    assert out.getvalue() == ""  # data commands are not streamed
    monkeypatch.setenv("FAKE_JSON", "not json")
    with pytest.raises(TerraformError, match="no JSON"):
        tf.show_json("p")
    assert tf.show_text("p") == "not json\n"


def test_show_json_masks_what_it_printed_before_cutting_it(
    tmp_path: Path, fake: tuple[Engine, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The message keeps 200 characters of what was printed: a password across the 200th is masked whole.
    secret = "pg-Pa55word-" * 3
    monkeypatch.setenv("FAKE_JSON", "x" * 180 + " " + secret)
    tf = Terraform(workdir(tmp_path), fake[0], {**os.environ, "PGPASSWORD": secret})
    with pytest.raises(TerraformError, match="no JSON") as caught:
        tf.show_json("p")
    assert secret[:12] not in str(caught.value)


def test_missing_engine_or_folder(tmp_path: Path) -> None:
    with pytest.raises(TerraformError, match="cannot run"):
        Terraform(workdir(tmp_path), Engine(tmp_path / "nope", "terraform"), os.environ).plan("p")


def test_sigint_is_forwarded_once_and_waited_for(
    tmp_path: Path, fake: tuple[Engine, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, record = fake
    monkeypatch.setenv("FAKE_MODE", "sigint")
    out = io.StringIO()
    tf = Terraform(workdir(tmp_path), engine, os.environ, out=out)

    def interrupt() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(item.get("ready") for item in records(record)):
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)  # like Ctrl-C: reaches us, not terraform's process group

    thread = threading.Thread(target=interrupt)
    thread.start()
    with pytest.raises(KeyboardInterrupt):
        tf.plan("p")
    thread.join()
    assert [item["sigints"] for item in records(record) if "sigints" in item] == [1]
    assert out.getvalue().endswith("Interrupt received, stopping gracefully\nstopped\n")  # drained to the end


def test_init_runs_once_per_change(
    tmp_path: Path, fake: tuple[Engine, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, record = fake
    monkeypatch.setenv("FAKE_MODE", "slow")  # also creates .terraform/
    folder = workdir(tmp_path)
    (folder / "versions.tf").write_text("a")
    (folder / "clusters.tf").write_text("a")
    tf = Terraform(folder, engine, os.environ)
    assert tf.init() is not None
    assert tf.init() is None
    (folder / "clusters.tf").write_text("b")  # resources only: no init
    assert tf.init() is None
    (folder / ".terraform.lock.hcl").write_text("lock")
    assert tf.init() is not None
    (folder / "backend.tf").write_text("b")
    assert tf.init() is not None
    assert tf.init(force=True) is not None
    assert [item["argv"] for item in calls(record)] == [["init", "-input=false", "-no-color"]] * 4


def test_init_is_serialised_across_threads(
    tmp_path: Path, fake: tuple[Engine, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, record = fake
    monkeypatch.setenv("FAKE_MODE", "slow")
    runners = []
    for name in ("a", "b", "c"):
        folder = tmp_path / ".roachcert" / name
        folder.mkdir(parents=True)
        runners.append(Terraform(folder, engine, os.environ))
    threads = [threading.Thread(target=runner.init) for runner in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    items = records(record)
    starts = sorted(i["start"] for i in items if "start" in i)
    ends = sorted(i["end"] for i in items if "end" in i)
    assert len(starts) == len(ends) == 3
    assert all(ends[i] <= starts[i + 1] for i in range(2)), "two inits overlapped"
    assert (tmp_path / ".roachcert" / "plugin-cache" / LOCK_NAME).exists()


@needs_engine
@pytest.mark.integration
def test_real_engine_basics(tmp_path: Path) -> None:
    engine = Engine(EMBEDDED, "ROACHCERT_TERRAFORM")
    folder = workdir(tmp_path)
    (folder / "main.tf").write_text('resource "terraform_data" "a" {\n  input = "x"\n}\n')
    out = io.StringIO()
    tf = Terraform(folder, engine, os.environ, out=out)
    assert engine_version(engine, os.environ).startswith("Terraform v1.")
    assert tf.state_pull() == {}
    assert tf.init() is not None
    assert tf.init() is None
    run = tf.plan("p.tfplan")
    assert run.returncode == 2
    assert "terraform_data.a will be created" in out.getvalue()
    tf.show_json("p.tfplan")
    # The plan's own text stays with its result whatever ran after it.
    assert "Terraform will perform the following actions" in run.output
    applied = tf.apply("p.tfplan")
    assert "Apply complete" in applied.output
    assert tf.state_pull()["resources"][0]["type"] == "terraform_data"
    with pytest.raises(TerraformCommandError, match="apply failed"):
        tf.apply("p.tfplan")  # a stale plan (the state moved on) is refused by terraform
    assert tf.plan("p.tfplan").returncode == 0
    (folder / "main.tf").write_text('resource "terraform_data" "a" {\n  input = x\n}\n')
    with pytest.raises(TerraformCommandError, match=r"terraform plan failed \(exit 1\)"):
        tf.plan("p.tfplan")
    (folder / "main.tf").write_text('resource "terraform_data" "a" {\ninput = "x"\n}\n')
    assert fmt_unclean(tf) == ("main.tf",)


# -- the whole lifecycle against the stand-in provider and the API emulator -------------------------------

FROGS = "2186fbdb-598c-4797-a463-aaaee865903e"
DINGOS = "5b3c1f0e-7a2d-4c8e-9f61-0d2e4a6b8c10"
MOVED = "11111111-2222-4333-8444-555555555555"
API_KEY = "cc-test-api-key-0123456789"


class Lifecycle:
    """One stack's working folder driven like `roachcert plan/apply` does, against local stand-ins."""

    def __init__(self, base: Path, out: Any = None) -> None:
        from roachcert_sandbox.emulator import start_emulator
        from roachcert_sandbox.mirror import install_provider_mirror, write_cli_config

        self.emulator = start_emulator(base / "emulator.json", API_KEY, pending_seconds=0.0)
        for cluster in (FROGS, DINGOS, MOVED):
            self.emulator.register_cluster(cluster)
        mirror = install_provider_mirror(base / "mirror")
        config = write_cli_config(base / "mirror.tfrc", mirror.root)
        env = {
            "TF_CLI_CONFIG_FILE": str(config),
            **mirror.env,
            "COCKROACH_SERVER": self.emulator.url,
            "COCKROACH_API_KEY": API_KEY,
        }
        self.workdir = base / ".roachcert" / "demo"
        self.tf = Terraform(
            self.workdir, Engine(EMBEDDED, "ROACHCERT_TERRAFORM"), os.environ, extra=env, out=out
        )
        self.plan_file = self.workdir / "roachcert.tfplan"

    @staticmethod
    def stack(clusters: Mapping[str, str]) -> Stack:
        return Stack.model_validate(
            {
                "version": 1,
                "cas": {"legacy": {"pem_file": "/nonexistent/legacy.pem"}},
                "clusters": {
                    n: {"id": i, "ca": "legacy", "host": "db.example.com"} for n, i in clusters.items()
                },
                "name": "demo",
            }
        )

    def plan(
        self, clusters: Mapping[str, str], bundles: Mapping[str, str], forget: tuple[str, ...] = ()
    ) -> tuple[int, dict[str, Any], PlanSummary]:
        stack = self.stack(clusters)
        write_workdir(self.workdir, render_module(stack, bundles, forget=forget))
        self.tf.init()
        code = self.tf.plan(self.plan_file).returncode
        plan = self.tf.show_json(self.plan_file)
        return code, plan, summarise(plan, stack)

    def apply(self) -> list[tuple[str, str]]:
        """Apply the saved plan; the API calls that changed something, as (method, cluster id)."""
        mark = len(self.emulator.requests())
        self.tf.apply(self.plan_file)
        return [
            (item["method"], item["path"].split("/")[4])
            for item in self.emulator.requests()[mark:]
            if item["method"] != "GET"
        ]

    def ca(self, cluster: str) -> dict[str, str]:
        return self.emulator.client_ca(cluster)

    def close(self) -> None:
        self.emulator.stop()


@pytest.fixture
def life(tmp_path: Path) -> Iterator[Lifecycle]:
    pytest.importorskip("tf")
    running = Lifecycle(tmp_path)
    yield running
    running.close()


@needs_engine
@pytest.mark.integration
def test_lifecycle_with_stand_in_provider(life: Lifecycle) -> None:
    one, two = make_ca("client CA one")[0], make_ca("client CA two")[0]
    bundle = one + "\n" + two  # two CAs separated by a blank line

    code, _, summary = life.plan({"frogs": FROGS, "dingos": DINGOS}, {"frogs": bundle, "dingos": one})
    assert code == 2
    assert [(c.cluster, c.action, c.new_id) for c in summary.changes] == [
        ("dingos", "create", DINGOS),
        ("frogs", "create", FROGS),
    ]
    assert sorted(life.apply()) == sorted([("POST", DINGOS), ("POST", FROGS)])
    # The API holds the bundle byte for byte, and a new plan finds nothing to do.
    assert life.ca(FROGS) == {"status": "IS_SET", "x509_pem_cert": bundle}
    assert life.ca(DINGOS)["x509_pem_cert"] == one
    code, _, summary = life.plan({"frogs": FROGS, "dingos": DINGOS}, {"frogs": bundle, "dingos": one})
    assert (code, summary.has_changes) == (0, False)

    # A new bundle: an in-place PATCH of that cluster only.
    code, _, summary = life.plan({"frogs": FROGS, "dingos": DINGOS}, {"frogs": bundle, "dingos": bundle})
    [update] = [c for c in summary.changes if c.action != "no-op"]
    assert (update.cluster, update.action, update.old_pem, update.new_pem) == (
        "dingos",
        "update",
        one,
        bundle,
    )
    assert life.apply() == [("PATCH", DINGOS)]

    # A changed cluster id: delete from the OLD cluster, then create on the new one (never a PATCH).
    code, _, summary = life.plan({"frogs": MOVED, "dingos": DINGOS}, {"frogs": bundle, "dingos": bundle})
    [replace] = summary.of("replace")
    assert (replace.cluster, replace.old_id, replace.new_id, replace.reason) == (
        "frogs",
        FROGS,
        MOVED,
        "replace_by_triggers",
    )
    assert summary.deletions == (replace,)
    assert life.apply() == [("DELETE", FROGS), ("POST", MOVED)]
    assert life.ca(FROGS)["status"] == "NOT_SET"
    assert life.ca(MOVED) == {"status": "IS_SET", "x509_pem_cert": bundle}
    assert life.plan({"frogs": MOVED, "dingos": DINGOS}, {"frogs": bundle, "dingos": bundle})[0] == 0

    # Without the id trigger in state (an imported resource), an id change is the provider's in-place
    # PATCH: the summary must flag it.
    life.tf.run("state", "rm", f"terraform_data.{trigger_name('frogs')}")
    code, _, summary = life.plan({"frogs": FROGS, "dingos": DINGOS}, {"frogs": bundle, "dingos": bundle})
    [moved] = summary.in_place_id_changes
    assert (moved.old_id, moved.new_id) == (MOVED, FROGS)
    code, _, summary = life.plan({"frogs": MOVED, "dingos": DINGOS}, {"frogs": bundle, "dingos": bundle})
    assert (code, summary.has_changes) == (2, True)  # only the trigger comes back
    assert summary.trigger_changes == (f"terraform_data.{trigger_name('frogs')}",)
    assert all(c.action == "no-op" for c in summary.changes)
    assert life.apply() == []

    # Forget a cluster: no API call, its CA stays; the removed block stays harmless afterwards.
    code, _, summary = life.plan({"frogs": MOVED}, {"frogs": bundle}, forget=("dingos",))
    assert [(c.cluster, c.action) for c in summary.changes if c.action != "no-op"] == [("dingos", "forget")]
    assert summary.deletions == ()
    assert life.apply() == []
    assert life.ca(DINGOS)["status"] == "IS_SET"
    assert life.plan({"frogs": MOVED}, {"frogs": bundle}, forget=("dingos",))[0] == 0

    # An empty stack deletes what is left.
    code, _, summary = life.plan({}, {})
    assert summary.empty_stack
    assert [(c.cluster, c.action, c.old_id) for c in summary.deletions] == [("frogs", "delete", MOVED)]
    assert life.apply() == [("DELETE", MOVED)]
    assert life.ca(MOVED)["status"] == "NOT_SET"
