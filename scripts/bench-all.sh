#!/usr/bin/env bash
# Reproduces every figure of BENCHMARKS.md, each against a baseline measured in the
# same run:
#
#   1. the machine (nproc, CPU model, load average at start and end);
#   2. criterion: each check and the whole stack per request at 10 / 1 000 / 10 000
#      domains vs a Vec<String> scan, tower-http's CorsLayer and the bare service
#      (cargo bench -p hardened-bench --bench checks), summarized by bench-report;
#   3. build cost: derive + Security::new for 10 / 1 000 / 10 000 domains, time and heap
#      (build-cost, a counting global allocator);
#   4. a cold `hardened show` (hyperfine, installed from Debian when missing; a timed
#      loop otherwise) against `hardened --version`, the bare process start;
#   5. HTTP (scripts/bench-http.sh): the app and the gateway against nginx, HAProxy and
#      Caddy, latency at a fixed rate (about 2.5 min of load), then large bodies and
#      memory per idle connection (about 1.5 min more).
#
# Results go to <target dir>/bench-results/ (summary.md gathers them; scripts/target-dir.sh names
# the target dir) and to stdout.
# BENCH_QUICK=1 shortens every measurement (a smoke run; figures are then rough).
#
#   scripts/bench-all.sh
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET="$(scripts/target-dir.sh)"
OUT="$TARGET/bench-results"
mkdir -p "$OUT"
QUICK="${BENCH_QUICK:-}"

machine() {
  echo "| | |"
  echo "|---|---|"
  echo "| date | $(date -u '+%Y-%m-%d %H:%M UTC') |"
  echo "| cores (nproc) | $(nproc) |"
  echo "| CPU | $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo) |"
  echo "| memory | $(awk '/^MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) |"
  echo "| kernel | $(uname -r) |"
  echo "| rustc | $(rustc --version) |"
  echo "| load average at $1 | $(cut -d' ' -f1-3 /proc/loadavg) |"
}

echo "== machine"
machine start | tee "$OUT/machine.md"

echo "== build"
cargo build --release --quiet -p hardened-bench --bins -p hardened-cli --bin hardened
BIN="$TARGET/release"

echo "== criterion: checks and whole stack per request"
crit_args=()
if [ -n "$QUICK" ]; then
  crit_args=(--warm-up-time 0.1 --measurement-time 0.3 --sample-size 10)
fi
rm -rf "$TARGET/criterion"
cargo bench -p hardened-bench --bench checks -- "${crit_args[@]}" >"$OUT/criterion.log" 2>&1
grep -B1 'time:' "$OUT/criterion.log" | grep -v '^--$' | paste - - | awk '{print $1, $3, $4, $5, $6, $7, $8}' || true
"$BIN/bench-report" "$TARGET/criterion" | tee "$OUT/checks.md"

echo "== build cost"
runs=21
[ -n "$QUICK" ] && runs=3
"$BIN/build-cost" "$runs" | tee "$OUT/build.md"

echo "== cold hardened show"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
write_config() { # file, domains
  {
    echo "environment: production"
    echo "secret_key: bench-only-$(head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    echo "security_domains:"
    for i in $(seq 0 $(($2 - 1))); do echo "  - app$i.example.com"; done
  } >"$1"
}
write_config "$tmp/prod-100.yaml" 100
write_config "$tmp/prod-10000.yaml" 10000
mkdir -p "$tmp/empty"
if ! command -v hyperfine >/dev/null; then
  echo "installing hyperfine" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine >/dev/null; } || true
fi
h="$BIN/hardened"
show_cmds=(
  "$h --version"
  "$h show"
  "$h show --config $tmp/prod-100.yaml"
  "$h show --config $tmp/prod-10000.yaml"
)
show_names=(
  "hardened --version (process start; baseline)"
  "hardened show (no config: development defaults)"
  "hardened show --config prod-100.yaml"
  "hardened show --config prod-10000.yaml"
)
if command -v hyperfine >/dev/null; then
  min_runs=30
  [ -n "$QUICK" ] && min_runs=5
  names=()
  for n in "${show_names[@]}"; do names+=(-n "$n"); done
  (cd "$tmp/empty" && hyperfine -N --warmup 3 --min-runs "$min_runs" --style basic \
    "${names[@]}" --export-csv "$tmp/show.csv" "${show_cmds[@]}" >/dev/null)
  # Median (min–max) in ms and the ratio to the process-start baseline.
  # CSV columns: command,mean,stddev,median,user,system,min,max (seconds).
  awk -F, 'NR == 1 {next}
    NR == 2 {base = $4; print "| command | median ms | min–max ms | ÷ `--version` |"; print "|---|---:|---:|---:|"}
    {printf "| %s | %.2f | %.2f–%.2f | %.2f× |\n", $1, $4 * 1e3, $7 * 1e3, $8 * 1e3, $4 / base}' \
    "$tmp/show.csv" | tee "$OUT/show.md"
else
  # A timed loop: 30 runs each, median (min–max) of wall time.
  {
    echo "| command | median ms | min–max ms |"
    echo "|---|---:|---:|"
    for i in "${!show_cmds[@]}"; do
      ts=()
      for _ in $(seq 1 30); do
        s=$(date +%s%N)
        (cd "$tmp/empty" && ${show_cmds[$i]} >/dev/null)
        ts+=($(( ($(date +%s%N) - s) / 1000 )))
      done
      printf '%s\n' "${ts[@]}" | sort -n | awk -v name="${show_names[$i]}" \
        '{a[NR]=$1} END {printf "| %s | %.2f | %.2f–%.2f |\n", name, a[int((NR+1)/2)]/1e3, a[1]/1e3, a[NR]/1e3}'
    done
  } | tee "$OUT/show.md"
fi

echo "== HTTP: app, gateway, latency"
http_env=()
if [ -n "$QUICK" ]; then
  http_env=(BENCH_HTTP_SECONDS=1 BENCH_HTTP_ROUNDS=2 BENCH_HTTP_LATENCY_SECONDS=2
    BENCH_HTTP_BODY_ROUNDS=1 BENCH_HTTP_SMALL_BODY_REQUESTS=20 "BENCH_HTTP_IDLE_COUNTS=10 1000")
fi
env "${http_env[@]}" BENCH_HTTP_OUT="$OUT/http.md" scripts/bench-http.sh
echo "== HTTP: large bodies, idle connections"
env "${http_env[@]}" BENCH_HTTP_MODE=bodies,idle BENCH_HTTP_OUT="$OUT/http-bodies.md" scripts/bench-http.sh

echo "== machine at end"
machine end | tail -1 | tee -a "$OUT/machine.md"

{
  echo "# hardened benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC')"
  for part in machine checks build show http http-bodies; do
    echo
    echo "## $part"
    echo
    cat "$OUT/$part.md"
  done
} >"$OUT/summary.md"
echo "== written $OUT/summary.md"
