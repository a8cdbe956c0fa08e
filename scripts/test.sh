#!/usr/bin/env bash
# Runs every test of the project:
#   1. builds (idempotently) the pinned Python venv with real Django + django-cors-headers,
#   2. runs the Rust suite: unit, integration and doc tests, including the Django
#      conformance corpus and the Django import test of `hardened show --format django`,
#   3. runs the real-browser suite (headless Chromium against the gateway on loopback),
#   4. runs the fuzz smoke (each fuzz target for a few seconds) and the gateway soak.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/django-venv.sh
export HARDENED_VENV="${HARDENED_VENV:-$PWD/.venv}"

cargo test --workspace --all-features --no-fail-fast

# The binary the Rust suite just built, wherever cargo puts it (CARGO_TARGET_DIR included).
HARDENED_BIN="$(scripts/target-dir.sh)/debug/hardened" scripts/browser.sh

if [ -x scripts/fuzz.sh ]; then
  scripts/fuzz.sh smoke
fi
if [ -x scripts/soak.sh ]; then
  scripts/soak.sh
fi
echo "all tests passed"
