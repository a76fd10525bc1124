"""JSON from outside (an API's answer, a line of a state file), decoded once into plain values that are
safe to walk, compare, print and write back: never a RecursionError, a lone surrogate or a NaN later.

Each outside source has its own entry (vault/answers.py, cloud/client.py, github.py, certs/inventory.py)
that turns these values into typed ones; this module only guarantees the plain JSON they start from.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TypeAlias

Json: TypeAlias = "bool | int | float | str | list[Json] | dict[str, Json] | None"

# No answer roachcert reads nests deeper than a few levels; deeper is not the answer it asked for, and
# far deeper ends Python's recursion wherever the value is walked (json.loads, repr, json.dumps).
MAX_DEPTH = 32


class NotJson(ValueError):
    """Bytes that are not one plain JSON document; the message says why, in a few words."""


def _constant(name: str) -> float:
    raise NotJson(f"{name} is not a JSON number")


def loads(data: bytes | str, max_depth: int = MAX_DEPTH) -> Json:
    """The document, checked: nested at most `max_depth` deep, every text valid Unicode (no lone
    surrogate), no NaN or Infinity. Anything else is `NotJson`."""
    try:
        value: Json = json.loads(data, parse_constant=_constant)
    except NotJson:
        raise
    except RecursionError:
        raise NotJson(f"nested deeper than {max_depth} levels") from None
    except (ValueError, TypeError):  # JSONDecodeError, UnicodeDecodeError, an int of too many digits
        raise NotJson("not JSON") from None
    check(value, max_depth)
    return value


def check(value: object, max_depth: int = MAX_DEPTH) -> None:
    """`NotJson` unless `value` is plain JSON of at most `max_depth` levels with valid Unicode text;
    walked without recursion, so a deep value is refused rather than crashing."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _text(item)
        elif isinstance(item, list | dict):
            if depth > max_depth:
                raise NotJson(f"nested deeper than {max_depth} levels")
            if isinstance(item, dict):
                for key in item:
                    if not isinstance(key, str):
                        raise NotJson("an object key that is not text")
                    _text(key)
                stack.extend((child, depth + 1) for child in item.values())
            else:
                stack.extend((child, depth + 1) for child in item)
        elif item is not None and not isinstance(item, bool | int | float):
            raise NotJson(f"a {type(item).__name__}, not a JSON value")


def _text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise NotJson("text with a lone surrogate (not Unicode)") from None


def obj(value: Json) -> Mapping[str, Json] | None:
    """The value as an object, or None."""
    return value if isinstance(value, dict) else None


def dumps_short(value: Json | Mapping[str, Json], limit: int) -> str:
    """The start of `value` as JSON, for a message (already checked, so it cannot recurse too deep)."""
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"
