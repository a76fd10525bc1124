"""roachcert: client CAs for CockroachDB Cloud dedicated clusters, kept in Vault, applied with Terraform."""

__version__ = "0.1.0"
