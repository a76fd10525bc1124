"""The validating entries for outside input, fuzzed (issue 26): the Cloud API client, the GitHub client, the
Vault adapter, the delivered-inventory reader, the credential check and the JSON they all start from get
random JSON shapes, text of every Unicode category (controls, lone surrogates, bidi, zero-width), huge and
deep documents and raw bytes. Each returns typed values or raises its own RoachcertError subclass of one
line, never another exception; through the CLI, a few examples end in exit 0, 1 or 2 with at most one
line on stderr and never exit 3.

Examples per test: the profile's (HYPOTHESIS_PROFILE, tests/reliability/conftest.py); `make fuzz` runs the
`fuzz` profile, many more and random.
"""

from __future__ import annotations

import http.client
import io
import json
import os
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from fake_http import Answer, serving
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from requests.structures import CaseInsensitiveDict

from certs_helper import make_ca
from roachcert import credentials, outside_json
from roachcert.app import run
from roachcert.certs import inventory
from roachcert.cloud.client import CloudClient, ClusterInfo
from roachcert.errors import CloudError, VaultError
from roachcert.github import GitHubError, upsert_comment
from roachcert.outside_json import NotJson
from roachcert.runtime import Runtime
from roachcert.spec import TokenAuth
from roachcert.vault.adapter import VaultAdapter, VaultSettings
from roachcert.vault.ca_ensure import _role_diffs
from roachcert.vault.rotation import delivered_records

FUZZING = os.environ.get("HYPOTHESIS_PROFILE") == "fuzz"
CLI_EXAMPLES = 200 if FUZZING else 12  # each runs a whole command
HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]
ENTRY = settings(suppress_health_check=HEALTH, deadline=None)
CLI = settings(
    max_examples=CLI_EXAMPLES, suppress_health_check=[*HEALTH, HealthCheck.function_scoped_fixture]
)

# -- strategies -------------------------------------------------------------------------------------------
SPECIAL = [
    *"\x00\x07\x08\x0b\x0c\x1b\x7f\x85\xa0\xad",
    "\r",
    "\n",
    "\t",
    *"\u200b\u200c\u200d\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff\ufffd",
    "\ud800",
    "\udfff",
    "\udc80",
    "é",
    "😀",
]
CHAR = st.one_of(st.characters(exclude_categories=()), st.sampled_from(SPECIAL))
TEXT = st.one_of(st.text(CHAR, max_size=30), st.sampled_from(["\x1b[2J", "IS_SET\nNo changes: fake"]))
KEYS = [
    "data", "errors", "status", "x509_pem_cert", "id", "name", "plan", "config", "serverless", "operation_status",
    "message", "body", "html_url", "clusters", "pagination", "next_page", "regions", "sql_dns", "state", "certificate", "type", "max_lease_ttl", "keys", "key_info", "issuer_name",
    "default", "private_key", "serial_number", "revocation_time", "auth", "client_token", "cluster", "user",
    "folder", "at", "delivered", "serial", "mount", "issuer", "issuer_sha256", "not_before", "not_after", "error",
]  # fmt: skip
SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
    st.sampled_from(
        ["IS_SET", "PENDING", "2026-01-01T00:00:00", "2026-01-01T00:00:00+00:00", "pki", "1", ""]
    ),
)
JSON = st.recursive(
    SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), TEXT), inner, max_size=6),
    ),
    max_leaves=25,
)


