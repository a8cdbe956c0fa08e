#!/usr/bin/env bash
# HTTP benchmarks of the security layer and of the `hardened serve` gateway, each target
# measured against baselines in the same run. Parts (BENCH_HTTP_MODE, a comma list;
# default `app,gateway,latency`, about 2.5 minutes; `all` adds `bodies` and `idle`):
#
#   app      an axum hello-world (wrk -t1 -cCONNS): bare, behind `Security::layer()`
#            (production, 100 domains), adding only the layer's six response headers
#            (no check), and behind the same job assembled from tower-http parts
#            (SetResponseHeaderLayer::overriding x5 + a Host allow-list middleware +
#            CorsLayer with the same origins). Loaded in rotation.
#   gateway  reverse proxies doing the same job in front of the same upstream: an
#            allow-list of three hosts (any other Host: 400) and the six response headers
#            the gateway adds for that config (Vary: origin, X-Content-Type-Options,
#            X-Frame-Options, Referrer-Policy, Cross-Origin-Opener-Policy,
#            X-XSS-Protection), keep-alive to the upstream: `hardened serve` (3 domains;
#            and 10 000 domains, the scale run), nginx, HAProxy, Caddy (when Debian has
#            it), and the upstream hit directly. Loaded in rotation (A B C D A B C D ...).
#   latency  p50/p99/p99.9 at a fixed request rate (oha -q RATE --latency-correction) for
#            direct, nginx, HAProxy, Caddy and the gateway; RATE is BENCH_HTTP_LATENCY_FRACTION
#            (0.55; a list such as "0.3 0.55" runs each) of nginx's median req/s from the
#            gateway part, or BENCH_HTTP_RATE (req/s, a list too); 3 rounds of 3 s per
#            target in rotation (BENCH_HTTP_LATENCY_ROUNDS, BENCH_HTTP_LATENCY_SECONDS).
#   bodies   large bodies through the gateway and nginx with their defaults (both buffer
#            request and response bodies; limits raised to fit): a 64 MiB POST and a
#            64 MiB GET (MiB/s, proxy CPU per MiB), and the latency a buffered 1 MiB
#            request body adds (oha -c1, p50/p99: gateway buffering on vs off vs direct).
#   idle     gateway memory per idle keep-alive connection: RSS with 10, 1 000 and
#            10 000 connections open (one request done on each, then idle) minus RSS
#            before, per connection; nginx and HAProxy for context.
#
# Every server listens on 127.0.0.1 only, every process started is stopped by its id, and
# every load run is bounded (BENCH_HTTP_SECONDS per run). Installs wrk, nginx, haproxy,
# caddy, curl and jq (Debian) when missing, and oha (`cargo install oha --locked`, into
# ~/.cache/hardened-bench-tools) for the latency and bodies parts. Prints each run, then a
# markdown summary (written to BENCH_HTTP_OUT=FILE too).
#
#   scripts/bench-http.sh
#   BENCH_HTTP_SECONDS=3 BENCH_HTTP_ROUNDS=5 scripts/bench-http.sh
#   BENCH_HTTP_MODE=gateway,latency scripts/bench-http.sh
#   BENCH_HTTP_MODE=bodies scripts/bench-http.sh
#   BENCH_HTTP_MODE=idle scripts/bench-http.sh
#   BENCH_HTTP_BASELINE=/path/to/older/hardened scripts/bench-http.sh
#   BENCH_HTTP_BIN=/path/to/dir scripts/bench-http.sh
#
# The gateway and latency parts' upstream is `bench-server bare` (axum), or with
# BENCH_HTTP_UPSTREAM=hyper a bare hyper connection (faster: the proxies are then the
# bottleneck).
#
# With BENCH_HTTP_BASELINE, a second `hardened` binary (e.g. built from an earlier commit)
# runs as a gateway in the same rotation (gateway, latency and bodies parts; in the idle
# part, after the gateway). With BENCH_HTTP_BIN, nothing is built: `hardened`,
# `bench-server` and `idle-conns` are taken from that directory.
#
# CPU per request: user + system time of the server from /proc (the process with all its
# threads, and nginx's worker processes), divided by the requests the load generator
# counted; the load generator and the upstream are not included.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE="${BENCH_HTTP_MODE:-app,gateway,latency}"
[ "$MODE" = all ] && MODE="app,gateway,latency,bodies,idle"
SECS="${BENCH_HTTP_SECONDS:-2}"
ROUNDS="${BENCH_HTTP_ROUNDS:-5}"
CONNS="${BENCH_HTTP_CONNECTIONS:-32}"
PORT_BASE="${BENCH_HTTP_PORT_BASE:-19180}"
OUT="${BENCH_HTTP_OUT:-}"
BASELINE="${BENCH_HTTP_BASELINE:-}"
BUDGET="${BENCH_HTTP_BUDGET:-180}"
APP_DOMAINS=100
GW_DOMAINS=3
SCALE_DOMAINS="${BENCH_HTTP_SCALE_DOMAINS:-10000}"
LAT_SECS="${BENCH_HTTP_LATENCY_SECONDS:-3}"
LAT_ROUNDS="${BENCH_HTTP_LATENCY_ROUNDS:-3}"
LAT_FRACTION="${BENCH_HTTP_LATENCY_FRACTION:-0.55}"
LAT_RATE="${BENCH_HTTP_RATE:-}"
UPSTREAM="${BENCH_HTTP_UPSTREAM:-bare}"
BODY_MIB="${BENCH_HTTP_BODY_MIB:-64}"
BODY_ROUNDS="${BENCH_HTTP_BODY_ROUNDS:-5}"
SMALL_BODY_N="${BENCH_HTTP_SMALL_BODY_REQUESTS:-100}"
IDLE_COUNTS="${BENCH_HTTP_IDLE_COUNTS:-10 1000 10000}"
HOST="app1.example.com"
BAD_HOST="evil.example.org"

