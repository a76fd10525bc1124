#!/usr/bin/env bash
# Install the real cockroach Terraform provider (the published Go module) into a cache keyed by version,
# the ordinary way: `go install MODULE@vVERSION` with its own GOBIN. The sandbox copies it into its
# filesystem mirror. Without Go, or when the module proxy refuses or cannot be reached, it says so in one
# line and exits 0: the stand-in provider is used. A build that fails after the proxy served the module is
# an error when ROACHCERT_REQUIRE_REAL_PROVIDER=1 (CI), as is a missing `go`; otherwise a warning.
# With ROACHCERT_PROVIDER_BINARY=PATH set, nothing is installed: that binary is used instead.
set -uo pipefail
VERSION=1.22.0
MODULE=github.com/cockroachdb/terraform-provider-cockroach
ROOT="${ROACHCERT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/roachcert}"
DIR="$ROOT/provider/$VERSION"
BIN="$DIR/terraform-provider-cockroach"
STAMP="$DIR/verified.sha256"       # the binary's sha256, written once `go version -m` vouched for it
UNAVAILABLE="$DIR/unavailable.txt" # the one line below, read by `roachcert sandbox` and the test skips
REQUIRE="${ROACHCERT_REQUIRE_REAL_PROVIDER:-0}"
GO="${ROACHCERT_GO:-go}"

say() { echo "real provider: $*" >&2; }
unavailable() { # $1: the one line; $2: fatal under REQUIRE (1) or not (0)
  mkdir -p "$DIR" && printf '%s\n' "$1" >"$UNAVAILABLE"
  if [ "$2" = 1 ] && [ "$REQUIRE" = 1 ]; then
    say "$1 (fatal: ROACHCERT_REQUIRE_REAL_PROVIDER=1)"
    exit 1
  fi
  say "$1; the stand-in provider is used"
  exit 0
}
# `go version -m` names the main module and its version: the binary is the module we asked for.
verified() {
  local info
  info="$("$GO" version -m "$1" 2>/dev/null)" || return 1
  grep -Eq "^[[:space:]]+path[[:space:]]+$MODULE\$" <<<"$info" &&
    grep -Eq "^[[:space:]]+mod[[:space:]]+$MODULE[[:space:]]+v$VERSION([[:space:]]|\$)" <<<"$info"
}

# A binary the user brings (built from source, from a registry mirror) is used as it is: roachcert checks
# that it answers as a Terraform plugin and installs it into the sandbox's mirror itself.
if [ -n "${ROACHCERT_PROVIDER_BINARY:-}" ]; then
  say "using ROACHCERT_PROVIDER_BINARY=$ROACHCERT_PROVIDER_BINARY (nothing to install)"
  exit 0
fi
if ! command -v "$GO" >/dev/null 2>&1; then
  unavailable "go not found on PATH (needed to install $MODULE@v$VERSION)" 1
fi
if [ -x "$BIN" ] && verified "$BIN"; then
  sha256sum "$BIN" | cut -d' ' -f1 >"$STAMP"
  rm -f "$UNAVAILABLE"
  say "v$VERSION cached at $BIN"
  exit 0
fi

mkdir -p "$DIR"
GOBIN_TMP="$(mktemp -d "$DIR/.gobin.XXXXXX")"
trap 'rm -rf "$GOBIN_TMP"' EXIT
LOG="$DIR/install.log"
GOBIN="$GOBIN_TMP" GOFLAGS="${GOFLAGS:-} -trimpath" "$GO" install "$MODULE@v$VERSION" >"$LOG" 2>&1
code=$?
if [ "$code" -ne 0 ]; then
  # The proxy answered "no" (403/404/410) or was not reached: not a build failure.
  answer="$(grep -Eo 'reading https?://[^ ]+: [0-9]{3} [A-Za-z ]+|server response: .*|dial tcp[^"]*|no such host|connection refused|i/o timeout|TLS handshake timeout|proxyconnect[^"]*|network is unreachable' "$LOG" | head -n 2 | paste -sd ' ' -)"
  if grep -Eq 'reading https?://[^ ]+/@v/[^ ]+: (403|404|410) |dial tcp|no such host|connection refused|i/o timeout|TLS handshake timeout|proxyconnect|network is unreachable' "$LOG"; then
    unavailable "the Go module proxy did not serve $MODULE@v$VERSION (${answer:-no answer})" 0
  fi
  unavailable "go install $MODULE@v$VERSION failed (exit $code; see $LOG): $(tail -n 1 "$LOG")" 1
fi
built="$GOBIN_TMP/terraform-provider-cockroach"
if [ ! -x "$built" ] || ! verified "$built"; then
  unavailable "go install $MODULE@v$VERSION gave no binary of that module (see $LOG)" 1
fi
mv -f "$built" "$BIN"
sha256sum "$BIN" | cut -d' ' -f1 >"$STAMP"
rm -f "$UNAVAILABLE"
say "v$VERSION installed at $BIN"
