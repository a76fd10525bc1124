#!/usr/bin/env bash
# `make demo`: a tour of roachcert against local real servers (OpenBao, the Terraform engine) and the
# Cloud API emulator, with the real cockroach provider where `make setup` could install it (else the stand-in).
set -euo pipefail
cd "$(dirname "$0")/.."
R="$PWD/.venv/bin/roachcert"
STACK=stacks/example.yaml
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ roachcert %s\n' "$*"; "$R" "$@"; }

say "1. Start the sandbox: a real OpenBao, the Cloud API emulator, the provider mirror"
run sandbox up --stack "$STACK"
eval "$("$R" sandbox env)"
PROVIDER_LINE="$("$R" sandbox status | sed -n 's/^provider *//p')"
echo "cockroach provider: $PROVIDER_LINE"

say "2. Check the stack file"
run validate "$STACK"

say "3. Make Vault hold the declared CAs (the CA keys never leave Vault)"
run ca ensure "$STACK"

say "4. Plan: what would change on the clusters (exit 2 = changes)"
set +e
run plan "$STACK"
code=$?
set -e
if [ "$code" -eq 1 ]; then exit 1; fi

say "5. Apply exactly the reviewed plan, then confirm through the Cloud API"
if [ "$code" -eq 2 ]; then run apply "$STACK"; else echo "(nothing to apply: the clusters already trust what the stack declares)"; fi

say "6. Issue a client certificate for root on flooping-frogs (key file 0600, never in Terraform)"
run issue "$STACK" flooping-frogs root --out .roachcert/demo-certs --force

say "7. What each cluster trusts now, read back from the Cloud API"
if "$R" status -h >/dev/null 2>&1; then run status "$STACK" || true; fi

say "8. Log in over TLS: PostgreSQL plays flooping-frogs (its server certificate signed by the cluster CA the Console serves; it trusts the client CAs the cluster trusts after apply)"
PORT="$("$R" sandbox sql "$STACK" flooping-frogs)"
# verify-full against the cluster's host name, connecting to 127.0.0.1: the host resolves here for the demo only.
run check "$STACK" flooping-frogs root --certs-dir .roachcert/demo-certs --hostaddr 127.0.0.1 --port "$PORT"
echo "logged in as root with sslmode=verify-full: the cluster CA fetched by \`issue\` verified the server, the cluster trusted the certificate"

cat <<TXT

Done, on the $PROVIDER_LINE, with a verify-full SQL login. To go on by hand in this shell:
  eval "\$(.venv/bin/roachcert sandbox env)"
  .venv/bin/roachcert plan $STACK --format markdown   # the pull-request report
Edit $STACK (add an issuer, remove a cluster) and plan again to see roachcert's guards.
Stop the sandbox with: .venv/bin/roachcert sandbox down
TXT