CERT = make_ca("Fuzz leaf")[0]
PEM = st.sampled_from(
    [
        CERT,
        CERT + CERT,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        CERT.replace("M", "N", 3),
        "x",
    ]
)
NAMES = st.lists(st.one_of(st.just("a"), TEXT), min_size=1, max_size=3)
VAULT_DATA = st.fixed_dictionaries(
    {},
    optional={
        "certificate": st.one_of(PEM, PEM, JSON),
        "private_key": st.one_of(st.just("key"), JSON),
        "serial_number": st.one_of(st.just("01:02"), JSON),
        "keys": st.one_of(NAMES, NAMES, JSON),
        "key_info": st.one_of(st.just({"a": {"issuer_name": "x"}}), st.dictionaries(TEXT, JSON), JSON),
        "default": st.one_of(st.just("a"), JSON),
        "type": st.one_of(st.just("pki"), JSON),
        "max_lease_ttl": st.one_of(st.integers(-5, 2**70), st.just("10"), JSON),
        "max_ttl": st.one_of(st.just("24h"), st.just("9" * 5000), st.integers(-5, 2**70), JSON),
        "revocation_time": st.one_of(st.just(0), st.integers(-5, 5), JSON),
    },
)
MARKER = "<!-- roachcert:stack=st -->"
COMMENTS = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "id": st.one_of(st.integers(-3, 2**70), JSON),
            "body": st.one_of(st.just(MARKER + "\nold"), TEXT.map(lambda t: MARKER + t), JSON),
            "html_url": st.one_of(TEXT, JSON),
        },
    ),
    max_size=3,
)


def nested(levels: int, kind: str) -> bytes:
    if kind == "list":
        return b"[" * levels + b"]" * levels
    return b'{"data":' * levels + b"{}" + b"}" * levels


def encoded(value: Any, ascii_only: bool) -> bytes:
    """JSON text of `value`; a lone surrogate travels as \\udXXX, or as UTF-8 with surrogatepass."""
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


BODY = st.one_of(
    st.builds(encoded, JSON, st.booleans()),
    st.builds(encoded, st.fixed_dictionaries({}, optional={key: JSON for key in KEYS[:8]}), st.booleans()),
    st.builds(lambda data: encoded({"data": data}, True), st.dictionaries(st.sampled_from(KEYS), JSON)),
    st.builds(lambda data: encoded({"data": data}, True), VAULT_DATA),
    st.builds(nested, st.integers(1, 3000), st.sampled_from(["list", "object"])),
    st.integers(1, 4).map(lambda n: encoded({"data": {"keys": ["k" * 100] * (n * 2500)}}, True)),  # ~1 MB
    st.binary(max_size=300),
    st.sampled_from([b"", b"NaN", b"[Infinity]", b'{"a": 1e999}', b"1" * 5000, b"\xef\xbb\xbf{}"]),
)
STATUS = st.sampled_from([200, 200, 200, 201, 204, 302, 400, 401, 403, 404, 409, 429, 500, 501, 503])
MOSTLY_OK = st.sampled_from([200] * 6 + [201, 204, 400, 403, 404, 500, 503])
VAULT_BODY = st.one_of(*[st.builds(lambda data: encoded({"data": data}, True), VAULT_DATA)] * 3, BODY)
COMMENTS_BODY = st.one_of(*[st.builds(encoded, COMMENTS, st.booleans())] * 3, BODY)
LISTED = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.just("2186fbdb-598c-4797-a463-aaaee865903e"), JSON),
        "name": st.one_of(TEXT, JSON),
        "config": st.one_of(st.just({"dedicated": {}}), JSON),
        "regions": st.one_of(
            st.lists(st.fixed_dictionaries({}, optional={"sql_dns": st.one_of(TEXT, JSON)})), JSON
        ),
        "sql_dns": st.one_of(TEXT, JSON),
        "state": st.one_of(st.just("CREATED"), JSON),
    },
)
LISTING = st.fixed_dictionaries(
    {"clusters": st.one_of(st.lists(st.one_of(LISTED, JSON), max_size=3), JSON)},
    optional={
        "pagination": st.one_of(st.just({"next_page": ""}), st.fixed_dictionaries({"next_page": JSON}), JSON)
    },
)
CLOUD_BODY = st.one_of(
    st.builds(encoded, LISTING, st.booleans()),
    *[st.builds(encoded, st.fixed_dictionaries({}, optional={key: JSON for key in KEYS[:10]}), st.booleans())]
    * 3,
    BODY,
)
KIND = st.sampled_from(["application/json", "application/json; charset=utf-8", "text/html", ""])


