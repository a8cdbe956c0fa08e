#!/usr/bin/env bash
# User-space instructions per request of `hardened serve` (the gateway), counted by
# valgrind's callgrind: repeatable to about 0.1 % for the same binary and inputs,
# whatever else the machine does (wall-clock ratios on a shared machine move by ±10 %).
#
# The gateway (release build, production, 3 domains, one worker) proxies to the
# benchmarks' bare upstream; 4 keep-alive connections send FIRST requests, then LAST
# requests in a second run; instructions per request = (total(LAST) - total(FIRST)) /
# (LAST - FIRST), which takes start-up and shutdown out. With BASELINE=path, the same
# is measured for that binary too, in the same run, and the ratio printed.
#
#   scripts/bench-instructions.sh
#   BASELINE=/tmp/hardened-old scripts/bench-instructions.sh
#   BENCH_INSN_PROFILE=profiling scripts/bench-instructions.sh   # same code, with symbols
#
# BENCH_INSN_PROFILE picks the cargo profile built and measured (release by default;
# `profiling` is the release profile with symbols, for callgrind_annotate). With
# BENCH_INSN_KEEP=DIR the callgrind output of the LAST run is kept there.
#
# Every process it starts listens on 127.0.0.1 and is stopped by its id.
set -euo pipefail
cd "$(dirname "$0")/.."

FIRST="${BENCH_INSN_FIRST:-1000}"
LAST="${BENCH_INSN_LAST:-5000}"
PROFILE="${BENCH_INSN_PROFILE:-release}"
KEEP="${BENCH_INSN_KEEP:-}"
command -v valgrind >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null; }

target="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
cargo build --profile "$PROFILE" --quiet -p hardened-bench --bin bench-server -p hardened-cli --bin hardened
BIN="$target/$PROFILE"

tmp="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

up_port="$(free_port)"
"$BIN/bench-server" bare "127.0.0.1:$up_port" >/dev/null 2>&1 &
pids+=($!)
{
  echo "environment: production"
  echo "secret_key: bench-only-$(head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  echo "security_domains: [app0.example.com, app1.example.com, app2.example.com]"
} >"$tmp/gateway.yaml"

# Sends N requests over 4 keep-alive connections, one at a time per connection, and
# checks every answer is a 200.
cat >"$tmp/load.py" <<'PY'
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
req = b"GET / HTTP/1.1\r\nHost: app1.example.com\r\nX-Forwarded-Proto: https\r\n\r\n"
conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
def one(s):
    s.sendall(req)
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d: raise SystemExit("connection closed")
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"): raise SystemExit(head.decode(errors="replace"))
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length": length = int(v)
    while len(rest) < length:
        rest += s.recv(65536)
for i in range(n):
    one(conns[i % 4])
for s in conns: s.close()
PY

# Total instructions of one gateway run serving N requests.
count() { # binary, n
  local out="$tmp/cg.$RANDOM" port
  port="$(free_port)"
  HARDENED_LOG=error valgrind --tool=callgrind --callgrind-out-file="$out" \
    "$1" serve --config "$tmp/gateway.yaml" --listen "127.0.0.1:$port" \
    --upstream "http://127.0.0.1:$up_port" --workers 1 >"$tmp/serve.out" 2>"$tmp/serve.err" &
  local pid=$!
  for _ in $(seq 600); do
    grep -q "listening" "$tmp/serve.out" 2>/dev/null && break
    sleep 0.1
  done
  python3 "$tmp/load.py" "$port" "$2"
  kill -INT "$pid"; wait "$pid" 2>/dev/null || true
  grep -m1 "^summary:" "$out" | awk '{print $2}'
  if [ -n "$KEEP" ] && [ "$2" = "$LAST" ]; then
    mkdir -p "$KEEP"
    cp "$out" "$KEEP/callgrind.$(basename "$1").$2"
  fi
}

per_request() { # binary
  local a b
  a="$(count "$1" "$FIRST")"
  b="$(count "$1" "$LAST")"
  python3 -c "print(round(($b - $a) / ($LAST - $FIRST)))"
}

gw="$(per_request "$BIN/hardened")"
echo "gateway: $gw instructions per request ($FIRST and $LAST requests, 4 keep-alive connections)"
if [ -n "${BASELINE:-}" ]; then
  base="$(per_request "$BASELINE")"
  echo "baseline ($BASELINE): $base instructions per request"
  python3 -c "print(f'gateway / baseline: {$gw / $base:.3f}')"
fi
