from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from certs_helper import key_pem, make_ca, make_leaf
from roachcert.errors import SpecError
from roachcert.spec import PemFileCa, VaultCa, load_stack, load_stack_text
from roachcert.spec.yamlsrc import parse

BAD_STACKS = Path(__file__).parent / "bad_stacks"

# file -> every problem it must produce, in order: (line, field or None for whole-file problems, text).
EXPECTED: dict[str, list[tuple[int, str | None, str]]] = {
    "unknown_key_clsuters.yaml": [(8, "clsuters", "unknown field; did you mean 'clusters'?")],
    "x509_pem_cert_typo.yaml": [
        (4, "cas.legacy-ca", "a CA needs `mount:` (a CA in Vault PKI) or `pem_file:`"),
        (
            5,
            "cas.legacy-ca.x509_pem_certs",
            "unknown field; a CA kept outside Vault is written `pem_file: PATH`",
        ),
    ],
    "version_2.yaml": [(2, "version", "unsupported version 2; this roachcert reads `version: 1`")],
    "version_missing.yaml": [(2, "version", "required field is missing: a stack starts with `version: 1`")],
    "tabs.yaml": [(12, None, "tab used for indentation; YAML needs spaces")],
    "syntax_error.yaml": [
        (8, None, "YAML syntax error: expected ',' or ']', but got ':'; check the indentation")
    ],
    "duplicate_key.yaml": [
        (7, "cas.client-ca.mount", "duplicate key (first on line 5, whose value is used); keep one of them"),
        (14, "clusters.frogs.port", "0 is not a port: use 1-65535"),
        (16, "clusters.frogs", "duplicate key (first on line 10, whose value is used)"),
    ],
    "bad_uuid.yaml": [
        (10, "clusters.frogs.id", "'2186fbdb-598c-4797-a463' is not a cluster ID: use the lowercase UUID")
    ],
    "uppercase_uuid.yaml": [
        (10, "clusters.frogs.id", "has capital letters: write the cluster ID in lowercase")
    ],
    "bad_server_ca_sha256.yaml": [
        (
            13,
            "clusters.frogs.server_ca_sha256",
            "is not a SHA-256 fingerprint: 64 hex digits (colons allowed)",
        )
    ],
    "duplicate_cluster_id.yaml": [
        (15, "clusters.toads.id", "same ID as cluster 'frogs'; a cluster holds one CA bundle")
    ],
    "unknown_ca_ref.yaml": [
        (11, "clusters.frogs.ca[1]", "no CA named 'clinet-ca' under `cas`; did you mean 'client-ca'?")
    ],
    "bad_duration.yaml": [
        (7, "cas.client-ca.ttl", "'1y' is not a duration; write it like 48h, 8760h, 30d or 90m")
    ],
    "zero_duration.yaml": [
        (8, "cas.client-ca.role.max_ttl", "'0h' is zero; a duration must be longer than zero")
    ],
    "max_ttl_over_ttl.yaml": [
        (
            10,
            "cas.client-ca.role.max_ttl",
            "60d is longer than the CA's ttl 720h: a client certificate cannot outlive",
        )
    ],
    "empty_issuers.yaml": [(7, "cas.client-ca.issuers", "list at least one Vault issuer, like [ca-2026a]")],
    "duplicate_issuer.yaml": [(7, "cas.client-ca.issuers", "issuer 'ca-2026a' is listed twice")],
    "issuer_default.yaml": [
        (7, "cas.client-ca.issuers[0]", "'default' is reserved by Vault; give the issuer a name")
    ],
    "bad_mount.yaml": [(5, "cas.client-ca.mount", "'/pki/client' is not a Vault mount path")],
    "duplicate_mount.yaml": [
        (9, "cas.other-ca.mount", "mount already used by CA 'client-ca'; give each CA its own")
    ],
    "bad_sql_user.yaml": [
        (13, "clusters.frogs.users[1]", "'App-Admin' is not a SQL user name: use lowercase")
    ],
    "bad_ca_name.yaml": [
        (4, "cas.client ca", "'client ca' cannot name a CA: use letters, digits, '_' and '-'"),
        (11, "clusters.frogs.ca", "'client ca' is not a CA name"),
    ],
    "bad_cluster_name.yaml": [(9, "clusters.1frogs", "'1frogs' cannot name a cluster: use letters, digits")],
    "unknown_engine.yaml": [
        (15, "terraform.engine", "'pulumi' is not supported here; use one of 'terraform' or 'tofu'")
    ],
    "unknown_backend.yaml": [
        (15, "terraform.backend.type", "'consul' is not supported here; use one of 'local', 'pg', 's3'")
    ],
    "secret_in_backend.yaml": [
        (
            19,
            "terraform.backend.config.access_key",
            "access_key is a secret: leave it out and set it in the environment",
        )
    ],
    "secret_key_capitalised.yaml": [
        (
            18,
            "terraform.backend.config.Password",
            "Password is a secret: leave it out and set it in the environment",
        )
    ],
    "secret_key_newline.yaml": [
        (18, "terraform.backend.config.'password\\n'", "'password\\n' holds a control character")
    ],
    "secret_nested_key_padded.yaml": [
        (19, "terraform.backend.config.workspaces", "workspaces.' TOKEN ' is a secret: leave it out")
    ],
    "conn_str_percent_encoded.yaml": [
        (
            18,
            "terraform.backend.config.conn_str",
            "conn_str holds a password: leave it out and set PGPASSWORD",
        )
    ],
    "conn_str_sslpassword.yaml": [
        (18, "terraform.backend.config.conn_str", "conn_str holds a credential (sslpassword): leave it out")
    ],
    "conn_str_unreadable.yaml": [
        (
            18,
            "terraform.backend.config.conn_str",
            "conn_str cannot be read as a PostgreSQL connection string (unterminated quoted string)",
        )
    ],
    "conn_str_password.yaml": [
        (
            18,
            "terraform.backend.config.conn_str",
            "conn_str holds a password: leave it out and set PGPASSWORD",
        )
    ],
    "pem_file_missing.yaml": [
        (
            5,
            "cas.legacy-ca.pem_file",
            "no such file: {dir}/pem/nowhere.pem (relative paths start at the stack file)",
        )
    ],
    "pem_file_json_wrapper.yaml": [
        (
            5,
            "cas.legacy-ca.pem_file",
            "{dir}/pem/cockroach_client_ca_cert.json: this is the JSON request body for the Cloud API, "
            "not a PEM file; use the certificate inside it",
        )
    ],
    "pem_file_vault_json.yaml": [
        (
            5,
            "cas.legacy-ca.pem_file",
            "{dir}/pem/vault-root.json: this is Vault's JSON output, not a PEM file",
        )
    ],
    "pem_file_private_key.yaml": [
        (
            5,
            "cas.legacy-ca.pem_file",
            "{dir}/pem/ca.key: line 1: holds a private key; a CA source must hold only",
        )
    ],
    "pem_file_not_ca.yaml": [(5, "cas.legacy-ca.pem_file", "certificate 'app' (sha256 ")],
    "empty.yaml": [(1, None, "the file is empty; a stack starts with `version: 1`")],
    "comments_only.yaml": [(1, None, "the file is empty; a stack starts with `version: 1`")],
    "top_level_list.yaml": [(1, None, "the file holds a list; a stack is a mapping: `version: 1`")],
    "key_bits_mismatch.yaml": [
        (8, "cas.client-ca.role", "key_bits 2048 does not fit key_type ec: use one of")
    ],
    "ca_neither_kind.yaml": [(4, "cas.client-ca", "a CA needs `mount:` (a CA in Vault PKI) or `pem_file:`")],
    "ca_both_kinds.yaml": [
        (5, "cas.client-ca.mount", "a CA takes `mount:` (in Vault) or `pem_file:` (outside")
    ],
    "loader_field_name.yaml": [(3, "name", "unknown field; roachcert takes it from the file name")],
    "users_not_list.yaml": [(13, "clusters.frogs.users", "expected a list, like [app, root]")],
    "port_out_of_range.yaml": [(13, "clusters.frogs.port", "262570 is not a port: use 1-65535")],
    "vault_addr_not_url.yaml": [
        (4, "vault.addr", "'vault.example.com:8200' is not a URL; write it like https://")
    ],
    "cluster_no_ca.yaml": [
        (9, "clusters.frogs.ca", "required field is missing: the CA (or list of CAs) this cluster")
    ],
    "jwt_no_source.yaml": [
        (4, "vault.auth", "a JWT login reads the JWT from `token_file: PATH` or `token_env: VARIABLE`")
    ],
    "unknown_auth_method.yaml": [
        (
            4,
            "vault.auth",
            "'kubernetes' is not supported here; use one of 'token', 'approle', 'jwt', 'token_file'",
        )
    ],
}


