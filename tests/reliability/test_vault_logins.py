"""Vault logins without a stored secret, against the sandbox's real OpenBao: a JWT (as GitHub Actions,
GitLab or a Kubernetes service account hands a job) exchanged at JWT auth, and a Vault Agent token sink."""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hvac
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from faultkit import Cli, SandboxStack, only_line

from roachcert_sandbox.manager import SandboxState

pytestmark = pytest.mark.integration
POLICIES = Path(__file__).resolve().parents[2] / "examples" / "vault"
AUDIENCE = "roachcert"
REPOSITORY = "acme/stacks"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Issuer:
    """An identity provider in miniature: an ES256 key pair and the JWTs it signs."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())

    @property
    def public_pem(self) -> str:
        return (
            self.key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def sign(self, **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": "https://token.actions.example.test",
            "sub": f"repo:{REPOSITORY}:ref:refs/heads/main",
            "aud": AUDIENCE,
            "repository": REPOSITORY,
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            **overrides,
        }
        signing_input = (
            f"{_b64(json.dumps({'alg': 'ES256', 'typ': 'JWT'}).encode())}.{_b64(json.dumps(claims).encode())}"
        )
        der = self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        # JWS wants the raw r||s pair, not the DER that cryptography returns.
        r, s = decode_dss_signature(der)
        return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def root_client() -> Any:
    return hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["VAULT_TOKEN"])


def issue_policy(stack: SandboxStack) -> str:
    """examples/vault/roachcert-issue.hcl for this stack's mount, stored under a name of its own."""
    name = f"issue-{uuid.uuid4().hex[:8]}"
    text = (POLICIES / "roachcert-issue.hcl").read_text().replace("cockroach_client_ca", stack.mount)
    root_client().sys.create_or_update_policy(name, text)
    return name


@pytest.fixture
def jwt_auth(sandbox: SandboxState) -> tuple[str, Issuer]:
    """A JWT auth mount trusting a key pair made here; its role `renew` binds audience and repository."""
    mount = f"jwt-{uuid.uuid4().hex[:8]}"
    issuer = Issuer()
    root = root_client()
    root.sys.enable_auth_method("jwt", path=mount)
    root.write(f"auth/{mount}/config", jwt_validation_pubkeys=[issuer.public_pem])
    return mount, issuer


def with_auth(stack: SandboxStack, auth: str) -> Path:
    text = stack.write().read_text(encoding="utf-8")
    stack.path.write_text(f"version: 1\nvault:\n  auth: {auth}\n" + text.removeprefix("version: 1\n"))
    return stack.path


@pytest.fixture
def jwt_stack(
    one_cluster: SandboxStack, jwt_auth: tuple[str, Issuer], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Path]:
    """The stack logging in with a JWT from ROACHCERT_TEST_JWT as role `renew` (the issue policy only);
    the sandbox's root token is gone from the environment."""
    mount, _issuer = jwt_auth
    root_client().write(
        f"auth/{mount}/role/renew",
        role_type="jwt",
        bound_audiences=[AUDIENCE],
        bound_claims={"repository": REPOSITORY},
        user_claim="sub",
        token_policies=[issue_policy(one_cluster)],
        token_ttl="5m",
    )

    def write(role: str = "renew", source: str = "token_env: ROACHCERT_TEST_JWT") -> Path:
        path = with_auth(one_cluster, f"{{method: jwt, mount: {mount}, role: {role}, {source}}}")
        monkeypatch.delenv("VAULT_TOKEN", raising=False)
        return path

    return write


