"""Arguments and choices shared by several commands."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

StackArg = Annotated[
    Path, typer.Argument(metavar="STACK", help="The stack file (stacks/NAME.yaml).", show_default=False)
]


class Format(StrEnum):
    text = "text"
    json = "json"
