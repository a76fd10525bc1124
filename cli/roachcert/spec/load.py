"""Load a stack file into a `Stack`, reporting every problem as `FILE:LINE: field: message`."""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from roachcert.errors import PemError, SpecError
from roachcert.mask import learn_urls
from roachcert.names import stack_name
from roachcert.pem import check_ca_file, check_ca_pem, read_ca_file
from roachcert.spec.messages import did_you_mean, message
from roachcert.spec.models import AUTH_METHODS, CA_TAGS, PemFileCa, Stack, VaultCa
from roachcert.spec.yamlsrc import LineMap, Path_, YamlProblem, dotted, parse

# Set by the loader from the file's name and path, never written in the file.
_LOADER_ONLY = ("name", "source")

Problem = tuple[int, str]  # (line, the full `FILE:LINE: field: message` text)


def load_stack(path: Path) -> Stack:
    """Read and validate one stack file; its name is the file name without `.yaml`."""
    try:
        raw = path.read_bytes()  # read once: the plan hashes exactly the bytes it planned
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise SpecError([f"{path}: no such stack file"]) from None
    except IsADirectoryError:
        raise SpecError([f"{path}: is a directory; name a stack file, like stacks/NAME.yaml"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([f"{path}: cannot read the stack file: {exc}"]) from None
    return load_stack_text(text, path, raw)


def load_stack_text(text: str, path: Path, raw: bytes | None = None) -> Stack:
    """Validate a stack's text; every problem found is reported at once, sorted by line."""
    learn_urls(text)  # vault.addr, a backend's URLs: their passwords are masked wherever they show up
    name = stack_name(path)  # before anything else: a bad name must not reach a path or a file
    try:
        data, lines = parse(text)
    except YamlProblem as exc:
        raise SpecError([f"{path}:{exc.line}: {exc.message}"]) from None
    if data is None:
        raise SpecError(
            [f"{path}:1: the file is empty; a stack starts with `version: 1`, then `cas:` and `clusters:`"]
        )
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else "a single value"
        raise SpecError(
            [
                f"{path}:1: the file holds {kind}; a stack is a mapping: "
                "`version: 1`, then `cas:` and `clusters:`"
            ]
        )
    problems: list[Problem] = [
        _problem(
            path,
            lines,
            dup.path,
            f"duplicate key (first on line {dup.first_line}, whose value is used); keep one of them",
            line=dup.line,
        )
        for dup in lines.duplicates
    ]
    for key in _LOADER_ONLY:
        if key in data:
            problems.append(
                _problem(path, lines, (key,), "unknown field; roachcert takes it from the file name")
            )
    data = {key: value for key, value in data.items() if key not in _LOADER_ONLY}
    try:
        stack = _with_pem_texts(Stack.model_validate(data, context={"base": path.parent}))
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc, path, lines, data))
    else:
        problems.extend(_cross_checks(stack, path, lines))
    if problems:
        raise SpecError([text for _, text in sorted(problems, key=lambda item: item[0])])
    digest = _inputs_sha256(stack, text.encode("utf-8") if raw is None else raw)
    return stack.model_copy(update={"name": name, "source": path, "inputs_sha256": digest})


def _inputs_sha256(stack: Stack, raw: bytes) -> str:
    """One hash over the bytes loaded: the stack file's and each PEM file's (as read once)."""
    digest = hashlib.sha256(raw)
    for name, ca in sorted(stack.cas.items()):
        if isinstance(ca, PemFileCa) and ca.pem_text is not None:
            digest.update(name.encode() + b"\0" + ca.pem_text.encode("utf-8"))
    return digest.hexdigest()


def _problem(path: Path, lines: LineMap, where: Path_, text: str, line: int | None = None) -> Problem:
    number = lines.line_of(where) if line is None else line
    return number, f"{path}:{number}: {dotted(where)}: {text}"


def _where(loc: tuple[str | int, ...], lines: LineMap) -> Path_:
    """The error's place in the file: without union tags, `[key]` markers, or an index the file lacks."""
    parts = list(loc)
    if len(parts) > 2 and parts[0] == "cas" and parts[2] in CA_TAGS:
        del parts[2]
    if parts[:2] == ["vault", "auth"] and len(parts) > 2 and parts[2] in AUTH_METHODS:
        del parts[2]
    parts = [part for part in parts if part != "[key]"]
    # `ca: client-ca` is validated as a one-item list; point at the string, not at `ca[0]`.
    if parts and isinstance(parts[-1], int) and tuple(parts) not in lines.values:
        parts.pop()
    return tuple(parts)