has_mode() { [[ ",$MODE," == *",$1,"* ]]; }
for m in ${MODE//,/ }; do
  case $m in app | gateway | latency | bodies | idle) ;; *)
    echo "bench-http: unknown mode $m (app, gateway, latency, bodies, idle, all)" >&2
    exit 2
    ;;
  esac
done

# The load budget of the timed parts (app, gateway, latency), 1 s warm-up per target.
app_targets=4
gw_targets=5
[ "$SCALE_DOMAINS" != 0 ] && gw_targets=$((gw_targets + 1))
[ -n "$BASELINE" ] && gw_targets=$((gw_targets + 1))
planned=0
has_mode app && planned=$((planned + app_targets * (ROUNDS * SECS + 1)))
has_mode gateway && planned=$((planned + gw_targets * (ROUNDS * SECS + 1)))
n_rates=$(wc -w <<<"${LAT_RATE:-$LAT_FRACTION}")
has_mode latency && planned=$((planned + 5 * (n_rates * LAT_ROUNDS * LAT_SECS + 1)))
if [ "$planned" -gt "$BUDGET" ]; then
  echo "bench-http: ${ROUNDS} rounds of ${SECS} s make ${planned} s of load; the budget is ${BUDGET} s (BENCH_HTTP_BUDGET)" >&2
  exit 2
fi

BL_NAME=bench-http
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
tmp=$BL_TMP

bl_install wrk:wrk nginx:nginx haproxy:haproxy curl:curl jq:jq
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
HAPROXY="$(command -v haproxy || echo /usr/sbin/haproxy)"
CADDY=""
if has_mode gateway || has_mode latency; then
  if command -v caddy >/dev/null; then
    CADDY=$(command -v caddy)
  elif bl_package_exists caddy; then
    bl_install caddy:caddy
    CADDY=$(command -v caddy || true)
  fi
  [ -n "$CADDY" ] || echo "bench-http: no Debian package caddy here: Caddy is skipped" >&2
fi

# oha, for the latency and bodies parts: installed from crates.io into a cache directory.
OHA=""
find_oha() {
  local tools="${BENCH_TOOLS_DIR:-$HOME/.cache/hardened-bench-tools}"
  if command -v oha >/dev/null; then
    OHA=$(command -v oha)
  elif [ -x "$tools/bin/oha" ]; then
    OHA="$tools/bin/oha"
  else
    echo "bench-http: installing oha into $tools (cargo install oha --locked; once)" >&2
    if cargo install oha --locked --quiet --root "$tools" >&2; then
      OHA="$tools/bin/oha"
    else
      echo "bench-http: oha did not install: latency figures are skipped" >&2
    fi
  fi
}
if has_mode latency || has_mode bodies; then
  find_oha
fi

if [ -n "${BENCH_HTTP_BIN:-}" ]; then
  BIN=$BENCH_HTTP_BIN
else
  cargo build --release --quiet -p hardened-bench --bin bench-server --bin idle-conns -p hardened-cli --bin hardened
  BIN="$(scripts/target-dir.sh)/release"
fi

P_BARE=$PORT_BASE
P_HARD=$((PORT_BASE + 1))
P_UP=$((PORT_BASE + 2))
P_GW=$((PORT_BASE + 3))
P_NGX=$((PORT_BASE + 4))
P_HDR=$((PORT_BASE + 5))
P_BASE=$((PORT_BASE + 6))
P_TOWER=$((PORT_BASE + 7))
P_HAP=$((PORT_BASE + 8))
P_CADDY=$((PORT_BASE + 9))
P_SCALE=$((PORT_BASE + 10))
P_GW2=$((PORT_BASE + 11))
bl_port_free $P_BARE $P_HARD $P_UP $P_GW $P_NGX $P_HDR $P_BASE $P_TOWER $P_HAP $P_CADDY $P_SCALE $P_GW2

# ---------------------------------------------------------------------------------------
# Configurations.

allowed_hosts() { # n
  local i
  for i in $(seq 0 $(($1 - 1))); do echo "app$i.example.com"; done
}

gateway_yaml() { # file, domains
  {
    echo "environment: production"
    echo "secret_key: bench-only-$(head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    echo "security_domains:"
    allowed_hosts "$2" | sed 's/^/  - /'
  } >"$1"
}

# The six response headers every proxy adds (the gateway's, for a plain-HTTP production
# response without Origin), as "name value".
SIX_HEADERS=(
  "Vary origin"
  "X-Content-Type-Options nosniff"
  "X-Frame-Options DENY"
  "Referrer-Policy same-origin"
  "Cross-Origin-Opener-Policy same-origin"
  "X-XSS-Protection 0"
)

