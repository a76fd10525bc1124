# roachcert ca ensure: create the PKI mount, its root issuers (the keys stay in Vault), the default
# issuer and the client role. One block set per CA: replace cockroach_client_ca with each CA's `mount:`,
# and `client` with its `role.name`. Nothing here reads or writes any other mount.

# Mount the PKI engine on the first run; read its type and max lease TTL, raise it when the CA's ttl needs.
path "sys/mounts/cockroach_client_ca" {
  capabilities = ["read", "update"]
}

path "sys/mounts/cockroach_client_ca/tune" {
  capabilities = ["read", "update"]
}

# A new issuer: generated on an empty mount, rotated in beside the others after. (Listing the issuers and
# reading their certificates needs no grant: Vault serves both without a token.)
path "cockroach_client_ca/root/generate/internal" {
  capabilities = ["update"]
}

path "cockroach_client_ca/root/rotate/internal" {
  capabilities = ["update"]
}

# Which issuer signs: the last one the stack lists.
path "cockroach_client_ca/config/issuers" {
  capabilities = ["read", "update"]
}

# The role that signs client certificates only.
path "cockroach_client_ca/roles/client" {
  capabilities = ["read", "update"]
}
