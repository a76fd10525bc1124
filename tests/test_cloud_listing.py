"""GET /api/v1/clusters as the OpenAPI document pages it (`pagination.limit`, `pagination.page`, the answer's
`pagination.next_page`), through the client against the emulator; and `init --from-cloud`'s draft."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import requests

from certs_helper import make_ca
from roachcert.cloud.client import ClientCaStatus, CloudClient, ListedCluster
from roachcert.cloud.onboarding import Found, draft, key_for
from roachcert.errors import CloudError
from roachcert.spec import load_stack
from roachcert_sandbox.emulator import RunningEmulator, start_emulator
from roachcert_sandbox.emulator_listing import sql_dns

KEY = "crl-test-listing-key"


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[RunningEmulator]:
    running = start_emulator(tmp_path / "state.json", KEY, pending_seconds=0)
    yield running
    running.stop()


def _client(url: str) -> CloudClient:
    return CloudClient(url, KEY, retry_wait_min=0.01, retry_wait_max=0.02, timeout=5)


def test_every_page_is_read_in_name_order(emulator: RunningEmulator) -> None:
    ids = {f"c{n:02d}": str(uuid.uuid4()) for n in range(7)}
    for name, cluster_id in reversed(ids.items()):
        emulator.register_cluster(cluster_id, name)
    emulator.register_cluster(str(uuid.uuid4()), "serverless-one", "SERVERLESS")
    emulator.set_max_page_size(3)
    listed = _client(emulator.url).list_clusters()
    assert [c.name for c in listed] == [*ids, "serverless-one"]
    assert [c.id for c in listed[:7]] == list(ids.values())
    assert all(c.dedicated for c in listed[:7])
    assert not listed[7].dedicated
    assert listed[0].sql_dns == sql_dns(emulator.state.clusters[ids["c00"]])
    pages = [r for r in emulator.requests() if r["path"] == "/api/v1/clusters"]
    assert len(pages) == 3  # 8 clusters, 3 a page
    assert all("next_page" in r["answer"]["pagination"] for r in pages[:2])
    assert pages[-1]["answer"]["pagination"] == {}
    # The client's own page size is honoured too (the server's maximum is the cap).
    emulator.set_max_page_size(100)
    assert len(_client(emulator.url).list_clusters(page_size=2)) == 8


def test_a_page_token_handed_out_twice_stops_the_listing() -> None:
    class Looping(requests.Session):
        def get(self, url: str | bytes, **_: Any) -> requests.Response:  # type: ignore[override]
            response = requests.Response()
            response.status_code = 200
            response.headers["Content-Type"] = "application/json"
            response._content = b'{"clusters": [], "pagination": {"next_page": "same"}}'
            return response

    client = CloudClient("http://127.0.0.1:9", KEY, session=Looping())
    with pytest.raises(CloudError, match="handed out the page 'same' twice"):
        client.list_clusters()


def test_a_bad_page_token_is_refused_by_the_emulator(emulator: RunningEmulator) -> None:
    answer = requests.get(
        f"{emulator.url}/api/v1/clusters?pagination.page=%%%",
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=5,
    )
    assert answer.status_code == 400


def test_keys_follow_the_name_rule() -> None:
    taken: set[str] = set()
    assert key_for("prod-eu", taken) == "prod-eu"
    assert key_for("prod-eu", taken) == "prod-eu-2"
    assert key_for("9lives", taken) == "c-9lives"
    assert key_for("a.b c", taken) == "a-b-c"


def test_the_draft_validates_and_declares_what_each_cluster_trusts(tmp_path: Path) -> None:
    pem = make_ca("Hand-set CA")[0]
    listed = [
        ListedCluster(
            str(uuid.uuid4()), name, True, f"{name}-abcd.aws-us-east-1.cockroachlabs.cloud", "CREATED"
        )
        for name in ("frogs", "dingos", "newts", "toads")
    ]
    found = [
        Found(listed[0], ClientCaStatus("IS_SET", pem)),
        Found(listed[1], ClientCaStatus("IS_SET", pem)),  # the same CA: one file
        Found(listed[2], ClientCaStatus("NOT_SET", "")),
        Found(listed[3], ClientCaStatus("IS_SET", "garbage")),
    ]
    result = draft(found, source="https://x", cas_folder="prod-cas", today=date(2026, 12, 6), name_filter="")
    assert list(result.pem_files) == ["prod-cas/current-frogs.pem"]
    for relative, text in result.pem_files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    (tmp_path / "prod.yaml").write_text(result.text)
    stack = load_stack(tmp_path / "prod.yaml")
    assert stack.clusters["frogs"].ca == ("current-frogs",)
    assert stack.clusters["dingos"].ca == ("current-frogs",)
    assert stack.clusters["newts"].ca == ("client-ca",)
    assert stack.clusters["toads"].ca == ("client-ca",)
    assert [c.host for c in stack.clusters.values()] == [c.sql_dns for c in listed]
    assert any("toads" in note for note in result.notes)


def test_init_out_writes_the_stack_and_its_cas_beside_it(
    emulator: RunningEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from roachcert.app import run

    monkeypatch.setenv("COCKROACH_API_KEY", KEY)
    monkeypatch.setenv("COCKROACH_SERVER", emulator.url)
    monkeypatch.chdir(tmp_path)
    frogs = str(uuid.uuid4())
    emulator.register_cluster(frogs, "frogs")
    emulator.change_client_ca(frogs, make_ca("Hand-set CA")[0])
    out = tmp_path / "org" / "prod.yaml"
    out.parent.mkdir()
    assert run(["init", "--from-cloud", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert (out.parent / "prod-cas" / "current-frogs.pem").is_file()
    assert load_stack(out).clusters["frogs"].ca == ("current-frogs",)
    assert run(["init", "--from-cloud", "--out", str(out)]) == 1  # never over a stack file
    assert capsys.readouterr().err.startswith(f"roachcert: {out} exists")
    # A CA file of the same name that holds another certificate is kept, and named.
    (out.parent / "prod-cas" / "current-frogs.pem").write_text(make_ca("Someone else")[0])
    again = tmp_path / "org" / "prod2.yaml"
    assert run(["init", "--from-cloud", "--out", str(again), "--stack-dir", "ignored"]) == 0
    assert (out.parent / "prod2-cas" / "current-frogs.pem").is_file()  # its own folder: no clash
    assert run(["init", "--from-cloud", "--stack-dir", str(out.parent)]) == 0  # cloud-cas/: new
    capsys.readouterr()
    (out.parent / "cloud-cas" / "current-frogs.pem").write_text(make_ca("Someone else")[0])
    assert run(["init", "--from-cloud", "--stack-dir", str(out.parent)]) == 1
    err = capsys.readouterr().err
    assert "exists and holds another certificate" in err


def test_the_draft_reads_each_status_as_plan_does(tmp_path: Path) -> None:
    """A status none of the four (here one that would write YAML lines into the draft) is a note, and a
    NOT_SET answer that carries a PEM trusts nothing: plan would read both so."""
    pem = make_ca("Hand-set CA")[0]
    listed = [
        ListedCluster(
            str(uuid.uuid4()), name, True, f"{name}-abcd.aws-us-east-1.cockroachlabs.cloud", "CREATED"
        )
        for name in ("frogs", "newts")
    ]
    found = [
        Found(listed[0], ClientCaStatus("IS_SET\n    users: [root]\n    #", pem)),
        Found(listed[1], ClientCaStatus("NOT_SET", pem)),
    ]
    result = draft(found, source="https://x", cas_folder="prod-cas", today=date(2026, 12, 6), name_filter="")
    assert result.pem_files == {}
    assert "users: [root]" not in result.text
    (tmp_path / "prod.yaml").write_text(result.text)
    stack = load_stack(tmp_path / "prod.yaml")
    assert stack.clusters["frogs"].ca == ("client-ca",)
    assert stack.clusters["frogs"].users == ()
    assert stack.clusters["newts"].ca == ("client-ca",)
    assert any("frogs" in note and "unknown client CA status" in note for note in result.notes)