# nginx: the host check with `server_name` (the default server answers 400), the six
# headers with `add_header ... always`, a keep-alive pool to the upstream, forwarding
# Host, X-Forwarded-For and X-Forwarded-Proto like the gateway. Keep-alive request caps
# raised so no connection is closed mid-run.
nginx_conf() { # dir, listen port, upstream port, worker_connections, client_max_body_size
  local dir=$1 h
  mkdir -p "$dir"
  local adds=""
  for h in "${SIX_HEADERS[@]}"; do adds+="    add_header ${h% *} \"${h#* }\" always;"$'\n'; done
  cat >"$dir/nginx.conf" <<EOF
daemon off;
worker_processes auto;
worker_rlimit_nofile $(ulimit -n);
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections $4; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_max_body_size $5;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  upstream app {
    server 127.0.0.1:$3;
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:$2 default_server;
    server_name _;
$adds    return 400;
  }
  server {
    listen 127.0.0.1:$2;
    server_name $(allowed_hosts "$GW_DOMAINS" | tr '\n' ' ');
$adds    location / {
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
}

# HAProxy: an `acl` on the Host (port stripped, lowercased), `http-request deny
# deny_status 400` otherwise, the six headers with `http-after-response` (which, unlike
# `http-response`, also covers HAProxy's own 400), `http-reuse always` with keep-alive to
# the upstream, X-Forwarded-For and X-Forwarded-Proto.
haproxy_conf() { # file, listen port, upstream port, maxconn
  local h
  {
    cat <<EOF
global
  maxconn $4
  no strict-limits
  log stderr format raw local0 emerg
defaults
  mode http
  log global
  timeout connect 5s
  timeout client 3600s
  timeout server 60s
  timeout http-request 30s
  timeout http-keep-alive 3600s
  option http-keep-alive
  http-reuse always
frontend fe
  bind 127.0.0.1:$2
  maxconn $4
  acl allowed_host req.hdr(host),host_only,lower -m str $(allowed_hosts "$GW_DOMAINS" | tr '\n' ' ')
  http-request deny deny_status 400 unless allowed_host
  option forwardfor
  http-request set-header X-Forwarded-Proto http
EOF
    for h in "${SIX_HEADERS[@]}"; do
      if [ "${h% *}" = Vary ]; then
        echo "  http-after-response add-header ${h% *} ${h#* }"
      else
        echo "  http-after-response set-header ${h% *} ${h#* }"
      fi
    done
    cat <<EOF
  default_backend app
backend app
  server up 127.0.0.1:$3
EOF
  } >"$1"
}

# Caddy: a `host` matcher, `respond 400` otherwise, the six headers with `header`, and
# `reverse_proxy` (keep-alive pool, X-Forwarded-* by default). No admin endpoint, no
# automatic HTTPS, errors only in the log.
caddy_conf() { # file, listen port, upstream port
  local h
  {
    cat <<EOF
{
	admin off
	auto_https off
	log {
		output stderr
		level ERROR
	}
}
http://:$2 {
	bind 127.0.0.1
	header {
EOF
    for h in "${SIX_HEADERS[@]}"; do
      if [ "${h% *}" = Vary ]; then
        echo "		+${h% *} ${h#* }"
      else
        echo "		${h% *} ${h#* }"
      fi
    done
    cat <<EOF
	}
	@allowed host $(allowed_hosts "$GW_DOMAINS" | tr '\n' ' ')
	handle @allowed {
		reverse_proxy 127.0.0.1:$3
	}
	handle {
		respond 400
	}
}
EOF
  } >"$1"
}

start_caddy() { # name, file
  mkdir -p "$tmp/$1-home"
  bl_start "$1" env HOME="$tmp/$1-home" XDG_DATA_HOME="$tmp/$1-home" \
    XDG_CONFIG_HOME="$tmp/$1-home" "$CADDY" run --config "$2" --adapter caddyfile
}

# ---------------------------------------------------------------------------------------
# Sanity checks.

# Fails unless the response headers in FILE carry the six headers (exact values; Vary
# must list origin).
has_six_headers() { # headers file, what
  local h name value
  for h in "${SIX_HEADERS[@]}"; do
    name=${h% *}
    value=${h#* }
    if [ "$name" = Vary ]; then
      grep -qiE "^vary:.*\\borigin\\b" "$1" || bl_die "$2: no Vary: origin"
    else
      grep -qiE "^$name: $value"$'\r'"?$" "$1" || bl_die "$2: no $name: $value"
    fi
  done
}

# An allowed Host gets 200 with the six headers; a foreign Host gets 400 (with the six
# headers unless told otherwise).
check_proxy() { # label, port, [host-check: yes|no], [headers on the 400: yes|no]
  local label=$1 port=$2 hostcheck=${3:-yes} badheaders=${4:-yes} code
  code=$(curl -s -D "$tmp/h" -o /dev/null -w '%{http_code}' -H "Host: $HOST" "http://127.0.0.1:$port/")
  [ "$code" = 200 ] || bl_die "$label answered $code to Host: $HOST"
  has_six_headers "$tmp/h" "$label (Host: $HOST)"
  [ "$hostcheck" = yes ] || return 0
  code=$(curl -s -D "$tmp/h" -o /dev/null -w '%{http_code}' -H "Host: $BAD_HOST" "http://127.0.0.1:$port/")
  [ "$code" = 400 ] || bl_die "$label answered $code to Host: $BAD_HOST (want 400)"
  [ "$badheaders" = yes ] || return 0
  has_six_headers "$tmp/h" "$label (Host: $BAD_HOST)"
}

# ---------------------------------------------------------------------------------------
# Throughput rotation.

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
  [ -n "$rps" ] || {
    echo "$out" >&2
    exit 1
  }
  echo "$rps $(awk '/ requests in / {print $1}' <<<"$out")"
}

declare -A runs=() cpus=()
# Loads each target for SECS, ROUNDS times, in rotation; records req/s and CPU µs per
# request per label.
run_rotation() { # label:server:port ...
  local r t label server port before res rps n us
  for t in "$@"; do
    load "${t##*:}" 1 >/dev/null # warm-up
  done
  for r in $(seq 1 "$ROUNDS"); do
    for t in "$@"; do
      IFS=: read -r label server port <<<"$t"
      before=$(bl_cpu_ticks "$server")
      res=$(load "$port" "$SECS")
      read -r rps n <<<"$res"
      us=$(awk -v d=$(($(bl_cpu_ticks "$server") - before)) -v n="$n" -v hz="$BL_CLK_TCK" \
        'BEGIN {printf "%.2f", d / hz / n * 1e6}')
      runs[$label]="${runs[$label]:-} $rps"
      cpus[$label]="${cpus[$label]:-} $us"
      printf '  round %d  %-24s %10.0f req/s  %6.2f µs CPU/request\n' "$r" "$label" "$rps" "$us"
    done
  done
}

# "median (min–max)" of per-round ratios a ÷ b.
ratio_cell() { # label a, label b
  local rs
  [ -n "${runs[$1]:-}" ] && [ -n "${runs[$2]:-}" ] || {
    echo "—"
    return
  }
  rs=$(bl_ratios "${runs[$1]}" "${runs[$2]}")
  printf '%.3f (%s)' "$(bl_median <<<"$rs")" "$(bl_range %.3f <<<"$rs")"
}
rps_cell() { printf '%.0f (%s)' "$(bl_median <<<"${runs[$1]}")" "$(bl_range %.0f <<<"${runs[$1]}")"; }
cpu_cell() { printf '%.2f (%s)' "$(bl_median <<<"${cpus[$1]}")" "$(bl_range %.2f <<<"${cpus[$1]}")"; }
goal() { awk -v r="$1" -v g="$2" 'BEGIN {print (r >= g ? "met" : "**missed**")}'; }

summary="$tmp/summary.md"
: >"$summary"
machine_line() {
  echo "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
}

# ---------------------------------------------------------------------------------------
# app: the layer in an axum app.

if has_mode app; then
  bl_start bare "$BIN/bench-server" bare "127.0.0.1:$P_BARE"
  bl_start headers "$BIN/bench-server" headers "127.0.0.1:$P_HDR"
  bl_start hardened "$BIN/bench-server" hardened "127.0.0.1:$P_HARD" "$APP_DOMAINS"
  bl_start tower "$BIN/bench-server" tower-http "127.0.0.1:$P_TOWER" "$APP_DOMAINS"
  bl_wait_port $P_BARE bare
  bl_wait_port $P_HDR headers
  bl_wait_port $P_HARD hardened
  bl_wait_port $P_TOWER tower
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $HOST" "http://127.0.0.1:$P_BARE/")
  [ "$code" = 200 ] || bl_die "bare app answered $code"
  check_proxy "app + 6 headers" $P_HDR no
  check_proxy "app + Security::layer()" $P_HARD
  # tower-http's CorsLayer (inside the host check) adds Vary, so its 400 has five.
  check_proxy "app + tower-http stack" $P_TOWER yes no

  echo "== app: axum hello-world; wrk -t1 -c$CONNS, $ROUNDS rounds of ${SECS} s in rotation ($(machine_line))"
  run_rotation "bare:bare:$P_BARE" "hardened:hardened:$P_HARD" "bare+6-headers:headers:$P_HDR" \
    "tower-http:tower:$P_TOWER"
  for s in bare headers hardened tower; do bl_stop $s; done
  {
    echo "### App (axum hello-world, production policy of $APP_DOMAINS domains)"
    echo
    echo "wrk -t1 -c$CONNS, $ROUNDS rounds of $SECS s in rotation; $(machine_line) at the end."
    echo "Medians (min–max over rounds); ratios are per round, same round."
    echo
    echo "| target | req/s | server CPU µs/request | ÷ bare | ÷ bare + 6 headers |"
    echo "|---|---:|---:|---:|---:|"
    for l in bare hardened bare+6-headers tower-http; do
      echo "| $l | $(rps_cell "$l") | $(cpu_cell "$l") | $(ratio_cell "$l" bare) | $(ratio_cell "$l" bare+6-headers) |"
    done
    echo
    hb=$(bl_median <<<"$(bl_ratios "${runs[hardened]}" "${runs[bare]}")")
    hh=$(bl_median <<<"$(bl_ratios "${runs[hardened]}" "${runs[bare+6-headers]}")")
    ht=$(bl_median <<<"$(bl_ratios "${runs[hardened]}" "${runs[tower-http]}")")
    echo "| ratio | median (min–max) | goal |"
    echo "|---|---:|---|"
    echo "| app with every check ÷ app adding only the 6 headers | $(ratio_cell hardened bare+6-headers) | ≥ 0.99: $(goal "$hh" 0.99) |"
    echo "| app with every check ÷ tower-http stack | $(ratio_cell hardened tower-http) | ≥ 1.00: $(goal "$ht" 1.0) |"
    echo "| app with every check ÷ bare | $(ratio_cell hardened bare) | ≥ 0.95: $(goal "$hb" 0.95) |"
    echo "| app adding only the 6 headers ÷ bare | $(ratio_cell bare+6-headers bare) | (the headers' own cost) |"
    echo
  } >>"$summary"
fi

# ---------------------------------------------------------------------------------------
# gateway and latency: reverse proxies with the same job.

gw_list=()
lat_list=()
if has_mode gateway || has_mode latency; then
  gateway_yaml "$tmp/gateway.yaml" "$GW_DOMAINS"
  nginx_conf "$tmp/nginx" $P_NGX $P_UP 4096 1m
  haproxy_conf "$tmp/haproxy.cfg" $P_HAP $P_UP 4096
  bl_start upstream "$BIN/bench-server" "$UPSTREAM" "127.0.0.1:$P_UP"
  bl_start gateway env HARDENED_LOG=error "$BIN/hardened" serve --config "$tmp/gateway.yaml" \
    --listen "127.0.0.1:$P_GW" --upstream "http://127.0.0.1:$P_UP"
  bl_start nginx "$NGINX" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log"
  bl_start haproxy "$HAPROXY" -db -f "$tmp/haproxy.cfg"
  bl_wait_port $P_UP upstream
  bl_wait_port $P_GW gateway
  bl_wait_port $P_NGX nginx
  bl_wait_port $P_HAP haproxy
  gw_list=("upstream-direct:upstream:$P_UP" "hardened-serve:gateway:$P_GW")
  lat_list=("upstream-direct:upstream:$P_UP" "hardened-serve:gateway:$P_GW")
  if [ "$SCALE_DOMAINS" != 0 ] && has_mode gateway; then
    gateway_yaml "$tmp/gateway-scale.yaml" "$SCALE_DOMAINS"
    bl_start scale env HARDENED_LOG=error "$BIN/hardened" serve --config "$tmp/gateway-scale.yaml" \
      --listen "127.0.0.1:$P_SCALE" --upstream "http://127.0.0.1:$P_UP"
    bl_wait_port $P_SCALE scale
    gw_list+=("hardened-serve-${SCALE_DOMAINS}:scale:$P_SCALE")
  fi
  gw_list+=("nginx:nginx:$P_NGX" "haproxy:haproxy:$P_HAP")
  lat_list+=("nginx:nginx:$P_NGX" "haproxy:haproxy:$P_HAP")
  if [ -n "$CADDY" ]; then
    caddy_conf "$tmp/Caddyfile" $P_CADDY $P_UP
    start_caddy caddy "$tmp/Caddyfile"
    bl_wait_port $P_CADDY caddy
    gw_list+=("caddy:caddy:$P_CADDY")
    lat_list+=("caddy:caddy:$P_CADDY")
  fi
  if [ -n "$BASELINE" ]; then
    bl_start baseline env HARDENED_LOG=error "$BASELINE" serve --config "$tmp/gateway.yaml" \
      --listen "127.0.0.1:$P_BASE" --upstream "http://127.0.0.1:$P_UP"
    bl_wait_port $P_BASE baseline
    gw_list+=("baseline-serve:baseline:$P_BASE")
    lat_list+=("baseline-serve:baseline:$P_BASE")
  fi
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $HOST" "http://127.0.0.1:$P_UP/")
  [ "$code" = 200 ] || bl_die "upstream answered $code"
  for t in "${gw_list[@]:1}"; do
    IFS=: read -r label _ port <<<"$t"
    check_proxy "$label" "$port"
  done
fi

if has_mode gateway; then
  echo "== gateway: same job (3-host allow-list + 6 headers), same upstream; wrk -t1 -c$CONNS, $ROUNDS rounds of ${SECS} s in rotation ($(machine_line))"
  run_rotation "${gw_list[@]}"
  {
    echo "### Gateway (allow-list of $GW_DOMAINS hosts + the 6 headers, same upstream: \`bench-server $UPSTREAM\`)"
    echo
    echo "wrk -t1 -c$CONNS, $ROUNDS rounds of $SECS s in rotation; $(machine_line) at the end."
    echo "Medians (min–max over rounds); ratios are per round, same round."
    echo
    echo "| target | req/s | server CPU µs/request | × nginx | × HAProxy |"
    echo "|---|---:|---:|---:|---:|"
    for t in "${gw_list[@]}"; do
      l=${t%%:*}
      echo "| $l | $(rps_cell "$l") | $(cpu_cell "$l") | $(ratio_cell "$l" nginx) | $(ratio_cell "$l" haproxy) |"
    done
    echo
    gn=$(bl_median <<<"$(bl_ratios "${runs[hardened-serve]}" "${runs[nginx]}")")
    echo "| ratio | median (min–max) | goal |"
    echo "|---|---:|---|"
    echo "| hardened serve ÷ nginx | $(ratio_cell hardened-serve nginx) | ≥ 1.00: $(goal "$gn" 1.0) |"
    echo "| hardened serve ÷ HAProxy | $(ratio_cell hardened-serve haproxy) | (context) |"
    [ -n "$CADDY" ] && echo "| hardened serve ÷ Caddy | $(ratio_cell hardened-serve caddy) | (context) |"
    echo "| hardened serve ÷ upstream direct | $(ratio_cell hardened-serve upstream-direct) | (context) |"
    if [ "$SCALE_DOMAINS" != 0 ]; then
      echo "| hardened serve, $SCALE_DOMAINS domains ÷ $GW_DOMAINS domains | $(ratio_cell "hardened-serve-$SCALE_DOMAINS" hardened-serve) | flat: ≥ 0.95 |"
    fi
    if [ -n "$BASELINE" ]; then
      echo "| hardened serve ÷ baseline serve | $(ratio_cell hardened-serve baseline-serve) | ≥ 1.00: not worse |"
    fi
    echo
  } >>"$summary"
fi

# One oha run at a fixed rate; prints "p50 p99 p99.9 (ms) achieved-req/s".
oha_rate() { # port, rate, seconds
  local json
  json=$("$OHA" --no-tui --output-format json --worker-threads 1 -c "$CONNS" -q "$2" \
    --latency-correction -z "${3}s" -w -H "Host: $HOST" "http://127.0.0.1:$1/" 2>/dev/null) ||
    bl_die "oha failed on 127.0.0.1:$1"
  jq -e '(.statusCodeDistribution | keys | all(. == "200")) and ((.errorDistribution // {}) | length == 0)' \
    >/dev/null <<<"$json" || {
    echo "$json" | jq '{statusCodeDistribution, errorDistribution}' >&2
    bl_die "non-200 answers or errors loading 127.0.0.1:$1"
  }
  jq -r '"\(.latencyPercentiles.p50 * 1000) \(.latencyPercentiles.p99 * 1000) \(.latencyPercentiles["p99.9"] * 1000) \(.summary.requestsPerSec)"' <<<"$json"
}

if has_mode latency && [ -n "$OHA" ]; then
  if [ -n "$LAT_RATE" ]; then
    rates=$LAT_RATE
  else
    if [ -n "${runs[nginx]:-}" ]; then
      nginx_max=$(bl_median <<<"${runs[nginx]}")
    else
      # No gateway part in this run: nginx's max from one short wrk run.
      res=$(load $P_NGX 3)
      nginx_max=${res%% *}
    fi
    rates=""
    for f in $LAT_FRACTION; do
      rates+=" $(awk -v m="$nginx_max" -v f="$f" 'BEGIN {printf "%d", m * f}')"
    done
  fi
  for t in "${lat_list[@]}"; do # warm-up
    "$OHA" --no-tui --worker-threads 1 -c "$CONNS" -z 1s -H "Host: $HOST" "http://127.0.0.1:${t##*:}/" >/dev/null 2>&1 || true
  done
  declare -A lat=()
  for rate in $rates; do
    echo "== latency: oha -c$CONNS -q $rate --latency-correction, $LAT_ROUNDS rounds of ${LAT_SECS} s in rotation ($(machine_line))"
    for r in $(seq 1 "$LAT_ROUNDS"); do
      for t in "${lat_list[@]}"; do
        IFS=: read -r label server port <<<"$t"
        res=$(oha_rate "$port" "$rate" "$LAT_SECS")
        read -r p50 p99 p999 ach <<<"$res"
        lat[$rate-$label-p50]="${lat[$rate-$label-p50]:-} $p50"
        lat[$rate-$label-p99]="${lat[$rate-$label-p99]:-} $p99"
        lat[$rate-$label-p999]="${lat[$rate-$label-p999]:-} $p999"
        lat[$rate-$label-ach]="${lat[$rate-$label-ach]:-} $ach"
        printf '  round %d  %-24s p50 %8.3f ms  p99 %8.3f ms  p99.9 %8.3f ms  (%.0f req/s)\n' \
          "$r" "$label" "$p50" "$p99" "$p999" "$ach"
      done
    done
  done
  lat_cell() { printf '%.3f (%s)' "$(bl_median <<<"${lat[$1]}")" "$(bl_range %.3f <<<"${lat[$1]}")"; }
  {
    echo "### Latency at a fixed rate"
    echo
    if [ -n "$LAT_RATE" ]; then
      echo "Rates given (BENCH_HTTP_RATE=$LAT_RATE)."
    else
      echo "Rates: $LAT_FRACTION × nginx's median max req/s ($(printf '%.0f' "$nginx_max")) from this run."
    fi
    echo "oha -c$CONNS -q RATE --latency-correction -z ${LAT_SECS}s --worker-threads 1, $LAT_ROUNDS rounds"
    echo "in rotation per rate; medians over rounds (min–max); $(machine_line) at the end. A target"
    echo "that did not sustain the rate (median achieved < 97 %) queued: its percentiles then"
    echo "measure the queue."
    echo
    echo "| rate req/s | target | p50 ms | p99 ms | p99.9 ms | achieved req/s | sustained |"
    echo "|---:|---|---:|---:|---:|---:|---|"
    for rate in $rates; do
      for t in "${lat_list[@]}"; do
        l=${t%%:*}
        ach=$(bl_median <<<"${lat[$rate-$l-ach]}")
        printf '| %s | %s | %s | %s | %s | %.0f | %s |\n' "$rate" "$l" "$(lat_cell "$rate-$l-p50")" \
          "$(lat_cell "$rate-$l-p99")" "$(lat_cell "$rate-$l-p999")" "$ach" \
          "$(awk -v a="$ach" -v r="$rate" 'BEGIN {print (a >= 0.97 * r ? "yes" : "**no**")}')"
      done
    done
    echo
  } >>"$summary"
elif has_mode latency; then
  echo "### Latency at a fixed rate: skipped (no oha)" >>"$summary"
fi

if has_mode gateway || has_mode latency; then
  for s in upstream gateway nginx haproxy caddy scale baseline; do bl_stop $s; done
fi

# ---------------------------------------------------------------------------------------
# bodies: large uploads and downloads, and the latency of a buffered 1 MiB body.

if has_mode bodies; then
  body_bytes=$((BODY_MIB * 1048576))
  head -c "$body_bytes" /dev/zero | tr '\0' 'x' >"$tmp/big.bin"
  head -c 1048576 /dev/zero | tr '\0' 'y' >"$tmp/1m.bin"
  gateway_yaml "$tmp/gateway.yaml" "$GW_DOMAINS"
  nginx_conf "$tmp/nginx-bodies" $P_NGX $P_UP 4096 0
  mkdir -p "$tmp/gw-temp" "$tmp/gw2-temp"
  bl_start upstream "$BIN/bench-server" bodies "127.0.0.1:$P_UP"
  # Both gateways: no body size limit (nginx: client_max_body_size 0), otherwise defaults.
  bl_start gateway env HARDENED_LOG=error "$BIN/hardened" serve --config "$tmp/gateway.yaml" \
    --listen "127.0.0.1:$P_GW" --upstream "http://127.0.0.1:$P_UP" \
    --client-max-body-size 0 --temp-dir "$tmp/gw-temp"
  bl_start unbuffered env HARDENED_LOG=error "$BIN/hardened" serve --config "$tmp/gateway.yaml" \
    --listen "127.0.0.1:$P_GW2" --upstream "http://127.0.0.1:$P_UP" \
    --client-max-body-size 0 --temp-dir "$tmp/gw2-temp" \
    --request-buffering off --response-buffering off
  bl_start nginx "$NGINX" -p "$tmp/nginx-bodies" -c "$tmp/nginx-bodies/nginx.conf" -e "$tmp/nginx-bodies/error.log"
  bl_wait_port $P_UP upstream
  bl_wait_port $P_GW gateway
  bl_wait_port $P_GW2 unbuffered
  bl_wait_port $P_NGX nginx
  body_list=("upstream-direct:upstream:$P_UP" "hardened-serve:gateway:$P_GW"
    "hardened-serve-unbuffered:unbuffered:$P_GW2" "nginx:nginx:$P_NGX")
  if [ -n "$BASELINE" ]; then
    # An older binary may predate the body size limit (and buffering).
    limit=()
    "$BASELINE" serve --help 2>/dev/null | grep -q -- --client-max-body-size && limit=(--client-max-body-size 0)
    bl_start baseline env HARDENED_LOG=error "$BASELINE" serve --config "$tmp/gateway.yaml" \
      --listen "127.0.0.1:$P_BASE" --upstream "http://127.0.0.1:$P_UP" "${limit[@]}"
    bl_wait_port $P_BASE baseline
    body_list+=("baseline-serve:baseline:$P_BASE")
  fi

  # One transfer with curl; prints "seconds cpu-ms" and checks the byte count.
  transfer() { # up|down, server, port
    local before out secs bytes
    before=$(bl_cpu_ticks "$2")
    if [ "$1" = up ]; then
      out=$(curl -s -H "Host: $HOST" -H 'Content-Type: application/octet-stream' \
        --data-binary @"$tmp/big.bin" -w ' %{time_total}' "http://127.0.0.1:$3/upload")
      bytes=${out%% *}
      bytes=${bytes//[^0-9]/}
    else
      out=$(curl -s -H "Host: $HOST" -o /dev/null -w '%{size_download} %{time_total}' \
        "http://127.0.0.1:$3/download/$body_bytes")
      bytes=${out%% *}
    fi
    secs=${out##* }
    [ "$bytes" = "$body_bytes" ] || bl_die "$1 through 127.0.0.1:$3 moved $bytes bytes, not $body_bytes"
    echo "$secs $(awk -v d=$(($(bl_cpu_ticks "$2") - before)) -v hz="$BL_CLK_TCK" 'BEGIN {printf "%.0f", d / hz * 1000}')"
  }
  declare -A mibs=() cpums=()
  echo "== bodies: ${BODY_MIB} MiB POST and GET, $BODY_ROUNDS rounds in rotation ($(machine_line))"
  for t in "${body_list[@]}"; do # warm-up (temporary files, page cache)
    IFS=: read -r label server port <<<"$t"
    transfer up "$server" "$port" >/dev/null
    transfer down "$server" "$port" >/dev/null
  done
  for r in $(seq 1 "$BODY_ROUNDS"); do
    for dir in up down; do
      for t in "${body_list[@]}"; do
        IFS=: read -r label server port <<<"$t"
        read -r secs ms <<<"$(transfer "$dir" "$server" "$port")"
        v=$(awk -v s="$secs" -v m="$BODY_MIB" 'BEGIN {printf "%.1f", m / s}')
        mibs[$dir-$label]="${mibs[$dir-$label]:-} $v"
        cpums[$dir-$label]="${cpums[$dir-$label]:-} $ms"
        printf '  round %d  %-4s %-28s %8.1f MiB/s  %6d ms proxy CPU\n' "$r" "$dir" "$label" "$v" "$ms"
      done
    done
  done

  # The latency a buffered 1 MiB request body adds: sequential POSTs on one connection,
  # SMALL_BODY_N per target and round, BODY_ROUNDS rounds in rotation.
  declare -A small=()
  if [ -n "$OHA" ]; then
    echo "== bodies: 1 MiB POST, oha -c1 -n $SMALL_BODY_N (sequential, keep-alive), $BODY_ROUNDS rounds in rotation"
    for r in $(seq 1 "$BODY_ROUNDS"); do
      for t in "${body_list[@]}"; do
        IFS=: read -r label server port <<<"$t"
        json=$("$OHA" --no-tui --output-format json --worker-threads 1 -c 1 -n "$SMALL_BODY_N" \
          -m POST -D "$tmp/1m.bin" -T application/octet-stream -H "Host: $HOST" \
          "http://127.0.0.1:$port/upload" 2>/dev/null) || bl_die "oha failed on 127.0.0.1:$port"
        jq -e '.statusCodeDistribution | keys | all(. == "200")' >/dev/null <<<"$json" ||
          bl_die "non-200 answers posting 1 MiB to 127.0.0.1:$port"
        read -r p50 p99 <<<"$(jq -r '"\(.latencyPercentiles.p50 * 1000) \(.latencyPercentiles.p99 * 1000)"' <<<"$json")"
        small[$label-p50]="${small[$label-p50]:-} $p50"
        small[$label-p99]="${small[$label-p99]:-} $p99"
        printf '  round %d  %-28s p50 %7.3f ms  p99 %7.3f ms\n' "$r" "$label" "$p50" "$p99"
      done
    done
  fi
  {
    echo "### Large bodies (${BODY_MIB} MiB, curl, one transfer at a time)"
    echo
    echo "$BODY_ROUNDS rounds in rotation; $(machine_line) at the end. MiB/s median (min–max);"
    echo "proxy CPU: user + system ms of the proxy per transfer, median."
    echo
    echo "| target | upload MiB/s | upload proxy CPU ms | download MiB/s | download proxy CPU ms |"
    echo "|---|---:|---:|---:|---:|"
    for t in "${body_list[@]}"; do
      l=${t%%:*}
      printf '| %s | %.1f (%s) | %.0f | %.1f (%s) | %.0f |\n' "$l" \
        "$(bl_median <<<"${mibs[up-$l]}")" "$(bl_range %.1f <<<"${mibs[up-$l]}")" "$(bl_median <<<"${cpums[up-$l]}")" \
        "$(bl_median <<<"${mibs[down-$l]}")" "$(bl_range %.1f <<<"${mibs[down-$l]}")" "$(bl_median <<<"${cpums[down-$l]}")"
    done
    echo
    for dir in up down; do
      rs=$(bl_ratios "${mibs[$dir-hardened-serve]}" "${mibs[$dir-nginx]}")
      printf '| hardened serve ÷ nginx, %s | %.3f (%s) |\n' "$([ $dir = up ] && echo upload || echo download)" \
        "$(bl_median <<<"$rs")" "$(bl_range %.3f <<<"$rs")"
    done | {
      echo "| ratio (per round) | median (min–max) |"
      echo "|---|---:|"
      cat
    }
    echo
    if [ -n "$OHA" ]; then
      echo "### A 1 MiB request body: added latency of buffering"
      echo
      echo "oha -c1 -n $SMALL_BODY_N, POST of 1 MiB on one keep-alive connection (the upstream reads it"
      echo "all), $BODY_ROUNDS rounds in rotation; medians over rounds (min–max)."
      echo
      echo "| target | p50 ms | p99 ms | p50 − direct ms |"
      echo "|---|---:|---:|---:|"
      d50=$(bl_median <<<"${small[upstream-direct-p50]}")
      for t in "${body_list[@]}"; do
        l=${t%%:*}
        p50=$(bl_median <<<"${small[$l-p50]}")
        printf '| %s | %.3f (%s) | %.3f (%s) | %.3f |\n' "$l" "$p50" "$(bl_range %.3f <<<"${small[$l-p50]}")" \
          "$(bl_median <<<"${small[$l-p99]}")" "$(bl_range %.3f <<<"${small[$l-p99]}")" \
          "$(awk -v a="$p50" -v b="$d50" 'BEGIN {print a - b}')"
      done
      on=$(bl_median <<<"${small[hardened-serve-p50]}")
      off=$(bl_median <<<"${small[hardened-serve-unbuffered-p50]}")
      echo
      printf 'Buffering adds %.3f ms at p50 to a 1 MiB request body (gateway buffering on − off, medians).\n' \
        "$(awk -v a="$on" -v b="$off" 'BEGIN {print a - b}')"
      echo
    fi
  } >>"$summary"
  for s in upstream gateway unbuffered nginx baseline; do bl_stop $s; done
fi

# ---------------------------------------------------------------------------------------
# idle: memory per idle keep-alive connection.

if has_mode idle; then
  max_n=0
  for n in $IDLE_COUNTS; do [ "$n" -gt "$max_n" ] && max_n=$n; done
  # Each server and the client need max_n descriptors and some spare.
  want=$((max_n + 512))
  if [ "$(ulimit -n)" -lt "$want" ]; then
    ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
  fi
  [ "$(ulimit -n)" -ge "$want" ] || bl_die "open files limit $(ulimit -n) < $want; lower BENCH_HTTP_IDLE_COUNTS"
  gateway_yaml "$tmp/gateway.yaml" "$GW_DOMAINS"
  bl_start upstream "$BIN/bench-server" bare "127.0.0.1:$P_UP"
  bl_wait_port $P_UP upstream
  declare -A rss=()
  idle_targets=(gateway)
  [ -n "$BASELINE" ] && idle_targets+=(baseline)
  idle_targets+=(nginx haproxy)
  echo "== idle: RSS per idle keep-alive connection at $IDLE_COUNTS connections ($(machine_line))"
  for n in $IDLE_COUNTS; do
    for target in "${idle_targets[@]}"; do
      # A fresh server for each count: allocators keep freed memory.
      case $target in
        gateway)
          bl_start srv env HARDENED_LOG=error "$BIN/hardened" serve --config "$tmp/gateway.yaml" \
            --listen "127.0.0.1:$P_GW" --upstream "http://127.0.0.1:$P_UP" --idle-timeout 3600
          port=$P_GW
          ;;
        baseline)
          bl_start srv env HARDENED_LOG=error "$BASELINE" serve --config "$tmp/gateway.yaml" \
            --listen "127.0.0.1:$P_BASE" --upstream "http://127.0.0.1:$P_UP" --idle-timeout 3600
          port=$P_BASE
          ;;
        nginx)
          nginx_conf "$tmp/nginx-idle" $P_NGX $P_UP $((max_n + 256)) 1m
          bl_start srv "$NGINX" -p "$tmp/nginx-idle" -c "$tmp/nginx-idle/nginx.conf" -e "$tmp/nginx-idle/error.log"
          port=$P_NGX
          ;;
        haproxy)
          haproxy_conf "$tmp/haproxy-idle.cfg" $P_HAP $P_UP $((max_n + 256))
          bl_start srv "$HAPROXY" -db -f "$tmp/haproxy-idle.cfg"
          port=$P_HAP
          ;;
      esac
      bl_wait_port "$port" srv
      # Warm: some requests on short connections, so lazily built state exists.
      wrk -t1 -c4 -d1s -H "Host: $HOST" "http://127.0.0.1:$port/" >/dev/null
      sleep 0.5
      base=$(bl_rss_kib srv)
      coproc IDLE { "$BIN/idle-conns" "127.0.0.1:$port" "$HOST" "$n"; }
      BL_PIDS+=("$IDLE_PID")
      line=""
      read -r -t 120 line <&"${IDLE[0]}" || true
      [[ "$line" == open* ]] || bl_die "idle-conns did not open $n connections to $target: $line"
      sleep 1
      after=$(bl_rss_kib srv)
      per=$(awk -v a="$after" -v b="$base" -v n="$n" 'BEGIN {printf "%.1f", (a - b) * 1024 / n / 1024}')
      rss[$target-$n]="$base $after $per"
      printf '  %-8s %6d connections: RSS %7d KiB before, %7d KiB open; %6.1f KiB per connection\n' \
        "$target" "$n" "$base" "$after" "$per"
      idle_pid=$IDLE_PID
      idle_fd=${IDLE[1]}
      exec {idle_fd}>&-
      wait "$idle_pid" 2>/dev/null || true
      bl_stop srv
    done
  done
  bl_stop upstream
  {
    echo "### Memory per idle keep-alive connection"
    echo
    echo "A fresh server per count; after a 1 s warm-up, \`idle-conns\` opens N connections, does one"
    echo "request on each and keeps them open; RSS (VmRSS of the process and its workers)"
    echo "with N open minus before, ÷ N. Gateway: \`--idle-timeout 3600\`, 3 domains. $(machine_line) at the end."
    echo
    echo "| server | connections | RSS before KiB | RSS open KiB | KiB per connection |"
    echo "|---|---:|---:|---:|---:|"
    for target in "${idle_targets[@]}"; do
      for n in $IDLE_COUNTS; do
        read -r b a p <<<"${rss[$target-$n]}"
        echo "| $target | $n | $b | $a | $p |"
      done
    done
    echo
  } >>"$summary"
fi

echo
cat "$summary"
if [ -n "$OUT" ]; then
  cp "$summary" "$OUT"
fi
