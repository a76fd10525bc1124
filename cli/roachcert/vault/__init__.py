"""Vault's PKI engine: the hvac adapter and its answers, CA set-up (`ca ensure`), and the issuer rotation
guard."""
