#!/usr/bin/env bash
# A bounded soak of the `hardened serve` gateway (crates/hardened-cli/tests/it/soak.rs):
# 32 keep-alive clients mixing good and hostile requests, raw hostile connections and
# slow-loris connections against a production gateway and a local upstream, on
# 127.0.0.1 only. Fails on any wrong verdict, any dropped good request, or resident
# memory growing past 50% + 20 MiB of its post-warm-up size.
#
#   scripts/soak.sh            30 s
#   SOAK_SECONDS=55 scripts/soak.sh   (10..55)
set -euo pipefail
cd "$(dirname "$0")/.."
export SOAK_SECONDS="${SOAK_SECONDS:-30}"
cargo test -p hardened-cli --test integration soak:: -- --ignored --nocapture --test-threads=1
