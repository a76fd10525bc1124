"""The GitHub adapter and `roachcert comment` against a local HTTP server that records every request."""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

import report_cases as rc
from roachcert import app as app_module
from roachcert.github import COMMENT_LIMIT, GitHubError, append_step_summary, upsert_comment
from roachcert.reports.markdown import render_markdown, stack_marker
from roachcert.runtime import Runtime

TOKEN = "ghs_test0token0do0not0print0me"
REPO = "example/platform-db"
ME = "platform-bot"  # the login GITHUB_TOKEN belongs to, unless a test says otherwise


@dataclass
class FakeGitHub:
    """Issue comments of one pull request, served the way the REST API does (pages, Link headers)."""

    url: str = ""
    page_size: int = 100
    fail_with: int | None = None
    next_host: str | None = None  # serve a next-page link to another host
    # Whose token it is: GET /user's login; None for an installation token (GET /user answers 403),
    # whose comments GitHub writes as `installation_bot`.
    login: str | None = ME
    installation_bot: str = "github-actions[bot]"
    comments: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    edited_others: list[int] = field(default_factory=list)

    @property
    def writer(self) -> str:
        return self.installation_bot if self.login is None else self.login

    def add(self, body: str, author: str | None = None) -> dict[str, Any]:
        number = 1000 + len(self.comments)
        comment = {
            "id": number,
            "body": body,
            "html_url": f"https://github.example/c/{number}",
            "user": {"login": author or self.writer, "type": "User"},
        }
        self.comments.append(comment)
        return comment


