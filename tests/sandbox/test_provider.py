"""The stand-in provider, installed from the filesystem mirror and driven by the real embedded engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from roachcert_sandbox.emulator import RunningEmulator
from roachcert_sandbox.mirror import MirrorInfo, install_provider_mirror, write_cli_config

if TYPE_CHECKING:  # the fixture's class; conftest modules are not imported by name at run time
    from conftest import Terraform

pytestmark = pytest.mark.integration
ADDR = "cockroach_client_ca_cert.main"


def _methods(emulator: RunningEmulator, cluster_id: str) -> list[str]:
    return [e["method"] for e in emulator.requests() if cluster_id in e["path"]]


@pytest.mark.standin_only("checks the stand-in's fixed launcher bytes and hash")
def test_init_works_offline_and_locks_the_launcher_hash(
    terraform: Terraform,
    new_cluster: Callable[..., str],
    ca_pem: Callable[[str], str],
    provider_mirror: tuple[MirrorInfo, object],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    terraform.write_config({"main": (new_cluster(), ca_pem("ca"))})
    terraform.init()
    lock = (terraform.workdir / ".terraform.lock.hcl").read_text()
    assert 'provider "registry.terraform.io/cockroachdb/cockroach"' in lock
    assert provider_mirror[0].h1 in lock
    # A second install elsewhere, with another interpreter named, has the same bytes and hash.
    again = install_provider_mirror(tmp_path_factory.mktemp("other") / "m", python="/opt/other/python3")
    assert again.executable.read_bytes() == provider_mirror[0].executable.read_bytes()
    assert again.h1 == provider_mirror[0].h1


def test_installing_the_mirror_twice_changes_nothing(tmp_path: Path) -> None:
    first = install_provider_mirror(tmp_path / "m", python="/usr/bin/python3")
    before = first.executable.stat()
    second = install_provider_mirror(tmp_path / "m", python="/usr/bin/python3")
    assert second == first
    assert second.executable.stat().st_mtime_ns == before.st_mtime_ns
    assert before.st_mode & 0o777 == 0o755
    assert first.env == {"ROACHCERT_STANDIN_PYTHON": "/usr/bin/python3"}
    assert first.executable.read_text().startswith("#!/bin/sh\n")
    assert "/usr/bin/python3" not in first.executable.read_text()


def test_cli_config_routes_only_the_cockroach_provider_to_the_mirror_on_both_registries(
    tmp_path: Path,
) -> None:
    mirror, cache = tmp_path / "odd ${dir}", tmp_path / "cache"
    config = write_cli_config(tmp_path / "tf.rc", mirror, plugin_cache_dir=cache)
    text = config.read_text()
    assert f'path    = "{tmp_path}/odd $${{dir}}"' in text
    both = '["registry.terraform.io/cockroachdb/cockroach", "registry.opentofu.org/cockroachdb/cockroach"]'
    assert f"include = {both}" in text
    assert f"exclude = {both}" in text
    assert f'plugin_cache_dir   = "{tmp_path}/cache"' in text
    mtime = config.stat().st_mtime_ns
    write_cli_config(tmp_path / "tf.rc", mirror, plugin_cache_dir=cache)
    assert config.stat().st_mtime_ns == mtime


def test_create_sets_the_ca_and_the_next_plan_is_empty(
    terraform: Terraform,
    emulator: RunningEmulator,
    new_cluster: Callable[..., str],
    ca_pem: Callable[[str], str],
) -> None:
    cluster, pem = new_cluster(), ca_pem("ca")
    terraform.start(cluster, pem, apply=False)
    applied = terraform.apply()
    assert "Warning" not in applied.stdout + applied.stderr
    assert emulator.client_ca(cluster) == {"status": "IS_SET", "x509_pem_cert": pem}
    assert terraform.state()[ADDR] == {"id": cluster, "x509_pem_cert": pem, "status": "IS_SET"}
    assert terraform.plan_exit_code() == 0
    calls = [e for e in emulator.requests() if cluster in e["path"]]
    assert [e["method"] for e in calls[:3]] == ["GET", "POST", "GET"]  # cluster read, set, first poll
    assert calls[0]["path"] == f"/api/v1/clusters/{cluster}"
    assert {(e["user_agent"], e["cc_version"]) for e in calls} == {
        ("terraform-provider-cockroach", "2024-09-16")
    }


def test_a_changed_cert_is_an_in_place_patch(
    terraform: Terraform,
    emulator: RunningEmulator,
    new_cluster: Callable[..., str],
    ca_pem: Callable[[str], str],
) -> None:
    cluster, old, new = new_cluster(), ca_pem("old"), ca_pem("new")
    terraform.start(cluster, old)
    terraform.write_config({"main": (cluster, old + "\n" + new)})
    assert terraform.planned_actions() == {ADDR: ["update"]}
    terraform.run("apply", "-input=false", "-no-color", "tf.plan")
    assert emulator.client_ca(cluster) == {"status": "IS_SET", "x509_pem_cert": old + "\n" + new}
    assert _methods(emulator, cluster).count("PATCH") == 1
    assert "DELETE" not in _methods(emulator, cluster)


def test_destroy_deletes_and_the_cluster_reads_not_set(
    terraform: Terraform,
    emulator: RunningEmulator,
    new_cluster: Callable[..., str],
    ca_pem: Callable[[str], str],
) -> None:
    cluster = new_cluster()
    terraform.start(cluster, ca_pem("ca"))
    terraform.run("destroy", "-auto-approve", "-input=false", "-no-color")
    assert emulator.client_ca(cluster) == {"status": "NOT_SET", "x509_pem_cert": ""}
    assert terraform.state() == {}


def test_import_by_cluster_id_adopts_the_current_ca(
    terraform: Terraform,
    emulator: RunningEmulator,
    new_cluster: Callable[..., str],
    ca_pem: Callable[[str], str],
) -> None:
    cluster, pem = new_cluster(), ca_pem("ca")
    emulator.change_client_ca(cluster, pem)
    terraform.start(cluster, pem, apply=False)
    terraform.run("import", "-input=false", "-no-color", ADDR, cluster)
    assert terraform.state()[ADDR] == {"id": cluster, "x509_pem_cert": pem, "status": "IS_SET"}
    assert terraform.plan_exit_code() == 0


def test_an_out_of_band_delete_stays_in_state_and_plans_an_update(
    terraform: Terraform,
    emulator: RunningEmulator,
    new_cluster: Callable[..., str],
    ca_pem: Callable[[str], str],
) -> None:
    cluster = new_cluster()
    terraform.start(cluster, ca_pem("ca"))
    emulator.set_faults(pending_seconds=0)
    emulator.change_client_ca(cluster, None)  # someone cleared it in the console
    assert terraform.planned_actions() == {ADDR: ["update"]}  # not "create": NOT_SET stays in state
    terraform.run("apply", "-input=false", "-no-color", "tf.plan")
    assert emulator.client_ca(cluster)["status"] == "IS_SET"


def test_a_vanished_cluster_is_dropped_from_state_and_planned_as_create(
    terraform: Terraform,
    emulator: RunningEmulator,
    new_cluster: Callable[..., str],
    ca_pem: Callable[[str], str],
) -> None:
    cluster = new_cluster()
    terraform.start(cluster, ca_pem("ca"))
    emulator.remove_cluster(cluster)
    done = terraform.run("plan", "-input=false", "-no-color")
    assert f"Cluster '{cluster}' was not found" in done.stdout + done.stderr
    assert terraform.planned_actions() == {ADDR: ["create"]}


def test_changing_id_patches_the_new_cluster_and_leaves_the_old_ca_in_place(
    terraform: Terraform,
    emulator: RunningEmulator,
    new_cluster: Callable[..., str],
    ca_pem: Callable[[str], str],
) -> None:
    """The real provider's quirk, kept on purpose: `id` has no RequiresReplace, so Terraform plans an
    in-place update and the provider PATCHes the new cluster without DELETE on the old one. roachcert
    must turn an id change into delete-old + create-new itself."""
    old_cluster, new_cluster_id, pem = new_cluster(), new_cluster(), ca_pem("ca")
    terraform.start(old_cluster, pem)
    terraform.write_config({"main": (new_cluster_id, pem)})
    assert terraform.planned_actions() == {ADDR: ["update"]}
    terraform.run("apply", "-input=false", "-no-color", "tf.plan")
    assert emulator.client_ca(old_cluster) == {"status": "IS_SET", "x509_pem_cert": pem}
    assert emulator.client_ca(new_cluster_id) == {"status": "IS_SET", "x509_pem_cert": pem}
    assert "DELETE" not in _methods(emulator, old_cluster)
    assert _methods(emulator, new_cluster_id)[0] == "PATCH"  # no POST, no cluster read first
    assert terraform.state()[ADDR]["id"] == new_cluster_id


def test_a_serverless_cluster_is_refused_before_any_change(
    terraform: Terraform,
    emulator: RunningEmulator,
    new_cluster: Callable[..., str],
    ca_pem: Callable[[str], str],
) -> None:
    cluster = new_cluster("SERVERLESS")
    terraform.start(cluster, ca_pem("ca"), apply=False)
    done = terraform.apply(expect=1)
    assert "Client CA Cert management is only available for dedicated clusters" in done.stderr
    assert _methods(emulator, cluster) == ["GET"]


def test_a_failed_change_is_an_error_and_nothing_is_recorded(
    terraform: Terraform,
    emulator: RunningEmulator,
    new_cluster: Callable[..., str],
    ca_pem: Callable[[str], str],
) -> None:
    cluster = new_cluster()
    terraform.start(cluster, ca_pem("ca"), apply=False)
    emulator.set_faults(end_failed=True)
    done = terraform.apply(expect=1)
    assert "Client CA Cert update timed out and may have failed" in done.stderr
    assert "client ca cert update failed" in done.stderr
    assert terraform.state() == {}


@pytest.mark.standin_only(
    "the real provider polls a PENDING change for a fixed 10 minutes; only the stand-in's poll timeout can be shortened (ROACHCERT_STANDIN_POLL_TIMEOUT)"
)
def test_a_change_stuck_pending_times_out(
    terraform: Terraform,
    emulator: RunningEmulator,
    new_cluster: Callable[..., str],
    ca_pem: Callable[[str], str],
) -> None:
    cluster = new_cluster()
    terraform.start(cluster, ca_pem("ca"), apply=False)
    emulator.set_faults(stuck_pending=True)
    done = terraform.apply(expect=1, ROACHCERT_STANDIN_POLL_TIMEOUT="1")
    assert "Client CA Cert update timed out and may have failed" in done.stderr
    assert "still pending" in done.stderr


def test_gets_are_retried_on_5xx_but_a_failed_post_is_not(
    terraform: Terraform,
    emulator: RunningEmulator,
    new_cluster: Callable[..., str],
    ca_pem: Callable[[str], str],
) -> None:
    cluster, pem = new_cluster(), ca_pem("ca")
    terraform.start(cluster, pem, apply=False)
    emulator.set_faults(fail_next=2, fail_status=503, fail_method="GET")
    terraform.apply()  # the cluster read fails twice, then succeeds
    assert _methods(emulator, cluster)[:4] == ["GET", "GET", "GET", "POST"]

    second = new_cluster()
    terraform.write_config({"main": (cluster, pem), "other": (second, ca_pem("ca2"))})
    emulator.set_faults(fail_next=1, fail_status=503, fail_method="POST")
    done = terraform.apply(expect=1)
    assert "Error updating Client CA Cert" in done.stderr
    assert _methods(emulator, second).count("POST") == 1


def test_no_credential_is_refused_with_the_real_message(
    terraform: Terraform, new_cluster: Callable[..., str], ca_pem: Callable[[str], str]
) -> None:
    terraform.write_config({"main": (new_cluster(), ca_pem("ca"))})
    terraform.init()
    terraform.env.pop("COCKROACH_API_KEY")
    done = terraform.run("plan", "-input=false", "-no-color", expect=1)
    assert "Unable to find authentication token" in done.stderr


def test_a_wrong_key_fails_the_cluster_read(
    terraform: Terraform, new_cluster: Callable[..., str], ca_pem: Callable[[str], str]
) -> None:
    terraform.write_config({"main": (new_cluster(), ca_pem("ca"))})
    terraform.init()
    terraform.env["COCKROACH_API_KEY"] = "wrong"
    done = terraform.apply(expect=1)
    assert "Error getting cluster info" in done.stderr
