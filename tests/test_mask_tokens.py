"""A token given as a URL's user (`https://ghp_TOKEN@github.com`, `https://x-access-token@…`, a proxy's
token) is a credential: outside database URLs it never shows, through any sink roachcert writes to (the
terminal's stdout and stderr, streamed Terraform output, every report format, the job summary, a crash
log), in its URL or, once configured, on its own. A database URL's user is a SQL user name roachcert prints
itself (`connect-url`): it stays."""

from __future__ import annotations

import io
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from roachcert.crash_log import write_crash_log
from roachcert.github import append_step_summary
from roachcert.mask import DATABASE_SCHEMES, mask
from roachcert.plan_summary import PlanSummary
from roachcert.reports import render
from roachcert.reports.types import StackReport
from roachcert.runtime import Runtime

# Derandomized like the reliability suite: CI runs the same examples every time.
PROPERTY = settings(max_examples=150, deadline=None, database=None, derandomize=True)

_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_DATABASE = {*DATABASE_SCHEMES, *(s.upper() for s in DATABASE_SCHEMES)}
# Any scheme but a database's (with or without a `+driver`), in any case.
SCHEMES = st.one_of(
    st.sampled_from(["https", "http", "HTTPS", "s3", "git", "ssh", "git+ssh", "gs", "ftp", "wss"]),
    st.from_regex(r"[A-Za-z][A-Za-z0-9+.-]{0,12}", fullmatch=True).filter(
        lambda s: s.split("+")[0].lower() not in DATABASE_SCHEMES
    ),
)
TOKENS = st.builds(
    lambda prefix, body: prefix + body,
    st.sampled_from(["", "ghp_", "github_pat_", "gho_", "glpat-", "hvs.", "x-access-token-"]),
    st.text(alphabet=_ALNUM + "_-.~", min_size=10, max_size=40).filter(lambda t: t[0] in _ALNUM),
)
HOSTS = st.builds(
    lambda name, port: name + port,
    st.from_regex(r"[a-z0-9][a-z0-9.-]{0,20}", fullmatch=True),
    st.sampled_from(["", ":443", ":8200", ":26257"]),
)
PATHS = st.sampled_from(["", "/", "/o/r.git", "/v1/sys/health", "/api/v1/clusters?page=2", "#frag"])
# What may come before a URL in a message (never part of a scheme) and after it.
BEFORE = st.builds(
    lambda text, sep: text + sep,
    st.text(alphabet=" abcXYZ:=-", max_size=20),
    st.sampled_from([" ", '"', "'", "(", "<", "=", "\n", "`", ""]),
)
AFTER = st.sampled_from(["", " failed", '": dial tcp: connection refused', ")", "\n", "'; retrying"])


@st.composite
def token_urls(draw: st.DrawFn) -> tuple[str, str]:
    token = draw(TOKENS)
    text = f"{draw(BEFORE)}{draw(SCHEMES)}://{token}@{draw(HOSTS)}{draw(PATHS)}{draw(AFTER)}"
    return token, text


def _report(problem: str) -> StackReport:
    summary = PlanSummary(error=problem, stack="prod")
    return StackReport(stack="prod", summary=summary, now=datetime(2026, 1, 1, tzinfo=UTC), path="prod.yaml")


def _every_sink(text: str, environ: dict[str, str]) -> dict[str, str]:
    """What each sink roachcert writes to holds after being handed `text` in a run under `environ`."""
    out, err = io.StringIO(), io.StringIO()
    runtime = Runtime(environ=environ, stdout=out, stderr=err)
    written: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as folder:
        runtime.out(text)
        runtime.err(text)
        runtime.err_stream().write(text + "\n")  # Terraform's output, streamed line by line
        summary = Path(folder) / "summary.md"
        append_step_summary(text, {**environ, "GITHUB_STEP_SUMMARY": str(summary)})
        written["job summary"] = summary.read_text(encoding="utf-8")
        crash = write_crash_log(Path(folder), ["roachcert", "plan", text], RuntimeError(text), environ)
        assert crash is not None
        written["crash log"] = crash.read_text(encoding="utf-8")
        for format in ("text", "markdown", "json"):
            written[f"{format} report"] = render([_report(text)], format, mask=runtime.mask)
        written["mask"] = mask(text, environ)
    written["stdout"] = out.getvalue()
    written["stderr"] = err.getvalue()
    return written


@PROPERTY
@given(token_urls())
def test_a_token_as_a_urls_user_is_never_printed_through_any_sink(case: tuple[str, str]) -> None:
    token, text = case
    shown = _every_sink(text, {})
    assert not [sink for sink, content in shown.items() if token in content], shown
    assert "://***@" in shown["mask"]


@PROPERTY
@given(token_urls(), st.sampled_from(["HTTPS_PROXY", "VAULT_ADDR", "GITHUB_API_URL", "COCKROACH_SERVER"]))
def test_a_configured_token_user_is_never_printed_on_its_own_either(
    case: tuple[str, str], variable: str
) -> None:
    # An error may quote the credential without its URL (a 401's "bad credentials for TOKEN").
    token, url = case
    text = f"authentication failed for {token}; token {token!r} refused"
    shown = _every_sink(text, {variable: url.strip()})
    assert not [sink for sink, content in shown.items() if token in content], shown


@PROPERTY
@given(
    st.sampled_from(sorted(_DATABASE)),
    st.sampled_from(["", "+psycopg", "+asyncpg"]),
    st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True),
    HOSTS,
)
def test_a_database_urls_user_stays_visible(scheme: str, driver: str, user: str, host: str) -> None:
    # roachcert prints `postgresql://USER@host:26257/db?sslmode=verify-full` itself (connect-url, issue).
    url = f"{scheme}{driver}://{user}@{host}/defaultdb?sslmode=verify-full"
    assert mask(f"connect with {url}", {}) == f"connect with {url}"
    with_password = f"{scheme}{driver}://{user}:Secret-pw-1@{host}/db"
    assert mask(with_password, {}) == f"{scheme}{driver}://{user}:***@{host}/db"
