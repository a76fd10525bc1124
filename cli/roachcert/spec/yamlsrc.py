"""YAML parsing that keeps the line of every node and refuses what PyYAML would silently accept."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Duplicate:
    """A mapping key written twice: the first value is kept, the later one reported."""

    path: Path_
    line: int
    first_line: int


@dataclass
class LineMap:
    """Line numbers (1-based) of values and of mapping keys, by their path in the document."""

    values: dict[Path_, int] = field(default_factory=dict)
    keys: dict[Path_, int] = field(default_factory=dict)
    duplicates: list[Duplicate] = field(default_factory=list)

    def line_of(self, path: Path_) -> int:
        """The line that best points at `path`: its key, its value, or its nearest known parent."""
        probe = tuple(path)
        while probe:
            if probe in self.keys:
                return self.keys[probe]
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), 1)


class YamlProblem(Exception):
    def __init__(self, line: int, message: str) -> None:
        self.line = line
        self.message = message
        super().__init__(f"{line}: {message}")


def parse(text: str) -> tuple[Any, LineMap]:
    """Parse one YAML document safely; raise YamlProblem if it cannot be read at all.

    Duplicate keys do not stop parsing: they land in `LineMap.duplicates` so that they are reported
    together with the file's other problems.
    """
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw.lstrip(" ").startswith("\t"):
            raise YamlProblem(number, "tab used for indentation; YAML needs spaces")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        reason = exc.problem or exc.context or "invalid YAML"
        raise YamlProblem(
            line,
            f"YAML syntax error: {reason}; check the indentation and quoting on this line or the one before",
        ) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(1, f"YAML error: {exc}") from None
    lines = LineMap()
    if node is None:
        return None, lines
    constructor = yaml.SafeLoader("")
    return _build(node, (), lines, constructor), lines


def _build(node: yaml.Node, path: Path_, lines: LineMap, constructor: yaml.SafeLoader) -> Any:
    lines.values[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        constructor.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = constructor.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | bool | float) and key is not None:
                raise YamlProblem(key_node.start_mark.line + 1, "mapping keys must be plain scalars")
            key_text = key if isinstance(key, str) else str(key)
            if key_text in out:
                # Keep the first value, as its line numbers are already recorded; report the repeat.
                first = lines.keys[(*path, key_text)]
                lines.duplicates.append(Duplicate((*path, key_text), key_node.start_mark.line + 1, first))
                continue
            lines.keys[(*path, key_text)] = key_node.start_mark.line + 1
            out[key_text] = _build(value_node, (*path, key_text), lines, constructor)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, index), lines, constructor) for index, item in enumerate(node.value)]
    return constructor.construct_object(node, deep=True)


def _dotted(path: Path_) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top)"


def dotted(path: Path_) -> str:
    """`clusters.frogs.users[1]`: how a field is named in error lines."""
    return _dotted(path)
