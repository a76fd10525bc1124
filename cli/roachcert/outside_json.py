"""JSON from outside (an API's answer, a line of a state file), decoded once into plain values that are
safe to walk, compare, print and write back: never a RecursionError, a lone surrogate or a NaN later.

Each outside source has its own entry (vault/answers.py, cloud/client.py, github.py, certs/inventory.py)
that turns these values into typed ones; this module only guarantees the plain JSON they start from.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TypeAlias

Json: TypeAlias = "bool | int | float | str | list[Json] | dict[str, Json] | None"

# No answer roachcert reads nests deeper than a few levels; deeper is not the answer it asked for, and
# far deeper ends Python's recursion wherever the value is walked (json.loads, repr, json.dumps).
MAX_DEPTH = 32
# Where a lone surrogate could come from: a \uD800-\uDFFF escape, or (bytes) UTF-8's ED A0-BF lead,
# which json's decoder lets through; UTF-16/32 input (NUL bytes) is checked in full.
_SURROGATE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]|\x00")
_SURROGATE_TEXT = re.compile("\\\\u[dD][89a-fA-F]|[\ud800-\udfff]")


class NotJson(ValueError):
    """Bytes that are not one plain JSON document; the message says why, in a few words."""


def _constant(name: str) -> float:
    raise NotJson(f"JSON with {name} (not a JSON number)")


def _float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise NotJson(f"JSON with a number too large for a float ({text[:20]})")
    return value


def loads(data: bytes | str, max_depth: int = MAX_DEPTH) -> Json:
    """The document, checked: nested at most `max_depth` deep, every text valid Unicode (no lone
    surrogate), no NaN or Infinity. Anything else is `NotJson`."""
    try:
        value: Json = json.loads(data, parse_constant=_constant, parse_float=_float)
    except NotJson:
        raise
    except RecursionError:
        raise NotJson(f"JSON nested deeper than {max_depth} levels") from None
    except (ValueError, TypeError):  # JSONDecodeError, UnicodeDecodeError, an int of too many digits
        raise NotJson("something other than JSON") from None
    opened = (
        data.count(b"[") + data.count(b"{") if isinstance(data, bytes) else data.count("[") + data.count("{")
    )
    if opened > max_depth:  # only then can it nest too deep (brackets in text only overcount)
        _depth(value, max_depth)
    maybe = _SURROGATE_BYTES.search(data) if isinstance(data, bytes) else _SURROGATE_TEXT.search(data)
    if maybe:  # a fast scan first: the full walk only when a surrogate could be there
        _unicode(value)
    return value


def check(value: object, max_depth: int = MAX_DEPTH) -> None:
    """`NotJson` unless `value` is plain JSON of at most `max_depth` levels with valid Unicode text."""
    _depth(value, max_depth)
    _unicode(value)


def _depth(value: object, max_depth: int) -> None:
    """Walked without recursion, so a deep value is refused rather than crashing."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, list | dict):
            if depth > max_depth:
                raise NotJson(f"JSON nested deeper than {max_depth} levels")
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))


def _unicode(value: object) -> None:
    """Every text and key valid Unicode, every value plain JSON (json's C encoder walks it fast)."""
    try:
        json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except UnicodeEncodeError:
        raise NotJson("JSON text with a lone surrogate (not Unicode)") from None
    except RecursionError:
        raise NotJson(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except (TypeError, ValueError) as exc:
        raise NotJson(f"not plain JSON ({type(exc).__name__})") from None


def kind(value: Json) -> str:
    """What a value is, in a message's words: `a number`, `a list`."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, dict) else "null"


def dumps_short(value: Json | Mapping[str, Json], limit: int) -> str:
    """The start of `value` as JSON, for a message (already checked, so it cannot recurse too deep)."""
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"