def test_a_jwt_login_issues_and_the_jwt_and_token_stay_hidden(
    jwt_stack: Callable[..., Path],
    jwt_auth: tuple[str, Issuer],
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    jwt = jwt_auth[1].sign()
    monkeypatch.setenv("ROACHCERT_TEST_JWT", jwt)
    path = str(jwt_stack())
    cli.ok("issue", path, "c0", "app", "--out", str(tmp_path / "certs"))
    assert (tmp_path / "certs" / "client.app.crt").is_file()
    # The same JWT, from a file (a Kubernetes service-account token's projected volume).
    token_file = tmp_path / "sa-token"
    token_file.write_text(jwt + "\n")
    path = str(jwt_stack(source=f"token_file: {token_file}"))
    cli.ok("renew", path, "c0", "app", "--out", str(tmp_path / "renewed"))
    assert (tmp_path / "renewed" / "client.app.crt").is_file()
    for outcome in cli.outcomes:
        assert jwt not in outcome.text
        assert jwt.split(".")[2] not in outcome.text
    assert not any(
        jwt in p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file() and p != token_file
    )


@pytest.mark.parametrize(
    ("claims", "role", "reason"),
    [
        (
            {"exp": int(time.time()) - 600, "iat": int(time.time()) - 900, "nbf": int(time.time()) - 900},
            "renew",
            "token is expired",
        ),
        ({"aud": "someone-else"}, "renew", "audience claim does not match any expected audience"),
        ({"repository": "evil/fork"}, "renew", 'claim "repository" does not match'),
        ({}, "no-such-role", 'role "no-such-role" could not be found'),
    ],
    ids=["expired", "wrong-audience", "unbound-claim", "missing-role"],
)
def test_a_refused_jwt_login_is_one_line(
    jwt_stack: Callable[..., Path],
    jwt_auth: tuple[str, Issuer],
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    claims: dict[str, Any],
    role: str,
    reason: str,
) -> None:
    mount, issuer = jwt_auth
    jwt = issuer.sign(**claims)
    monkeypatch.setenv("ROACHCERT_TEST_JWT", jwt)
    path = str(jwt_stack(role=role))
    line = only_line(cli.fails("issue", path, "c0", "app", "--out", str(tmp_path / "certs")).text)
    assert line.startswith(
        f"roachcert: Vault refused the JWT login as role '{role}' at auth/{mount}/login on "
    )
    assert reason in line
    assert jwt not in line
    assert not (tmp_path / "certs").exists()


def test_a_jwt_from_nowhere_or_to_nowhere_is_one_line(
    jwt_stack: Callable[..., Path],
    jwt_auth: tuple[str, Issuer],
    one_cluster: SandboxStack,
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    issuer, stack = jwt_auth[1], one_cluster
    path = str(jwt_stack())
    line = only_line(cli.fails("issue", path, "c0", "app", "--out", str(tmp_path / "certs")).text)
    assert (
        line == "roachcert: JWT login needs ROACHCERT_TEST_JWT in the environment (the platform's OIDC token)"
    )
    monkeypatch.setenv("ROACHCERT_TEST_JWT", "not-a-jwt-at-all")
    line = only_line(cli.fails("issue", path, "c0", "app", "--out", str(tmp_path / "certs")).text)
    assert line == (
        "roachcert: ROACHCERT_TEST_JWT does not hold a JWT (three dot-separated parts): check what it names"
    )
    jwt = issuer.sign()
    monkeypatch.setenv("ROACHCERT_TEST_JWT", jwt)
    path = with_auth(stack, "{method: jwt, mount: jwt-absent, role: renew, token_env: ROACHCERT_TEST_JWT}")
    line = only_line(cli.fails("issue", str(path), "c0", "app", "--out", str(tmp_path / "certs")).text)
    assert line.startswith(
        "roachcert: Vault refused the JWT login as role 'renew' at auth/jwt-absent/login on "
    )
    assert line.endswith(": permission denied (is an auth method enabled at auth/jwt-absent?)")
    path = str(jwt_stack(source=f"token_file: {tmp_path / 'absent'}"))
    line = only_line(cli.fails("issue", path, "c0", "app", "--out", str(tmp_path / "certs")).text)
    assert line == f"roachcert: the JWT file {tmp_path / 'absent'} does not exist"


def test_a_vault_agent_token_sink_is_read_each_run_and_must_be_private(
    one_cluster: SandboxStack, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = root_client()
    policy = issue_policy(one_cluster)
    sink = tmp_path / "agent" / "token"
    sink.parent.mkdir()
    path = str(with_auth(one_cluster, "{method: token_file, path: agent/token}"))  # relative to the stack
    monkeypatch.delenv("VAULT_TOKEN", raising=False)

    line = only_line(cli.fails("issue", path, "c0", "app", "--out", str(tmp_path / "certs")).text)
    assert line == f"roachcert: the token file {sink} does not exist: is Vault Agent running?"

    first = root.auth.token.create(policies=[policy], ttl="5m")["auth"]["client_token"]
    sink.write_text(first + "\n")
    sink.chmod(0o640)  # Vault Agent's default sink mode: group-readable
    line = only_line(cli.fails("issue", path, "c0", "app", "--out", str(tmp_path / "certs")).text)
    assert line == (
        f"roachcert: the token file {sink} has mode 0640, wider than 0600: not using it; set `mode = 0600` "
        "in the Vault Agent file sink (or chmod 600 it) and check who could read it"
    )

    sink.chmod(0o600)
    cli.ok("issue", path, "c0", "app", "--out", str(tmp_path / "certs"))
    # The Agent renews into the same file: the next run uses the new token, the revoked one is gone.
    root.auth.token.revoke(first)
    sink.write_text(root.auth.token.create(policies=[policy], ttl="5m")["auth"]["client_token"])
    cli.ok("renew", path, "c0", "app", "--out", str(tmp_path / "renewed"))
    assert (tmp_path / "renewed" / "client.app.crt").is_file()
    for outcome in cli.outcomes:
        assert first not in outcome.text


def test_the_runner_logs_in_its_own_way_with_one_shared_stack(
    one_cluster: SandboxStack,
    jwt_stack: Callable[..., Path],
    jwt_auth: tuple[str, Issuer],
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The stack says nothing of logins (CI uses VAULT_TOKEN); the CronJob sets ROACHCERT_VAULT_AUTH."""
    mount, issuer = jwt_auth
    jwt_stack()  # the role `renew`, and no VAULT_TOKEN
    path = str(one_cluster.write())
    token_file = tmp_path / "sa" / "token"
    token_file.parent.mkdir()
    token_file.write_text(issuer.sign())
    monkeypatch.setenv(
        "ROACHCERT_VAULT_AUTH", f"{{method: jwt, mount: {mount}, role: renew, token_file: {token_file}}}"
    )
    cli.ok("renew", path, "c0", "app", "--out", str(tmp_path / "renewed"))
    assert (tmp_path / "renewed" / "client.app.crt").is_file()
    monkeypatch.setenv("ROACHCERT_VAULT_AUTH", f"{{method: jwt, mount: {mount}, role: renew}}")
    line = only_line(cli.fails("renew", path, "c0", "app", "--out", str(tmp_path / "again")).text)
    assert line == (
        "roachcert: ROACHCERT_VAULT_AUTH: a JWT login reads the JWT from `token_file: PATH` or "
        "`token_env: VARIABLE`: give one of them"
    )
