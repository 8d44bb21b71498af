#!/usr/bin/env bash
# 10x more connections than workers, each request holding its worker for
# 20 ms, so most connections are always waiting in the pool's queue.
# Pass: no request fails, and the server's peak RSS (sampled every 100 ms)
# stays within 20 MB of its idle RSS: waiting requests cost a queue slot,
# not buffers.
# Last line:
#   queue-pressure requests=N failed=F max_latency_ms=L rss_before_mb=A rss_peak_mb=P rss_after_mb=B pass=yes|no
# Usage: bench/chaos/queue-pressure.sh [SECONDS] [WORKERS] [FACTOR]
source "$(dirname "$0")/common.sh"
seconds=${1:-15}; workers=${2:-4}; factor=${3:-10}
conns=$((workers * factor))
port=$(free_port)
start_coyote "version: \"3\"
server:
  command: \"php $root/crates/coyote/tests/workers/http.php\"
http:
  address: 127.0.0.1:$port
  pool:
    num_workers: $workers
    allocate_timeout: 60s
logs:
  level: error" "$port"
rss_before=$(rss_mb)
wrk -t2 -c"$conns" -d"${seconds}s" --timeout 30s --latency "http://127.0.0.1:$port/slow?ms=20" > "$work/wrk.txt" 2>&1 &
wrk_pid=$!
peak=$rss_before
while kill -0 "$wrk_pid" 2>/dev/null; do
  now=$(rss_mb)
  peak=$(awk -v a="$peak" -v b="$now" 'BEGIN{print (b > a) ? b : a}')
  sleep 0.1
done
wait "$wrk_pid" || true
read -r requests failed maxlat < <(wrk_summary "$work/wrk.txt")
rss_after=$(rss_mb)
pass=no
if [ "$failed" -eq 0 ] && awk -v p="$peak" -v b="$rss_before" 'BEGIN{exit !(p <= b + 20)}' && kill -0 "$coyote_pid"; then pass=yes; fi
cat "$work/wrk.txt" >&2
echo "queue-pressure requests=$requests failed=$failed max_latency_ms=$maxlat rss_before_mb=$rss_before rss_peak_mb=$peak rss_after_mb=$rss_after pass=$pass"
[ "$pass" = yes ]
