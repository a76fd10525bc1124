"""HCL quoting: the one copy, for the rendered module and the sandbox's CLI config alike. Pure."""

from __future__ import annotations

import functools
import re

from roachcert.errors import TerraformError
from roachcert.escape import printable
from roachcert.names import is_ident

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
# What hcl_string must rewrite: a character it escapes (control characters, DEL, `\`, `"`) or a sigil.
_NEEDS_WORK = re.compile(r'[\x00-\x1f\x7f\\"]|[$%]\{')


def hcl_string(value: str) -> str:
    """A quoted HCL string literal that reads back as exactly `value` (no interpolation)."""
    if _NEEDS_WORK.search(value) is None:  # ids, names, hosts: nothing to escape (one C-level scan)
        return f'"{value}"'
    out = []
    for char in value:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    # `${` and `%{` start templates in HCL strings; doubling the sigil makes them literal.
    return '"' + "".join(out).replace("${", "$${").replace("%{", "%%{") + '"'


def hcl_value(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return hcl_string(value)


def _heredoc_safe(text: str) -> bool:
    # A `<<-EOT` heredoc reproduces text exactly only when it ends in a newline, every line is printable
    # ASCII without leading blanks (they would change the stripped indent) or trailing ones (easily lost
    # by editors), nothing looks like a template sequence and no line is the closing marker.
    if not text.endswith("\n") or "${" in text or "%{" in text or not text.isascii():
        return False
    for line in text[:-1].split("\n"):
        if line == "EOT" or line != line.strip():
            return False
        if not line.isprintable():  # ASCII already: printable is 0x20-0x7E
            return False
    return True


# Clusters sharing a CA share its bundle: quote each bundle once, not once per cluster.
@functools.lru_cache(maxsize=1024)
def hcl_text(text: str, indent: int = 0) -> str:
    """Multi-line text as a `<<-EOT` heredoc (readable in a plan review) when that is exact, else a string."""
    if not _heredoc_safe(text):
        return hcl_string(text)
    pad = " " * (indent + 2)
    body = "".join(f"{pad}{line}\n" if line else "\n" for line in text[:-1].split("\n"))
    return f"<<-EOT\n{body}{' ' * indent}EOT"


def hcl_comment(text: str) -> str:
    """Text for the body of a `#` comment: one line, whatever it holds (a line break would end the comment
    and let the rest be read as HCL)."""
    return printable(text)


def hcl_ident(name: str) -> str:
    """A name written bare into HCL (a resource name, an address): refused unless it is an identifier."""
    if not is_ident(name):
        raise TerraformError(f"{name!r} is not a Terraform resource name")
    return name
