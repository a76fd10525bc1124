"""Load a stack file into a `Stack`, reporting every problem as `FILE:LINE: field: message`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from roachcert.errors import SpecError
from roachcert.spec.models import CA_TAGS, PemFileCa, Stack
from roachcert.spec.yamlsrc import LineMap, Path_, YamlProblem, dotted, parse

_LOADER_ONLY = ("name", "source")


def load_stack(path: Path) -> Stack:
    """Read and validate one stack file; its name is the file name without `.yaml`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([f"{path}: no such stack file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([f"{path}: cannot read the stack file: {exc}"]) from None
    return load_stack_text(text, path)


def load_stack_text(text: str, path: Path) -> Stack:
    try:
        data, lines = parse(text)
    except YamlProblem as exc:
        raise SpecError([f"{path}:{exc.line}: {exc.message}"]) from None
    if data is None:
        raise SpecError([f"{path}:1: the file is empty; a stack starts with `version: 1`"])
    if not isinstance(data, dict):
        raise SpecError([f"{path}:1: a stack file is a mapping with `version`, `cas` and `clusters`"])
    problems = [
        _line(path, lines, (key,), "unknown field")
        for key in _LOADER_ONLY
        if key in data
    ]
    if problems:
        raise SpecError(problems)
    try:
        stack = Stack.model_validate(data, context={"base": path.parent})
    except ValidationError as exc:
        raise SpecError(_pydantic_problems(exc, path, lines, data)) from None
    problems = _cross_checks(stack, path, lines)
    if problems:
        raise SpecError(problems)
    name = path.name.removesuffix(".yaml").removesuffix(".yml")
    return stack.model_copy(update={"name": name, "source": path})


def _line(path: Path, lines: LineMap, where: Path_, message: str) -> str:
    return f"{path}:{lines.line_of(where)}: {dotted(where)}: {message}"


def _pydantic_problems(exc: ValidationError, path: Path, lines: LineMap, data: Any) -> list[str]:
    seen: set[tuple[Path_, str]] = set()
    problems: list[tuple[int, str]] = []
    for error in exc.errors(include_url=False, include_context=True, include_input=True):
        where = tuple(part for part in error["loc"] if part not in CA_TAGS or not _is_tag(error["loc"], part))
        message = _message(error, where, data)
        if (where, message) in seen:
            continue
        seen.add((where, message))
        problems.append((lines.line_of(where), f"{path}:{lines.line_of(where)}: {dotted(where)}: {message}"))
    return [text for _, text in sorted(problems, key=lambda item: item[0])]


def _is_tag(loc: tuple[str | int, ...], part: str | int) -> bool:
    # Tags appear right after `cas.NAME`: ('cas', 'x', 'vault', 'mount').
    index = loc.index(part)
    return index == 2 and loc[0] == "cas"


def _message(error: Any, where: Path_, data: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"unknown field{_did_you_mean(where)}"
    if kind == "missing":
        return "required field is missing"
    if kind == "literal_error" and where == ("version",):
        return f"unsupported version {error.get('input')!r}; this roachcert reads `version: 1`"
    if kind == "string_pattern_mismatch":
        return _pattern_message(where, error.get("input"))
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    return str(error["msg"])


_KNOWN_FIELDS = (
    "version vault cas clusters terraform addr namespace auth method token_env role_id_env secret_id_env mount "
    "common_name ttl issuers role name max_ttl key_type key_bits pem_file id ca host port database users "
    "server_ca provider_version required_version backend type config templates"
).split()


def _did_you_mean(where: Path_) -> str:
    import difflib

    if not where or not isinstance(where[-1], str):
        return ""
    close = difflib.get_close_matches(where[-1], _KNOWN_FIELDS, n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""


def _pattern_message(where: Path_, value: Any) -> str:
    field = next((part for part in reversed(where) if isinstance(part, str)), "")
    parent = where[0] if where else ""
    if len(where) == 2 and parent in ("cas", "clusters"):
        return (
            f"{value!r} cannot name a {'CA' if parent == 'cas' else 'cluster'}: use letters, digits, '_' and '-', "
            "starting with a letter (it becomes a Terraform address)"
        )
    hints = {
        "id": "is not a cluster ID: use the lowercase UUID from the Cloud Console URL",
        "users": "is not a SQL user name: lowercase letters, digits, '_', '.', '-', starting with a letter or '_'",
        "mount": "is not a Vault mount path: letters, digits, '_', '-', '.', separated by '/', no leading '/'",
        "issuers": "is not a Vault issuer name: letters, digits, '_' and '-'",
        "ca": "is not a CA name",
        "host": "is not a host name",
    }
    return f"{value!r} {hints.get(field, 'has an invalid form')}"


def _cross_checks(stack: Stack, path: Path, lines: LineMap) -> list[str]:
    problems: list[str] = []
    ids: dict[str, str] = {}
    for name, cluster in stack.clusters.items():
        for index, ca in enumerate(cluster.ca):
            if ca not in stack.cas:
                known = ", ".join(sorted(stack.cas)) or "none declared"
                at = ("clusters", name, "ca", index) if len(cluster.ca) > 1 else ("clusters", name, "ca")
                problems.append(_line(path, lines, at, f"no CA named {ca!r} under `cas` ({known})"))
        if cluster.id in ids:
            problems.append(
                _line(path, lines, ("clusters", name, "id"), f"same cluster ID as cluster {ids[cluster.id]!r}")
            )
        ids.setdefault(cluster.id, name)
    mounts: dict[str, str] = {}
    for name, ca in stack.vault_cas().items():
        if ca.mount in mounts:
            problems.append(
                _line(path, lines, ("cas", name, "mount"), f"mount already used by CA {mounts[ca.mount]!r}")
            )
        mounts.setdefault(ca.mount, name)
    for name, ca in stack.cas.items():
        if isinstance(ca, PemFileCa) and not ca.pem_file.is_file():
            problems.append(_line(path, lines, ("cas", name, "pem_file"), f"no such file: {ca.pem_file}"))
    prefix = len(str(path)) + 1
    return sorted(problems, key=lambda text: int(text[prefix:].split(":", 1)[0]))
