"""One run of roachcert under a `Runtime`: its environment, its streams (masked at the sink) and the
Vault and Cloud factories come from what the caller gives, never from patched module globals."""

from __future__ import annotations

import io
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from certs_helper import make_ca
from roachcert.adapters import Adapters
from roachcert.app import run
from roachcert.cloud.client import ClientCaStatus
from roachcert.errors import CloudError
from roachcert.mask import Sink
from roachcert.runtime import Runtime
from roachcert.spec import Stack

CLUSTER_ID = "2186fbdb-598c-4797-a463-aaaee865903e"
SECRET = "hvs.sink-test-secret-4321"


class FakeVault:
    """The one call rendering needs: an issuer's PEM."""

    def __init__(self, pem: str) -> None:
        self.pem = pem
        self.opened_for: list[str] = []

    def read_issuer_pem(self, mount: str, issuer: str) -> str | None:
        return self.pem if (mount, issuer) == ("m1", "ca-a") else None


class FakeCloud:
    server = "https://cloud.fake"

    def __init__(self, answer: ClientCaStatus | CloudError) -> None:
        self.answer = answer
        self.reads: list[str] = []

    def get_client_ca(self, cluster_id: str) -> ClientCaStatus:
        self.reads.append(cluster_id)
        if isinstance(self.answer, CloudError):
            raise self.answer
        return self.answer


def _stack(folder: Path) -> Path:
    path = folder / "frogs.yaml"
    path.write_text(
        "version: 1\ncas:\n  client-ca: {mount: m1, common_name: Client CA, issuers: [ca-a]}\n"
        f"clusters:\n  frogs: {{id: {CLUSTER_ID}, ca: client-ca, host: f.example, users: [app]}}\n"
    )
    return path


def _runtime(vault: FakeVault, cloud: FakeCloud | None = None, **env: str) -> Runtime:
    opened: list[str] = vault.opened_for

    def open_vault(stack: Stack) -> FakeVault:
        opened.append(stack.name)
        return vault

    def open_cloud() -> FakeCloud:
        assert cloud is not None, "this run must not open the Cloud API"
        return cloud

    return Runtime(
        environ=env,
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        adapters=Adapters(vault=open_vault, cloud=open_cloud),
    )


def _text(stream: Sink | None) -> str:
    assert isinstance(stream, io.StringIO)
    return stream.getvalue()


def test_render_reads_vault_through_the_given_factory_and_writes_to_the_given_streams(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pem = make_ca("Client CA")[0]
    vault = FakeVault(pem)
    runtime = _runtime(vault, ROACHCERT_HOME=str(tmp_path / "home"))
    assert run(["render", str(_stack(tmp_path))], runtime) == 0
    assert vault.opened_for == ["frogs"]
    printed = _text(runtime.stdout).splitlines()
    # The state root is the given environment's ROACHCERT_HOME, not the process's.
    assert printed
    assert all(line.startswith(str(tmp_path / "home")) for line in printed)
    rendered = "".join(Path(line).read_text() for line in printed)
    assert pem.strip().splitlines()[1] in rendered
    assert capsys.readouterr() == ("", "")


def test_runs_at_once_in_threads_each_read_their_own_environment(tmp_path: Path) -> None:
    # Each run's Runtime is handed down, not looked up: runs overlapping in one process (a server, a test)
    # never see each other's ROACHCERT_HOME, streams or adapters.
    pem = make_ca("Client CA")[0]
    stack = _stack(tmp_path)
    start = threading.Barrier(6)

    def one(index: int) -> tuple[int, list[str]]:
        vault = FakeVault(pem)
        runtime = _runtime(vault, ROACHCERT_HOME=str(tmp_path / f"home{index}"))
        start.wait()
        code = run(["render", str(stack)], runtime)
        return code, _text(runtime.stdout).splitlines()

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(one, range(6)))
    for index, (code, printed) in enumerate(results):
        assert code == 0
        assert printed
        assert all(line.startswith(str(tmp_path / f"home{index}") + "/") for line in printed), printed


