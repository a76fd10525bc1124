"""A stand-in for `registry.terraform.io/cockroachdb/cockroach` (v1.22.0), built on PyPI `tf`.

It holds only `cockroach_client_ca_cert`, and talks to `COCKROACH_SERVER` (the local emulator in tests
and the sandbox) the way the real provider talks to the Cloud API. Terraform runs it through the
launcher that `roachcert_sandbox.mirror` installs: `python -m roachcert_sandbox.provider`.
Imports stay small: Terraform starts the provider three times per plan.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from tf.iface import Provider
from tf.runner import run_provider
from tf.schema import Attribute, Schema
from tf.types import String

from roachcert_sandbox.provider_api import ADDRESS, CloudApi
from roachcert_sandbox.provider_resource import ClientCaCertResource


class CockroachProvider(Provider):  # type: ignore[misc]
    def __init__(self) -> None:
        self.api: CloudApi | None = None

    def full_name(self) -> str:
        return ADDRESS

    def get_model_prefix(self) -> str:
        return "cockroach_"

    def get_provider_schema(self, diags: Any) -> Any:
        return Schema(
            version=0,
            attributes=[
                Attribute(
                    "apikey",
                    String(),
                    description="The API key to access CockroachDB Cloud.\n"
                    "If this field is provided, it is used and `apijwt` is ignored.",
                    optional=True,
                    sensitive=True,
                ),
                Attribute(
                    "apijwt",
                    String(),
                    description="The JWT from a JWT Issuer configured for the CockroachDB Cloud "
                    "Organization.",
                    optional=True,
                    sensitive=True,
                ),
            ],
        )

    def validate_config(self, diags: Any, config: dict[str, Any]) -> None:
        return None

    def configure_provider(self, diags: Any, config: dict[str, Any]) -> None:
        # Like the real one: a known config value wins (even ""), else the environment.
        api_key = _known(config.get("apikey"), "COCKROACH_API_KEY")
        api_jwt = _known(config.get("apijwt"), "COCKROACH_API_JWT")
        if not api_key and not api_jwt:
            diags.add_error(
                "Unable to find authentication token", "at least one of apikey or apijwt must be provided"
            )
            return
        # With a JWT the real provider also sends COCKROACH_VANITY_NAME / COCKROACH_USERNAME.
        self.api = CloudApi.from_env(api_key or api_jwt, jwt=not api_key)

    def get_data_sources(self) -> list[Any]:
        return []

    def get_resources(self) -> list[Any]:
        return [ClientCaCertResource]


def _known(value: Any, env_name: str) -> str:
    return value if isinstance(value, str) else os.environ.get(env_name, "")


def main() -> None:
    run_provider(CockroachProvider(), sys.argv)


if __name__ == "__main__":
    main()