def _handler(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _record(self) -> tuple[str, dict[str, Any] | None]:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            fake.requests.append(
                {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
            )
            return urlsplit(self.path).path, body

        def _refused(self) -> bool:
            if fake.fail_with is None:
                return False
            message = "Bad credentials" if fake.fail_with == 401 else "Resource not accessible by integration"
            self._send(fake.fail_with, {"message": message})
            return True

        def do_GET(self) -> None:
            path, _ = self._record()
            if self._refused():
                return
            if path == "/user":
                if fake.login is None:
                    self._send(403, {"message": "Resource not accessible by integration"})
                else:
                    self._send(200, {"login": fake.login, "type": "User"})
                return
            if path != f"/repos/{REPO}/issues/7/comments":
                self._send(404, {"message": "Not Found"})
                return
            page = int(parse_qs(urlsplit(self.path).query).get("page", ["1"])[0])
            start = (page - 1) * fake.page_size
            headers = {}
            if start + fake.page_size < len(fake.comments):
                host = fake.next_host or fake.url
                headers["Link"] = f'<{host}{path}?per_page={fake.page_size}&page={page + 1}>; rel="next"'
            self._send(200, fake.comments[start : start + fake.page_size], headers)

        def do_POST(self) -> None:
            path, body = self._record()
            if self._refused():
                return
            assert path == f"/repos/{REPO}/issues/7/comments"
            assert body is not None
            self._send(201, fake.add(body["body"]))

        def do_PATCH(self) -> None:
            path, body = self._record()
            if self._refused():
                return
            number = int(path.rsplit("/", 1)[1])
            comment = next(c for c in fake.comments if c["id"] == number)
            if comment["user"]["login"] != fake.writer:
                # GitHub lets a maintainer's token edit anyone's comment: the fake lets it too, and records it.
                fake.edited_others.append(number)
            assert body is not None
            comment["body"] = body["body"]
            self._send(200, comment)

    return Handler


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


def _body(stack: str = "prod", text: str = "plan") -> str:
    return f"{stack_marker(stack)}\n### {text}\n"


def test_first_run_posts_second_run_edits_the_same_comment(github: FakeGitHub) -> None:
    first = upsert_comment(
        REPO, 7, "prod", stack_marker("prod"), _body(text="one"), TOKEN, github.url, environ=os.environ
    )
    second = upsert_comment(
        REPO, 7, "prod", stack_marker("prod"), _body(text="two"), TOKEN, github.url, environ=os.environ
    )
    assert first.created
    assert not second.created
    assert first.id == second.id
    assert [c["body"] for c in github.comments] == [_body(text="two")]
    calls = [(r["method"], r["path"].split("?")[0]) for r in github.requests]
    listing = ("GET", f"/repos/{REPO}/issues/7/comments")
    # Whose token it is is asked once a comment starting with the marker is found, not before.
    assert calls == [listing, ("POST", listing[1]), listing, ("GET", "/user"), ("PATCH", calls[-1][1])]
    assert github.requests[-1]["path"] == f"/repos/{REPO}/issues/comments/{first.id}"
    assert github.requests[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"


def test_each_stack_gets_its_own_comment(github: FakeGitHub) -> None:
    upsert_comment(
        REPO, 7, "prod", stack_marker("prod"), _body("prod"), TOKEN, github.url, environ=os.environ
    )
    upsert_comment(
        REPO, 7, "staging", stack_marker("staging"), _body("staging"), TOKEN, github.url, environ=os.environ
    )
    upsert_comment(
        REPO, 7, "prod", stack_marker("prod"), _body("prod", "again"), TOKEN, github.url, environ=os.environ
    )
    assert [c["body"] for c in github.comments] == [_body("prod", "again"), _body("staging")]


def test_finds_its_comment_on_a_later_page(github: FakeGitHub) -> None:
    github.page_size = 2
    for number in range(5):
        github.add(f"human comment {number}")
    ours = github.add(_body(text="old"))
    github.add("another human comment")
    result = upsert_comment(
        REPO, 7, "prod", stack_marker("prod"), _body(text="new"), TOKEN, github.url, environ=os.environ
    )
    assert (result.id, result.created) == (ours["id"], False)
    pages = [r["path"] for r in github.requests if r["method"] == "GET" and r["path"] != "/user"]
    assert len(pages) == 3
    assert pages[-1].endswith("page=3")


def test_a_reply_quoting_our_comment_is_left_alone(github: FakeGitHub) -> None:
    github.add("> " + _body(text="quoted") + "\nlooks good")
    result = upsert_comment(
        REPO, 7, "prod", stack_marker("prod"), _body(), TOKEN, github.url, environ=os.environ
    )
    assert result.created
    assert len(github.comments) == 2


def test_body_without_marker_gets_one(github: FakeGitHub) -> None:
    upsert_comment(REPO, 7, "prod", stack_marker("prod"), "### plan\n", TOKEN, github.url, environ=os.environ)
    assert github.comments[0]["body"].startswith(stack_marker("prod") + "\n")


@pytest.mark.parametrize(
    ("status", "expected"),
    [(401, "GitHub refused the token"), (403, "the token needs `pull-requests: write`")],
)
def test_refusal_is_one_line_without_the_token(github: FakeGitHub, status: int, expected: str) -> None:
    github.fail_with = status
    with pytest.raises(GitHubError) as caught:
        upsert_comment(REPO, 7, "prod", stack_marker("prod"), _body(), TOKEN, github.url, environ=os.environ)
    message = str(caught.value)
    assert expected in message
    assert f"HTTP {status}" in message
    assert "\n" not in message
    assert TOKEN not in message


def test_next_page_on_another_host_is_not_followed(github: FakeGitHub) -> None:
    github.page_size = 1
    github.next_host = "http://127.0.0.2:9"
    github.add("one")
    github.add("two")
    with pytest.raises(GitHubError, match="another host"):
        upsert_comment(REPO, 7, "prod", stack_marker("prod"), _body(), TOKEN, github.url, environ=os.environ)
    assert len(github.requests) == 1


def test_unreachable_github_is_one_line() -> None:
    with pytest.raises(GitHubError, match="cannot reach GitHub"):
        upsert_comment(
            REPO,
            7,
            "prod",
            stack_marker("prod"),
            _body(),
            TOKEN,
            "http://127.0.0.1:9",
            timeout=2,
            environ=os.environ,
        )


def test_bad_arguments_fail_before_any_request(github: FakeGitHub) -> None:
    with pytest.raises(GitHubError, match="OWNER/NAME"):
        upsert_comment("not-a-repo", 7, "prod", _body(), TOKEN, github.url, environ=os.environ)
    with pytest.raises(GitHubError, match="over GitHub's 65,536"):
        upsert_comment(
            REPO,
            7,
            "prod",
            stack_marker("prod"),
            _body() + "x" * 70_000,
            TOKEN,
            github.url,
            environ=os.environ,
        )
    assert github.requests == []


def test_step_summary_is_appended_only_when_set(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    assert not append_step_summary("# one", {})
    assert append_step_summary("# one", {"GITHUB_STEP_SUMMARY": str(summary)})
    assert append_step_summary("# two", {"GITHUB_STEP_SUMMARY": str(summary)})
    assert summary.read_text() == "# one\n\n# two\n\n"


# -- the command ------------------------------------------------------------------------------------------


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, github: FakeGitHub, tmp_path: Path) -> Path:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("ROACHCERT_COMMENT_AUTHOR", raising=False)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_API_URL", github.url)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    plan = tmp_path / "plan.md"
    plan.write_text(render_markdown(rc.case_multi_stack(), limit=COMMENT_LIMIT), encoding="utf-8")
    return plan


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = app_module.run(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_comment_posts_one_comment_per_stack_then_edits_them(
    cli: Path, github: FakeGitHub, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = _run(capsys, "comment", str(cli), "--repo", REPO, "--pr", "7")
    assert (code, err) == (0, "")
    assert "stack staging: posted" in out
    assert "stack prod: posted" in out
    code, out, _ = _run(capsys, "comment", str(cli), "--repo", REPO, "--pr", "7")
    assert code == 0
    assert "stack staging: updated" in out
    assert len(github.comments) == 2
    assert github.comments[0]["body"].startswith(stack_marker("staging"))
    assert "1 to create" in github.comments[0]["body"]
    assert "no changes" in github.comments[1]["body"]
    assert (tmp_path / "summary.md").read_text().count(stack_marker("prod")) == 2
    assert TOKEN not in out


def _stack_comments(github: FakeGitHub, stack: str) -> list[dict[str, Any]]:
    return [c for c in github.comments if c["body"].startswith(stack_marker(stack))]


def test_comment_never_edits_a_comment_someone_else_started_with_the_marker(
    cli: Path, github: FakeGitHub, capsys: pytest.CaptureFixture[str]
) -> None:
    # The marker is in every report: a participant posts a comment starting with it, to have roachcert
    # write the plan into a comment they can edit afterwards.
    planted = github.add(stack_marker("prod") + "\n### no changes, approve away", author="mallory")
    for _ in range(2):
        code, out, err = _run(capsys, "comment", str(cli), "--repo", REPO, "--pr", "7")
        assert code == 0, err
        assert f"note: comment {planted['id']} on {REPO}#7 starts with this stack's marker" in err
        assert f"written by mallory, not {ME}: left alone" in err
    assert github.edited_others == []
    assert planted["body"] == stack_marker("prod") + "\n### no changes, approve away"
    ours = [c for c in _stack_comments(github, "prod") if c is not planted]
    assert len(ours) == 1  # posted once, then edited in place
    assert ours[0]["user"]["login"] == ME
    assert "stack prod: updated" in out


def test_comment_with_github_token_in_actions_edits_github_actions_bots_comment(
    cli: Path, github: FakeGitHub, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    github.login = None  # GITHUB_TOKEN is an installation token: GET /user answers 403
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    planted = github.add(stack_marker("prod") + "\nplanted", author="mallory")
    earlier = github.add(stack_marker("prod") + "\nold plan", author="github-actions[bot]")
    code, out, err = _run(capsys, "comment", str(cli), "--repo", REPO, "--pr", "7")
    assert code == 0, err
    assert f"stack prod: updated {earlier['html_url']}" in out
    assert "no changes" in earlier["body"]
    assert planted["body"].endswith("planted")
    assert "written by mallory, not github-actions[bot]" in err
    assert github.edited_others == []


def test_comment_with_an_app_token_outside_actions_needs_author(
    cli: Path, github: FakeGitHub, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    github.login, github.installation_bot = None, "cert-app[bot]"
    earlier = github.add(stack_marker("prod") + "\nold plan")
    code, _, err = _run(capsys, "comment", str(cli), "--repo", REPO, "--pr", "7")
    assert code == 1
    assert err.count("\n") == 1
    assert "cannot tell which login this GitHub token comments as" in err
    assert "--author" in err
    assert earlier["body"].endswith("old plan")
    for argv in (["--author", "Cert-App[bot]"], []):  # logins compare case-insensitively
        if not argv:
            monkeypatch.setenv("ROACHCERT_COMMENT_AUTHOR", "cert-app[bot]")
        code, out, err = _run(capsys, "comment", str(cli), "--repo", REPO, "--pr", "7", *argv)
        assert code == 0, err
        assert f"stack prod: updated {earlier['html_url']}" in out
    assert github.edited_others == []


def test_comment_refused_is_one_error_line_without_the_token(
    cli: Path, github: FakeGitHub, capsys: pytest.CaptureFixture[str]
) -> None:
    github.fail_with = 403
    code, out, err = _run(capsys, "comment", str(cli), "--repo", REPO, "--pr", "7")
    assert code == 1
    assert err.count("\n") == 1
    assert err.startswith("roachcert: GitHub denied access")
    assert TOKEN not in out + err


def test_comment_needs_the_token_from_the_environment(
    cli: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN")
    code, _, err = _run(capsys, "comment", str(cli), "--repo", REPO, "--pr", "7")
    assert code == 1
    assert "set GITHUB_TOKEN" in err


def test_comment_rejects_a_file_that_is_not_a_plan_report(
    cli: Path, github: FakeGitHub, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    other = tmp_path / "notes.md"
    other.write_text("# notes\n")
    code, _, err = _run(capsys, "comment", str(other), "--repo", REPO, "--pr", "7")
    assert code == 1
    assert "holds no roachcert stack section" in err
    assert github.requests == []


def test_example_workflow_keeps_tokens_out_of_command_lines(repo_root: Path) -> None:
    import yaml

    workflow = yaml.safe_load((repo_root / "examples" / "github-actions.yml").read_text())
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    runs = "\n".join(step.get("run", "") for step in steps)
    assert "roachcert comment plan.md" in runs
    assert '--expect-fingerprint "$FINGERPRINT"' in runs
    assert "token" not in runs.lower()
    assert "secrets." not in runs
    assert workflow["jobs"]["apply"]["environment"] == "production"


def test_example_workflow_is_a_matrix_of_stacks_with_a_concurrency_group_each(repo_root: Path) -> None:
    import yaml

    workflow = yaml.safe_load((repo_root / "examples" / "github-actions.yml").read_text())
    jobs = workflow["jobs"]
    assert jobs["stacks"]["outputs"]["stacks"] == "${{ steps.find.outputs.stacks }}"
    for name in ("plan-pull-request", "plan", "apply"):
        job = jobs[name]
        assert "stacks" in ([job["needs"]] if isinstance(job["needs"], str) else job["needs"]), name
        assert job["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.stacks) }}", name
        assert job["strategy"]["fail-fast"] is False, name
        assert job["concurrency"] == {"group": "roachcert-${{ matrix.stack }}", "cancel-in-progress": False}
        assert job["env"]["STACK"] == "${{ matrix.stack }}", name
        runs = "\n".join(step.get("run", "") for step in job["steps"])
        assert "roachcert " in runs, name
        assert '--lock-timeout "$LOCK_TIMEOUT"' in runs, name
        uses = [step.get("uses", "") for step in job["steps"]]
        assert "aws-actions/configure-aws-credentials@v4" in uses, name  # S3 state, no stored keys
    assert "AWS_SECRET_ACCESS_KEY" not in (repo_root / "examples" / "github-actions.yml").read_text()


def test_example_workflows_stack_finder_lists_each_stack_file_as_json(
    repo_root: Path, tmp_path: Path
) -> None:
    import json
    import os
    import subprocess

    import yaml

    workflow = yaml.safe_load((repo_root / "examples" / "github-actions.yml").read_text())
    [find] = [step for step in workflow["jobs"]["stacks"]["steps"] if step.get("id") == "find"]
    (tmp_path / "stacks").mkdir()
    for name in ("prod.yaml", "dev.yml", "README.md"):
        (tmp_path / "stacks" / name).write_text("version: 1\n")
    output = tmp_path / "github-output"
    subprocess.run(
        ["bash", "-euo", "pipefail", "-c", find["run"]],
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"], "GITHUB_OUTPUT": str(output)},
        check=True,
    )
    key, _, value = output.read_text().strip().partition("=")
    assert key == "stacks"
    assert json.loads(value) == ["stacks/dev.yml", "stacks/prod.yaml"]


def test_the_repository_and_author_come_from_the_runs_environment_not_the_processs(
    cli: Path, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    # click's envvar= reads os.environ: a run given GITHUB_REPOSITORY of its own posted to the process's.
    monkeypatch.setenv("GITHUB_REPOSITORY", "someone/else")
    monkeypatch.setenv("ROACHCERT_COMMENT_AUTHOR", "someone-else")
    environ = {"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": REPO}
    runtime = Runtime(environ=environ, stdout=io.StringIO(), stderr=io.StringIO())
    assert app_module.run(["comment", str(cli), "--pr", "7", "--no-step-summary"], runtime) == 0
    assert {request["path"].split("?")[0] for request in github.requests} >= {
        f"/repos/{REPO}/issues/7/comments"
    }
    assert all(comment["user"]["login"] == ME for comment in github.comments)
    runtime = Runtime(environ={"GITHUB_TOKEN": TOKEN}, stdout=io.StringIO(), stderr=io.StringIO())
    assert app_module.run(["comment", str(cli), "--pr", "7"], runtime) == 1
    assert isinstance(runtime.stderr, io.StringIO)
    assert "Missing option '--repo' (or GITHUB_REPOSITORY)" in runtime.stderr.getvalue()
