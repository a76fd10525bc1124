"""The GitHub adapter: the job's step summary, and one pull-request comment per stack, edited in place.

The token comes from GITHUB_TOKEN only (never argv), is sent only to the API host it was given for, and
never appears in an error: every failure is a GitHubError of one masked line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from roachcert import __version__, credentials, outside_json
from roachcert.errors import RoachcertError
from roachcert.http_session import RunSession
from roachcert.mask import mask, register
from roachcert.outside_json import Json, NotJson
from roachcert.stack_lock import Note, ignore_note

COMMENT_LIMIT = 65_536  # characters GitHub takes in one issue or pull-request comment
DEFAULT_API_URL = "https://api.github.com"
ACTIONS_BOT = "github-actions[bot]"  # who GITHUB_TOKEN's comments are written by
_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_PER_PAGE = 100
_MAX_PAGES = 300  # 30,000 comments: far beyond any pull request; stops a link loop


class GitHubError(RoachcertError):
    """GitHub refused or failed, or the step summary could not be written."""


@dataclass(frozen=True)
class CommentResult:
    id: int
    url: str
    created: bool  # False: our earlier comment was edited in place


def append_step_summary(markdown: str, environ: Mapping[str, str]) -> bool:
    """Append to the job summary when GITHUB_STEP_SUMMARY is set; False when it is not."""
    path = environ.get("GITHUB_STEP_SUMMARY", "")
    if not path:
        return False
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(mask(markdown, environ).rstrip("\n") + "\n\n")
    except OSError as exc:
        raise GitHubError(f"cannot write the job summary {path}: {exc.strerror or exc}") from None
    return True


def token_from_env(environ: Mapping[str, str]) -> str:
    token = credentials.read("GITHUB_TOKEN", environ)
    if not token:
        raise GitHubError(
            "no GitHub token: set GITHUB_TOKEN (in a workflow: env: GITHUB_TOKEN: ${{ github.token }}, "
            "with permissions: pull-requests: write)"
        )
    register(token)
    return token


def api_url_from_env(environ: Mapping[str, str]) -> str:
    return environ.get("GITHUB_API_URL") or DEFAULT_API_URL


class _Client:
    def __init__(
        self,
        api_url: str,
        token: str,
        session: requests.Session | None,
        timeout: float,
        environ: Mapping[str, str],
    ) -> None:
        self._environ = environ
        self.api_url = api_url.rstrip("/")
        parts = urlsplit(self.api_url)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise GitHubError(f"the GitHub API URL {api_url!r} is not an http(s) URL")
        self._origin = (parts.scheme, parts.netloc)
        self._token = token
        self._session = session or RunSession(environ)  # the run's proxies and CA bundle
        self._timeout = timeout

    def request(
        self,
        method: str,
        url: str,
        what: str,
        body: Mapping[str, Any] | None = None,
        *,
        answered: tuple[int, ...] = (),
    ) -> requests.Response:
        """The response; a refusal (HTTP 4xx/5xx) is a GitHubError unless its status is in `answered`."""
        parts = urlsplit(url)
        if (parts.scheme, parts.netloc) != self._origin:
            # A next-page link elsewhere would carry the token off: refuse rather than follow.
            raise GitHubError(
                f"GitHub sent a link to another host ({parts.netloc}) while {what}; not following it"
            )
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": f"roachcert/{__version__}",
        }
        try:
            response = self._session.request(method, url, headers=headers, json=body, timeout=self._timeout)
        except requests.RequestException as exc:
            raise GitHubError(
                self._clean(f"cannot reach GitHub at {self.api_url} while {what}: {type(exc).__name__}")
            ) from None
        if response.status_code >= 400 and response.status_code not in answered:
            raise GitHubError(self._clean(_refusal(response, what, self._clean)))
        return response

    def _clean(self, message: str) -> str:
        return mask(message.replace(self._token, "***"), self._environ)


def _message(response: requests.Response, clean: Callable[[str], str]) -> str:
    """GitHub's message, on one line and cut to 200 characters: masked first, as a token echoed across
    the cut would be found no more."""
    try:
        data: Json = outside_json.loads(response.content)
    except NotJson:
        data = None
    text = str(data.get("message", "")) if isinstance(data, dict) else response.text
    flat = " ".join(clean(text).split())
    return flat[:200]


def _refusal(response: requests.Response, what: str, clean: Callable[[str], str]) -> str:
    status, message = response.status_code, _message(response, clean)
    said = f" ({message})" if message else ""
    if status == 401:
        return f"GitHub refused the token while {what}: HTTP 401{said}; check GITHUB_TOKEN"
    if status == 403 and response.headers.get("x-ratelimit-remaining") == "0":
        return f"GitHub's rate limit was reached while {what}: HTTP 403{said}; try again later"
    if status == 403:
        return (
            f"GitHub denied access while {what}: HTTP 403{said}; the token needs `pull-requests: write` "
            "(pull requests from forks only get a read-only token)"
        )
    if status == 404:
        return f"GitHub found no such repository or pull request while {what}: HTTP 404{said}; check --repo and --pr"
    return f"GitHub answered HTTP {status} while {what}{said}"


def _comments(client: _Client, repo: str, pr_number: int) -> Iterator[Comment]:
    """The pull request's comments, page by page, oldest first."""
    url: str | None = f"{client.api_url}/repos/{repo}/issues/{pr_number}/comments?per_page={_PER_PAGE}"
    for _ in range(_MAX_PAGES):
        if url is None:
            return
        what = f"listing the comments of {repo}#{pr_number}"
        response = client.request("GET", url, what)
        yield from comments_of(response, client.api_url, what)
        url = response.links.get("next", {}).get("url")
    raise GitHubError(
        f"{repo}#{pr_number} has more than {_MAX_PAGES * _PER_PAGE} comments; not searching further"
    )


