"""`ca ensure` against a real OpenBao: idempotence, rotation, --check, and the five traps."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import hvac
import pytest

from roachcert.app import run
from roachcert.pem import cert_info
from roachcert_sandbox.openbao import RunningOpenBao

pytestmark = pytest.mark.integration
MOUNT = "cockroach_client_ca"
CN = "Test Co client CA"


def issuers(root: Any, mount: str = MOUNT) -> dict[str, str]:
    """name → certificate PEM of every issuer in the mount."""
    listed = root.secrets.pki.list_issuers(mount_point=mount)["data"]
    return {
        info["issuer_name"]: root.secrets.pki.read_issuer(issuer_id, mount_point=mount)["data"]["certificate"]
        for issuer_id, info in listed["key_info"].items()
    }


def default_name(root: Any, mount: str = MOUNT) -> str:
    default_id = root.read(f"{mount}/config/issuers")["data"]["default"]
    return str(root.secrets.pki.read_issuer(default_id, mount_point=mount)["data"]["issuer_name"])


def test_ensure_then_again_changes_nothing(
    vault_env: RunningOpenBao, root: Any, write_stack: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    stack = write_stack(issuers="ca-2026a, ca-2027a")
    assert run(["ca", "ensure", str(stack)]) == 0
    first = capsys.readouterr().out
    assert "generate root issuer ca-2026a" in first
    assert "add issuer ca-2027a by rotation" in first
    assert "5 change(s) made" in first
    assert set(issuers(root)) == {"ca-2026a", "ca-2027a"}
    assert default_name(root) == "ca-2027a"
    role = root.read(f"{MOUNT}/roles/client")["data"]
    assert role["client_flag"] is True
    assert role["server_flag"] is False
    assert role["allow_any_name"] is True
    assert role["enforce_hostnames"] is False
    assert role["allow_ip_sans"] is False
    assert role["allow_localhost"] is False
    assert role["max_ttl"] == 48 * 3600
    assert (role["key_type"], role["key_bits"]) == ("ec", 256)

    assert run(["ca", "ensure", str(stack)]) == 0
    second = capsys.readouterr()
    assert second.out == f"client-ca ({MOUNT}): up to date\nno changes: Vault matches the stack\n"
    assert second.err == ""
    assert len(issuers(root)) == 2


def test_rotation_adds_the_next_issuer_and_makes_it_default(
    vault_env: RunningOpenBao, root: Any, write_stack: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["ca", "ensure", str(write_stack(issuers="ca-2026a"))]) == 0
    before = issuers(root)["ca-2026a"]
    assert run(["ca", "ensure", str(write_stack(issuers="ca-2026a, ca-2027a"))]) == 0
    out = capsys.readouterr().out
    assert "add issuer ca-2027a by rotation" in out
    assert "make ca-2027a the default issuer" in out
    now = issuers(root)
    assert now["ca-2026a"] == before  # the old CA is untouched
    assert default_name(root) == "ca-2027a"


def test_check_writes_nothing_and_exits_2(
    vault_env: RunningOpenBao, root: Any, write_stack: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    stack = write_stack()
    assert run(["ca", "ensure", str(stack), "--check"]) == 2
    out = capsys.readouterr().out
    assert "would be made" in out
    assert f"{MOUNT}/" not in root.sys.list_mounted_secrets_engines()["data"]
    assert run(["ca", "ensure", str(stack)]) == 0
    assert run(["ca", "ensure", str(stack), "--check"]) == 0


def test_trap1_mount_ttl_is_raised_before_the_ca_and_not_after_checked(
    vault_env: RunningOpenBao, root: Any, write_stack: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root.sys.enable_secrets_engine("pki", path=MOUNT)  # default max TTL: 768h
    assert run(["ca", "ensure", str(write_stack(ttl="8760h"))]) == 0
    out = capsys.readouterr().out
    assert out.index("raise cockroach_client_ca's max lease TTL") < out.index("generate root issuer")
    info = cert_info(issuers(root)["ca-2026a"])
    assert info.not_after - info.not_before >= timedelta(hours=8760)


def test_trap1_capped_ca_is_reported_not_papered_over(
    vault_env: RunningOpenBao, root: Any, write_stack: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root.sys.enable_secrets_engine("pki", path=MOUNT)
    root.secrets.pki.generate_root(  # the product doc's way: capped to 768h with only a warning
        "internal", CN, extra_params={"ttl": "8760h", "issuer_name": "ca-2026a"}, mount_point=MOUNT
    )
    assert run(["ca", "ensure", str(write_stack(ttl="8760h"))]) == 1
    err = capsys.readouterr().err
    assert "issuer ca-2026a lives 768h" in err
    assert "shorter than ttl 8760h" in err
    assert list(issuers(root)) == ["ca-2026a"]  # never "fixed" by adding an issuer


def test_trap2_ca_has_the_declared_common_name(
    vault_env: RunningOpenBao, root: Any, write_stack: Callable[..., Path]
) -> None:
    assert run(["ca", "ensure", str(write_stack())]) == 0
    info = cert_info(issuers(root)["ca-2026a"])
    assert info.subject == f"CN={CN}"
    assert info.is_ca


def test_trap2_subject_mismatch_is_reported(
    vault_env: RunningOpenBao, root: Any, write_stack: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root.sys.enable_secrets_engine("pki", path=MOUNT, config={"max_lease_ttl": "8760h"})
    root.secrets.pki.generate_root(
        "internal", "Another CA", extra_params={"ttl": "8760h", "issuer_name": "ca-2026a"}, mount_point=MOUNT
    )
    assert run(["ca", "ensure", str(write_stack())]) == 1
    assert "issuer ca-2026a (the current issuer) has CN=Another CA" in capsys.readouterr().err
    assert list(issuers(root)) == ["ca-2026a"]


def test_trap4_rerun_root_generation_is_idempotent_and_strays_are_reported(
    vault_env: RunningOpenBao, root: Any, write_stack: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    stack = write_stack()
    assert run(["ca", "ensure", str(stack)]) == 0
    assert run(["ca", "ensure", str(stack)]) == 0
    assert len(issuers(root)) == 1
    root.write_data(f"{MOUNT}/root/generate/internal", data={"ttl": "1000h"})  # the product doc, run again
    capsys.readouterr()
    assert run(["ca", "ensure", str(stack)]) == 0
    captured = capsys.readouterr()
    assert "(unnamed) in cockroach_client_ca is not declared" in captured.err
    assert "no changes" in captured.out
    assert len(root.secrets.pki.list_issuers(mount_point=MOUNT)["data"]["keys"]) == 2
    assert default_name(root) == "ca-2026a"


def test_trap5_vault_namespace_is_honoured(
    vault_env: RunningOpenBao, namespace: str, write_stack: Callable[..., Path]
) -> None:
    assert run(["ca", "ensure", str(write_stack())]) == 0
    in_namespace = hvac.Client(url=vault_env.addr, token=vault_env.token, namespace=namespace)
    at_root = hvac.Client(url=vault_env.addr, token=vault_env.token)
    assert f"{MOUNT}/" in in_namespace.sys.list_mounted_secrets_engines()["data"]
    assert f"{MOUNT}/" not in at_root.sys.list_mounted_secrets_engines()["data"]


def test_stack_namespace_overrides_the_environment(
    vault_env: RunningOpenBao,
    namespace: str,
    write_stack: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VAULT_NAMESPACE", "does-not-exist")
    stack = write_stack(extra=f"vault:\n  namespace: {namespace}\n")
    assert run(["ca", "ensure", str(stack)]) == 0
    in_namespace = hvac.Client(url=vault_env.addr, token=vault_env.token, namespace=namespace)
    assert f"{MOUNT}/" in in_namespace.sys.list_mounted_secrets_engines()["data"]


def test_unreachable_vault_is_one_line(
    write_stack: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from roachcert.vault import transport as vault

    monkeypatch.setattr(vault, "BACKOFF", 0.01)
    monkeypatch.setenv("VAULT_ADDR", "http://127.0.0.1:9")
    monkeypatch.setenv("VAULT_TOKEN", "some-token-value")
    assert run(["ca", "ensure", str(write_stack())]) == 1
    captured = capsys.readouterr()
    assert (
        captured.err
        == "roachcert: cannot reach Vault at http://127.0.0.1:9 (connection refused), 4 attempts\n"
    )


def test_sealed_vault_is_one_line(
    tmp_path: Path,
    write_stack: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from roachcert_sandbox.openbao import start_openbao

    server = start_openbao(tmp_path / "sealed")
    try:
        hvac.Client(url=server.addr, token=server.token).sys.seal()
        monkeypatch.setenv("VAULT_ADDR", server.addr)
        monkeypatch.setenv("VAULT_TOKEN", server.token)
        assert run(["ca", "ensure", str(write_stack())]) == 1
    finally:
        server.stop()
    err = capsys.readouterr().err
    assert err == f"roachcert: Vault at {server.addr} is sealed: ask its operators to unseal it\n"
