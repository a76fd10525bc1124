"""The Cloud API emulator's answers, checked against the API's published OpenAPI document.

Every emulator the tests start (the sandbox's subprocess and the in-process ones) appends each API answer
to the file named by ROACHCERT_EMULATOR_ANSWER_LOG (emulator.ANSWER_LOG_ENV); conftest checks the lines a
test added when it ends. Checked: the request's path and method exist in the document (an unknown one may
only be refused, 404/405), and the JSON body matches the response schema for that status: fields (none
the schema does not name), types, required fields, enum values. A documented error status whose schema
is empty (`{}`) is held to the `default` answer's `Status`, the shape the provider's SDK decodes.

The document comes from ../shared/reference/ when a parent folder holds it, else from the trimmed copy in
tests/openapi/ (the same paths and schemas, so a plain clone runs the check too).
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator

DOCUMENT = "cloud-api-openapi.json"
COPY = Path(__file__).resolve().parent / "openapi" / DOCUMENT
# The API paths the emulator serves (and roachcert's reads and the provider use): the trimmed copy's paths.
PATHS = ("/api/v1/clusters", "/api/v1/clusters/{cluster_id}", "/api/v1/clusters/{cluster_id}/client-ca-cert")
_REF = re.compile(r'"\$ref":\s*"#/components/schemas/([^"]+)"')


def shared_document() -> Path | None:
    """../shared/reference/cloud-api-openapi.json from the repository or any folder above it."""
    for folder in Path(__file__).resolve().parents[1:]:
        candidate = folder / "shared" / "reference" / DOCUMENT
        if candidate.is_file():
            return candidate
    return None


def document_path() -> Path:
    return shared_document() or COPY


@functools.cache
def load_document(path: Path | None = None) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((path or document_path()).read_text(encoding="utf-8"))
    return data


def trim(document: dict[str, Any], paths: Iterable[str] = PATHS) -> dict[str, Any]:
    """The document cut to `paths` and the schemas they reach (what tests/openapi/ holds)."""
    kept_paths = {p: document["paths"][p] for p in paths}
    schemas = document["components"]["schemas"]
    wanted: set[str] = set()
    todo = _REF.findall(json.dumps(kept_paths))
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo.extend(_REF.findall(json.dumps(schemas[name])))
    components = {"schemas": {n: schemas[n] for n in sorted(wanted)}}
    if "securitySchemes" in document["components"]:
        components["securitySchemes"] = document["components"]["securitySchemes"]
    head = {k: document[k] for k in ("openapi", "info", "servers", "security") if k in document}
    return {**head, "paths": kept_paths, "components": components}


def _strict(node: Any) -> Any:
    """Objects that name their properties take no others (a field the document does not name fails);
    a required field the document forgot to list as a property stays allowed."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _strict(value) for key, value in node.items()}
    if "properties" in out and "additionalProperties" not in out:
        out["properties"] = {**{key: {} for key in out.get("required", [])}, **out["properties"]}
        out["additionalProperties"] = False
    return out


