# roachcert plan, status, apply and `rotate status`: read-only on the CA's PKI mount.
# One block set per CA in the stack: replace cockroach_client_ca with each CA's `mount:`.
#
# plan and status need no grant at all: they read issuer certificates (MOUNT/issuer/NAME/json), and Vault
# serves those, the issuer list and single certificates (MOUNT/cert/SERIAL) without a token. A plan job can
# run with no Vault login. What does need this policy:

# apply's rotation guard, when a bundle shrinks (who still holds a certificate only a leaving issuer
# signed), and `rotate status`: the serials of the certificates the mount stored.
path "cockroach_client_ca/certs" {
  capabilities = ["list"]
}

# `rotate status`: which issuer signs now.
path "cockroach_client_ca/config/issuers" {
  capabilities = ["read"]
}
