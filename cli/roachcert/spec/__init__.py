"""The stack file: line-aware YAML, frozen models, one-line errors."""

from roachcert.spec.load import load_stack, load_stack_text
from roachcert.spec.models import (
    AppRoleAuth,
    Backend,
    CaSpec,
    Cluster,
    PemFileCa,
    RoleSpec,
    Stack,
    TerraformSpec,
    TokenAuth,
    VaultCa,
    VaultSpec,
)

__all__ = [
    "AppRoleAuth",
    "Backend",
    "CaSpec",
    "Cluster",
    "PemFileCa",
    "RoleSpec",
    "Stack",
    "TerraformSpec",
    "TokenAuth",
    "VaultCa",
    "VaultSpec",
    "load_stack",
    "load_stack_text",
]
