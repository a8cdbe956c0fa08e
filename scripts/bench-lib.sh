# Helpers shared by the HTTP benchmark scripts (sourced, not run). Every process started
# with `bl_start` is stopped by its id on exit; every server listens on 127.0.0.1 only.
#
# The sourcing script sets BL_NAME (its name in messages) before sourcing.

BL_NAME="${BL_NAME:-bench}"
BL_TMP="$(mktemp -d)"
chmod 755 "$BL_TMP"
BL_PIDS=()
declare -A BL_PID_OF=()
BL_CLK_TCK=$(getconf CLK_TCK)
BL_APT_UPDATED=

bl_die() {
  echo "$BL_NAME: $*" >&2
  exit 1
}

bl_cleanup() {
  local p
  for p in "${BL_PIDS[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${BL_PIDS[@]}"; do
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$BL_TMP"
}
trap bl_cleanup EXIT
trap 'exit 130' INT TERM

# Installs the Debian packages whose command is missing: `bl_install cmd:package ...`.
bl_install() {
  local want missing=() cmd pkg
  for want in "$@"; do
    cmd=${want%%:*}
    pkg=${want##*:}
    command -v "$cmd" >/dev/null || [ -x "/usr/sbin/$cmd" ] || missing+=("$pkg")
  done
  [ "${#missing[@]}" -gt 0 ] || return 0
  echo "$BL_NAME: installing ${missing[*]}" >&2
  if [ -z "$BL_APT_UPDATED" ]; then
    apt-get update -qq
    BL_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Whether a Debian package exists in the configured sources (after `apt-get update`).
bl_package_exists() {
  if [ -z "$BL_APT_UPDATED" ]; then
    apt-get update -qq || true
    BL_APT_UPDATED=1
  fi
  apt-cache policy "$1" 2>/dev/null | grep -q 'Candidate: [0-9]'
}

# Fails when a port on 127.0.0.1 is taken.
bl_port_free() { # port...
  local p
  for p in "$@"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      bl_die "port $p is taken; set the port base"
    fi
  done
}

# Starts a server in the background; its output goes to $BL_TMP/NAME.log.
bl_start() { # name, command...
  local name=$1
  shift
  "$@" >"$BL_TMP/$name.log" 2>&1 &
  BL_PIDS+=($!)
  BL_PID_OF[$name]=$!
}

# Stops a server started with bl_start, by its id, and waits for it.
bl_stop() { # name
  local p=${BL_PID_OF[$1]:-} q keep=()
  [ -n "$p" ] || return 0
  kill "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  unset "BL_PID_OF[$1]"
  for q in "${BL_PIDS[@]}"; do
    [ "$q" = "$p" ] || keep+=("$q")
  done
  BL_PIDS=("${keep[@]}")
}

# Waits (at most 10 s) until a server accepts connections.
bl_wait_port() { # port, name
  local i
  for i in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "${BL_PID_OF[$2]}" 2>/dev/null; then
      break
    fi
    sleep 0.1
  done
  echo "$BL_NAME: $2 did not start on 127.0.0.1:$1:" >&2
  cat "$BL_TMP/$2.log" >&2 || true
  exit 1
}

# The process ids of a server: the process and its children (nginx's workers).
bl_server_pids() { # name
  local p=${BL_PID_OF[$1]}
  echo "$p"
  pgrep -P "$p" || true
}

# CPU time (user + system, clock ticks) of a server: every thread of the process and of
# its child processes.
bl_cpu_ticks() { # name
  local p t=0 v
  for p in $(bl_server_pids "$1"); do
    v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || v=0
    t=$((t + ${v:-0}))
  done
  echo "$t"
}

# Resident memory (KiB) of a server: the process and its child processes.
bl_rss_kib() { # name
  local p t=0 v
  for p in $(bl_server_pids "$1"); do
    v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null) || v=0
    t=$((t + ${v:-0}))
  done
  echo "$t"
}

# Statistics over whitespace-separated numbers on stdin.
bl_median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "nan"; else print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
bl_min() { tr ' ' '\n' | grep -v '^$' | sort -g | head -1; }
bl_max() { tr ' ' '\n' | grep -v '^$' | sort -g | tail -1; }
# "min–max" with a printf format for both.
bl_range() { # format
  tr ' ' '\n' | grep -v '^$' | sort -g | awk -v f="$1" 'NR==1{lo=$1} {hi=$1} END {if (NR) printf f "–" f, lo, hi; else printf "—"}'
}
bl_ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b == 0) print "nan"; else printf "%.3f", a / b}'; }
# Element-wise ratios of two lists of the same length: "a1/b1 a2/b2 ...".
bl_ratios() { # "a1 a2 ...", "b1 b2 ..."
  awk -v a="$1" -v b="$2" 'BEGIN {n = split(a, x, " "); split(b, y, " "); for (i = 1; i <= n; i++) printf "%s%.4f", (i > 1 ? " " : ""), (y[i] ? x[i] / y[i] : 0)}'
}
