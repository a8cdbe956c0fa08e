#!/usr/bin/env bash
# TLS throughput of `hardened serve --tls-cert/--tls-key` against nginx terminating TLS
# with the same certificate (ECDSA P-256, made by openssl for the run), both proxying to
# the same plain upstream (keep-alive), loaded in rotation in the same run:
#
#   1. keep-alive: HTTPS requests over open connections (wrk -c CONNS);
#   2. handshakes: every request on a new connection (`Connection: close`), so each is a
#      full TLS handshake plus one request.
#
# Both use TLS 1.3 with the same certificate; nginx runs as many workers as the machine
# has cores, hardened its default runtime (one thread per core). Every server listens on
# 127.0.0.1 only; every process this script starts is stopped by its id. Prints
# requests/s of each run, the medians and the ratios (hardened ÷ nginx), and each
# server's CPU time per request (user + system, from /proc; wrk and the upstream
# excluded); with BENCH_TLS_OUT=FILE also writes a markdown summary. Then runs
# scripts/testssl.sh against the same binary.
#
#   scripts/bench-tls.sh
#   BENCH_TLS_SECONDS=5 BENCH_TLS_ROUNDS=3 BENCH_TLS_CONNECTIONS=32 scripts/bench-tls.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SECS="${BENCH_TLS_SECONDS:-4}"
ROUNDS="${BENCH_TLS_ROUNDS:-3}"
CONNS="${BENCH_TLS_CONNECTIONS:-32}"
PORT_BASE="${BENCH_TLS_PORT_BASE:-19280}"
OUT="${BENCH_TLS_OUT:-}"
HOST="example.com"

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v curl >/dev/null || missing+=(curl)
command -v openssl >/dev/null || missing+=(openssl)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "bench-tls: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

cargo build --release --quiet -p hardened-bench --bin bench-server -p hardened-cli --bin hardened
BIN="$(scripts/target-dir.sh)/release"

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

P_UP=$PORT_BASE
P_GW=$((PORT_BASE + 1))
P_NGX=$((PORT_BASE + 2))
for p in $P_UP $P_GW $P_NGX; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "bench-tls: port $p is taken; set BENCH_TLS_PORT_BASE" >&2
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
  echo "bench-tls: $2 did not start on 127.0.0.1:$1:" >&2
  cat "$tmp/$2.log" >&2 || true
  exit 1
}

# One certificate for both.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -keyout "$tmp/tls.key" -out "$tmp/tls.crt" -subj "/CN=$HOST" \
  -addext "subjectAltName=DNS:$HOST" 2>/dev/null

{
  echo "environment: production"
  echo "security_domains: [$HOST]"
} >"$tmp/gateway.yaml"

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
    listen 127.0.0.1:$P_NGX ssl http2;
    ssl_certificate $tmp/tls.crt;
    ssl_certificate_key $tmp/tls.key;
    ssl_protocols TLSv1.2 TLSv1.3;
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

start upstream "$BIN/bench-server" bare "127.0.0.1:$P_UP"
start gateway env HARDENED_LOG=error "$BIN/hardened" serve --config "$tmp/gateway.yaml" \
  --listen "127.0.0.1:$P_GW" --upstream "http://127.0.0.1:$P_UP" \
  --tls-cert "$tmp/tls.crt" --tls-key "$tmp/tls.key"
start nginx "$NGINX" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log"
wait_port $P_UP upstream
wait_port $P_GW gateway
wait_port $P_NGX nginx

# Sanity: both answer 200 over TLS 1.3 with the certificate; the policy is on.
for p in $P_GW $P_NGX; do
  code=$(curl -s -o /dev/null -w '%{http_code}' --tlsv1.3 --cacert "$tmp/tls.crt" \
    --resolve "$HOST:$p:127.0.0.1" "https://$HOST:$p/")
  [ "$code" = 200 ] || { echo "bench-tls: 127.0.0.1:$p answered $code" >&2; exit 1; }
done
curl -s -D - -o /dev/null --cacert "$tmp/tls.crt" --resolve "$HOST:$P_GW:127.0.0.1" \
  "https://$HOST:$P_GW/" | grep -qi '^strict-transport-security:' ||
  { echo "bench-tls: no HSTS from hardened over TLS" >&2; exit 1; }

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