def response(status: int, body: bytes, kind: str, url: str = "http://outside.test/") -> requests.Response:
    made = requests.Response()
    made.status_code = status
    made._content = body
    made.headers = CaseInsensitiveDict({"Content-Type": kind} if kind else {})
    made.url = url
    made.encoding = None
    return made


class Session(requests.Session):
    """Answers every request with the next of `answers` (the last one again when they run out)."""

    def __init__(self, answers: list[requests.Response]) -> None:
        super().__init__()
        self.answers = answers

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def one_line(error: Exception, *parts: str) -> None:
    """The error's message is one line, not empty, holding `parts`."""
    text = str(error)
    assert "\n" not in text, text
    assert text.strip()
    assert all(part in text for part in parts), text


# -- the JSON every entry starts from ------------------------------------------------------------------------
@ENTRY
@given(BODY)
def test_outside_json_is_plain_json_or_not_json(body: bytes) -> None:
    try:
        value = outside_json.loads(body)
    except NotJson as exc:
        one_line(exc)
        return
    json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")  # walkable, valid Unicode
    repr(value)


# -- the Cloud API client ----------------------------------------------------------------------------------
@ENTRY
@given(MOSTLY_OK, CLOUD_BODY, KIND)
def test_the_cloud_client_returns_typed_answers_or_a_cloud_error(status: int, body: bytes, kind: str) -> None:
    client = CloudClient(
        "http://cloud.test", "a-key-123", retries=0, session=Session([response(status, body, kind)])
    )
    reads: list[Callable[[], object]] = [
        lambda: client.get_client_ca("2186fbdb-598c-4797-a463-aaaee865903e"),
        lambda: client.get_cluster("2186fbdb-598c-4797-a463-aaaee865903e"),
        client.list_clusters,
    ]
    for read in reads:
        try:
            answer = read()
        except CloudError as exc:
            one_line(exc)
            continue
        if isinstance(answer, list):  # the organization's clusters
            assert all(isinstance(c.id, str) and isinstance(c.sql_dns, str) for c in answer)
        elif isinstance(answer, ClusterInfo):
            assert all(
                isinstance(v, str) for v in (answer.id, answer.name, answer.plan, answer.operation_status)
            )
        else:
            assert isinstance(answer.status, str)
            assert isinstance(answer.x509_pem_cert, str)
            assert answer.status == "" or answer.status.isupper()


# -- the GitHub client ------------------------------------------------------------------------------------
@ENTRY
@given(MOSTLY_OK, COMMENTS_BODY, MOSTLY_OK, st.one_of(COMMENTS_BODY, CLOUD_BODY))
def test_the_github_client_returns_a_comment_or_a_github_error(
    list_status: int, listed: bytes, write_status: int, written: bytes
) -> None:
    answers = [
        response(list_status, listed, "application/json"),
        response(write_status, written, "application/json"),
    ]
    try:
        result = upsert_comment(
            "o/r",
            3,
            "st",
            "<!-- roachcert:stack=st -->",
            "plan",
            "ghp_token",
            "http://gh.test",
            session=Session(answers),
            environ=os.environ,
        )
    except GitHubError as exc:
        one_line(exc)
        return
    assert isinstance(result.id, int)
    assert result.id > 0
    assert isinstance(result.url, str)


# -- the Vault adapter -----------------------------------------------------------------------------------
def vault_with(answer: requests.Response) -> VaultAdapter:
    """An adapter whose every request gets `answer` (after 20, a Vault 404: a list of thousands of
    serials would otherwise read the same big answer thousands of times)."""
    adapter = VaultAdapter(
        VaultSettings(addr="http://vault.test", namespace=None, auth=TokenAuth(), verify=True),
        {"VAULT_TOKEN": "hvs.x"},
    )
    sent: list[str] = []
    gone = response(404, b'{"errors": []}', "application/json")

    def send(method: str, path: str, data: object = None, token: object = None) -> requests.Response:
        sent.append(path)
        return answer if len(sent) <= 20 else gone

    adapter._send = send  # type: ignore[method-assign,assignment]
    adapter._health = lambda: "sys/health answers oddly"  # type: ignore[method-assign]
    return adapter


