#!/usr/bin/env bash
# HTTP throughput of the security stack, measured against baselines in the same run:
#
#   1. app:     an axum hello-world, bare (A) vs behind `Security::layer()` (B; production,
#               100 domains, every request carries an allowed Host), loaded A B A B ...;
#               also the bare app adding the same 6 response headers and checking nothing
#               (what the headers themselves cost, whoever adds them).
#   2. gateway: `hardened serve --upstream` vs nginx doing a plain `proxy_pass` (keepalive
#               to the upstream) to the same upstream, plus the upstream hit directly,
#               loaded in rotation.
#
# Every server listens on 127.0.0.1 only; wrk is the load generator. All load runs add up
# to at most 60 s (BENCH_HTTP_SECONDS per run, BENCH_HTTP_ROUNDS rounds, 1 s warm-ups).
# Installs wrk and nginx (Debian packages) when missing. Prints requests/s of each run,
# the medians and the ratios, and each server's CPU time per request (user + system, from
# /proc, all its threads and worker processes; wrk and the upstream excluded); with
# BENCH_HTTP_OUT=FILE also writes a markdown summary.
#
#   scripts/bench-http.sh
#   BENCH_HTTP_SECONDS=3 BENCH_HTTP_ROUNDS=3 BENCH_HTTP_CONNECTIONS=32 scripts/bench-http.sh
#   BENCH_HTTP_BASELINE=/path/to/older/hardened scripts/bench-http.sh
#
# With BENCH_HTTP_BASELINE, a second `hardened` binary (e.g. built from an earlier
# commit) runs as a gateway in the same rotation, so a change is measured against what
# it replaced in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS="${BENCH_HTTP_SECONDS:-3}"
ROUNDS="${BENCH_HTTP_ROUNDS:-3}"
CONNS="${BENCH_HTTP_CONNECTIONS:-32}"
PORT_BASE="${BENCH_HTTP_PORT_BASE:-19180}"
OUT="${BENCH_HTTP_OUT:-}"
BASELINE="${BENCH_HTTP_BASELINE:-}"
DOMAINS=100
HOST="app50.example.com"
BUDGET=60

# Warm-ups: 1 s for each target.
gw_targets=3
[ -n "$BASELINE" ] && gw_targets=4
planned=$((ROUNDS * 3 * SECS + ROUNDS * gw_targets * SECS + 3 + gw_targets))
if [ "$planned" -gt "$BUDGET" ]; then
  echo "bench-http: ${ROUNDS} rounds of ${SECS} s make ${planned} s of load; the budget is ${BUDGET} s" >&2
  exit 2
fi

install_missing() {
  local missing=()
  command -v wrk >/dev/null || missing+=(wrk)
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
  command -v curl >/dev/null || missing+=(curl)
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "bench-http: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}
install_missing
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

cargo build --release --quiet -p hardened-bench --bin bench-server -p hardened-cli --bin hardened
BIN="$PWD/target/release"

tmp="$(mktemp -d)"
chmod 755 "$tmp"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

P_BARE=$PORT_BASE
P_HARD=$((PORT_BASE + 1))
P_UP=$((PORT_BASE + 2))
P_GW=$((PORT_BASE + 3))
P_NGX=$((PORT_BASE + 4))
P_HDR=$((PORT_BASE + 5))
P_BASE=$((PORT_BASE + 6))
for p in $P_BARE $P_HARD $P_UP $P_GW $P_NGX $P_HDR $P_BASE; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "bench-http: port $p is taken; set BENCH_HTTP_PORT_BASE" >&2
    exit 2
  fi
done

declare -A pid_of=()
start() { # name, command...
  local name=$1
  shift
  "$@" >"$tmp/$name.log" 2>&1 &
  pids+=($!)
  pid_of[$name]=$!
}

wait_port() { # port, name
  local i
  for i in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "bench-http: $2 did not start on 127.0.0.1:$1:" >&2
  cat "$tmp/$2.log" >&2 || true
  exit 1
}

# The gateway's configuration: production, the same 100 domains.
{
  echo "environment: production"
  echo "secret_key: bench-only-$(head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  echo "security_domains:"
  for i in $(seq 0 $((DOMAINS - 1))); do echo "  - app$i.example.com"; done
} >"$tmp/gateway.yaml"

# nginx: a plain reverse proxy with keepalive to the upstream, forwarding what the
# gateway forwards (Host, X-Forwarded-For, X-Forwarded-Proto).
mkdir -p "$tmp/nginx"
cat >"$tmp/nginx/nginx.conf" <<EOF
daemon off;
worker_processes auto;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  upstream app {
    server 127.0.0.1:$P_UP;
    keepalive 64;
  }
  server {
    listen 127.0.0.1:$P_NGX;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
    }
  }
}
EOF