def _pydantic_problems(
    exc: ValidationError, path: Path, lines: LineMap, data: dict[str, Any]
) -> list[Problem]:
    errors = exc.errors(include_url=False, include_context=True, include_input=True)
    located = [(_where(error["loc"], lines), error) for error in errors]
    problems: list[Problem] = []
    seen: set[str] = set()
    kindless = _cas_of_no_kind(data)
    for where, error in located:
        ca = where[1] if len(where) > 1 and where[0] == "cas" else None
        if error["type"] == "missing" and ca in kindless:
            continue  # reported once below, as "mount or pem_file"
        if error["type"] == "too_short" and any(
            other[: len(where)] == where and other != where for other, _ in located
        ):
            continue  # an item was rejected; that error says why
        where, text = _refine(where, error, data)
        problem = _problem(path, lines, where, text)
        if problem[1] not in seen:
            seen.add(problem[1])
            problems.append(problem)
    for name in kindless:
        problems.append(
            _problem(
                path,
                lines,
                ("cas", name),
                "a CA needs `mount:` (a CA in Vault PKI) or `pem_file:` (a CA kept outside Vault)",
            )
        )
    return problems


def _cas_of_no_kind(data: dict[str, Any]) -> list[str]:
    cas = data.get("cas")
    if not isinstance(cas, dict):
        return []
    return [
        str(name)
        for name, ca in cas.items()
        if isinstance(ca, dict) and "mount" not in ca and "pem_file" not in ca
    ]


def _refine(where: Path_, error: Any, data: dict[str, Any]) -> tuple[Path_, str]:
    """Point errors that name a key inside a mapping at that key, and explain mixed-up CA kinds."""
    ctx = error.get("ctx") or {}
    if error["type"] in ("secret_in_config", "backend_value") and "key" in ctx:
        return (*where, str(ctx["key"])), str(error["msg"])
    if error["type"] == "extra_forbidden" and len(where) == 3 and where[0] == "cas" and where[2] == "mount":
        return where, "a CA takes `mount:` (in Vault) or `pem_file:` (outside Vault), not both"
    return where, message(error, where)


def _cross_checks(stack: Stack, path: Path, lines: LineMap) -> list[Problem]:
    problems: list[Problem] = []
    ids: dict[str, str] = {}
    declared = sorted(stack.cas)
    for name, cluster in stack.clusters.items():
        for index, ca_name in enumerate(cluster.ca):
            if ca_name not in stack.cas:
                at = ("clusters", name, "ca", index) if len(cluster.ca) > 1 else ("clusters", name, "ca")
                known = ", ".join(declared) or "none"
                hint = did_you_mean(ca_name, declared)
                text = f"no CA named {ca_name!r} under `cas`{hint} (declared: {known})"
                problems.append(_problem(path, lines, at, text))
        if cluster.id in ids:
            text = (
                f"same ID as cluster {ids[cluster.id]!r}; a cluster holds one CA bundle, so declare each "
                "cluster once (list several CAs under its `ca:`)"
            )
            problems.append(_problem(path, lines, ("clusters", name, "id"), text))
        ids.setdefault(cluster.id, name)
    mounts: dict[str, str] = {}
    for name, vault_ca in stack.vault_cas().items():
        if vault_ca.mount in mounts:
            text = f"mount already used by CA {mounts[vault_ca.mount]!r}; give each CA its own mount"
            problems.append(_problem(path, lines, ("cas", name, "mount"), text))
        mounts.setdefault(vault_ca.mount, name)
        problems.extend(_ttl_check(name, vault_ca, path, lines))
    for name, ca in stack.cas.items():
        if isinstance(ca, PemFileCa):
            problems.extend(_pem_check(name, ca, path, lines))
    return problems


def _with_pem_texts(stack: Stack) -> Stack:
    """Each PEM file read once, here; the bundle and the plan's hash use that text."""
    cas: dict[str, VaultCa | PemFileCa] = dict(stack.cas)
    for name, ca in stack.cas.items():
        if isinstance(ca, PemFileCa):
            with contextlib.suppress(PemError):
                cas[name] = ca.model_copy(update={"pem_text": read_ca_file(ca.pem_file)})
    return stack.model_copy(update={"cas": cas})


def _ttl_check(name: str, ca: VaultCa, path: Path, lines: LineMap) -> list[Problem]:
    if ca.role.max_ttl.seconds <= ca.ttl.seconds:
        return []
    text = (
        f"{ca.role.max_ttl} is longer than the CA's ttl {ca.ttl}: a client certificate cannot outlive "
        "its CA; shorten max_ttl"
    )
    return [_problem(path, lines, ("cas", name, "role", "max_ttl"), text)]


def _pem_check(name: str, ca: PemFileCa, path: Path, lines: LineMap) -> list[Problem]:
    where: Path_ = ("cas", name, "pem_file")
    if not ca.pem_file.exists():
        return [
            _problem(
                path, lines, where, f"no such file: {ca.pem_file} (relative paths start at the stack file)"
            )
        ]
    try:  # warnings (a CA expiring soon) are for `validate` to print
        check_ca_pem(ca.pem_text, str(ca.pem_file)) if ca.pem_text is not None else check_ca_file(ca.pem_file)
    except PemError as exc:
        return [_problem(path, lines, where, str(exc))]
    return []
