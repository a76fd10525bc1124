"""The stack file's frozen models (contract v1). Loading and line numbers live in `load`.

About 400 lines on purpose: the whole v1 schema in one place, each model beside its validators, so the
contract reads top to bottom (the JSON Schema `roachcert schema` prints is generated from them)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    Tag,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from roachcert.spec import conninfo
from roachcert.spec.durations import Duration, parse_duration

NAME_RE = r"^[A-Za-z_][A-Za-z0-9_-]{0,62}$"
ISSUER_RE = r"^[A-Za-z0-9_-]{1,128}$"
MOUNT_RE = r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$"
USER_RE = r"^[a-z_][a-z0-9_.-]{0,62}$"
UUID_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
HOST_RE = r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$"
ENV_RE = r"^[A-Za-z_][A-Za-z0-9_]*$"
SHA256_RE = r"^([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$"

DurationField = Annotated[
    Duration,
    BeforeValidator(parse_duration),
    PlainSerializer(lambda d: d.text, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^(\d+[smhd])+$", "examples": ["48h", "8760h", "30d"]}),
]


P = TypeVar("P", Path, Path | None)


def relative_to_stack(value: P, info: ValidationInfo) -> P:
    """A relative path in the stack file is relative to the stack file's folder (the loader's `base`)."""
    base = (info.context or {}).get("base")
    if value is None or value.is_absolute() or base is None:
        return value
    return Path(base) / value


def _issuer_name(value: str) -> str:
    if value == "default":
        raise ValueError("'default' is reserved by Vault; give the issuer a name of its own")
    return value


class Model(BaseModel):
    # Validators are built on first use: loading a stack builds the Stack's once, nested models inline,
    # instead of one per class at import. The default instances below are therefore made with
    # `model_construct` (the same values a validated default has), so defining a class builds nothing.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class TokenAuth(Model):
    method: Literal["token"] = "token"
    token_env: Annotated[str, Field(pattern=ENV_RE)] = Field(
        default="VAULT_TOKEN", description="environment variable holding the token (never the token itself)"
    )


class AppRoleAuth(Model):
    method: Literal["approle"]
    mount: Annotated[str, Field(pattern=MOUNT_RE)] = "approle"
    role_id_env: Annotated[str, Field(pattern=ENV_RE)] = "VAULT_ROLE_ID"
    secret_id_env: Annotated[str, Field(pattern=ENV_RE)] = "VAULT_SECRET_ID"


class JwtAuth(Model):
    """A signed identity the platform hands the job (GitHub Actions or GitLab OIDC, a Kubernetes service
    account token), exchanged at Vault's JWT auth for a token; read afresh on each run, never written."""

    method: Literal["jwt"]
    mount: Annotated[str, Field(pattern=MOUNT_RE)] = "jwt"
    role: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.@-]+$", description="the JWT auth role to log in as")]
    token_file: Path | None = Field(default=None, description="a file holding the JWT (re-read each run)")
    token_env: Annotated[str, Field(pattern=ENV_RE)] | None = Field(
        default=None, description="environment variable holding the JWT (never the JWT itself)"
    )

    _resolve = field_validator("token_file")(relative_to_stack)

    @model_validator(mode="after")
    def _one_source(self) -> JwtAuth:
        if (self.token_file is None) == (self.token_env is None):
            raise ValueError(
                "a JWT login reads the JWT from `token_file: PATH` or `token_env: VARIABLE`: give one of them"
            )
        return self


class TokenFileAuth(Model):
    """A token sink another process keeps fresh (Vault Agent's `sink "file"`), re-read on each run; it must
    be private to its owner (mode 0600), like a key file."""

    method: Literal["token_file"]
    path: Path = Field(description="the token sink file, mode 0600")

    _resolve = field_validator("path")(relative_to_stack)


AUTH_METHODS = ("token", "approle", "jwt", "token_file")
VaultAuth = Annotated[TokenAuth | AppRoleAuth | JwtAuth | TokenFileAuth, Field(discriminator="method")]


class VaultSpec(Model):
    addr: str | None = Field(default=None, description="Vault address; VAULT_ADDR when left out")
    namespace: str | None = Field(default=None, description="Vault namespace; VAULT_NAMESPACE when left out")
    auth: VaultAuth = TokenAuth.model_construct()

    @field_validator("addr")
    @classmethod
    def _addr(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"{value!r} is not a URL; write it like https://vault.example.com:8200")
        return value


