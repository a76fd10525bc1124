#!/usr/bin/env bash
# Install OpenTofu from the Go module proxy into a cache keyed by version and link it to .venv/bin/tofu.
# The module's go.mod has a `replace`, so `go install MODULE@vX` refuses it: download the module with
# `go mod download` and build ./cmd/tofu inside it (the module cache is read-only: build with -o).
# `-X .../version.dev=no` marks a release build, so `tofu version` says `OpenTofu vX` without "-dev".
# Without Go, or when the proxy refuses or cannot be reached, it says so in one line and exits 0: the
# OpenTofu tests skip with that line. Under ROACHCERT_REQUIRE_TOFU=1 (CI) any failure is fatal.
set -uo pipefail
VERSION=1.11.6
MODULE=github.com/opentofu/opentofu
ROOT="${ROACHCERT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/roachcert}"
DIR="$ROOT/tofu/$VERSION"
BIN="$DIR/tofu"
UNAVAILABLE="$DIR/unavailable.txt" # the one line below, read by the test skips
REQUIRE="${ROACHCERT_REQUIRE_TOFU:-0}"
GO="${ROACHCERT_GO:-go}"
LINK="${ROACHCERT_TOFU_LINK:-.venv/bin/tofu}"

say() { echo "opentofu: $*" >&2; }
unavailable() { # $1: the one line
  mkdir -p "$DIR" && printf '%s\n' "$1" >"$UNAVAILABLE"
  rm -f "$LINK"
  if [ "$REQUIRE" = 1 ]; then
    say "$1 (fatal: ROACHCERT_REQUIRE_TOFU=1)"
    exit 1
  fi
  say "$1; the OpenTofu tests are not run"
  exit 0
}
# Built inside the module, `go version -m` names it as the main module at "(devel)": it vouches for the
# module and command, and `tofu version` (from the module's own VERSION file) for the release. The
# source is the one `go mod download` checked against the Go checksum database.
verified() {
  local info
  info="$("$GO" version -m "$1" 2>/dev/null)" || return 1
  grep -Eq "^[[:space:]]+path[[:space:]]+$MODULE/cmd/tofu\$" <<<"$info" &&
    grep -Eq "^[[:space:]]+mod[[:space:]]+$MODULE[[:space:]]" <<<"$info" &&
    TF_CLI_CONFIG_FILE=/dev/null "$1" version 2>/dev/null | head -n 1 | grep -qx "OpenTofu v$VERSION"
}
link() {
  mkdir -p "$(dirname "$LINK")" && ln -sfn "$BIN" "$LINK"
}

if ! command -v "$GO" >/dev/null 2>&1; then
  unavailable "go not found on PATH (needed to build $MODULE@v$VERSION)"
fi
if [ -x "$BIN" ] && verified "$BIN"; then
  rm -f "$UNAVAILABLE"
  link
  say "v$VERSION cached at $BIN"
  exit 0
fi

mkdir -p "$DIR"
LOG="$DIR/install.log"
if ! SRC="$(GOTOOLCHAIN=local GOFLAGS=-mod=mod "$GO" mod download -json "$MODULE@v$VERSION" 2>"$LOG" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')" || [ -z "$SRC" ]; then
  answer="$(grep -Eo '[0-9]{3} [A-Za-z ]+|dial tcp[^"]*|no such host|connection refused|i/o timeout' "$LOG" | head -n 1)"
  unavailable "the Go module proxy did not serve $MODULE@v$VERSION (${answer:-see $LOG})"
fi
OUT="$(mktemp -d "$DIR/.build.XXXXXX")"
trap 'rm -rf "$OUT"' EXIT
say "building v$VERSION from the Go module proxy (a few minutes, once per version)"
(cd "$SRC" && GOTOOLCHAIN=local CGO_ENABLED=0 "$GO" build -trimpath \
  -ldflags "-s -w -X $MODULE/version.dev=no" -o "$OUT/tofu" ./cmd/tofu) >>"$LOG" 2>&1
code=$?
if [ "$code" -ne 0 ]; then
  unavailable "building $MODULE@v$VERSION failed (exit $code; see $LOG): $(tail -n 1 "$LOG")"
fi
if ! verified "$OUT/tofu"; then
  unavailable "the build of $MODULE@v$VERSION is not that release (see $LOG)"
fi
mv -f "$OUT/tofu" "$BIN"
rm -f "$UNAVAILABLE"
link
say "v$VERSION installed at $BIN"