start bare "$BIN/bench-server" bare "127.0.0.1:$P_BARE"
start headers "$BIN/bench-server" headers "127.0.0.1:$P_HDR"
start hardened "$BIN/bench-server" hardened "127.0.0.1:$P_HARD" "$DOMAINS"
start upstream "$BIN/bench-server" bare "127.0.0.1:$P_UP"
start gateway env HARDENED_LOG=error "$BIN/hardened" serve --config "$tmp/gateway.yaml" \
  --listen "127.0.0.1:$P_GW" --upstream "http://127.0.0.1:$P_UP"
start nginx "$NGINX" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log"
gw_list=("hardened-serve:gateway:$P_GW" "nginx:nginx:$P_NGX")
if [ -n "$BASELINE" ]; then
  start baseline env HARDENED_LOG=error "$BASELINE" serve --config "$tmp/gateway.yaml" \
    --listen "127.0.0.1:$P_BASE" --upstream "http://127.0.0.1:$P_UP"
  wait_port $P_BASE baseline
  gw_list+=("baseline-serve:baseline:$P_BASE")
fi
wait_port $P_BARE bare
wait_port $P_HDR headers
wait_port $P_HARD hardened
wait_port $P_UP upstream
wait_port $P_GW gateway
wait_port $P_NGX nginx

# Sanity: every target answers 200 to an allowed Host; the layer is really on.
for p in $P_BARE $P_HDR $P_HARD $P_UP $P_GW $P_NGX; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $HOST" "http://127.0.0.1:$p/")
  [ "$code" = 200 ] || { echo "bench-http: 127.0.0.1:$p answered $code" >&2; exit 1; }
done
for p in $P_HARD $P_GW; do
  curl -s -D - -o /dev/null -H "Host: $HOST" "http://127.0.0.1:$p/" | grep -qi '^x-frame-options: DENY' ||
    { echo "bench-http: no security headers from 127.0.0.1:$p" >&2; exit 1; }
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: evil.example.org" "http://127.0.0.1:$p/")
  [ "$code" = 400 ] || { echo "bench-http: a foreign Host got $code from 127.0.0.1:$p" >&2; exit 1; }
done

