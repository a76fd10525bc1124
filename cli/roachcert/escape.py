"""The one escape for text that comes from outside roachcert (certificate subjects, API and Vault messages,
file names): no control character, line break or bidi/format character reaches a terminal, a log or a report.

It is the escape `validate` and the text `plan` have always used (Python's `repr`, via `pem.describe`):
`quoted` is that, `printable` is the same escaping without the quotes. JSON output needs neither (json.dumps
escapes control characters itself); markdown adds its own metacharacters on top (reports.markdown_section._plain).
"""

from __future__ import annotations


def _escaped(char: str) -> str:
    code = ord(char)
    if char in "\n\r\t":
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}[char]
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: str) -> str:
    """`text` with every character `str.isprintable` refuses written as its escape (ESC as `\\x1b`,
    LF as `\\n`, U+202E as `\\u202e`); everything else, backslashes included, as is."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escaped(char) for char in text)


def printable_lines(text: str) -> str:
    """Like `printable`, but keeps the line breaks of a message roachcert itself wrote on several lines."""
    return "\n".join(printable(line) for line in text.split("\n"))


def printable_block(text: str) -> str:
    """Like `printable`, but keeps line breaks and tabs: a block of output (Terraform's, a log) as laid out."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() or char in "\n\t" else _escaped(char) for char in text)


def quoted(text: str) -> str:
    """A name from outside, quoted and escaped: `'CN'` (Python's repr, as messages always showed it)."""
    return repr(text)
