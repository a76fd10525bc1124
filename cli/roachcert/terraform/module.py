"""Render a stack's Terraform root module: pure, deterministic, `terraform fmt`-clean.

`render_module(stack, bundles)` returns {file name: text}; writing it is `workdir.write_workdir`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jinja2

import roachcert
from roachcert.errors import TerraformError
from roachcert.names import is_ident
from roachcert.spec.models import Backend, BackendScalar, BackendValue, Stack
from roachcert.terraform.hcl import hcl_comment, hcl_ident, hcl_text, hcl_value
from roachcert.terraform.resources import trigger_name
from roachcert.terraform.workdir import may_write

TEMPLATE_SUFFIX = ".j2"
BUILTIN_TEMPLATES = (
    "versions.tf.j2",
    "provider.tf.j2",
    "backend.tf.j2",
    "clusters.tf.j2",
    "removed.tf.j2",
    "adopt.tf.j2",
)


def builtin_templates_dir() -> Path:
    """The shipped templates: inside the wheel, else the repository's top-level folder (editable install)."""
    package = Path(roachcert.__file__).resolve().parent
    inside = package / "templates"
    return inside if inside.is_dir() else package.parent.parent / "templates"


def _check_name(key: str, where: str) -> None:
    if not is_ident(key):
        raise TerraformError(f"{where}: {key!r} is not a Terraform argument name")


def _attribute_lines(config: Mapping[str, BackendScalar], where: str) -> list[str]:
    for key in config:
        _check_name(key, where)
    width = max((len(key) for key in config), default=0)
    # `terraform fmt` aligns the `=` of consecutive one-line attributes.
    return [f"{key.ljust(width)} = {hcl_value(config[key])}" for key in sorted(config)]


def _backend_lines(backend: Backend) -> list[str]:
    """The backend block's body: sorted attributes, then one nested block per mapping (sorted)."""
    config: dict[str, BackendValue] = {"path": "terraform.tfstate"} if backend.type == "local" else {}
    config.update(backend.config)
    where = "terraform.backend.config"
    scalars = {key: value for key, value in config.items() if not isinstance(value, dict)}
    lines = _attribute_lines(scalars, where)
    for key in sorted(set(config) - set(scalars)):
        block = config[key]
        assert isinstance(block, dict)
        _check_name(key, where)
        lines += [f"{key} {{", *(f"  {line}" for line in _attribute_lines(block, f"{where}.{key}")), "}"]
    return lines


def _environment(stack: Stack, templates_dir: Path | None) -> jinja2.Environment:
    override = stack.terraform.templates
    if override is not None and not override.is_dir():
        raise TerraformError(f"terraform.templates: {override} is not a folder")
    return _cached_environment(templates_dir or builtin_templates_dir(), override)


# One environment per pair of folders, so each template is compiled once per process; the loaders check
# each file's modification time, so an edited template is compiled again.
@functools.lru_cache(maxsize=32)
def _cached_environment(builtin: Path, override: Path | None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if override is not None:
        loaders.append(jinja2.FileSystemLoader(str(override)))
    loaders.append(jinja2.FileSystemLoader(str(builtin)))
    # HCL, not HTML: values are quoted by the hcl filters, so no autoescape.
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["hcl"] = hcl_value
    env.filters["hcl_text"] = hcl_text
    env.filters["hcl_comment"] = hcl_comment
    env.filters["hcl_ident"] = hcl_ident
    return env


def _template_names(stack: Stack) -> list[str]:
    names = set(BUILTIN_TEMPLATES)
    override = stack.terraform.templates
    if override is not None and override.is_dir():
        # A stack's folder may also add files of its own.
        for path in sorted(override.glob("[!.]*.tf.j2")):
            if not path.is_file():
                continue
            if not may_write(path.name.removesuffix(TEMPLATE_SUFFIX)):
                raise TerraformError(
                    f"{path}: a template cannot be named {path.name}: it would write "
                    f"{path.name.removesuffix(TEMPLATE_SUFFIX)}, a name Terraform keeps for itself; rename it"
                )
            names.add(path.name)
    return sorted(names)


def render_module(
    stack: Stack,
    bundles: Mapping[str, str],
    *,
    forget: Iterable[str] = (),
    adopt: Iterable[str] = (),
    templates_dir: Path | None = None,
) -> dict[str, str]:
    """The stack's Terraform files. `bundles` maps each cluster name to the exact PEM text it must trust;
    `forget` names clusters (still in state) that Terraform should stop managing without deleting their CA;
    `adopt` names declared clusters whose CA is set but not in state: Terraform imports it first."""
    missing = sorted(set(stack.clusters) - set(bundles))
    if missing:
        raise ValueError(f"no CA bundle for cluster(s) {', '.join(missing)}")
    forgotten = sorted(set(forget))
    both = sorted(set(forgotten) & set(stack.clusters))
    if both:
        raise TerraformError(f"cluster {both[0]} cannot be both managed and forgotten")
    for name in forgotten:
        if not is_ident(name):
            raise TerraformError(
                f"{name!r} (recorded by `roachcert unmanage`) is not a Terraform resource name; "
                "remove it with `roachcert manage STACK NAME`"
            )
    context: dict[str, Any] = {
        "stack": stack,
        "clusters": [
            {"name": name, "id": cluster.id, "pem": bundles[name], "trigger": trigger_name(name)}
            for name, cluster in sorted(stack.clusters.items())
        ],
        "forget": [{"name": name, "trigger": trigger_name(name)} for name in forgotten],
        "adopt": [{"name": name, "id": stack.clusters[name].id} for name in sorted(set(adopt))],
        "backend": {"type": stack.terraform.backend.type, "lines": _backend_lines(stack.terraform.backend)},
    }
    env = _environment(stack, templates_dir)
    files: dict[str, str] = {}
    for name in _template_names(stack):
        try:
            text = env.get_template(name).render(context)
        except jinja2.TemplateError as exc:
            raise TerraformError(f"template {name}: {exc}") from None
        if text.strip():
            files[name.removesuffix(TEMPLATE_SUFFIX)] = text if text.endswith("\n") else text + "\n"
    return files