def token_login(client: _Client, environ: Mapping[str, str]) -> str:
    """The login this token writes comments as: `GET /user` for a user's token; an installation token
    (GitHub answers 403 there) is GITHUB_TOKEN's `github-actions[bot]` inside Actions. Outside Actions an
    app's installation token cannot say its bot's login: `--author` must."""
    env = environ
    what = "asking GitHub whose token GITHUB_TOKEN is"
    response = client.request("GET", f"{client.api_url}/user", what, answered=(403,))
    if response.status_code == 403:
        if env.get("GITHUB_ACTIONS") == "true":
            return ACTIONS_BOT
        raise GitHubError(
            "cannot tell which login this GitHub token comments as (an app's installation token): "
            "pass --author LOGIN (the app's bot, like my-app[bot]) or set ROACHCERT_COMMENT_AUTHOR"
        )
    data = _answer(response, client.api_url, what)
    login = data.get("login") if isinstance(data, dict) else None
    if not isinstance(login, str) or not login:
        raise GitHubError(f"GitHub's answer while {what} named no login")
    return login


def _find(
    client: _Client,
    repo: str,
    pr_number: int,
    marker: str,
    author: Callable[[], str],
    note: Callable[[str], None],
) -> tuple[int, str] | None:
    """Our earlier comment: it starts with the marker AND was written by `author()` (asked only once a
    comment starts with the marker). The marker is public; anyone's comment may start with it."""
    for comment in _comments(client, repo, pr_number):
        # Ours start with the marker; a reply quoting ours starts with "> " and is left alone.
        if not comment.body.lstrip().startswith(marker):
            continue
        me, written_by = author(), comment.author
        if written_by.lower() == me.lower():
            return comment.id, comment.url
        note(
            f"note: comment {comment.id} on {repo}#{pr_number} starts with this stack's marker but was "
            f"written by {written_by or 'an unknown user'}, not {me}: left alone (roachcert edits only its "
            "own comments; --author names whose they are)"
        )
    return None