VAULT_READS: dict[str, Callable[[VaultAdapter], object]] = {
    "read_issuer_pem": lambda v: v.read_issuer_pem("pki", "ca-a"),
    "read_mount": lambda v: v.read_mount("pki"),
    "list_issuers": lambda v: v.list_issuers("pki"),
    "default_issuer_id": lambda v: v.default_issuer_id("pki"),
    "read_role": lambda v: _role_diffs(
        {"max_ttl": "24h", "key_type": "ec"}, v.read_role("pki", "client") or {}
    ),
    "issue_cert": lambda v: v.issue_cert("pki", "ca-a", "client", "app", "24h"),
    "sign_csr": lambda v: v.sign_csr("pki", "ca-a", "client", "csr", "app", "24h"),
    "list_issued": lambda v: v.list_issued("pki", jobs=1),
}


@ENTRY
@given(
    st.sampled_from([200] * 10 + [204, 400, 403, 404, 500, 503]),
    VAULT_BODY,
    st.sampled_from(["application/json"] * 5 + ["text/html"]),
)
def test_the_vault_adapter_returns_typed_answers_or_a_vault_error(
    status: int, body: bytes, kind: str
) -> None:
    for read in VAULT_READS.values():
        try:
            read(vault_with(response(status, body, kind)))
        except VaultError as exc:
            one_line(exc)


# -- the delivered inventory ---------------------------------------------------------------------------
RECORD = {
    "cluster": "frogs",
    "user": "app",
    "folder": "/certs/frogs",
    "at": "2026-01-01T00:00:00+00:00",
    "delivered": True,
    "serial": "01",
    "mount": "pki",
    "issuer": "pki/ca-a",
    "issuer_sha256": "",
    "not_before": "2026-01-01T00:00:00+00:00",
    "not_after": "2026-01-02T00:00:00+00:00",
    "error": "",
}
LINE = st.one_of(
    st.builds(
        lambda changes: encoded({**RECORD, **changes}, True),
        st.dictionaries(st.sampled_from(sorted(RECORD)), JSON),
    ),
    st.builds(
        lambda changes: encoded({**RECORD, **changes}, False),
        st.dictionaries(st.sampled_from(sorted(RECORD)), SCALAR),
    ),
    st.just(encoded(RECORD, True)),
    st.just(encoded({**RECORD, "delivered": False, "error": "Vault refused"}, True)),
    BODY.map(lambda body: body.replace(b"\n", b" ")),
)


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("inventory-state")


@ENTRY
@given(st.lists(LINE, max_size=12))
def test_the_inventory_reader_returns_deliveries_or_skips_the_line(state: Path, lines: list[bytes]) -> None:
    path = state / "st" / inventory.INVENTORY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    notes: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ROACHCERT_HOME", str(state))
        found = inventory.load(os.environ, "st", notes.append)
        assert len(notes) <= 1
        for item in found:
            assert item.at.utcoffset() is not None
            for when in (item.not_before, item.not_after):
                assert when is None or (isinstance(when, datetime) and when.utcoffset() is not None)
            assert all(
                isinstance(v, str) for v in (item.cluster, item.user, item.folder, item.serial, item.error)
            )
            assert isinstance(item.delivered, bool)
            (item.cluster + item.user + item.folder + item.error + item.serial).encode("utf-8")
        reasons = inventory.failure_reasons(found)
        records = delivered_records(found)
        inventory.compact(path)  # keeps what a command reads
        after = inventory.load(os.environ, "st")
        assert inventory.failure_reasons(after) == reasons
        assert delivered_records(after) == records