# One wrk run over https; prints "requests/s requests". Fails on non-2xx answers and on
# socket errors other than the reads a `Connection: close` answer ends.
load() { # port, seconds, extra wrk args...
  local port=$1 secs=$2 out rps
  shift 2
  out=$(wrk -t1 -c"$CONNS" -d"${secs}s" -H "Host: $HOST" "$@" "https://127.0.0.1:$port/" 2>&1)
  if grep -qE 'Non-2xx|Socket errors: connect [1-9]' <<<"$out"; then
    echo "bench-tls: errors loading 127.0.0.1:$port:" >&2
    echo "$out" >&2
    exit 1
  fi
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  [ -n "$rps" ] || { echo "$out" >&2; exit 1; }
  echo "$rps $(awk '/ requests in / {print $1}' <<<"$out")"
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
minmax() { tr ' ' '\n' | grep -v '^$' | sort -g | awk 'NR==1{lo=$1} {hi=$1} END {printf "%.0f–%.0f", lo, hi}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }

declare -A runs=() cpus=()
run_all() { # mode label:server:port ...
  local mode=$1 r t label server port before res rps n us extra=()
  shift
  [ "$mode" = handshake ] && extra=(-H "Connection: close")
  for t in "$@"; do
    load "${t##*:}" 1 "${extra[@]}" >/dev/null # warm-up
  done
  for r in $(seq 1 "$ROUNDS"); do
    for t in "$@"; do
      IFS=: read -r label server port <<<"$t"
      before=$(cpu_ticks "$server")
      res=$(load "$port" "$SECS" "${extra[@]}")
      read -r rps n <<<"$res"
      us=$(awk -v d=$(($(cpu_ticks "$server") - before)) -v n="$n" -v hz="$CLK_TCK" \
        'BEGIN {printf "%.1f", d / hz / n * 1e6}')
      runs[$mode-$label]="${runs[$mode-$label]:-} $rps"
      cpus[$mode-$label]="${cpus[$mode-$label]:-} $us"
      printf '  round %d  %-10s %-9s %10.0f req/s  %7.1f µs CPU/request\n' "$r" "$mode" "$label" "$rps" "$us"
    done
  done
}

echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg) (cores: $(nproc))"
echo "== keep-alive: wrk -t1 -c$CONNS over TLS, $ROUNDS rounds of ${SECS} s, alternating"
run_all keepalive "hardened:gateway:$P_GW" "nginx:nginx:$P_NGX"
echo "== handshakes: wrk -t1 -c$CONNS, Connection: close (one full handshake per request)"
run_all handshake "hardened:gateway:$P_GW" "nginx:nginx:$P_NGX"
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"

summary="$tmp/summary.md"
{
  echo "| mode | server | req/s median | min–max | server CPU µs/request, median |"
  echo "|---|---|---:|---:|---:|"
  for mode in keepalive handshake; do
    for label in hardened nginx; do
      k="$mode-$label"
      printf '| %s | %s | %.0f | %s | %.1f |\n' "$mode" "$label" "$(median <<<"${runs[$k]}")" \
        "$(minmax <<<"${runs[$k]}")" "$(median <<<"${cpus[$k]}")"
    done
  done
  echo
  echo "| ratio hardened ÷ nginx | req/s | CPU per request |"
  echo "|---|---:|---:|"
  for mode in keepalive handshake; do
    echo "| $mode | $(ratio "$(median <<<"${runs[$mode-hardened]}")" "$(median <<<"${runs[$mode-nginx]}")") | $(ratio "$(median <<<"${cpus[$mode-hardened]}")" "$(median <<<"${cpus[$mode-nginx]}")") |"
  done
} >"$summary"
echo
cat "$summary"
if [ -n "$OUT" ]; then
  cp "$summary" "$OUT"
fi

# What a TLS scanner makes of the same gateway (protocols, suites, vulnerabilities).
echo
echo "== testssl.sh against the gateway's direct TLS"
HARDENED_BIN="$BIN/hardened" scripts/testssl.sh
