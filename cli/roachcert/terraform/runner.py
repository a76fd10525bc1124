"""The one module that starts Terraform.

Every command gets an explicit argv (`-input=false -no-color`), the CLI config TF_CLI_CONFIG_FILE names or our
own empty one (never the machine's ~/.terraformrc),
a shared plugin cache with `init` serialised by a file lock, and live output masked line by line while it
is also captured for parsing. Terraform's exit code is carried out; Ctrl-C is forwarded once and waited for.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from roachcert import interrupts
from roachcert.errors import TerraformError
from roachcert.escape import printable_block
from roachcert.files import FilesError, open_lock_file
from roachcert.mask import PRIVATE_KEY_MARKER, Masker, Sink
from roachcert.terraform.engine import Engine, scrubbed_environment
from roachcert.terraform.errors import TerraformCommandError, command_error

LOCK_FILE = ".terraform.lock.hcl"
INIT_STAMP = "roachcert-init.json"
LOCK_NAME = ".roachcert-init.lock"  # inside the plugin cache: one lock per cache, wherever it lives
# Files that hold only resources; a change there never needs a new `init`.
_NO_INIT_FILES = frozenset({"clusters.tf", "removed.tf", "adopt.tf"})


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    returncode: int
    output: str  # masked; stdout and stderr merged unless the command captured stdout apart
    stdout: str = ""  # unmasked stdout, only for commands that return data (show -json, state pull)


def _named_cli_config(value: str) -> str:
    """TF_CLI_CONFIG_FILE as the user set it, absolute (Terraform runs in the stack's folder), when it names
    a file; else "" and our own empty config. The machine's implicit ~/.terraformrc is never read, and a
    preset naming no file (these machines preset one) would make Terraform warn on every command."""
    if not value:
        return ""
    path = Path(value).absolute()
    return str(path) if path.is_file() else ""


def _tail_error(
    command: str, result: Result, workdir: Path | None = None, tool: str = "terraform"
) -> TerraformCommandError:
    return command_error(command, result.returncode, result.output, workdir, tool)


class Terraform:
    """Runs Terraform in one working folder (a stack's root module).

    `environ` is the run's environment, scrubbed of credentials the engine has no use for; `extra` is added
    on top, and a TF_CLI_CONFIG_FILE or TF_PLUGIN_CACHE_DIR in it is used. Else the CLI config is the one
    TF_CLI_CONFIG_FILE names in `environ` (a provider mirror, the sandbox's among them) when that is a file,
    and the plugin cache and our own empty CLI config live under the working folder's parent (`.roachcert/`).
    `out`, when given, receives the masked output live, each line after `prefix`.
    """

    def __init__(
        self,
        workdir: Path,
        engine: Engine,
        environ: Mapping[str, str],
        extra: Mapping[str, str] | None = None,
        out: Sink | None = None,
        *,
        prefix: str = "",
        lock_timeout: str | None = None,
    ) -> None:
        self.workdir = workdir
        self.engine = engine
        self.out = out
        self.prefix = prefix
        self.lock_timeout = lock_timeout
        self.environ = environ  # the run's, before scrubbing: what the mask knows as secrets
        self.mask = Masker(environ)
        self._extra = dict(extra or {})
        self._out_lock = threading.Lock()

    # -- environment -------------------------------------------------------------------------------------
    @property
    def home(self) -> Path:
        """Where our CLI config and the shared plugin cache live by default."""
        return self.workdir.resolve().parent

    def environment(self) -> dict[str, str]:
        base = scrubbed_environment(self.environ)
        preset = _named_cli_config(base.pop("TF_CLI_CONFIG_FILE", ""))
        # No cache or data folder set for other work (the init stamp lives in ./.terraform).
        for name in ("TF_PLUGIN_CACHE_DIR", "TF_DATA_DIR"):
            base.pop(name, None)
        env = {**base, **self._extra}
        if env.get("COCKROACH_SERVER"):
            # The provider joins it verbatim: a trailing "/" sends "//api/..." and every Read may 404.
            # Same form as roachcert's own client (cloud.normalise_server), without importing it here.
            env["COCKROACH_SERVER"] = env["COCKROACH_SERVER"].rstrip("/")
        env["TF_IN_AUTOMATION"] = "1"
        env["TF_INPUT"] = "0"
        env["CHECKPOINT_DISABLE"] = "1"
        if not env.get("TF_CLI_CONFIG_FILE"):
            env["TF_CLI_CONFIG_FILE"] = preset or str(self._own_cli_config())
        if not env.get("TF_PLUGIN_CACHE_DIR"):
            env["TF_PLUGIN_CACHE_DIR"] = str(self.home / "plugin-cache")
        Path(env["TF_PLUGIN_CACHE_DIR"]).mkdir(parents=True, exist_ok=True)
        return env

    def _own_cli_config(self) -> Path:
        path = self.home / "cli-config" / "terraformrc"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("# roachcert's own Terraform CLI config: the machine's is never read.\n")
        return path

    # -- running -----------------------------------------------------------------------------------------
    def _emit(self, line: str) -> None:
        if self.out is not None:
            with self._out_lock:
                self.out.write(f"{self.prefix}{line}")
                self.out.flush()

    def run(self, *args: str, stream: bool = True, data: bool = False) -> Result:
        """Run `terraform ARGS` in the working folder. With `data`, stdout is captured apart (a JSON
        document) and only stderr is shown/merged into `output`."""
        argv = (str(self.engine.path), *args)
        interrupts.check()  # a signal came while another step ran: start nothing new
        try:
            proc = subprocess.Popen(
                argv,
                cwd=self.workdir,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE if data else subprocess.STDOUT,
                text=True,
                encoding="utf-8",
                errors="replace",
                # Its own process group: a terminal Ctrl-C reaches only us, and we forward exactly one.
                process_group=0,
            )
        except OSError as exc:
            raise TerraformError(f"cannot run {self.engine.path} in {self.workdir}: {exc.strerror}") from None
        stdout_box: list[str] = []
        reader: threading.Thread | None = None
        if data:
            assert proc.stdout is not None
            pipe = proc.stdout
            reader = threading.Thread(target=lambda: stdout_box.append(pipe.read()), daemon=True)
            reader.start()
        text_pipe = proc.stderr if data else proc.stdout
        assert text_pipe is not None
        with interrupts.child(proc):
            lines, caught = self._collect(proc, text_pipe, reader, stream)
        if caught is not None:
            raise caught
        # In a worker thread the signal only sets the flag (and reached Terraform): stop here too.
        interrupts.check()
        return Result(argv, proc.returncode, "".join(lines), stdout_box[0] if stdout_box else "")

    def _collect(
        self,
        proc: subprocess.Popen[str],
        text_pipe: IO[str],
        reader: threading.Thread | None,
        stream: bool,
    ) -> tuple[list[str], KeyboardInterrupt | None]:
        """Terraform's masked output until it exits; an interrupt is passed on once and waited out."""
        lines: list[str] = []
        caught: KeyboardInterrupt | None = None
        hiding = False
        while True:
            try:
                for line in text_pipe:
                    # A private key's body spans lines that the one-line mask cannot recognise alone.
                    if hiding:
                        hiding = not ("-----END" in line and "PRIVATE KEY-----" in line)
                        continue
                    hiding = bool(PRIVATE_KEY_MARKER.search(line)) and "-----END" not in line
                    # What the provider relays from the Cloud API reaches terminals, logs and reports.
                    masked = printable_block(self.mask(line))
                    lines.append(masked)
                    if stream:
                        self._emit(masked)
                proc.wait()
                if reader is not None:
                    reader.join()
                break
            except KeyboardInterrupt as exc:
                # Terraform stops gracefully on one SIGINT (a second one makes it exit at once).
                caught = caught or exc
                interrupts.forward(proc)
        return lines, caught

    def _locking(self) -> tuple[str, ...]:
        return (f"-lock-timeout={self.lock_timeout}",) if self.lock_timeout else ()

    # -- commands ----------------------------------------------------------------------------------------
    def init_stamp(self) -> str:
        """A digest of what `init` depends on: lock file, non-resource .tf files, CLI config, engine."""
        digest = hashlib.sha256(str(self.engine.path).encode())
        env = self.environment()
        sources = sorted(p for p in self.workdir.glob("*.tf") if p.name not in _NO_INIT_FILES)
        for path in [*sources, self.workdir / LOCK_FILE, Path(env["TF_CLI_CONFIG_FILE"])]:
            digest.update(path.name.encode() + b"\0")
            with contextlib.suppress(OSError):
                digest.update(path.read_bytes())
            digest.update(b"\0")
        return digest.hexdigest()

    def needs_init(self) -> bool:
        stamp = self.workdir / ".terraform" / INIT_STAMP
        try:
            saved = json.loads(stamp.read_text(encoding="utf-8")).get("stamp")
        except (OSError, ValueError, AttributeError):
            return True
        return bool(saved != self.init_stamp())

    @contextlib.contextmanager
    def _init_lock(self, *, shared: bool = False) -> Iterator[None]:
        # One init at a time per plugin cache, across processes and threads: parallel inits corrupt it.
        # Other commands hold it shared: an init re-links the cache's provider folder, which would pull
        # the provider out from under a plan starting it in another stack.
        cache = Path(self.environment()["TF_PLUGIN_CACHE_DIR"])
        try:
            fd = open_lock_file(cache / LOCK_NAME)
        except FilesError as exc:
            raise TerraformError(str(exc)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def init(self, *, force: bool = False, upgrade: bool = False) -> Result | None:
        """`terraform init` when needed (or forced): what it printed, or None when it did not run. `upgrade`
        lets it pick a newer provider than the lock file holds (after provider_version changed)."""
        # Checked before locking too: a folder that needs no init must not wait for other stacks' runs.
        if not (force or upgrade) and not self.needs_init():
            return None
        with self._init_lock():
            if not (force or upgrade) and not self.needs_init():
                return None
            extra = ("-upgrade",) if upgrade else ()
            result = self.run("init", "-input=false", "-no-color", *extra, *self._locking())
            if result.returncode != 0:
                raise _tail_error("init", result, self.workdir, self.engine.tool)
            stamp = self.workdir / ".terraform" / INIT_STAMP
            stamp.parent.mkdir(parents=True, exist_ok=True)
            stamp.write_text(json.dumps({"stamp": self.init_stamp()}) + "\n", encoding="utf-8")
            return result

    def plan(self, out_file: Path | str, *, args: Sequence[str] = ()) -> Result:
        """`terraform plan -out=FILE`: its return code (0 no changes, 2 changes) and its own masked text, the
        plan a reviewer reads; an error raises TerraformCommandError."""
        with self._init_lock(shared=True):
            result = self.run(
                "plan",
                "-input=false",
                "-no-color",
                "-detailed-exitcode",
                f"-out={out_file}",
                *self._locking(),
                *args,
            )
        if result.returncode not in (0, 2):
            raise _tail_error("plan", result, self.workdir, self.engine.tool)
        return result

    def show_text(self, plan_file: Path | str) -> str:
        """The raw `terraform show -json PLAN` document (parse it with plan_json)."""
        with self._init_lock(shared=True):
            result = self.run("show", "-json", "-no-color", str(plan_file), stream=False, data=True)
        if result.returncode != 0:
            raise _tail_error("show", result, None, self.engine.tool)
        return result.stdout

    def show_json(self, plan_file: Path | str) -> dict[str, Any]:
        text = self.show_text(plan_file)
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise TerraformError(  # masked, then cut: a secret cut in two is found no more
                f"terraform show -json printed no JSON ({exc}): {self.mask(text)[:200]!r}"
            ) from None
        if not isinstance(data, dict):
            raise TerraformError("terraform show -json printed JSON that is not an object")
        return data

    def apply(self, plan_file: Path | str) -> Result:
        """Apply exactly this saved plan (Terraform refuses a stale one)."""
        with self._init_lock(shared=True):
            result = self.run("apply", "-input=false", "-no-color", *self._locking(), str(plan_file))
        if result.returncode != 0:
            raise _tail_error("apply", result, self.workdir, self.engine.tool)
        return result

    def import_resource(self, address: str, resource_id: str) -> Result:
        """`terraform import ADDRESS ID`: into state only; the provider reads, nothing is written remotely."""
        with self._init_lock(shared=True):
            result = self.run("import", "-input=false", "-no-color", *self._locking(), address, resource_id)
        if result.returncode != 0:
            raise _tail_error("import", result, self.workdir, self.engine.tool)
        return result

    def state_pull(self) -> dict[str, Any]:
        """The current state document; {} when there is no state yet."""
        with self._init_lock(shared=True):
            result = self.run("state", "pull", stream=False, data=True)
        if result.returncode != 0:
            raise _tail_error("state pull", result, None, self.engine.tool)
        if not result.stdout.strip():
            return {}
        try:
            data = json.loads(result.stdout)
        except ValueError as exc:
            raise TerraformError(f"terraform state pull printed no JSON: {exc}") from None
        return data if isinstance(data, dict) else {}
