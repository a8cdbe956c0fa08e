#!/usr/bin/env bash
# Installs the MDN HTTP Observatory's scanner (`observatory/`, the version pinned in its
# package-lock.json) for the test suite: `npm ci --ignore-scripts` (its install scripts
# would download the day's HSTS preload and TLD lists), then an empty HSTS preload list,
# so no loopback host counts as preloaded and results never depend on the day. The same
# install brings the OASIS SARIF 2.1.0 schema (in Microsoft's SARIF multitool package), which
# the SARIF outputs are validated against.
# Idempotent: a matching install is kept.
set -euo pipefail
cd "$(dirname "$0")/../observatory"

command -v node >/dev/null 2>&1 || { echo "observatory: node is missing (apt-get install nodejs npm)" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "observatory: npm is missing (apt-get install npm)" >&2; exit 1; }

pkg=node_modules/@mdn/mdn-http-observatory
if ! cmp -s package-lock.json node_modules/.package-lock.json.installed 2>/dev/null || [ ! -d "$pkg" ]; then
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.package-lock.json.installed
fi
mkdir -p "$pkg/conf"
echo '{}' > "$pkg/conf/hsts-preload.json"
echo "observatory: $(node -p "require('./$pkg/package.json').version") installed in observatory/"
