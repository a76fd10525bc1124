"""Every HTTP client of a run (Cloud API, Vault, GitHub) takes its proxy and CA bundle from the run's
environment, never from the process's: requests would read os.environ (HTTP_PROXY, NO_PROXY,
REQUESTS_CA_BUNDLE, ~/.netrc) on each request. A small HTTP server stands in for the service, another
for the proxy (a proxied request arrives with the whole URL as its path)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import hvac.v1
import pytest
from fake_http import Server, json_answer

from certs_helper import make_ca
from roachcert.app import run
from roachcert.http_session import proxies_for
from roachcert.runtime import Runtime
from roachcert.vault.transport import VaultTransport, resolve_settings

CLUSTER_ID = "2186fbdb-598c-4797-a463-aaaee865903e"
CLUSTERS = f"clusters:\n  frogs: {{id: {CLUSTER_ID}, ca: client-ca, host: f.example, users: [app]}}\n"
IN_VAULT = "version: 1\ncas:\n  client-ca: {mount: m1, common_name: Client CA, issuers: [ca-a]}\n" + CLUSTERS
IN_A_FILE = "version: 1\ncas:\n  client-ca: {pem_file: ca.pem}\n" + CLUSTERS


@pytest.fixture
def service() -> Iterator[Server]:
    server = Server(lambda _method, _path: json_answer({"message": "no"}, 400))
    yield server
    server.stop()


@pytest.fixture
def proxy() -> Iterator[Server]:
    server = Server(lambda _method, _path: json_answer({"message": "the proxy says no"}, 400))
    yield server
    server.stop()


def _proxied(server: Server) -> list[str]:
    return [path for _method, path in server.requests if path.startswith("http://")]


def _run(tmp_path: Path, argv: list[str], environ: dict[str, str]) -> int:
    stack = tmp_path / "frogs.yaml"
    stack.write_text(IN_VAULT if "VAULT_ADDR" in environ else IN_A_FILE)
    (tmp_path / "ca.pem").write_text(make_ca("Client CA")[0])
    runtime = Runtime(
        environ={"ROACHCERT_HOME": str(tmp_path / "home"), "HOME": str(tmp_path), **environ},
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    return run([argv[0], str(stack), *argv[1:]], runtime)


def _commands(service: Server) -> dict[str, tuple[list[str], dict[str, str]]]:
    return {
        "status": (["status"], {"COCKROACH_API_KEY": "CCDB1_test_key_0123", "COCKROACH_SERVER": service.url}),
        "render": (["render"], {"VAULT_ADDR": service.url, "VAULT_TOKEN": "hvs.test-token-0123"}),
    }


@pytest.mark.parametrize("command", ["status", "render"])
def test_a_proxy_in_the_process_environment_is_not_the_runs(
    tmp_path: Path, service: Server, proxy: Server, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("http_proxy", proxy.url)
    argv, environ = _commands(service)[command]
    assert _run(tmp_path, argv, environ) == 1
    assert service.requests, "the run went to the service directly"
    assert _proxied(proxy) == []


@pytest.mark.parametrize("command", ["status", "render"])
def test_the_runs_own_proxy_is_used_unless_no_proxy_names_the_host(
    tmp_path: Path, service: Server, proxy: Server, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    argv, environ = _commands(service)[command]
    assert _run(tmp_path, argv, {**environ, "HTTP_PROXY": proxy.url}) == 1
    assert _proxied(proxy)
    assert service.requests == []
    proxy.requests.clear()
    assert _run(tmp_path, argv, {**environ, "HTTP_PROXY": proxy.url, "NO_PROXY": "127.0.0.0/8"}) == 1
    assert _proxied(proxy) == []
    assert service.requests


def test_a_comment_goes_through_the_runs_proxy_only(
    tmp_path: Path, proxy: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = tmp_path / "plan.md"
    report.write_text("<!-- roachcert:stack=frogs -->\n### roachcert plan: frogs\n\nNo changes.\n")
    argv = [
        "comment",
        str(report),
        "--repo",
        "o/r",
        "--pr",
        "7",
        "--api-url",
        "http://github.invalid",
        "--author",
        "me",
    ]
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    runtime = Runtime(
        environ={"GITHUB_TOKEN": "ghp_test_token_0123"}, stdout=io.StringIO(), stderr=io.StringIO()
    )
    assert run(argv, runtime) == 1
    assert _proxied(proxy) == []
    runtime = Runtime(
        environ={"GITHUB_TOKEN": "ghp_test_token_0123", "HTTP_PROXY": proxy.url},
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    assert run(argv, runtime) == 1
    assert _proxied(proxy)


@pytest.mark.parametrize(
    ("no_proxy", "url", "bypassed"),
    [
        ("*", "https://vault.example.com", True),
        ("example.com", "https://vault.example.com", True),
        (".example.com", "https://vault.example.com:8200", True),
        ("example.com", "https://notexample.com", False),
        ("vault.example.com:8200", "https://vault.example.com:8200", True),
        ("vault.example.com:8200", "https://vault.example.com", False),
        ("10.0.0.0/8", "http://10.1.2.3:8200", True),
        ("10.0.0.0/8", "http://192.168.1.1", False),
        ("127.0.0.1", "http://127.0.0.1:9", True),
        ("", "https://api.cockroachlabs.cloud", False),
        ("api.example.com:443", "https://api.example.com:99999", False),  # a bad port is requests' to refuse
    ],
)
def test_no_proxy_means_what_curl_and_urllib_read_it_as(no_proxy: str, url: str, bypassed: bool) -> None:
    environ = {"HTTPS_PROXY": "http://proxy:3128", "HTTP_PROXY": "http://proxy:3128", "NO_PROXY": no_proxy}
    assert (proxies_for(url, environ) == {}) is bypassed


def test_the_process_vault_client_certificate_is_not_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # hvac reads VAULT_CLIENT_CERT from the process's environment when it is imported, and sends it
    # whenever it is given no `cert`: the run's own (or none) is what goes.
    from roachcert.spec.models import VaultSpec

    monkeypatch.setattr(hvac.v1, "VAULT_CLIENT_CERT", "/process/client.crt")
    monkeypatch.setattr(hvac.v1, "VAULT_CLIENT_KEY", "/process/client.key")
    env = {"VAULT_ADDR": "https://vault.example.com"}
    client = VaultTransport(resolve_settings(VaultSpec(), env), env)._client(None)
    assert not client.adapter._kwargs["cert"]
    cert, key = tmp_path / "client.crt", tmp_path / "client.key"
    cert.write_text("the run's certificate")
    key.write_text("the run's key")
    env = {**env, "VAULT_CLIENT_CERT": str(cert), "VAULT_CLIENT_KEY": str(key)}
    client = VaultTransport(resolve_settings(VaultSpec(), env), env)._client(None)
    assert client.adapter._kwargs["cert"] == (str(cert), str(key))


@pytest.mark.parametrize(
    ("command", "name"),
    [
        ("status", "REQUESTS_CA_BUNDLE"),
        ("render", "REQUESTS_CA_BUNDLE"),
        ("render", "CURL_CA_BUNDLE"),
        ("render", "VAULT_CLIENT_CERT"),
        ("render", "VAULT_CLIENT_KEY"),
    ],
)
def test_a_tls_file_that_does_not_exist_is_one_line(
    tmp_path: Path, service: Server, command: str, name: str
) -> None:
    # requests raises a bare OSError for these (not one of its own exceptions): exit 3 before.
    _argv, environ = _commands(service)[command]
    if name == "VAULT_CLIENT_KEY":
        (tmp_path / "client.crt").write_text("not read: the key is missing first")
        environ["VAULT_CLIENT_CERT"] = str(tmp_path / "client.crt")
    environ[name] = str(tmp_path / "missing.pem")
    stack = tmp_path / "frogs.yaml"
    stack.write_text(IN_VAULT if command == "render" else IN_A_FILE)
    (tmp_path / "ca.pem").write_text(make_ca("Client CA")[0])
    runtime = Runtime(
        environ={"ROACHCERT_HOME": str(tmp_path / "home"), "HOME": str(tmp_path), **environ},
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    assert run([command, str(stack)], runtime) == 1
    assert isinstance(runtime.stderr, io.StringIO)
    assert isinstance(runtime.stdout, io.StringIO)
    assert f"{name} names {tmp_path / 'missing.pem'}, which does not exist" in (
        runtime.stderr.getvalue() + runtime.stdout.getvalue()
    )