# -- the credential check ---------------------------------------------------------------------------------
@ENTRY
@given(st.text(CHAR, max_size=60), st.booleans())
def test_a_credential_is_sendable_or_one_line_naming_it(value: str, token: bool) -> None:
    try:
        checked = credentials.check_header("SOME_TOKEN", value, token=token)
    except credentials.CredentialError as exc:
        one_line(exc, "SOME_TOKEN", "character")
        return
    checked.encode("latin-1")
    assert not http.client._is_illegal_header_value(checked.encode("latin-1"))  # type: ignore[attr-defined]


# -- through the CLI -----------------------------------------------------------------------------------
CLUSTER = "2186fbdb-598c-4797-a463-aaaee865903e"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz-stack")
    (folder / "ca.pem").write_text(make_ca("Fuzz CA")[0])
    path = folder / "st.yaml"
    path.write_text(
        "version: 1\ncas:\n  a: {pem_file: ca.pem}\n"
        f"clusters:\n  frogs: {{id: {CLUSTER}, ca: a, host: frogs.example.test, users: [app]}}\n"
    )
    (folder / "plan.md").write_text("<!-- roachcert:stack=st -->\nplan\n")
    return path


class Answering:
    """One server for the module; each example sets what it answers."""

    def __init__(self) -> None:
        self.answer: Answer = (200, {}, b"")


@pytest.fixture(scope="module")
def answering() -> Iterator[tuple[Answering, str]]:
    holder = Answering()
    with serving(lambda method, path: holder.answer) as server:
        yield holder, server.url


def cli(args: list[str], environ: dict[str, str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(args, Runtime(environ={**os.environ, **environ}, stdout=out, stderr=err))
    text = out.getvalue() + err.getvalue()
    assert code in (0, 1, 2), text
    assert "Traceback" not in text, text
    assert "internal error" not in text, text
    lines = [line for line in err.getvalue().splitlines() if line.strip()]
    assert len(lines) <= 1, text
    return code, out.getvalue(), err.getvalue()


@CLI
@given(st.text(CHAR, max_size=30), STATUS, BODY)
def test_status_with_any_key_and_any_cloud_answer(
    stack: Path, answering: tuple[Answering, str], key: str, status: int, body: bytes
) -> None:
    holder, url = answering
    holder.answer = (status, {"Content-Type": "application/json"}, body)
    if "\x00" in key or any(0xD800 <= ord(c) <= 0xDFFF for c in key):
        key = (
            key.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
        )  # an environment can hold neither
    state = stack.parent / "state"
    code, out, err = cli(["status", str(stack), "--format", "json"], {
        "COCKROACH_SERVER": url, "COCKROACH_API_KEY": key, "ROACHCERT_HOME": str(state)
    })  # fmt: skip
    if code != 0 and not err:
        json.loads(out)  # the per-cluster error is in the report


@CLI
@given(STATUS, BODY)
def test_comment_with_any_github_answer(
    stack: Path, answering: tuple[Answering, str], status: int, body: bytes
) -> None:
    holder, url = answering
    holder.answer = (status, {"Content-Type": "application/json"}, body)
    cli(
        [
            "comment",
            str(stack.parent / "plan.md"),
            "--repo",
            "o/r",
            "--pr",
            "3",
            "--api-url",
            url,
            "--no-step-summary",
        ],
        {"GITHUB_TOKEN": "ghp_token"},
    )


@CLI
@given(st.lists(LINE, max_size=8))
def test_certs_and_rotate_status_with_any_inventory(stack: Path, lines: list[bytes]) -> None:
    state = stack.parent / "inv-state"
    path = state / "st" / inventory.INVENTORY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    for args in (
        ["certs", str(stack)],
        ["certs", str(stack), "--format", "json"],
        ["rotate", "status", str(stack)],
    ):
        code, _, _ = cli(args, {"ROACHCERT_HOME": str(state)})
        assert code == 0
