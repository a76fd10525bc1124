"""The emulator obeys the Cloud API's published OpenAPI document (tests/openapi_check.py), in every mode
the document leaves open, and a wrong field fails the check (and the test that caused it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from openapi_check import (
    COPY,
    OpenApiCheck,
    check_answers,
    load_document,
    read_answers,
    shared_document,
    trim,
)
from roachcert_sandbox.emulator import RunningEmulator, start_emulator
from roachcert_sandbox.emulator_state import MODES, STATUSES, EmulatorState

TESTS = Path(__file__).resolve().parents[1]
CA_PATH = "/api/v1/clusters/{}/client-ca-cert"


@pytest.fixture
def own_log(tmp_path: Path) -> Path:
    return tmp_path / "own-answers.jsonl"


@pytest.fixture
def own_emulator(tmp_path: Path, api_key: str, own_log: Path) -> Iterator[RunningEmulator]:
    """An emulator whose answers go to its own log, not the session's (bad answers made on purpose stay
    out of the automatic check)."""
    running = start_emulator(tmp_path / "own-state.json", api_key, pending_seconds=0.05, answer_log=own_log)
    try:
        yield running
    finally:
        running.stop()


def _call(emulator: RunningEmulator, api_key: str, method: str, path: str, cert: str | None = None) -> int:
    body = None if cert is None else {"x509_pem_cert": cert}
    headers = {"Authorization": f"Bearer {api_key}"}
    return requests.request(method, emulator.url + path, json=body, headers=headers, timeout=10).status_code


def test_the_copy_in_tests_is_the_shared_document_trimmed() -> None:
    shared = shared_document()
    if shared is None:
        pytest.skip("../shared/reference/cloud-api-openapi.json is not beside this clone")
    copy = json.loads(COPY.read_text(encoding="utf-8"))
    assert copy == trim(json.loads(shared.read_text(encoding="utf-8")))
    assert copy["info"]["version"] == "2024-09-16"


@pytest.mark.parametrize("mode", sorted((knob, value) for knob, values in MODES.items() for value in values))
def test_every_mode_the_document_leaves_open_answers_within_it(
    own_emulator: RunningEmulator,
    own_log: Path,
    api_key: str,
    ca_pem: Callable[[str], str],
    mode: tuple[str, str],
) -> None:
    knob, value = mode
    own_emulator.set_faults(**{knob: value})
    cluster = "6f1c1ad5-0d7e-4b52-9a55-0d8b1b0c6e11"
    serverless = "0b9a7c55-3a43-4f5e-8e4b-6d5b8f1b2a22"
    own_emulator.register_cluster(cluster, "frogs")
    own_emulator.register_cluster(serverless, "toads", "SERVERLESS")
    ca = CA_PATH.format(cluster)
    for method, path, cert in [
        ("GET", ca, None),
        ("PATCH", ca, None),  # no body: 400
        ("DELETE", ca, None),  # none set: the delete_when_unset mode
        ("PATCH", ca, ca_pem("a")),  # none set: the patch_when_unset mode
        ("GET", ca, None),  # PENDING (pending_cert mode)
        ("POST", ca, ca_pem("b")),  # while PENDING: 400
        ("GET", f"/api/v1/clusters/{cluster}", None),
        ("GET", f"/api/v1/clusters/{serverless}", None),
        ("GET", "/api/v1/clusters?pagination.limit=1", None),  # a page and its next_page token
        ("GET", "/api/v1/clusters?pagination.page=not-a-token", None),  # 400
        ("GET", CA_PATH.format(serverless), None),
        ("GET", CA_PATH.format("no-such-cluster"), None),
        ("POST", f"/api/v1/clusters/{cluster}", None),  # a method the path lacks
        ("GET", f"//api/v1/clusters/{cluster}/client-ca-cert", None),  # a path the API lacks
    ]:
        _call(own_emulator, api_key, method, path, cert)
    own_emulator.set_faults(end_failed=True, pending_seconds=0.0)
    _call(own_emulator, api_key, "POST", ca, ca_pem("c"))  # over a set (or unset) CA: post_when_set
    _call(own_emulator, api_key, "GET", ca)  # FAILED (failed_cert mode)
    for status in (401, 403, 404, 429, 500, 502, 503):
        own_emulator.set_faults(fail_next=1, fail_status=status)
        _call(own_emulator, api_key, "GET", ca)
    entries, _ = read_answers(own_log)
    assert len(entries) >= 20
    assert {e["status"] for e in entries} >= {200, 400, 401, 404, 405, 503}
    assert check_answers(entries) == []
    assert check_answers(entries, OpenApiCheck(load_document(COPY))) == []  # a plain clone's copy


@pytest.mark.parametrize(
    ("wrong", "expected"),
    [
        ({"status": "DONE", "x509_pem_cert": ""}, "'DONE' is not one of"),
        ({"status": "IS_SET", "x509_pem_cert": 42}, "42 is not of type 'string'"),
        ({"status": "IS_SET", "pem": "x"}, "'pem' was unexpected"),
    ],
)
def test_a_wrong_emulator_field_fails_the_check(
    own_emulator: RunningEmulator,
    own_log: Path,
    api_key: str,
    monkeypatch: pytest.MonkeyPatch,
    wrong: dict[str, Any],
    expected: str,
) -> None:
    cluster = "6f1c1ad5-0d7e-4b52-9a55-0d8b1b0c6e11"
    own_emulator.register_cluster(cluster, "frogs")
    monkeypatch.setattr(EmulatorState, "_answer", lambda self, found: wrong)
    assert _call(own_emulator, api_key, "GET", CA_PATH.format(cluster)) == 200
    entries, _ = read_answers(own_log)
    [problem] = check_answers(entries)
    assert problem.startswith(f"GET {CA_PATH.format(cluster)} -> 200: ")
    assert expected in problem


def test_a_required_cluster_field_and_an_unknown_path_are_caught() -> None:
    check = OpenApiCheck()
    cluster = {"method": "GET", "path": "/api/v1/clusters/x", "status": 200, "answer": {"id": "x"}}
    assert any("'cockroach_version' is a required property" in p for p in check.problems(cluster))
    served = {"method": "GET", "path": "/api/v1/clusters/x/client-ca-certs", "status": 200, "answer": {}}
    assert check.problems(served) == [
        "GET /api/v1/clusters/x/client-ca-certs -> 200: the API document has no GET /api/v1/clusters/x/client-ca-certs, "
        "yet the emulator served it"
    ]
    refused = {**served, "status": 404, "answer": {"code": 5, "message": "no", "details": []}}
    assert check.problems(refused) == []
    error = {**refused, "path": "/api/v1/clusters/x", "answer": {"code": "five"}}
    assert check.problems(error) == ["GET /api/v1/clusters/x -> 404: code: 'five' is not of type 'integer'"]


def test_a_test_whose_emulator_answers_outside_the_document_fails_by_name(tmp_path: Path) -> None:
    """The automatic check (conftest) fails the very test that made the bad answer, at its teardown."""
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "conftest.py").write_text(
        f"import sys\nsys.path.insert(0, {str(TESTS)!r})\n"
        "from openapi_check import emulator_answer_log, emulator_answers_checked  # noqa: F401\n",
        encoding="utf-8",
    )
    (inner / "test_inner.py").write_text(
        textwrap.dedent(
            """
            import requests
            from roachcert_sandbox.emulator import start_emulator
            from roachcert_sandbox.emulator_state import EmulatorState

            def test_fine():
                pass

            def test_bad_answer(tmp_path, monkeypatch):
                monkeypatch.setattr(EmulatorState, "_answer", lambda self, found: {"status": "DONE"})
                running = start_emulator(tmp_path / "state.json", "k")
                try:
                    running.register_cluster("c1")
                    url = running.url + "/api/v1/clusters/c1/client-ca-cert"
                    requests.get(url, headers={"Authorization": "Bearer k"}, timeout=10)
                finally:
                    running.stop()
            """
        ),
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent / "cli"), str(TESTS)])}
    env.pop("ROACHCERT_EMULATOR_ANSWER_LOG", None)  # the inner session makes its own
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:randomly",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(inner),
            str(inner),
        ],
        cwd=inner,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "2 passed, 1 error" in out, out
    assert "ERROR at teardown of test_bad_answer" in out, out
    assert "test_inner.py::test_bad_answer: the Cloud API emulator answered outside the API's OpenAPI" in out
    assert "GET /api/v1/clusters/c1/client-ca-cert -> 200: status: 'DONE' is not one of" in out, out


def test_a_status_set_on_purpose_outside_the_enum_passes_only_that_field() -> None:
    """answer_status (a status a later API version may add) is marked deliberate by the emulator: the
    enum gives way for `status`, nothing else does."""
    check = OpenApiCheck()
    path = "/api/v1/clusters/x/client-ca-cert"
    odd = {
        "method": "GET",
        "path": path,
        "status": 200,
        "answer": {"status": "RESTORING", "x509_pem_cert": ""},
    }
    assert check.problems({**odd, "deliberate": "answer_status"}) == []
    assert check.problems(odd) == [f"GET {path} -> 200: status: 'RESTORING' is not one of {list(STATUSES)}"]
    extra = {**odd, "answer": {**odd["answer"], "pem": "x"}, "deliberate": "answer_status"}
    assert [p.split(": ", 1)[1] for p in check.problems(extra)] == [
        "body: Additional properties are not allowed ('pem' was unexpected)"
    ]


def test_the_emulator_marks_answer_status_answers_deliberate(
    own_emulator: RunningEmulator, own_log: Path, api_key: str
) -> None:
    cluster = "6f1c1ad5-0d7e-4b52-9a55-0d8b1b0c6e11"
    own_emulator.register_cluster(cluster, "frogs")
    own_emulator.set_faults(answer_status="RESTORING")
    _call(own_emulator, api_key, "GET", CA_PATH.format(cluster))
    _call(own_emulator, api_key, "GET", f"/api/v1/clusters/{cluster}")
    entries, _ = read_answers(own_log)
    assert [e["deliberate"] for e in entries] == ["answer_status", ""]
    assert check_answers(entries) == []