def build_corpus(tmp_path: Path) -> Path:
    """The bad stacks, beside the PEM files some of them name (made now: no key material in the repo)."""
    for stack in BAD_STACKS.glob("*.yaml"):
        shutil.copy(stack, tmp_path)
    pem = tmp_path / "pem"
    pem.mkdir()
    ca, key = make_ca("Legacy CA")
    (pem / "cockroach_client_ca_cert.json").write_text(json.dumps({"x509_pem_cert": ca}))
    vault_output = {
        "request_id": "r",
        "data": {"certificate": ca, "issuing_ca": ca, "private_key": key_pem(key)},
    }
    (pem / "vault-root.json").write_text(json.dumps(vault_output))
    (pem / "ca.key").write_text(key_pem(key))
    (pem / "client.crt").write_text(make_leaf("app", ca, key)[0])
    return tmp_path


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return build_corpus(tmp_path)


def _problems(path: Path) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_stack(path)
    return caught.value.problems


def test_every_bad_stack_has_an_expectation_and_there_are_enough() -> None:
    assert sorted(p.name for p in BAD_STACKS.glob("*.yaml")) == sorted(EXPECTED)
    assert len(EXPECTED) >= 22


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_stack_reports_each_problem_as_file_line_field_message(corpus: Path, name: str) -> None:
    path = corpus / name
    problems = _problems(path)
    assert len(problems) == len(EXPECTED[name]), problems
    for problem, (line, field, text) in zip(problems, EXPECTED[name], strict=True):
        prefix = f"{path}:{line}: " + (f"{field}: " if field else "")
        assert problem.startswith(prefix), problem
        assert text.format(dir=corpus) in problem[len(prefix) :], problem
        assert "\n" not in problem