class RoleSpec(Model):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$")] = "client"
    # The schema's default is the text a user writes, not the parsed value.
    max_ttl: DurationField = Field(default=parse_duration("48h"), json_schema_extra={"default": "48h"})
    key_type: Literal["rsa", "ec", "ed25519"] = "rsa"
    key_bits: int | None = Field(default=None, description="2048/3072/4096 for rsa, 256/384/521 for ec")

    @model_validator(mode="after")
    def _bits(self) -> RoleSpec:
        allowed = {"rsa": {2048, 3072, 4096}, "ec": {224, 256, 384, 521}, "ed25519": {0}}[self.key_type]
        if self.key_bits is not None and self.key_bits not in allowed:
            raise ValueError(
                f"key_bits {self.key_bits} does not fit key_type {self.key_type}: "
                f"use one of {sorted(allowed)}, or leave key_bits out"
            )
        return self

    @property
    def bits(self) -> int:
        if self.key_bits is not None:
            return self.key_bits
        return {"rsa": 2048, "ec": 256, "ed25519": 0}[self.key_type]


class VaultCa(Model):
    """A client CA living in one Vault PKI mount; its key never leaves Vault."""

    mount: Annotated[str, Field(pattern=MOUNT_RE)]
    common_name: Annotated[str, Field(min_length=1, max_length=64)]
    ttl: DurationField = Field(default=parse_duration("8760h"), json_schema_extra={"default": "8760h"})
    issuers: Annotated[
        tuple[Annotated[str, Field(pattern=ISSUER_RE), AfterValidator(_issuer_name)], ...],
        Field(min_length=1),
    ] = Field(description="trusted issuers, oldest first; the last one signs new client certificates")
    role: RoleSpec = RoleSpec.model_construct()

    @field_validator("issuers")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        seen = [name for index, name in enumerate(value) if name in value[:index]]
        if seen:
            raise ValueError(f"issuer {seen[0]!r} is listed twice")
        return value

    @property
    def current_issuer(self) -> str:
        return self.issuers[-1]


class PemFileCa(Model):
    """A CA kept outside Vault: trusted, but roachcert cannot issue from it."""

    pem_file: Path
    # Set by the loader: the file's text as read once, so the plan uses (and hashes) exactly those bytes.
    pem_text: str | None = Field(default=None, exclude=True, repr=False)

    _resolve = field_validator("pem_file")(relative_to_stack)


def _ca_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "pem_file" if "pem_file" in value else "vault"
    return "pem_file" if isinstance(value, PemFileCa) else "vault"


CaSpec = Annotated[
    Annotated[VaultCa, Tag("vault")] | Annotated[PemFileCa, Tag("pem_file")],
    Discriminator(_ca_kind),
]
CA_TAGS = ("vault", "pem_file")


# `ca: NAME` or `ca: [NAME, ...]`; the validator turns a single name into a one-item list.
_ONE_OR_MANY_CAS: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "pattern": NAME_RE},
        {"type": "array", "items": {"type": "string", "pattern": NAME_RE}, "minItems": 1},
    ]
}


