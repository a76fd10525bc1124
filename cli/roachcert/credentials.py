"""Credentials from the environment, checked before they go into a request header.

A token pasted with an invisible character (U+200B, U+FEFF, a control character) cannot be sent: HTTP
header values are Latin-1, and the server would refuse it anyway. One line names the variable and where
the character sits, before any request.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

from roachcert.errors import RoachcertError


class CredentialError(RoachcertError):
    """A credential (or another header value) that cannot be sent as it is."""


def _bad(char: str, token: bool) -> bool:
    code = ord(char)
    if token:
        return not 0x21 <= code <= 0x7E  # tokens and keys are visible ASCII, nothing else
    return not (0x20 <= code <= 0x7E or 0xA0 <= code <= 0xFF) or unicodedata.category(char) == "Cf"


def check_header(name: str, value: str, *, token: bool = True) -> str:
    """`value` when it can travel in a header; else a `CredentialError` naming `name`, the character
    and its position (1-based). `token`: only visible ASCII (keys, tokens); else printable Latin-1."""
    for position, char in enumerate(value, start=1):
        if _bad(char, token):
            label = unicodedata.name(char, "a control character" if ord(char) < 0x20 else "unnamed")
            raise CredentialError(
                f"{name} has U+{ord(char):04X} ({label.lower()}) at character {position} of {len(value)}: "
                f"it cannot be sent in a request header; set {name} again without it"
            )
    return value


def is_header_safe(value: str, *, token: bool = True) -> bool:
    return not any(_bad(char, token) for char in value)


def read(name: str, environ: Mapping[str, str], *, token: bool = True) -> str:
    """The variable's value, stripped of surrounding whitespace and checked; "" when unset."""
    value = environ.get(name, "").strip()
    return check_header(name, value, token=token)