def upsert_comment(
    repo: str,
    pr_number: int,
    stack: str,
    marker: str,
    body: str,
    token: str,
    api_url: str | None = None,
    *,
    session: requests.Session | None = None,
    timeout: float = 30.0,
    author: str | None = None,
    note: Note = ignore_note,
    environ: Mapping[str, str],
) -> CommentResult:
    """Edit this stack's earlier comment on the pull request, or post it; found by its hidden marker and
    written by `author` (default: the token's own login, see `token_login`). Others' comments are left alone.

    `api_url` defaults to GITHUB_API_URL (set in Actions, also on GitHub Enterprise Server), else api.github.com.
    """
    if not _REPO.match(repo):
        raise GitHubError(f"--repo {repo!r} is not OWNER/NAME")
    if pr_number < 1:
        raise GitHubError(f"--pr {pr_number} is not a pull request number")
    if not token:
        raise GitHubError("no GitHub token: set GITHUB_TOKEN")
    credentials.check_header("GITHUB_TOKEN", token)
    register(token)
    text = mask(body if body.lstrip().startswith(marker) else f"{marker}\n{body}", environ)
    if len(text) > COMMENT_LIMIT:
        raise GitHubError(
            f"the comment for stack {stack} has {len(text):,} characters, over GitHub's {COMMENT_LIMIT:,}; "
            "write it with `roachcert plan --format markdown`, which keeps within the limit"
        )
    client = _Client(api_url or api_url_from_env(environ), token, session, timeout, environ)
    known: list[str] = [author] if author else []

    def whose() -> str:
        if not known:
            known.append(token_login(client, environ))
        return known[0]

    found = _find(client, repo, pr_number, marker, whose, note)
    if found is not None:
        comment_id, _ = found
        url = f"{client.api_url}/repos/{repo}/issues/comments/{comment_id}"
        response = client.request(
            "PATCH", url, f"editing comment {comment_id} on {repo}#{pr_number}", {"body": text}
        )
        created = False
    else:
        url = f"{client.api_url}/repos/{repo}/issues/{pr_number}/comments"
        response = client.request("POST", url, f"commenting on {repo}#{pr_number}", {"body": text})
        created = True
    what = f"writing the comment on {repo}#{pr_number}"
    comment = comment_of(_answer(response, client.api_url, what), client.api_url, what)
    return CommentResult(comment.id, comment.url, created)


# -- the one place a GitHub answer becomes typed values ------------------------------------------------
@dataclass(frozen=True)
class Comment:
    id: int
    body: str
    url: str
    author: str  # the login that wrote it ("" when GitHub names none)


def _foreign(api_url: str, what: str, why: str) -> GitHubError:
    return GitHubError(f"GitHub at {api_url} answered {why} while {what}: not the API's answer")


def _answer(response: requests.Response, api_url: str, what: str) -> Json:
    try:
        return outside_json.loads(response.content)
    except NotJson as exc:
        raise _foreign(api_url, what, str(exc)) from None


def comment_of(item: Json, api_url: str, what: str) -> Comment:
    """One issue comment: a positive number `id`, text (or null) `body` and `html_url`, and `user` an
    object (or null) whose `login` is text."""
    if not isinstance(item, dict):
        raise _foreign(api_url, what, "a comment that is not a JSON object")
    number, body, url, user = item.get("id"), item.get("body"), item.get("html_url"), item.get("user")
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise _foreign(api_url, what, "a comment whose id is not a number")
    if not isinstance(body, str | None) or not isinstance(url, str | None):
        raise _foreign(api_url, what, "a comment whose body or html_url is not text")
    login = user.get("login") if isinstance(user, dict) else None
    if not isinstance(user, dict | None) or not isinstance(login, str | None):
        raise _foreign(api_url, what, "a comment whose user is not a login")
    return Comment(number, body or "", url or "", login or "")


def comments_of(response: requests.Response, api_url: str, what: str) -> list[Comment]:
    """A page of issue comments: a JSON list of comments."""
    page = _answer(response, api_url, what)
    if not isinstance(page, list):
        raise _foreign(api_url, what, "something other than a list of comments")
    return [comment_of(item, api_url, what) for item in page]
