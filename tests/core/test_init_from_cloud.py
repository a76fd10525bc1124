"""`roachcert init --from-cloud` on the sandbox: the organization's clusters listed page by page through the
Cloud API, a stack that validates as written, and a first plan that adopts the CAs the clusters trust
today without changing them."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from certs_helper import make_ca
from roachcert.app import run
from roachcert.spec import load_stack
from roachcert_sandbox.manager import SandboxState

pytestmark = pytest.mark.integration


class Org:
    """The emulator as the Console would fill it: clusters, some with a client CA set by hand."""

    def __init__(self, sandbox: SandboxState) -> None:
        self.url = sandbox.emulator_url
        self.headers = {"Authorization": f"Bearer {os.environ['COCKROACH_API_KEY']}"}
        self.prefix = f"org{uuid.uuid4().hex[:6]}-"  # the session's emulator holds other tests' clusters

    def add(self, name: str, plan: str = "DEDICATED") -> str:
        cluster_id = str(uuid.uuid4())
        body = {"id": cluster_id, "name": self.prefix + name, "plan": plan}
        requests.post(f"{self.url}/_admin/clusters", json=body, timeout=10).raise_for_status()
        return cluster_id

    def set_ca(self, cluster_id: str, pem: str) -> None:
        api = f"{self.url}/api/v1/clusters/{cluster_id}/client-ca-cert"
        requests.post(api, json={"x509_pem_cert": pem}, headers=self.headers, timeout=10).raise_for_status()
        deadline = time.monotonic() + 10
        while self.read(cluster_id).get("status") == "PENDING":
            assert time.monotonic() < deadline
            time.sleep(0.05)

    def read(self, cluster_id: str) -> dict[str, str]:
        api = f"{self.url}/api/v1/clusters/{cluster_id}/client-ca-cert"
        answer: dict[str, str] = requests.get(api, headers=self.headers, timeout=10).json()
        return answer

    def page_size(self, size: int) -> None:
        requests.post(
            f"{self.url}/_admin/paging", json={"max_page_size": size}, timeout=10
        ).raise_for_status()

    def list_requests(self) -> list[dict[str, object]]:
        log = requests.get(f"{self.url}/_admin/requests", timeout=10).json()
        return [entry for entry in log if entry["path"] == "/api/v1/clusters"]

    def mutations(self) -> list[str]:
        log = requests.get(f"{self.url}/_admin/requests", timeout=10).json()
        return [entry["method"] for entry in log if entry["method"] in ("POST", "PATCH", "DELETE")]

    def clear_log(self) -> None:
        requests.delete(f"{self.url}/_admin/requests", timeout=10).raise_for_status()


@pytest.fixture
def org(sandbox: SandboxState) -> Iterator[Org]:
    filled = Org(sandbox)
    try:
        yield filled
    finally:
        filled.page_size(100)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run(list(argv))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def test_init_lists_every_page_and_the_first_plan_adopts_unchanged(
    org: Org, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shared, own = make_ca("Hand-set shared CA")[0], make_ca("Hand-set frogs CA")[0]
    ids = {name: org.add(name) for name in ("dingos", "frogs", "newts", "toads", "yaks")}
    org.add("lizards", plan="SERVERLESS")
    org.set_ca(ids["frogs"], own)
    org.set_ca(ids["dingos"], shared)
    org.set_ca(ids["toads"], shared)
    org.page_size(2)  # 6 matching clusters: 3 pages (more clusters than a page)
    org.clear_log()
    (tmp_path / "stacks").mkdir()
    code, out, err = cli(capsys, "init", "--from-cloud", "--name-filter", f"^{org.prefix}")
    assert code == 0, err
    assert len(org.list_requests()) >= 3
    assert "left out 1 serverless cluster(s)" in err
    stack_file = tmp_path / "stacks" / "prod.yaml"  # `roachcert init --from-cloud > stacks/prod.yaml`
    stack_file.write_text(out)
    code, out, err = cli(capsys, "validate", str(stack_file))
    assert code == 0, err
    assert "ok (3 CAs, 5 clusters)" in out  # client-ca, and the two distinct CAs trusted today
    stack = load_stack(stack_file)
    by_id = {spec.id: (name, spec) for name, spec in stack.clusters.items()}
    assert set(by_id) == set(ids.values())
    assert all(spec.host.endswith(".cockroachlabs.cloud") for _, spec in by_id.values())
    frogs, dingos, toads = (by_id[ids[name]][1] for name in ("frogs", "dingos", "toads"))
    assert dingos.ca == toads.ca  # one CA file for one bundle
    assert frogs.ca != dingos.ca
    assert by_id[ids["newts"]][1].ca == ("client-ca",)
    assert (stack_file.parent / "cloud-cas").is_dir()

    # Adopt only: keep the clusters without a CA out of this first run (they would get client-ca).
    text = stack_file.read_text()
    for name in ("newts", "yaks"):
        key = by_id[ids[name]][0]
        start = text.index(f"  {key}:\n")
        end = text.find("\n  ", text.index("# users:", start))
        text = text[:start] + (text[end + 1 :] if end != -1 else "")
    stack_file.write_text(text)
    assert cli(capsys, "ca", "ensure", str(stack_file))[0] == 0
    code, out, err = cli(capsys, "plan", str(stack_file))
    assert code == 2, out + err
    assert "3 to adopt" in out + err, out + err
    org.clear_log()
    code, out, err = cli(capsys, "apply", str(stack_file))  # no --allow-replace-ca: nothing is dropped
    assert code == 0, out + err
    assert org.mutations() == []
    assert org.read(ids["frogs"])["x509_pem_cert"].strip() == own.strip()
    assert cli(capsys, "plan", str(stack_file))[0] == 0


def test_init_with_nothing_to_list_is_one_line(org: Org, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "init", "--from-cloud", "--name-filter", f"^{org.prefix}nothing")
    assert code == 1
    assert out == ""
    assert err.startswith("roachcert: no dedicated clusters whose name matches")
    assert cli(capsys, "init")[0] == 1
    assert cli(capsys, "init", "--from-cloud", "--name-filter", "(")[0] == 1
