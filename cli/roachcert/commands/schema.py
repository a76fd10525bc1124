"""`roachcert schema`: the JSON Schema of the stack file, for editors and CI."""

from __future__ import annotations

import json

import typer

from roachcert.commands.context import of
from roachcert.spec import Stack


def register(app: typer.Typer) -> None:
    app.command("schema")(schema)


def stack_schema() -> dict[str, object]:
    document = Stack.model_json_schema(mode="validation")
    properties = document.get("properties")
    if isinstance(properties, dict):
        # Set by the loader from the file's name and path, never written in the file.
        properties.pop("name", None)
        properties.pop("source", None)
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = "roachcert stack"
    return document


def schema(ctx: typer.Context) -> None:
    """Print the JSON Schema of stack files (point yaml-language-server at it for completion)."""
    run = of(ctx)
    run.out(json.dumps(stack_schema(), indent=2, sort_keys=True))
