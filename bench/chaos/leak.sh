#!/usr/bin/env bash
# Leaking worker: every request keeps 1 MiB more; max_worker_memory is 64
# MB. Under steady load the supervisor must retire workers as they cross
# the limit (after their current request), and not one request may fail.
# Last line:
#   leak requests=N failed=F recycled=R max_latency_ms=L rss_before_mb=A rss_after_mb=B pass=yes|no
# Usage: bench/chaos/leak.sh [SECONDS] [WORKERS] [CONNECTIONS]
source "$(dirname "$0")/common.sh"
seconds=${1:-20}; workers=${2:-2}; conns=${3:-4}
port=$(free_port)
start_coyote "version: \"3\"
server:
  command: \"php $root/bench/chaos/leak-worker.php\"
http:
  address: 127.0.0.1:$port
  pool:
    num_workers: $workers
    allocate_timeout: 30s
    supervisor:
      max_worker_memory: 64
logs:
  level: info" "$port"
rss_before=$(rss_mb)
wrk -t2 -c"$conns" -d"${seconds}s" --timeout 10s --latency "http://127.0.0.1:$port/" > "$work/wrk.txt" 2>&1
read -r requests failed maxlat < <(wrk_summary "$work/wrk.txt")
recycled=$(grep -c 'retiring worker.*maxMemoryReached' "$work/coyote.log" || true)
rss_after=$(rss_mb)
pass=no
if [ "$failed" -eq 0 ] && [ "$recycled" -ge 1 ] && kill -0 "$coyote_pid"; then pass=yes; fi
cat "$work/wrk.txt" >&2
grep -m3 "retiring worker" "$work/coyote.log" >&2 || true
echo "leak requests=$requests failed=$failed recycled=$recycled max_latency_ms=$maxlat rss_before_mb=$rss_before rss_after_mb=$rss_after pass=$pass"
[ "$pass" = yes ]
