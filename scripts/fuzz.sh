#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ (libFuzzer), bounded in time.
#
#   scripts/fuzz.sh smoke                 each target for 9 s (63 s of fuzzing in all)
#   scripts/fuzz.sh long SECONDS [T...]   each target (or the named ones) for SECONDS
#   scripts/fuzz.sh list                  the targets
#
# Prints executions, corpus size and crashes per target; exits 1 when any target found a
# crash (the reproducer is under fuzz/artifacts/<target>/; replay it with
# `RUSTC_BOOTSTRAP=1 cargo fuzz run <target> <file>`).
#
# The machine has a stable toolchain only: cargo-fuzz's nightly flags (-Zsanitizer=address)
# are enabled with RUSTC_BOOTSTRAP=1. cargo-fuzz is installed when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(host_header origin_referer domain_entry config_loader service_stack h1_response reports)

usage() {
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

mode="${1:-}"
case "$mode" in
  smoke) seconds=9; shift ;;
  long)
    seconds="${2:-}"
    [[ "$seconds" =~ ^[0-9]+$ ]] && [ "$seconds" -gt 0 ] || usage
    shift 2
    ;;
  list) printf '%s\n' "${TARGETS[@]}"; exit 0 ;;
  *) usage ;;
esac
if [ "$#" -gt 0 ]; then
  for t in "$@"; do
    [[ " ${TARGETS[*]} " == *" $t "* ]] || { echo "fuzz.sh: unknown target $t" >&2; exit 2; }
  done
  TARGETS=("$@")
fi

# The fuzz workspace has a lock file of its own, tracked: a stale one would be rewritten by
# the build and leave the tree dirty. Refuse it instead, with the command that updates it.
if ! cargo metadata --locked --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null; then
  echo "fuzz.sh: fuzz/Cargo.lock is out of date with the crates it fuzzes;" \
    "run \`cargo update --manifest-path fuzz/Cargo.toml --workspace\` and commit fuzz/Cargo.lock" >&2
  exit 1
fi

export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

cd fuzz
echo "fuzz.sh: building the targets (release, AddressSanitizer)"
cargo fuzz build

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
failed=0
total_execs=0
printf '%-16s %12s %8s %8s %8s\n' target executions seconds corpus crashes
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  dict=dict/http.dict
  [ "$t" = config_loader ] && dict=dict/yaml.dict
  [ "$t" = h1_response ] && dict=dict/h1.dict
  seeds=()
  [ -d "seeds/$t" ] && seeds=("seeds/$t")
  before="$(find "artifacts/$t" -type f | wc -l)"
  set +e
  # -timeout: an input running over 10 s is a hang and counts as a crash.
  cargo fuzz run "$t" "corpus/$t" "${seeds[@]}" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -dict="$dict" -print_final_stats=1 >"$logs/$t.log" 2>&1
  rc=$?
  set -e
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log" | tail -1)"
  took="$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$logs/$t.log" | tail -1)"
  after="$(find "artifacts/$t" -type f | wc -l)"
  corpus="$(find "corpus/$t" -type f | wc -l)"
  crashes=$((after - before))
  if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then
    crashes=1 # a failure without an artifact (e.g. the build or libFuzzer itself)
  fi
  printf '%-16s %12s %8s %8s %8s\n' "$t" "${execs:-?}" "${took:-?}" "$corpus" "$crashes"
  total_execs=$((total_execs + ${execs:-0}))
  if [ "$crashes" -ne 0 ]; then
    failed=1
    echo "---- $t: crash (exit $rc); end of the log:" >&2
    grep -E 'panicked at|ERROR: |SUMMARY: |Test unit written to' "$logs/$t.log" >&2 || true
    tail -n 40 "$logs/$t.log" >&2
  fi
done
echo "fuzz.sh: $total_execs executions in all; $( [ "$failed" -eq 0 ] && echo "no crash" || echo "CRASHES FOUND" )"
exit "$failed"
