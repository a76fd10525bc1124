"""Which cockroach provider the integration tests run (one answer per test session)."""

from __future__ import annotations

import functools
import os


@functools.cache
def active_provider() -> str:
    """ROACHCERT_TEST_PROVIDER=real|standin forces one; else the real one when installed, else the stand-in.
    Forcing `real` where it is not installed fails with the one line scripts/ensure-provider.sh left."""
    from roachcert_sandbox.providers import TEST_CHOICE_ENV, resolve

    return resolve(os.environ.get(TEST_CHOICE_ENV) or None)


def real_provider_skip_reason() -> str | None:
    """None when the real provider is installed, else "real provider not installed: <the one line>"."""
    from roachcert_sandbox.providers import real_binary, unavailable_reason

    if real_binary() is not None:
        return None
    return f"real provider not installed: {unavailable_reason()}"