def test_the_given_environment_is_what_the_command_reads(tmp_path: Path) -> None:
    # No COCKROACH_API_KEY in the given environment: `status` stops at once, whatever the process has.
    runtime = Runtime(environ={}, stdout=io.StringIO(), stderr=io.StringIO())
    assert run(["status", str(_stack(tmp_path))], runtime) == 1
    assert "COCKROACH_API_KEY" in _text(runtime.stderr)


def test_status_reads_the_cloud_through_the_given_factory(tmp_path: Path) -> None:
    pem = make_ca("Client CA")[0]
    cloud = FakeCloud(ClientCaStatus("IS_SET", pem))
    runtime = _runtime(FakeVault(pem), cloud)
    assert run(["status", str(_stack(tmp_path)), "--format", "json"], runtime) == 0
    document = json.loads(_text(runtime.stdout))
    assert document["server"] == FakeCloud.server
    assert [(c["cluster"], c["state"]) for c in document["clusters"]] == [("frogs", "in_sync")]
    assert cloud.reads == [CLUSTER_ID]


def test_plan_reads_the_cloud_through_the_given_factory(tmp_path: Path) -> None:
    cloud = FakeCloud(CloudError(f"the fake Cloud API is down (token {SECRET})"))
    runtime = _runtime(FakeVault(make_ca("Client CA")[0]), cloud, VAULT_TOKEN=SECRET, HOME=str(tmp_path))
    assert run(["plan", str(_stack(tmp_path)), "--format", "json"], runtime) == 1
    assert cloud.reads == [CLUSTER_ID]
    errors = _text(runtime.stderr)
    assert "the fake Cloud API is down" in errors
    assert SECRET not in errors + _text(runtime.stdout)


def test_every_line_out_and_err_is_masked_at_the_sink(tmp_path: Path) -> None:
    # The stack's own path holds the secret: nothing formatting the `ok` line thought of masking it.
    folder = tmp_path / SECRET
    folder.mkdir()
    (folder / "legacy.pem").write_text(make_ca("Legacy CA")[0])
    path = folder / "legacy.yaml"
    path.write_text("version: 1\ncas:\n  legacy: {pem_file: legacy.pem}\n")
    runtime = Runtime(environ={"VAULT_TOKEN": SECRET}, stdout=io.StringIO(), stderr=io.StringIO())
    assert run(["validate", str(path)], runtime) == 0
    assert run(["validate", str(folder / "missing.yaml")], runtime) == 1
    out, err = _text(runtime.stdout), _text(runtime.stderr)
    assert "ok (1 CAs, 0 clusters)" in out
    assert err.strip()
    assert SECRET not in out + err
    assert "***" in out
    assert "***" in err


def test_stderr_lines_are_printable_and_end_in_one_newline() -> None:
    stream = io.StringIO()
    Runtime(stderr=stream).err("bad \x1b[31mred\x1b[0m\nsecond line\n\n")
    assert stream.getvalue() == "bad \\x1b[31mred\\x1b[0m\nsecond line\n"


def test_a_streamed_write_is_masked_before_it_reaches_the_target() -> None:
    target = io.StringIO()
    Runtime(environ={"COCKROACH_API_KEY": SECRET}, stderr=target).err_stream().write(
        f"terraform: key={SECRET}\n"
    )
    assert target.getvalue() == "terraform: key=***\n"


def test_plan_progress_goes_to_the_given_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = _stack(tmp_path)
    second = tmp_path / "toads.yaml"
    second.write_text(first.read_text())
    cloud = FakeCloud(CloudError("the fake Cloud API is down"))
    runtime = _runtime(FakeVault(make_ca("Client CA")[0]), cloud, ROACHCERT_HOME=str(tmp_path / "home"))
    assert run(["plan", str(first), str(second), "--format", "json"], runtime) == 1
    lines = _text(runtime.stderr).splitlines()
    assert any(line.startswith("[1/2] ") and line.endswith("s)") for line in lines), lines
    assert any(line.startswith("[2/2] ") for line in lines), lines
    assert capsys.readouterr() == ("", "")


