#!/usr/bin/env bash
# Runs every test of the project:
#   1. builds (idempotently) the pinned Python venv with real Django + django-cors-headers,
#   2. runs the Rust suite: unit, integration and doc tests, including the Django
#      conformance corpus and the Django import test of `hardened show --format django`,
#      and the grades of the real MDN HTTP Observatory (pinned npm package, `observatory/`),
#   3. runs the real-browser suite (headless Chromium against the gateway on loopback),
#   4. runs the fuzz smoke (each fuzz target for a few seconds) and the gateway soak.
set -euo pipefail
cd "$(dirname "$0")/.."

# What ran and what was skipped, printed at the end (also when a step fails).
ran=() skipped=()
summary() {
  local rc=$?
  echo "test.sh summary:"
  printf '  ran:     %s\n' "${ran[@]:-nothing}"
  printf '  skipped: %s\n' "${skipped[@]:-nothing}"
  [ "$rc" -eq 0 ] || echo "  FAILED (exit $rc) after the last step above"
}
trap summary EXIT
if [ "${HARDENED_SKIP_DJANGO:-}" = 1 ]; then
  skipped+=("the Django tests (HARDENED_SKIP_DJANGO=1: conformance corpus, settings import)")
fi
skipped+=("the bounded soak inside cargo test (#[ignore]; scripts/soak.sh runs it)")

scripts/django-venv.sh
export HARDENED_VENV="${HARDENED_VENV:-$PWD/.venv}"
scripts/observatory.sh

cargo test --workspace --all-features --no-fail-fast
ran+=("cargo test --workspace --all-features (unit, integration and doc tests)")

# The binary the Rust suite just built, wherever cargo puts it (CARGO_TARGET_DIR included).
HARDENED_BIN="$(scripts/target-dir.sh)/debug/hardened" scripts/browser.sh
ran+=("scripts/browser.sh (headless Chromium)")

bash scripts/fuzz.sh smoke
ran+=("scripts/fuzz.sh smoke (every fuzz target)")
if [ -x scripts/soak.sh ]; then
  scripts/soak.sh
  ran+=("scripts/soak.sh")
else
  skipped+=("scripts/soak.sh (not executable)")
fi
echo "all tests passed"
