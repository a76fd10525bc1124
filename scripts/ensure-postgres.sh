#!/usr/bin/env bash
# The SQL login checks run a real local PostgreSQL; install Debian's if this machine lacks it.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "PostgreSQL server binaries not found; install Debian's 'postgresql' package for the SQL login tests." >&2
  exit 0
fi
echo "Installing PostgreSQL (Debian) for the SQL login tests..."
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