class OpenApiCheck:
    """Checks logged emulator answers against one OpenAPI document."""

    def __init__(self, document: dict[str, Any] | None = None) -> None:
        self.document = document if document is not None else load_document()
        self._components = _strict(copy.deepcopy(self.document.get("components", {})))
        self._routes = [
            (re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"), template)
            for template in self.document["paths"]
        ]
        self._validators: dict[str, Draft4Validator] = {}

    def operation(self, method: str, path: str) -> dict[str, Any] | None:
        for pattern, template in self._routes:
            if pattern.match(path):
                found = self.document["paths"][template].get(method.lower())
                return found if isinstance(found, dict) else None
        return None

    def _validator(self, schema: dict[str, Any]) -> Draft4Validator:
        key = json.dumps(schema, sort_keys=True)
        if key not in self._validators:
            # OpenAPI 3.0 schemas are JSON Schema draft 4 plus keywords a validator ignores; the
            # components ride along so "#/components/schemas/..." resolves.
            root = {"allOf": [_strict(schema)], "components": self._components}
            self._validators[key] = Draft4Validator(root)
        return self._validators[key]

    def _schema(self, operation: dict[str, Any] | None, status: int) -> dict[str, Any]:
        responses: dict[str, Any] = (operation or {}).get("responses") or {}
        default = _json_schema(responses.get("default")) or {"$ref": "#/components/schemas/Status"}
        schema = _json_schema(responses.get(str(status)))
        return schema if schema else default

    def problems(self, entry: dict[str, Any]) -> list[str]:
        """What is wrong with one logged answer ({method, path, status, answer, json, deliberate}); []
        when nothing. `deliberate` "answer_status": the emulator's knob for a status value the document
        does not list yet, set by a test on purpose; the other fields are checked all the same."""
        method, path, status = str(entry["method"]), str(entry["path"]), int(entry["status"])
        where = f"{method} {path} -> {status}"
        if status == 0:  # the connection was dropped on purpose: no answer to check
            return []
        operation = self.operation(method, path)
        if operation is None and status not in (404, 405):
            return [f"{where}: the API document has no {method} {path}, yet the emulator served it"]
        if not entry.get("json", True):
            return []  # a proxy's HTML page or redirect (a fault knob): not the API's own answer
        answer = entry.get("answer")
        if entry.get("deliberate") == "answer_status" and isinstance(answer, dict):
            # A status a later API version may add, on purpose: every other field is still checked.
            answer = {k: v for k, v in answer.items() if k != "status"}
        validator = self._validator(self._schema(operation, status))
        return [
            f"{where}: {'/'.join(str(p) for p in error.absolute_path) or 'body'}: {error.message}"
            for error in sorted(validator.iter_errors(answer), key=str)
        ]


def _json_schema(response: Any) -> dict[str, Any]:
    if not isinstance(response, dict):
        return {}
    schema = ((response.get("content") or {}).get("application/json") or {}).get("schema")
    return schema if isinstance(schema, dict) else {}


def read_answers(log: Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The complete lines of the answer log from `offset`, and the offset after them."""
    if not log.is_file():
        return [], offset
    with log.open("rb") as handle:
        handle.seek(offset)
        data = handle.read()
    end = data.rfind(b"\n") + 1  # a line still being written waits for the next read
    lines = data[:end].decode("utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()], offset + end


@functools.cache
def default_check() -> OpenApiCheck:
    return OpenApiCheck()


def check_answers(entries: Iterable[dict[str, Any]], check: OpenApiCheck | None = None) -> list[str]:
    """Every problem of `entries`, each once (a load test repeats the same answer a thousand times)."""
    check = check or default_check()
    seen: dict[str, None] = {}
    for entry in entries:
        for problem in check.problems(entry):
            seen.setdefault(problem, None)
    return list(seen)


# Fixtures (imported by conftest.py, so every test gets the check) ------------------------------
@pytest.fixture(scope="session", autouse=True)
def emulator_answer_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every emulator this session starts (in this process or as the sandbox's child) logs its API
    answers here, for emulator_answers_checked."""
    from roachcert_sandbox.emulator import ANSWER_LOG_ENV

    log = tmp_path_factory.mktemp("emulator-answers") / "answers.jsonl"
    before = os.environ.get(ANSWER_LOG_ENV)
    os.environ[ANSWER_LOG_ENV] = str(log)
    try:
        yield log
    finally:
        if before is None:
            os.environ.pop(ANSWER_LOG_ENV, None)
        else:
            os.environ[ANSWER_LOG_ENV] = before


@pytest.fixture(autouse=True)
def emulator_answers_checked(request: pytest.FixtureRequest, emulator_answer_log: Path) -> Iterator[None]:
    """The emulator's answers during this test, checked against the Cloud API's OpenAPI document: a
    path, field, type, required field or enum value it does not allow fails this test at teardown."""
    start = emulator_answer_log.stat().st_size if emulator_answer_log.is_file() else 0
    yield
    entries, _ = read_answers(emulator_answer_log, start)
    problems = check_answers(entries)
    if problems:
        listed = "\n  ".join(problems[:20])
        pytest.fail(
            f"{request.node.nodeid}: the Cloud API emulator answered outside the API's OpenAPI document "
            f"({len(problems)} problem(s)):\n  {listed}",
            pytrace=False,
        )
