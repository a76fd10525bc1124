"""The Terraform names the rendered module declares and the plan parser reads back: one place for both."""

from __future__ import annotations

RESOURCE_TYPE = "cockroach_client_ca_cert"
TRIGGER_TYPE = "terraform_data"
TRIGGER_SUFFIX = "_id"


def trigger_name(cluster: str) -> str:
    """The terraform_data resource holding a cluster's id (a changed id replaces the CA resource)."""
    return f"{cluster}{TRIGGER_SUFFIX}"


def address(cluster: str) -> str:
    """A cluster's client CA resource address, like `cockroach_client_ca_cert.frogs`."""
    return f"{RESOURCE_TYPE}.{cluster}"
