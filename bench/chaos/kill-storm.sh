#!/usr/bin/env bash
# Kill storm: steady HTTP load (wrk) while a random worker is SIGKILLed
# every 100 ms for STORM seconds. Pass: the server stays up, failed
# requests <= kills, and the pool is back to full size within 1 s.
# Last line:
#   kill-storm kills=K requests=N failed=F max_latency_ms=L recovery_ms=R rss_before_mb=A rss_after_mb=B pass=yes|no
# Usage: bench/chaos/kill-storm.sh [STORM_SECONDS] [WORKERS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
storm=${1:-30}; workers=${2:-4}; conns=${3:-32}
scripts/deps.sh bench
cargo build --release -q -p coyote
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; kill "$coyote_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/.rr.yaml" <<YAML
version: "3"
server:
  command: "php $root/bench/http-hello/worker.php"
http:
  address: 127.0.0.1:$port
  pool:
    num_workers: $workers
    allocate_timeout: 10s
logs:
  level: error
YAML
target/release/coyote serve -c "$work/.rr.yaml" > "$work/coyote.log" 2>&1 &
coyote_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done
rss() { awk '/VmRSS/{print int($2/1024)}' /proc/$coyote_pid/status; }
rss_before=$(rss)
wrk -t2 -c"$conns" -d"$((storm + 3))s" --timeout 5s --latency "http://127.0.0.1:$port/" > "$work/wrk.txt" 2>&1 &
wrk_pid=$!
sleep 1
kills=0
end=$((SECONDS + storm))
while [ $SECONDS -lt $end ]; do
  victim=$(pgrep -P "$coyote_pid" | shuf -n 1 || true)
  if [ -n "$victim" ] && kill -9 "$victim" 2>/dev/null; then kills=$((kills + 1)); fi
  sleep 0.1
done
storm_end=$(date +%s%N)
recovery_ms=-1
for _ in $(seq 200); do
  live=$(pgrep -P "$coyote_pid" | wc -l)
  if [ "$live" -ge "$workers" ]; then recovery_ms=$((($(date +%s%N) - storm_end) / 1000000)); break; fi
  sleep 0.01
done
wait $wrk_pid || true
kill -0 "$coyote_pid" 2>/dev/null && alive=yes || alive=no
requests=$(awk '/requests in/{print $1}' "$work/wrk.txt")
non2xx=$(awk '/Non-2xx/{print $5}' "$work/wrk.txt"); non2xx=${non2xx:-0}
sockerr=$(awk '/Socket errors/{gsub(",",""); print $4+$6+$8+$10}' "$work/wrk.txt"); sockerr=${sockerr:-0}
failed=$((non2xx + sockerr))
maxlat=$(awk '/Latency/ && !/Distribution/{v=$4; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v; exit}' "$work/wrk.txt")
rss_after=$(rss)
pass=no
if [ "$alive" = yes ] && [ "$failed" -le "$kills" ] && [ "$recovery_ms" -ge 0 ] && [ "$recovery_ms" -le 1000 ]; then pass=yes; fi
cat "$work/wrk.txt" >&2
echo "server alive after the storm: $alive"
echo "kill-storm kills=$kills requests=$requests failed=$failed max_latency_ms=$maxlat recovery_ms=$recovery_ms rss_before_mb=$rss_before rss_after_mb=$rss_after pass=$pass"
[ "$pass" = yes ]
