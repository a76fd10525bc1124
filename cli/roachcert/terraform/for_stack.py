"""The Terraform runner of one stack: its working folder, its engine (--engine, else the stack's
`terraform.engine`) and the engine line reports show."""

from __future__ import annotations

from collections.abc import Mapping

from roachcert import credentials
from roachcert.mask import Sink
from roachcert.paths import stack_dir, state_root
from roachcert.spec import Stack
from roachcert.terraform.engine import Engine, cached_version, resolve_engine
from roachcert.terraform.runner import Terraform


def terraform_for(
    stack: Stack,
    environ: Mapping[str, str],
    out: Sink | None = None,
    engine: Engine | None = None,
    *,
    want: str | None = None,
    lock_timeout: float | None = None,
) -> Terraform:
    """The runner for a stack's folder (its CLI config: see Terraform.environment).
    `want` (--engine) wins over the stack's terraform.engine; `lock_timeout` is Terraform's state-lock wait."""
    for name in ("COCKROACH_API_KEY", "COCKROACH_API_JWT"):  # the provider sends them as headers
        credentials.read(name, environ)
    chosen = engine or resolve_engine(environ, want=want or stack.terraform.engine)
    wait = None if lock_timeout is None else f"{round(lock_timeout)}s"
    return Terraform(stack_dir(stack.name, environ), chosen, environ, out=out, lock_timeout=wait)


def engine_line(tf: Terraform) -> str:
    """What plan records and the report shows: the engine's version line and how it was found."""
    return f"{cached_version(tf.engine, state_root(tf.environ), tf.environ)} ({tf.engine.where})"