def test_no_message_speaks_pydantic_or_echoes_a_secret(corpus: Path) -> None:
    for name in EXPECTED:
        for problem in _problems(corpus / name):
            for jargon in (
                "Input should",
                "Value error",
                "String should match",
                "Extra inputs",
                "Field required",
            ):
                assert jargon not in problem
            for secret in ("hunter2", "AKIAEXAMPLE", "PRIVATE KEY-----"):
                assert secret not in problem


def test_duplicate_keys_keep_the_first_value_and_are_all_listed() -> None:
    data, lines = parse("a: 1\nb:\n  c: 2\n  c: 3\na: 4\n")
    assert data == {"a": 1, "b": {"c": 2}}
    assert [(d.path, d.line, d.first_line) for d in lines.duplicates] == [(("b", "c"), 4, 3), (("a",), 5, 1)]


def test_problems_are_sorted_by_line(corpus: Path) -> None:
    for name in EXPECTED:
        lines = [int(problem.split(":")[1]) for problem in _problems(corpus / name)]
        assert lines == sorted(lines)


def test_example_stack_loads(repo_root: Path) -> None:
    stack = load_stack(repo_root / "stacks" / "example.yaml")
    assert stack.name == "example"
    assert set(stack.clusters) == {"flooping-frogs", "dancing-dingos"}
    ca = stack.cas["client-ca"]
    assert isinstance(ca, VaultCa)
    assert ca.current_issuer == "ca-2026a"


