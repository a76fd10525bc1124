"""Shared fixtures. Real local servers (OpenBao, the Cloud API emulator, PostgreSQL) are started by
the same code `roachcert sandbox` uses, so tests and the demo share one path."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from engine_choice import ENGINES, require_engine

# The emulator's answers are checked against the Cloud API's OpenAPI document after every test.
from openapi_check import emulator_answer_log, emulator_answers_checked  # noqa: F401
from provider_choice import active_provider

if TYPE_CHECKING:
    from roachcert_sandbox.manager import SandboxState

_real_connect = socket.socket.connect


def pytest_configure(config: pytest.Config) -> None:
    # Tests move $HOME to a temp folder; the provider cache `make setup` filled stays where it was.
    from roachcert_sandbox.providers import cache_dir

    os.environ.setdefault("ROACHCERT_CACHE", str(cache_dir().parents[1]))


def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = item.get_closest_marker("standin_only")
    if marker is not None and active_provider() == "real":
        pytest.skip(f"stand-in only: {marker.args[0] if marker.args else 'uses a stand-in knob'}")


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise AssertionError(f"test tried to reach a real network address: {address!r}")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _no_network_no_home(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Stray calls to the network or the user's own $HOME fail loudly."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    # The machine may preset a CLI config that does not exist; tests never read the machine's.
    monkeypatch.delenv("TF_CLI_CONFIG_FILE", raising=False)
    # The Cloud Console's "Download CA Cert" is a network call: nobody listens on this loopback port, so a
    # test that does not point it at an emulator gets the offline fallback (and its note) at once.
    monkeypatch.setenv("COCKROACH_CONSOLE_URL", "http://127.0.0.1:1")
    for name in (
        "VAULT_ADDR",
        "VAULT_TOKEN",
        "VAULT_NAMESPACE",
        "COCKROACH_API_KEY",
        "COCKROACH_SERVER",
        "ROACHCERT_TERRAFORM",
        "GITHUB_TOKEN",
        "GITHUB_STEP_SUMMARY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_ENDPOINT_URL_S3",
        "TF_ENCRYPTION",
        "ROACHCERT_TOFU",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def sandbox_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxState]:
    """The sandbox `roachcert sandbox up` starts: real OpenBao, the Cloud API emulator, the provider mirror."""
    from roachcert_sandbox import manager

    root = tmp_path_factory.mktemp("sandbox")
    state = manager.up([], root=root, pending_seconds=0.2, provider=active_provider())
    try:
        yield state
    finally:
        manager.down(root)


@pytest.fixture
def sandbox(sandbox_servers: SandboxState, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> SandboxState:
    """A shell after `eval "$(roachcert sandbox env)"`, working in a fresh folder of its own."""
    from roachcert_sandbox import manager

    for name, value in manager.environment(sandbox_servers).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ROACHCERT_STANDIN_POLL_TIMEOUT", "60")
    monkeypatch.chdir(tmp_path)
    return sandbox_servers


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """terraform or tofu: a test taking it runs on both engines (tofu skips only where not installed)."""
    name = str(request.param)
    require_engine(name)
    return name


@pytest.fixture(scope="session")
def s3_sandbox_servers(sandbox_servers: SandboxState) -> SandboxState:
    """The same sandbox after `roachcert sandbox up --s3`: SeaweedFS beside it, bucket roachcert-state."""
    from roachcert_sandbox import manager

    return manager.up(
        [], root=Path(sandbox_servers.root), pending_seconds=0.2, provider=active_provider(), s3=True
    )


@pytest.fixture
def s3_sandbox(
    s3_sandbox_servers: SandboxState, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> SandboxState:
    """A shell after `eval "$(roachcert sandbox env)"` with the S3 store's AWS_* variables."""
    from roachcert_sandbox import manager

    for name, value in manager.environment(s3_sandbox_servers).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ROACHCERT_STANDIN_POLL_TIMEOUT", "60")
    monkeypatch.chdir(tmp_path)
    return s3_sandbox_servers
