"""Secret masking for every text roachcert prints or writes: tokens, API keys, private key blocks.

A run's `Masker` (its `Runtime` holds one) masks the secrets of the run's environment, read at each use,
plus every secret registered in this process: a token once learnt (read from a file, returned by a
login) stays a secret for the rest of the process, whichever run learnt it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import unquote

PRIVATE_KEY_BLOCK = re.compile(
    r"-----BEGIN ((?:RSA |EC |ENCRYPTED |OPENSSH |DSA )?PRIVATE KEY)-----.*?-----END \1-----", re.DOTALL
)
PRIVATE_KEY_MARKER = re.compile(r"-----BEGIN (?:RSA |EC |ENCRYPTED |OPENSSH |DSA )?PRIVATE KEY-----")
# Environment variables whose values are secrets wherever they show up.
SECRET_ENV = (
    "VAULT_TOKEN",
    "VAULT_SECRET_ID",
    "COCKROACH_API_KEY",
    "COCKROACH_API_JWT",
    "GITHUB_TOKEN",
    "PGPASSWORD",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "ARM_CLIENT_SECRET",
    "ARM_ACCESS_KEY",
    "ARM_SAS_TOKEN",
    "ARM_CLIENT_CERTIFICATE_PASSWORD",
    "GOOGLE_OAUTH_ACCESS_TOKEN",
    "PG_CONN_STR",
    "TF_ENCRYPTION",  # OpenTofu's state and plan encryption config: it holds the passphrase or key
)
# Every host's Terraform registry token (TF_TOKEN_app_terraform_io, TF_TOKEN_tfe_example_com, ...).
SECRET_ENV_PREFIXES = ("TF_TOKEN_",)
# A URL's user-info (`https://user:PASSWORD@host`): up to the authority's last "@". A "?" or "#" left
# unencoded in a password ends the authority for urllib but not for libpq, and either way the user meant
# it as the password: only "/" and white space end it here (masking too much beats printing it).
# Which part is the secret depends on the scheme:
# - a database URL (postgres, postgresql, cockroach, cockroachdb, with any `+driver`): the user is a SQL
#   user name, which roachcert prints itself (`connect-url`, `issue`): only the password is masked;
# - any other scheme (https, http, s3, git, ssh, ...): a user without a password is the credential
#   (`https://ghp_TOKEN@github.com`, `https://x-access-token@…`, a proxy's token) and is masked whole,
#   `https://***@host`; a user with a password keeps the user visible (`https://user:***@host`) unless
#   it has a known token's shape (`https://ghp_TOKEN:x-oauth-basic@github.com`).
# Such a user or password is also learned, so an error quoting it on its own is masked too.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/\s@]*(?:@[^/\s@]*)*)@")
DATABASE_SCHEMES = frozenset({"postgres", "postgresql", "cockroach", "cockroachdb"})
# GitHub (classic and fine-grained), GitLab, Vault/OpenBao service and batch tokens, Slack, npm, PyPI.
_TOKEN_SHAPE = re.compile(
    r"(?:gh[pousr]_|github_pat_|glpat-|gl[a-z]{2,6}-|hv[sbr]\.|xox[abposr]-|npm_|pypi-)[A-Za-z0-9_.=-]{6,}"
)
# Quoted values inside TF_ENCRYPTION (HCL or JSON): a passphrase also shows up on its own in an error.
_QUOTED_IN_ENCRYPTION = re.compile(r"(?:passphrase|key|secret|password)\w*\"?\s*[=:]\s*\"([^\"]+)\"")
REPLACEMENT = "***"
_MIN_SECRET = 6

_lock = threading.Lock()
_extra: set[str] = set()


def _is_database(scheme: str) -> bool:
    return scheme.removesuffix("://").split("+")[0].lower() in DATABASE_SCHEMES


def _secret_parts(scheme: str, userinfo: str) -> tuple[bool, bool]:
    """(the user is a secret, the password is a secret) for one URL's user-info."""
    user, colon, password = userinfo.partition(":")
    if colon:
        if not password:
            return False, False
        return not _is_database(scheme) and bool(_TOKEN_SHAPE.search(user)), True
    # No password: the user alone is a credential, unless the authority ended before the "@" (a "?" or
    # "#" starts the query or fragment: `https://host?mail=a@b` has no user-info).
    return bool(user) and not _is_database(scheme) and not any(c in user for c in "?#"), False


