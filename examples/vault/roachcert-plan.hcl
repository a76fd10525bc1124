# roachcert plan, status, apply and `rotate status`: read-only on the CA's PKI mount.
# One block set per CA in the stack: replace cockroach_client_ca with each CA's `mount:`.
#
# Vault serves issuer certificates without a token (MOUNT/issuer/NAME/json is unauthenticated), so plan
# and status work even with none of this; the first block says what they read. The others are for
# apply's rotation guard (a bundle that shrinks: who still holds a certificate only a leaving issuer
# signed) and for `rotate status`.

path "cockroach_client_ca/issuer/+/json" {
  capabilities = ["read"]
}

path "cockroach_client_ca/certs" {
  capabilities = ["list"]
}

path "cockroach_client_ca/cert/+" {
  capabilities = ["read"]
}

path "cockroach_client_ca/issuers" {
  capabilities = ["list"]
}

path "cockroach_client_ca/config/issuers" {
  capabilities = ["read"]
}