# CPU time (user + system, clock ticks) of a server: the process with all its threads,
# and nginx's worker processes.
CLK_TCK=$(getconf CLK_TCK)
server_pids() { # name
  local p=${pid_of[$1]}
  echo "$p"
  pgrep -P "$p" || true
}
cpu_ticks() { # name
  local p t=0
  for p in $(server_pids "$1"); do
    t=$((t + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo "$t"
}

# One wrk run; prints "requests/s requests". Fails on socket errors or non-2xx answers.
load() { # port, seconds
  local out rps
  out=$(wrk -t1 -c"$CONNS" -d"${2}s" -H "Host: $HOST" "http://127.0.0.1:$1/" 2>&1)
  if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
    echo "bench-http: errors loading 127.0.0.1:$1:" >&2
    echo "$out" >&2
    exit 1
  fi
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  [ -n "$rps" ] || { echo "$out" >&2; exit 1; }
  echo "$rps $(awk '/ requests in / {print $1}' <<<"$out")"
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
minmax() { tr ' ' '\n' | grep -v '^$' | sort -g | awk 'NR==1{lo=$1} {hi=$1} END {printf "%.0f–%.0f", lo, hi}'; }
minmax2() { tr ' ' '\n' | grep -v '^$' | sort -g | awk 'NR==1{lo=$1} {hi=$1} END {printf "%.2f–%.2f", lo, hi}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }

declare -A runs=() cpus=()
run_all() { # label:server:port ...
  local r t label server port before res rps n us
  for t in "$@"; do
    port=${t##*:}
    load "$port" 1 >/dev/null # warm-up
  done
  for r in $(seq 1 "$ROUNDS"); do
    for t in "$@"; do
      IFS=: read -r label server port <<<"$t"
      before=$(cpu_ticks "$server")
      res=$(load "$port" "$SECS")
      read -r rps n <<<"$res"
      us=$(awk -v d=$(($(cpu_ticks "$server") - before)) -v n="$n" -v hz="$CLK_TCK" \
        'BEGIN {printf "%.2f", d / hz / n * 1e6}')
      runs[$label]="${runs[$label]:-} $rps"
      cpus[$label]="${cpus[$label]:-} $us"
      printf '  round %d  %-18s %10.0f req/s  %6.2f µs CPU/request\n' "$r" "$label" "$rps" "$us"
    done
  done
}

echo "== app: axum hello-world, bare vs Security::layer() (production, $DOMAINS domains)"
echo "   wrk -t1 -c$CONNS, $ROUNDS rounds of ${SECS} s, alternating"
run_all "bare:bare:$P_BARE" "hardened:hardened:$P_HARD" "bare+6-headers:headers:$P_HDR"
echo "== gateway: hardened serve --upstream vs nginx proxy_pass, same upstream"
run_all "upstream-direct:upstream:$P_UP" "${gw_list[@]}"

declare -A med=()
summary="$tmp/summary.md"
{
  echo "| target | req/s median | min–max | runs | server CPU µs/request, median (min–max) |"
  echo "|---|---:|---:|---|---:|"
  labels=(bare hardened bare+6-headers upstream-direct hardened-serve nginx)
  [ -n "$BASELINE" ] && labels+=(baseline-serve)
  for label in "${labels[@]}"; do
    med[$label]=$(median <<<"${runs[$label]}")
    printf '| %s | %.0f | %s | %s | %.2f (%s) |\n' "$label" "${med[$label]}" \
      "$(minmax <<<"${runs[$label]}")" "$(echo "${runs[$label]}" | xargs printf '%.0f ' | sed 's/ $//')" \
      "$(median <<<"${cpus[$label]}")" "$(minmax2 <<<"${cpus[$label]}")"
  done
  echo
  app=$(ratio "${med[hardened]}" "${med[bare]}")
  gw=$(ratio "${med[hardened-serve]}" "${med[nginx]}")
  direct=$(ratio "${med[hardened-serve]}" "${med[upstream-direct]}")
  echo "| ratio | value | goal |"
  echo "|---|---:|---|"
  echo "| app with layer ÷ bare | $app | ≥ 0.95: $(awk -v r="$app" 'BEGIN {print (r >= 0.95 ? "met" : "**missed**")}') |"
  echo "| app adding the 6 headers, no checks ÷ bare | $(ratio "${med[bare+6-headers]}" "${med[bare]}") | (context: the headers' own cost) |"
  echo "| hardened serve ÷ nginx | $gw | ≥ 1.00: $(awk -v r="$gw" 'BEGIN {print (r >= 1.0 ? "met" : "**missed**")}') |"
  echo "| hardened serve ÷ upstream direct | $direct | (context) |"
  if [ -n "$BASELINE" ]; then
    echo "| baseline serve ÷ nginx | $(ratio "${med[baseline-serve]}" "${med[nginx]}") | (the binary it replaced) |"
    echo "| hardened serve ÷ baseline serve | $(ratio "${med[hardened-serve]}" "${med[baseline-serve]}") | ≥ 1.00: not worse |"
  fi
} >"$summary"
echo
cat "$summary"
if [ -n "$OUT" ]; then
  cp "$summary" "$OUT"
fi
