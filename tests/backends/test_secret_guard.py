"""The backend secret guard against every spelling: keys in any case, padded with blanks or with control
characters, and pg conn_strs read the way libpq reads them (percent-decoded URI keys and userinfo, quoted
key=value values, credential keys beyond `password`). The strings it refuses really log in to a real
PostgreSQL: they carry the password, so they must never reach backend.tf."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from roachcert.spec import Backend
from roachcert.spec.conninfo import ConnInfoError, credential_in, parse_keyword_value, parse_uri
from roachcert.spec.models import SECRET_BACKEND_KEYS
from roachcert_sandbox.errors import SandboxError

# Derandomized like the reliability suite: CI runs the same examples every time.
PROPERTY = settings(max_examples=150, deadline=None, database=None, derandomize=True)


def refused(config: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        Backend.model_validate({"type": "pg", "config": config})
    [error] = caught.value.errors()
    assert error["type"] == "secret_in_config", error
    return str(error["msg"])


def respelt(word: str) -> st.SearchStrategy[str]:
    """`word` with each letter in either case."""
    return st.tuples(*(st.sampled_from(sorted({c.lower(), c.upper()})) for c in word)).map("".join)


BLANKS = st.text(alphabet=" \t", max_size=3)
CONTROLS = st.sampled_from(["\n", "\r", "\x00", "\x1b", "\x7f", "\x85", "\u2028", "\u202e"])


@PROPERTY
@given(st.sampled_from(sorted(SECRET_BACKEND_KEYS)).flatmap(respelt), BLANKS, BLANKS)
def test_a_secret_key_in_any_case_and_padding_is_refused(key: str, before: str, after: str) -> None:
    message = refused({f"{before}{key}{after}": "hunter2-value"})
    assert "is a secret" in message or "control character" in message
    assert "hunter2" not in message


@PROPERTY
@given(st.sampled_from(sorted(SECRET_BACKEND_KEYS)).flatmap(respelt), CONTROLS, st.booleans())
def test_a_key_with_a_control_character_is_refused_outright(key: str, control: str, nested: bool) -> None:
    spelt = key + control
    config: dict[str, Any] = {"workspaces": {spelt: "SECRET"}} if nested else {spelt: "SECRET"}
    assert "control character" in refused(config)


def test_control_characters_are_refused_in_any_key_not_only_secret_ones() -> None:
    assert "control character" in refused({"schema_name\n": "x"})


def _percent(char: str, upper: bool) -> str:
    code = f"{ord(char):02x}"
    return "%" + (code.upper() if upper else code)


@st.composite
def encoded(draw: st.DrawFn, word: str) -> str:
    """`word` in any case with any of its letters percent-encoded (what libpq decodes back)."""
    out = []
    for char in draw(respelt(word)):
        out.append(_percent(char, draw(st.booleans())) if draw(st.booleans()) else char)
    return "".join(out)


CREDENTIALS = st.sampled_from(["password", "sslpassword", "oauth_client_secret"])


@PROPERTY
@given(CREDENTIALS.flatmap(encoded), st.booleans())
def test_a_uri_parameter_spelt_any_way_is_found(key: str, first: bool) -> None:
    query = f"{key}=SECRET&sslmode=require" if first else f"sslmode=require&{key}=SECRET"
    conn_str = f"postgresql://tf@db.example.com:5432/state?{query}"
    assert credential_in(conn_str) is not None
    assert "conn_str holds a" in refused({"conn_str": conn_str})


@PROPERTY
@given(st.text(min_size=1, max_size=12), st.sampled_from(["postgres", "postgresql", "POSTGRES"]))
def test_a_password_in_a_uri_userinfo_is_found_however_encoded(password: str, scheme: str) -> None:
    from urllib.parse import quote

    conn_str = f"{scheme}://tf:{quote(password, safe='')}@db/state"
    assert credential_in(conn_str) == "password"


@PROPERTY
@given(CREDENTIALS.flatmap(respelt), BLANKS, BLANKS, st.sampled_from(["SECRET", "'SE CRET'", "'it\\'s'"]))
def test_a_keyword_value_credential_spelt_any_way_is_found(
    key: str, left: str, right: str, value: str
) -> None:
    conn_str = f"host=db user=tf {key}{left}={right}{value} dbname=state"
    assert credential_in(conn_str) == key.lower()


@pytest.mark.parametrize(
    "conn_str",
    [
        "host=db dbname='postgres://tf:SECRET@db/state'",  # a dbname that is itself a conn string
        "host=db dbname='user=tf password=SECRET'",
        "postgres://db/state?sslinline=true&sslkey=-----BEGIN%20PRIVATE%20KEY-----",
        "host=db sslinline=1 sslkey=keydata",
    ],
)
def test_credentials_behind_dbname_and_inline_keys_are_found(conn_str: str) -> None:
    assert credential_in(conn_str) is not None


@pytest.mark.parametrize(
    "conn_str",
    [
        "postgres://terraform@db.example.com/state?sslmode=verify-full",
        "host=db user=terraform dbname=state sslmode=require",
        "postgres://db/state?passfile=/run/secrets/pgpass&sslkey=/run/secrets/client.key",
        "host=db user=tf password='' dbname=state",  # an empty password: nothing to leak
    ],
)
def test_file_names_and_no_credentials_pass(conn_str: str) -> None:
    assert credential_in(conn_str) is None
    Backend.model_validate({"type": "pg", "config": {"conn_str": conn_str}})


@pytest.mark.parametrize("conn_str", ["host=db password", "host='db", "postgres://db/state?password"])
def test_an_unreadable_conn_str_is_refused_with_a_reason(conn_str: str) -> None:
    with pytest.raises(ConnInfoError):
        credential_in(conn_str)
    assert "cannot be read as a PostgreSQL connection string" in refused({"conn_str": conn_str})


def test_parsers_follow_libpq_quoting_and_decoding() -> None:
    assert parse_keyword_value(r"a=1  b = 'x \' y' c=d\ e") == [("a", "1"), ("b", "x ' y"), ("c", "d e")]
    assert ("password", "p@ss") in parse_uri("postgres://u:p%40ss@h/db")
    assert ("password", "x") in parse_uri("postgres://h/db?passw%6Frd=x")


# -- the real PostgreSQL: what the guard refuses does carry the password ----------------------------------
USER = "guard_probe"
DATABASE = "guard_db"


@pytest.fixture(scope="module")
def pg() -> Iterator[tuple[Any, str]]:
    from roachcert_sandbox.postgres import find_bindir, start_state_postgres

    try:
        find_bindir()
    except SandboxError as exc:
        pytest.skip(str(exc))
    password = f"pw-{secrets.token_hex(8)}"
    server = start_state_postgres(USER, password, DATABASE)
    try:
        yield server, password
    finally:
        server.stop()


def _logs_in(conn_str: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(conn_str, connect_timeout=10) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)
    except psycopg.OperationalError:
        return False


@pytest.mark.integration
def test_spellings_the_guard_refuses_authenticate_against_a_real_postgresql(
    pg: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, password = pg
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", "/nonexistent")
    base = f"postgresql://{USER}@127.0.0.1:{server.port}/{DATABASE}"
    leaking = [
        f"{base}?sslmode=disable&passw%6Frd={password}",
        f"{base}?sslmode=disable&%70assword={password}",
        f"postgresql://{USER}:{password}@127.0.0.1:{server.port}/{DATABASE}?sslmode=disable",
        f"host=127.0.0.1 port={server.port} user={USER} dbname={DATABASE} sslmode=disable password = '{password}'",
    ]
    for conn_str in leaking:
        assert _logs_in(conn_str), conn_str  # libpq reads a password from it...
        assert credential_in(conn_str) == "password"  # ...and so does the guard
    clean = f"{base}?sslmode=disable"
    assert credential_in(clean) is None
    assert not _logs_in(clean)  # without the password (it belongs in PGPASSWORD) it cannot log in
    monkeypatch.setenv("PGPASSWORD", password)
    assert _logs_in(clean)
