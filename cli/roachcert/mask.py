"""Secret masking for every text roachcert prints or writes: tokens, API keys, private key blocks."""

from __future__ import annotations

import re
import threading
from typing import Protocol

from roachcert import environment

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
_PASSWORD_IN_URL = re.compile(r"://[^/:@\s]*:([^/@\s]+)@")
# Quoted values inside TF_ENCRYPTION (HCL or JSON): a passphrase also shows up on its own in an error.
_QUOTED_IN_ENCRYPTION = re.compile(r"(?:passphrase|key|secret|password)\w*\"?\s*[=:]\s*\"([^\"]+)\"")
REPLACEMENT = "***"
_MIN_SECRET = 6

_lock = threading.Lock()
_extra: set[str] = set()


def register(secret: str | None) -> None:
    """Mask this value from now on (a token read from a file, an AppRole login's client token)."""
    if secret and len(secret) >= _MIN_SECRET:
        with _lock:
            _extra.add(secret)


def secrets() -> list[str]:
    environ = environment.current()
    found = {environ.get(name, "") for name in SECRET_ENV}
    found |= {value for name, value in environ.items() if name.startswith(SECRET_ENV_PREFIXES)}
    # A connection string's password also shows up on its own (in an error about the connection).
    found |= set(_PASSWORD_IN_URL.findall(environ.get("PG_CONN_STR", "")))
    found |= set(_QUOTED_IN_ENCRYPTION.findall(environ.get("TF_ENCRYPTION", "")))
    with _lock:
        found |= _extra
    # Longest first so a secret containing another is masked whole.
    return sorted((s for s in found if len(s) >= _MIN_SECRET), key=len, reverse=True)


def mask(text: str) -> str:
    text = PRIVATE_KEY_BLOCK.sub("-----PRIVATE KEY REDACTED-----", text)
    text = PRIVATE_KEY_MARKER.sub("-----PRIVATE KEY REDACTED-----", text)
    for secret in secrets():
        text = text.replace(secret, REPLACEMENT)
    return text


class Sink(Protocol):
    """Where text is written: a stream (sys.stderr) or a masking one."""

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...

    def isatty(self) -> bool: ...


class MaskedStream:
    """A stream that masks each write before it reaches `target` (Terraform's output, streamed)."""

    def __init__(self, target: Sink) -> None:
        self.target = target

    def write(self, text: str, /) -> int:
        self.target.write(mask(text))
        return len(text)

    def flush(self) -> None:
        self.target.flush()

    def isatty(self) -> bool:  # progress lines redraw in place only on a terminal
        return self.target.isatty()