def test_a_good_pem_file_ca_loads_relative_to_the_stack_file(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "legacy.pem").write_text(make_ca("Legacy CA")[0])
    text = (
        "version: 1\ncas:\n  legacy:\n    pem_file: certs/legacy.pem\nclusters:\n  frogs:\n"
        "    id: 2186fbdb-598c-4797-a463-aaaee865903e\n    ca: legacy\n    host: frogs.example.com\n"
    )
    stack = load_stack_text(text, tmp_path / "prod.yml")
    ca = stack.cas["legacy"]
    assert isinstance(ca, PemFileCa)
    assert ca.pem_file == tmp_path / "certs" / "legacy.pem"
    assert stack.name == "prod"


def test_max_ttl_equal_to_ttl_in_other_units_is_accepted(tmp_path: Path) -> None:
    text = (
        "version: 1\ncas:\n  c:\n    mount: m\n    common_name: C\n    ttl: 30d\n    issuers: [i]\n"
        "    role: {max_ttl: 720h}\n"
    )
    assert load_stack_text(text, tmp_path / "s.yaml").cas["c"]


@pytest.mark.parametrize("make", ["missing", "directory"])
def test_a_stack_path_that_is_not_a_file_is_one_clear_line(tmp_path: Path, make: str) -> None:
    path = tmp_path / "stack.yaml"
    if make == "directory":
        path.mkdir()
    (problem,) = _problems(path)
    assert problem.startswith(f"{path}: ")
    assert ("no such stack file" if make == "missing" else "is a directory") in problem


def test_a_blank_key_is_named_quoted_in_its_error_line(tmp_path: Path) -> None:
    # Found by Hypothesis: a key of one space left the field name empty in the error line.
    text = (Path(__file__).parent.parent / "stacks" / "example.yaml").read_text() + "' ': null\n"
    with pytest.raises(SpecError) as caught:
        load_stack_text(text, tmp_path / "blank.yaml")
    assert caught.value.problems[-1].endswith(": ' ': unknown field; remove it")


def test_every_path_in_the_stack_file_is_relative_to_it_and_absolute_ones_stay(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "legacy.pem").write_text(make_ca("Legacy CA")[0])
    (tmp_path / "certs" / "server.pem").write_text(make_ca("Server CA")[0])
    (tmp_path / "tpl").mkdir()
    elsewhere = tmp_path / "elsewhere"
    text = (
        f"version: 1\nterraform:\n  templates: tpl\ncas:\n  legacy:\n    pem_file: certs/legacy.pem\n"
        f"  other:\n    pem_file: {elsewhere / 'x.pem'}\nclusters:\n  frogs:\n"
        "    id: 2186fbdb-598c-4797-a463-aaaee865903e\n    ca: legacy\n    host: frogs.example.com\n"
        "    server_ca: certs/server.pem\n"
    )
    (elsewhere).mkdir()
    (elsewhere / "x.pem").write_text(make_ca("Other CA")[0])
    stack = load_stack_text(text, tmp_path / "prod.yml")
    legacy, other = stack.cas["legacy"], stack.cas["other"]
    assert isinstance(legacy, PemFileCa)
    assert isinstance(other, PemFileCa)
    assert legacy.pem_file == tmp_path / "certs" / "legacy.pem"
    assert other.pem_file == elsewhere / "x.pem"
    assert stack.clusters["frogs"].server_ca == tmp_path / "certs" / "server.pem"
    assert stack.terraform.templates == tmp_path / "tpl"
