#!/usr/bin/env bash
# Real-browser tests of `hardened serve` (browser/): headless Chromium, driven by
# playwright-core, against gateways on 127.0.0.1 in front of a small Node upstream.
# CORS, CSRF, cookies, development loopback ports, WebSockets, preflight caching and
# `Vary: origin`, as a browser experiences them.
#
#   scripts/browser.sh
#   HARDENED_BIN="$(scripts/target-dir.sh)/release/hardened" scripts/browser.sh   # a given binary
#   BROWSER_SKIP=websocket scripts/browser.sh                 # skip the WebSocket cases
#
# On a fresh Debian machine it installs what it needs: the apt package `chromium` (as
# root, or through sudo) and, with `npm ci`, the pinned packages of browser/package-lock.json
# (playwright-core, which never downloads a browser here, and ws). Needs Node >= 20 and npm.
# Exit status: 0 when every case passed (or was skipped on request), non-zero otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$(date +%s)
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

say() { printf 'browser.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root or sudo to run: $*"
  fi
}

# --- Chromium (Debian's package; never a downloaded browser) -----------------------------
if [ ! -x "$CHROMIUM" ]; then
  say "installing chromium (apt-get)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  [ -x "$CHROMIUM" ] || die "$CHROMIUM still missing after apt-get install chromium"
fi

# --- Node and the pinned npm packages ----------------------------------------------------
command -v node >/dev/null 2>&1 || die "node not found: install Node.js 20 or newer"
command -v npm >/dev/null 2>&1 || die "npm not found: install npm"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node $(node --version) is too old: the suite needs Node 20 or newer"
say "npm ci (browser/)"
(cd browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >/dev/null)

# --- The binary under test ---------------------------------------------------------------
if [ -n "${HARDENED_BIN:-}" ]; then
  HARDENED_BIN=$(cd "$(dirname "$HARDENED_BIN")" && pwd)/$(basename "$HARDENED_BIN")
  [ -x "$HARDENED_BIN" ] || die "HARDENED_BIN=$HARDENED_BIN is not an executable"
else
  say "cargo build -p hardened-cli"
  cargo build -q -p hardened-cli
  HARDENED_BIN=$(scripts/target-dir.sh)/debug/hardened
fi
export HARDENED_BIN CHROMIUM
export BROWSER_SKIP=${BROWSER_SKIP:-}

say "node $(node --version), npm $(npm --version), $("$CHROMIUM" --version 2>/dev/null | head -n1)"
say "binary: $HARDENED_BIN${BROWSER_SKIP:+, skipping: $BROWSER_SKIP}"

# --- Run ---------------------------------------------------------------------------------
# `timeout` bounds the whole run and makes itself the leader of a new process group that
# holds the test runner and everything the tests start (upstream, gateways; Chromium
# exits with its controlling test process). The test files stop their processes by PID in
# their hooks; the group, known by its id, is stopped here if anything is left over or
# this script is interrupted.
runner=
stop_group() {
  [ -n "$runner" ] || return 0
  if kill -0 -- "-$runner" 2>/dev/null; then
    kill -TERM -- "-$runner" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 -- "-$runner" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$runner" 2>/dev/null || true
  fi
  runner=
}
trap stop_group EXIT
trap 'exit 130' INT TERM

report=$(mktemp)
set +e
(cd browser && exec timeout --kill-after=10 110 node --test --test-reporter=spec \
  --test-reporter=tap --test-reporter-destination=stdout --test-reporter-destination="$report" \
  test/) &
runner=$!
wait "$runner"
status=$?
set -e
stop_group

count() { grep -E "^# $1 " "$report" | awk '{print $3}' | tail -n1; }
elapsed=$(( $(date +%s) - started ))
printf '\nbrowser suite: %s passed, %s failed, %s skipped, %s cancelled — %s s\n' \
  "$(count pass)" "$(count fail)" "$(count skipped)" "$(count cancelled)" "$elapsed"
# Failed cases (not their suites): a `not ok` line whose YAML block is not a suite's.
awk '/^ *not ok / { line = $0; sub(/^ *not ok [0-9]+ - /, "", line); next }
     /type: .suite./ { line = ""; next }
     /^ *\.\.\.$/ { if (line != "") print "  FAILED: " line; line = "" }' "$report"
rm -f "$report"
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then say "the run exceeded its time limit"; fi
exit "$status"