def url_passwords(text: str) -> set[str]:
    """The secret parts of each URL's user-info in `text` (a password; a user that is a token), as written
    and percent-decoded (how an error may show it)."""
    found: set[str] = set()
    for match in _USERINFO.finditer(text):
        user, _colon, password = match["userinfo"].partition(":")
        secret_user, secret_password = _secret_parts(match["scheme"], match["userinfo"])
        for part, secret in ((user, secret_user), (password, secret_password)):
            if secret:
                found |= {part, unquote(part)}
    return found


def learn_urls(*texts: str) -> None:
    """Mask, from now on, the password (or token user) of every URL roachcert is configured with outside the
    environment (the environment's are found at each `mask`): the command line and the stack file."""
    for text in texts:
        for secret in url_passwords(text):
            register(secret)


def register(secret: str | None) -> None:
    """Mask this value from now on (a token read from a file, an AppRole login's client token)."""
    if secret and len(secret) >= _MIN_SECRET:
        with _lock:
            _extra.add(secret)


def secrets(environ: Mapping[str, str]) -> list[str]:
    """Every secret to mask: the environment's and those registered."""
    found = {environ.get(name, "") for name in SECRET_ENV}
    found |= {value for name, value in environ.items() if name.startswith(SECRET_ENV_PREFIXES)}
    # A URL's password or token user in any variable (VAULT_ADDR, COCKROACH_SERVER, GITHUB_API_URL, a
    # proxy, PG_CONN_STR) also shows up on its own (in an error about the connection), perhaps percent-decoded.
    for value in environ.values():
        if "://" in value:
            found |= url_passwords(value)
    found |= set(_QUOTED_IN_ENCRYPTION.findall(environ.get("TF_ENCRYPTION", "")))
    with _lock:
        found |= _extra
    # Longest first so a secret containing another is masked whole.
    return sorted((s for s in found if len(s) >= _MIN_SECRET), key=len, reverse=True)


def _hide_userinfo(match: re.Match[str]) -> str:
    user, _colon, _password = match["userinfo"].partition(":")
    secret_user, secret_password = _secret_parts(match["scheme"], match["userinfo"])
    if secret_password:
        return f"{match['scheme']}{REPLACEMENT if secret_user else user}:{REPLACEMENT}@"
    return f"{match['scheme']}{REPLACEMENT}@" if secret_user else match[0]


def mask(text: str, environ: Mapping[str, str]) -> str:
    """`text` with private keys, URL passwords and every secret (`secrets(environ)`) replaced."""
    return _masked(text, secrets(environ))


def _masked(text: str, found: Sequence[str]) -> str:
    text = PRIVATE_KEY_BLOCK.sub("-----PRIVATE KEY REDACTED-----", text)
    text = PRIVATE_KEY_MARKER.sub("-----PRIVATE KEY REDACTED-----", text)
    # Every URL's password (and a token given as its user), however short and wherever the URL came from.
    if "://" in text:
        text = _USERINFO.sub(_hide_userinfo, text)
    for secret in found:
        if secret in text:
            text = text.replace(secret, REPLACEMENT)
    return text


Mask = Callable[[str], str]


def masked_strings(value: Any, mask: Mask) -> Any:
    """A JSON document with every string in it masked: done before it is encoded, where an escaped
    character (a `"` or `\\` in a secret, non-ASCII as `\\u`) would hide the secret from the sink."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {key: masked_strings(item, mask) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [masked_strings(item, mask) for item in value]
    return value


def without_environment(text: str) -> str:
    """What can be masked without a run's environment: private keys, URL passwords, secrets learnt. The
    default of formatters called outside a run (a test); a run passes its own `Masker`."""
    return mask(text, {})


class Masker:
    """`mask` for one run's environment: what a sink (the terminal, a log file, a comment) calls."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def __call__(self, text: str) -> str:
        return mask(text, self.environ)

    def snapshot(self) -> Mask:
        """The mask with the secrets known now, looked up once: for many short strings at once (a
        document of 200,000 rows), where finding them again for each string would cost seconds."""
        found = secrets(self.environ)
        return lambda text: _masked(text, found)


class Sink(Protocol):
    """Where text is written: a stream (sys.stderr) or a masking one."""

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...

    def isatty(self) -> bool: ...


class MaskedStream:
    """A stream that masks each write before it reaches `target` (Terraform's output, streamed)."""

    def __init__(self, target: Sink, masker: Mask) -> None:
        self.target = target
        self.masker = masker

    def write(self, text: str, /) -> int:
        self.target.write(self.masker(text))
        return len(text)

    def flush(self) -> None:
        self.target.flush()

    def isatty(self) -> bool:  # progress lines redraw in place only on a terminal
        return self.target.isatty()
