# roachcert issue and renew: have the role sign a CSR made on this machine (the private key never leaves
# it). Nothing else: no issuance of keys by Vault, no other role, no reads.
# One block per CA: replace cockroach_client_ca with the CA's `mount:` and `client` with its `role.name`.
# (`issue --vault-keygen` lets Vault make the key instead; it needs the same on .../issue/client.)

path "cockroach_client_ca/issuer/+/sign/client" {
  capabilities = ["update"]
}