def test_a_stale_lock_note_goes_to_the_given_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from roachcert.stack_lock import STACK_LOCK, record_path

    home = tmp_path / "home"
    workdir = home / "frogs"
    workdir.mkdir(parents=True)
    dead = {"pid": 2**22 + 1, "host": "elsewhere", "command": "roachcert plan frogs.yaml", "started": "x"}
    record_path(workdir / STACK_LOCK).write_text(json.dumps(dead))
    runtime = _runtime(FakeVault(make_ca("Client CA")[0]), ROACHCERT_HOME=str(home))
    assert run(["render", str(_stack(tmp_path))], runtime) == 0
    assert "note: took over the lock of stack frogs left by" in _text(runtime.stderr)
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("stdin", ["absent", "closed"])
def test_apply_without_a_plan_and_without_a_stdin_is_one_line_not_an_internal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stdin: str
) -> None:
    # `roachcert apply STACK <&-`: Python's sys.stdin is None; a closed stream refuses isatty().
    given: io.StringIO | None = None
    if stdin == "absent":
        monkeypatch.setattr("sys.stdin", None)
    else:
        given = io.StringIO()
        given.close()
    runtime = Runtime(
        environ={"ROACHCERT_HOME": str(tmp_path / "home")},
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        stdin=given,
    )
    assert run(["apply", str(_stack(tmp_path))], runtime) == 1
    assert "--auto-approve" in _text(runtime.stderr)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class _Undecodable(_Terminal):
    """A terminal answer in bytes the terminal's encoding refuses."""

    def readline(self, size: int | None = -1, /) -> str:
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")


@pytest.mark.parametrize(
    ("stdin", "yes"),
    [(_Terminal("y\n"), True), (_Terminal(""), False), (_Undecodable(), False)],
    ids=["yes", "end-of-file", "undecodable"],
)
def test_a_question_is_answered_no_unless_yes_is_read(stdin: io.StringIO, yes: bool) -> None:
    runtime = Runtime(environ={}, stdout=io.StringIO(), stderr=io.StringIO(), stdin=stdin)
    assert runtime.ask("Apply this plan?") is yes
    assert _text(runtime.stderr) == "Apply this plan? [y/N]: "


def _interrupt_this_process() -> None:
    import os
    import signal
    import time

    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(5)  # the handler raises in the main thread before this ends


def test_a_run_started_in_another_thread_keeps_the_main_runs_interrupt() -> None:
    # The main thread's run was interrupted (its workers stop, its Terraforms get SIGINT): a run starting
    # meanwhile in another thread (a server, a test) must not clear that.
    from roachcert import interrupts

    with interrupts.handling():
        with pytest.raises(interrupts.Interrupted):
            _interrupt_this_process()
        assert interrupts.cancelled()
        other = threading.Thread(
            target=run, args=(["schema"], Runtime(environ={}, stdout=io.StringIO(), stderr=io.StringIO()))
        )
        other.start()
        other.join()
        assert interrupts.cancelled()
    assert not interrupts.cancelled()  # the next run starts uninterrupted


def test_a_run_without_path_never_finds_an_engine_on_the_processs_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # shutil.which searches the process's PATH when it is given none: a run's environment without PATH
    # must search the system's default path instead.
    import os
    import stat

    folder = tmp_path / "process-bin"
    folder.mkdir()
    for name in ("terraform", "tofu"):
        fake = folder / name
        fake.write_text("#!/bin/sh\necho 'Terraform v0.0.0-process'\n")
        fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")
    runtime = Runtime(environ={}, stdout=io.StringIO(), stderr=io.StringIO())
    assert run(["--version"], runtime) == 0
    assert str(folder) not in _text(runtime.stdout)
