"""The stack file: line-aware YAML, frozen models, one-line errors."""

from roachcert.spec.load import load_stack, load_stack_text
from roachcert.spec.models import (
    AppRoleAuth,
    Backend,
    CaSpec,
    Cluster,
    JwtAuth,
    PemFileCa,
    RoleSpec,
    Stack,
    TerraformSpec,
    TokenAuth,
    TokenFileAuth,
    VaultCa,
    VaultSpec,
)

__all__ = [
    "AppRoleAuth",
    "Backend",
    "CaSpec",
    "Cluster",
    "JwtAuth",
    "PemFileCa",
    "RoleSpec",
    "Stack",
    "TerraformSpec",
    "TokenAuth",
    "TokenFileAuth",
    "VaultCa",
    "VaultSpec",
    "load_stack",
    "load_stack_text",
]
