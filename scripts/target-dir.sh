#!/usr/bin/env bash
# Prints cargo's target directory for the workspace (or the manifest given as $1), as
# `cargo metadata` reports it: CARGO_TARGET_DIR, build.target-dir of a cargo config, or
# <workspace>/target. Every script finds the binaries it runs here.
#
#   BIN="$(scripts/target-dir.sh)/release"
#   scripts/target-dir.sh fuzz/Cargo.toml
set -euo pipefail
cd "$(dirname "$0")/.."
manifest=${1:-Cargo.toml}
cargo metadata --format-version 1 --no-deps --offline --manifest-path "$manifest" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
