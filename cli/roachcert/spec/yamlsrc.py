"""YAML parsing that keeps the line of every node and refuses what PyYAML would silently accept."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path_ = tuple[str | int, ...]

# A stack is a few levels deep and a few values per cluster. The limits stop nesting bombs and alias
# bombs ("billion laughs": aliases of aliases expand exponentially) before they exhaust the stack,
# time or memory; they count values after aliases are expanded.
MAX_DEPTH = 32
MAX_VALUES = 200_000


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
    node = _compose_fast(text)
    if node is _UNREADABLE:
        node = _compose_python(text)
    lines = LineMap()
    if node is None:
        return None, lines
    builder = _Builder(lines, yaml.SafeLoader(""))
    try:
        return builder.build(node, ()), lines
    except yaml.MarkedYAMLError as exc:  # a merge key (`<<`) of something other than mappings
        raise _syntax_problem(exc) from None
    except RecursionError:
        raise YamlProblem(builder.line, _too_deep()) from None


# The libyaml composer when the installed PyYAML has it; None where it is missing.
_CLoader: type[yaml.CSafeLoader] | None = getattr(yaml, "CSafeLoader", None)
_UNREADABLE = yaml.Node("", "", None, None)  # a sentinel: libyaml could not compose the text


def _compose_fast(text: str) -> yaml.Node | None:
    """The node graph composed by libyaml (its nodes carry the same marks), else _UNREADABLE.

    Only well-formed text is composed here: whatever libyaml refuses is composed again by the pure-Python
    loader, whose messages (and lines) the error lines have always quoted.
    """
    if _CLoader is None:
        return _UNREADABLE
    try:
        loader = _CLoader(text)
    except Exception:
        return _UNREADABLE
    try:
        node: yaml.Node | None = loader.get_single_node()
        return node
    except Exception:  # any refusal, including libyaml's own nesting limit and encoding errors
        return _UNREADABLE
    finally:
        loader.dispose()


def _compose_python(text: str) -> yaml.Node | None:
    """The pure-Python composer: slower, and the source of every YAML syntax message."""
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:
        raise _reader_problem(text, exc) from None
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise _syntax_problem(exc) from None
    except yaml.reader.ReaderError as exc:
        raise _reader_problem(text, exc) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(1, f"YAML error: {exc}") from None
    except RecursionError:
        raise YamlProblem(loader.line + 1, _too_deep()) from None
    finally:
        loader.dispose()
    return node


def _syntax_problem(exc: yaml.MarkedYAMLError) -> YamlProblem:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else 1
    reason = exc.problem or exc.context or "invalid YAML"
    return YamlProblem(
        line,
        f"YAML syntax error: {reason}; check the indentation and quoting on this line or the one before",
    )


def _reader_problem(text: str, exc: yaml.reader.ReaderError) -> YamlProblem:
    line = text.count("\n", 0, max(exc.position, 0)) + 1
    if isinstance(exc.character, int):
        what = f"the character U+{exc.character:04X} is not allowed in YAML; remove it"
    else:
        what = f"YAML error: {exc.reason}"
    return YamlProblem(line, what)


def _too_deep() -> str:
    return f"the YAML is nested more than {MAX_DEPTH} levels deep; a stack needs a handful"


class _Builder:
    """Plain Python values from the node graph, recording lines, within MAX_DEPTH and MAX_VALUES."""

    def __init__(self, lines: LineMap, constructor: yaml.SafeLoader) -> None:
        self.lines = lines
        self.constructor = constructor
        self.count = 0
        self.line = 1  # of the node being built, for problems found without a mark

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.line = node.start_mark.line + 1
        self.count += 1
        if len(path) > MAX_DEPTH:
            raise YamlProblem(self.line, _too_deep())
        if self.count > MAX_VALUES:
            raise YamlProblem(
                self.line,
                f"the YAML expands to more than {MAX_VALUES:,} values (aliases of aliases?); "
                "write the stack without anchors and aliases",
            )
        self.lines.values[path] = self.line
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            self.constructor.flatten_mapping(node)
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise YamlProblem(key_node.start_mark.line + 1, "mapping keys must be plain scalars")
                key = self.scalar(key_node)
                if not isinstance(key, str | int | bool | float) and key is not None:
                    raise YamlProblem(key_node.start_mark.line + 1, "mapping keys must be plain scalars")
                key_text = key if isinstance(key, str) else str(key)
                if key_text in out:
                    # Keep the first value, as its line numbers are already recorded; report the repeat.
                    first = self.lines.keys[(*path, key_text)]
                    self.lines.duplicates.append(
                        Duplicate((*path, key_text), key_node.start_mark.line + 1, first)
                    )
                    continue
                self.lines.keys[(*path, key_text)] = key_node.start_mark.line + 1
                out[key_text] = self.build(value_node, (*path, key_text))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
        return self.scalar(node)

    def scalar(self, node: yaml.Node) -> Any:
        """A scalar's value; an explicit tag it does not fit (`!!int abc`, `!custom`) is a problem."""
        if node.tag == "tag:yaml.org,2002:value":  # a plain `=`, which SafeLoader cannot construct
            return str(node.value)
        if node.tag == _STR and isinstance(node, yaml.ScalarNode):
            # Most values of a stack: what SafeConstructor would return, without its bookkeeping.
            return node.value
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError:
            problem = f"the YAML tag {_tag(node)} is not supported here; remove it"
        except (ValueError, TypeError, AttributeError, OverflowError):
            problem = f"the value does not fit its YAML tag {_tag(node)}; remove the tag or fix the value"
        raise YamlProblem(node.start_mark.line + 1, problem)


_STR = "tag:yaml.org,2002:str"


def _tag(node: yaml.Node) -> str:
    """A tag as it is written: `!!int`, not `tag:yaml.org,2002:int`."""
    tag = str(node.tag)
    standard = "tag:yaml.org,2002:"
    return "!!" + tag.removeprefix(standard) if tag.startswith(standard) else tag


def _dotted(path: Path_) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
            continue
        # A blank key, or one with blanks at its ends, would vanish from the line: quote it.
        name = repr(part) if not part.strip() or part != part.strip() else part
        text += f".{name}" if text else name
    return text or "(top)"


def dotted(path: Path_) -> str:
    """`clusters.frogs.users[1]`: how a field is named in error lines."""
    return _dotted(path)
