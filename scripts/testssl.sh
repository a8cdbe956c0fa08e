#!/usr/bin/env bash
# testssl.sh (the Debian package) against `hardened serve` terminating TLS itself, with
# an ECDSA P-256 and an RSA 2048 certificate made by openssl for the run. Fails when
# testssl.sh finds a vulnerability, a protocol other than TLS 1.2 and 1.3, or any
# finding it rates as not OK — except "server cipher order: no", which is decided (the
# gateway leaves the choice among its suites, all AEAD with ECDHE, to the client; see
# docs/decisions.md, "TLS: the client's cipher order").
#
#   scripts/testssl.sh                 # debug build of the workspace
#   HARDENED_BIN=path scripts/testssl.sh
#
# Listens on 127.0.0.1 only; the gateway it starts is stopped by its id.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v testssl >/dev/null || command -v testssl.sh >/dev/null || missing+=(testssl.sh)
command -v openssl >/dev/null || missing+=(openssl)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "testssl: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
TESTSSL="$(command -v testssl || command -v testssl.sh)"

if [ -z "${HARDENED_BIN:-}" ]; then
  target="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
  cargo build --quiet -p hardened-cli --bin hardened
  HARDENED_BIN="$target/debug/hardened"
fi

tmp="$(mktemp -d)"
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  [ -n "${KEEP_TESTSSL:-}" ] && cp "$tmp"/*.json /tmp/ ; rm -rf "$tmp"
}
trap cleanup EXIT

fail=0
for kind in ecdsa rsa; do
  if [ "$kind" = ecdsa ]; then
    newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256)
  else
    newkey=(-newkey rsa:2048)
  fi
  openssl req -x509 "${newkey[@]}" -nodes -days 30 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost" \
    -keyout "$tmp/$kind.key" -out "$tmp/$kind.crt" 2>/dev/null
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  HARDENED_LOG=error "$HARDENED_BIN" serve --listen "127.0.0.1:$port" \
    --tls-cert "$tmp/$kind.crt" --tls-key "$tmp/$kind.key" >"$tmp/serve.out" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    grep -q "listening" "$tmp/serve.out" 2>/dev/null && break
    sleep 0.1
  done
  # Protocols, ciphers, server preferences, vulnerabilities; no rating of the
  # self-signed chain (a test certificate).
  "$TESTSSL" --quiet --color 0 --warnings off --protocols --server-defaults --server-preference \
    --vulnerable --jsonfile "$tmp/$kind.json" "localhost:$port" >"$tmp/$kind.txt" 2>&1 || true
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  python3 - "$tmp/$kind.json" "$kind" <<'PY' || fail=1
import json, sys
path, kind = sys.argv[1], sys.argv[2]
findings = json.load(open(path))
bad = []
offered = set()
for f in findings:
    fid, sev, text = f.get("id", ""), f.get("severity", ""), f.get("finding", "")
    if fid in ("SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3") and text.startswith("offered"):
        offered.add(fid)
    if fid in ("cipher_order", "cipher_order-tls1_2", "cipher_order-tls1_3"):
        continue  # decided: the client's order among suites that are all strong
    if fid.startswith("cert") or fid in ("scanProblem", "chain_of_trust", "OCSP_stapling",
                                         "DNS_CAArecord", "trust", "caa_RR", "cert_chain_of_trust"):
        continue  # the run's own self-signed certificate
    if sev in ("MEDIUM", "HIGH", "CRITICAL"):
        bad.append(f"{fid}: {sev}: {text}")
if offered != {"TLS1_2", "TLS1_3"}:
    bad.append(f"protocols offered: {sorted(offered)} (want TLS1_2, TLS1_3)")
for b in bad:
    print(f"testssl ({kind}): {b}")
print(f"testssl ({kind}): {len(findings)} findings read, {len(bad)} not OK")
sys.exit(1 if bad else 0)
PY
done
exit "$fail"