class Cluster(Model):
    id: Annotated[str, Field(pattern=UUID_RE, description="the cluster's ID, a lowercase UUID")]
    ca: Annotated[tuple[Annotated[str, Field(pattern=NAME_RE)], ...], WithJsonSchema(_ONE_OR_MANY_CAS)] = (
        Field(description="the CA (or list of CAs) whose issuers this cluster trusts")
    )
    host: Annotated[str, Field(pattern=HOST_RE)]
    port: Annotated[int, Field(ge=1, le=65535)] = 26257
    database: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_$-]*$")] = "defaultdb"
    users: tuple[Annotated[str, Field(pattern=USER_RE)], ...] = ()
    server_ca: Path | None = Field(
        default=None, description="the cluster's server CA file, used as sslrootcert in connection URLs"
    )
    server_ca_sha256: str | None = Field(
        default=None,
        description="the SHA-256 fingerprint (hex, colons allowed) the cluster's CA certificate fetched "
        "from the Cloud Console must have",
        json_schema_extra={"pattern": SHA256_RE},
    )

    @field_validator("ca", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("ca", "users")
    @classmethod
    def _no_repeats(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        seen = [name for index, name in enumerate(value) if name in value[:index]]
        if seen:
            raise ValueError(f"{seen[0]!r} is listed twice")
        return value

    @field_validator("ca")
    @classmethod
    def _not_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("name at least one CA")
        return value

    _resolve = field_validator("server_ca")(relative_to_stack)

    @field_validator("server_ca_sha256")
    @classmethod
    def _fingerprint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        normal = value.strip().replace(":", "").lower()
        if not re.fullmatch(r"[0-9a-f]{64}", normal):
            raise ValueError(
                "is not a SHA-256 fingerprint: 64 hex digits (colons allowed), e.g. from "
                "`openssl x509 -noout -fingerprint -sha256 -in ca.crt`"
            )
        return normal


BACKENDS = ("local", "pg", "s3", "gcs", "azurerm", "remote")
# Keys that would put a credential in a rendered file; these must come from the environment.
SECRET_BACKEND_KEYS = frozenset(
    {
        "password",
        "access_key",
        "secret_key",
        "token",
        "credentials",
        "access_token",
        "sas_token",
        "client_secret",
        "client_certificate_password",
        "encryption_key",
        "kms_key_id_secret",
        "sse_customer_key",
        "client_certificate",
        "oidc_token",
        "oidc_request_token",
        "web_identity_token",
    }
)
BackendScalar = str | int | bool
# One level of nesting renders as a block, e.g. the `remote` backend's `workspaces { name = "…" }`.
BackendValue = BackendScalar | dict[str, BackendScalar]


def _secret_error(name: str, text: str, detail: str = "") -> PydanticCustomError:
    # A key with blanks or control characters is shown quoted and escaped: the error stays one line.
    shown = ".".join(
        part if part.isprintable() and part == part.strip() else repr(part) for part in name.split(".")
    )
    context = {"key": name.split(".")[0], "name": shown, "detail": detail}
    return PydanticCustomError("secret_in_config", text, context)


def _secret_in(name: str, key: str, item: BackendValue) -> PydanticCustomError | None:
    # Keys are compared as Terraform and Go's lib/pq might read them: case and surrounding blanks ignored.
    if any(not char.isprintable() for char in key):
        return _secret_error(
            name, "{name} holds a control character: a backend setting's name is a plain word like conn_str"
        )
    normal = key.strip().lower()
    if normal in SECRET_BACKEND_KEYS:
        return _secret_error(
            name, "{name} is a secret: leave it out and set it in the environment, not in the stack file"
        )
    if normal == "conn_str" and isinstance(item, str):
        try:
            found = conninfo.credential_in(item)
        except conninfo.ConnInfoError as exc:
            text = "conn_str cannot be read as a PostgreSQL connection string ({detail}): fix it, or set PG_CONN_STR"
            return _secret_error(name, text, str(exc))
        if found == "password":
            text = "conn_str holds a password: leave it out and set PGPASSWORD in the environment"
            return _secret_error(name, text)
        if found is not None:
            text = (
                "conn_str holds a credential ({detail}): leave it out and set PG_CONN_STR in the environment"
            )
            return _secret_error(name, text, found)
    return None


class Backend(Model):
    type: Literal["local", "pg", "s3", "gcs", "azurerm", "remote"] = "local"
    config: dict[str, BackendValue] = Field(default_factory=dict)

    @field_validator("config", mode="before")
    @classmethod
    def _shape(cls, value: Any) -> Any:
        # One readable line instead of a union's error per member.
        if not isinstance(value, dict):
            return value
        for key, item in value.items():
            inner = item.values() if isinstance(item, dict) else [item]
            if not all(isinstance(v, str | int | bool) for v in inner):
                raise PydanticCustomError(
                    "backend_value",
                    "a backend setting is a string, a whole number, true/false, or a mapping of those "
                    "(rendered as a block, like the remote backend's `workspaces:` with `name:` under it)",
                    {"key": str(key)},
                )
        return value

    @field_validator("config")
    @classmethod
    def _no_secrets(cls, value: dict[str, BackendValue]) -> dict[str, BackendValue]:
        # The error's context names the top-level key, so the loader can point at its line.
        for key, item in value.items():
            checks: list[tuple[str, str, BackendValue]] = [(key, key, item)]
            if isinstance(item, dict):
                checks += [(f"{key}.{sub_key}", sub_key, sub_item) for sub_key, sub_item in item.items()]
            for name, sub_key, sub_item in checks:
                error = _secret_in(name, sub_key, sub_item)
                if error is not None:
                    raise error
        return value


class TerraformSpec(Model):
    provider_version: str = "~> 1.22"
    required_version: str = ">= 1.7"
    # Which engine runs this stack (--engine overrides it); None: the usual search (see roachcert.terraform.engine).
    engine: Literal["terraform", "tofu"] | None = None
    backend: Backend = Backend.model_construct()
    templates: Path | None = Field(
        default=None, description="a folder whose templates override the built-in ones"
    )

    _resolve = field_validator("templates")(relative_to_stack)


class Stack(Model):
    version: Literal[1]
    vault: VaultSpec = VaultSpec.model_construct()
    cas: dict[Annotated[str, Field(pattern=NAME_RE)], CaSpec] = Field(default_factory=dict)
    clusters: dict[Annotated[str, Field(pattern=NAME_RE)], Cluster] = Field(default_factory=dict)
    terraform: TerraformSpec = TerraformSpec.model_construct()
    # Set by the loader, not by the file.
    name: str = Field(default="stack", exclude=True)
    source: Path | None = Field(default=None, exclude=True)
    inputs_sha256: str = Field(default="", exclude=True)  # the stack file's and PEM files' bytes as loaded

    @field_validator("cas", "clusters", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value

    def vault_cas(self) -> dict[str, VaultCa]:
        return {name: ca for name, ca in self.cas.items() if isinstance(ca, VaultCa)}

    def cluster_cas(self, cluster: str) -> tuple[tuple[str, VaultCa | PemFileCa], ...]:
        return tuple((name, self.cas[name]) for name in self.clusters[cluster].ca)
