# Shared by the chaos scenarios: build, a temp dir, a free port, starting
# Coyote with a config, and reading its RSS. Source it; it sets `root`,
# `work` and the helpers below, and cleans up on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root=$PWD
scripts/deps.sh bench >&2
cargo build --release -q -p coyote
work=$(mktemp -d)
chmod 755 "$work"
coyote_pid=
trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "$coyote_pid" ] && kill "$coyote_pid" 2>/dev/null; rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_coyote CONFIG_TEXT PORT: writes the config, starts the server,
# waits until PORT answers.
start_coyote() {
  printf '%s\n' "$1" > "$work/.rr.yaml"
  (cd "$work" && exec "$root/target/release/coyote" serve -c "$work/.rr.yaml") > "$work/coyote.log" 2>&1 &
  coyote_pid=$!
  for _ in $(seq 200); do
    [ "$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$2/")" != 000 ] && return 0
    sleep 0.05
  done
  echo "coyote did not start:" >&2; cat "$work/coyote.log" >&2; return 1
}

rss_mb() { awk '/VmRSS/{printf "%.1f", $2/1024}' "/proc/$coyote_pid/status"; }

# wrk_summary FILE -> "requests failed max_latency_ms"
wrk_summary() {
  local requests non2xx sockerr maxlat
  requests=$(awk '/requests in/{print $1}' "$1")
  non2xx=$(awk '/Non-2xx/{print $5}' "$1"); non2xx=${non2xx:-0}
  sockerr=$(awk '/Socket errors/{gsub(",",""); print $4+$6+$8+$10}' "$1"); sockerr=${sockerr:-0}
  maxlat=$(awk '/Latency/ && !/Distribution/{v=$4; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v; exit}' "$1")
  echo "$requests $((non2xx + sockerr)) $maxlat"
}
