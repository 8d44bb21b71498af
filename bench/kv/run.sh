#!/usr/bin/env bash
# kv benchmark (issue 14 item 6): Set / Get / MGet(10) throughput and p99
# from PHP, one call at a time, through Coyote's kv RPC with the memory and
# the redis driver, beside the same operations straight to Redis with
# Debian's php-redis, in one run. Redis database 15 is used and flushed.
# Last lines, the ratios:
#   kv <op> memory_rpc/php_redis=R redis_rpc/php_redis=R   (throughput)
# Usage: bench/kv/run.sh [N operations per measurement, default 20000]
# A/B runs: COYOTE_BIN=path runs that binary instead of building one,
# KV_BENCH_CLIENT=path runs that copy of bench.php (with its own php/ SDK
# two directories up); COYOTE_SCHED etc. pass through to the server.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-20000}
scripts/deps.sh bench
source scripts/brokers.sh redis
if [ -z "${COYOTE_BIN:-}" ]; then
  cargo build --release -q -p coyote --bin coyote
  COYOTE_BIN=target/release/coyote
fi
CLIENT=${KV_BENCH_CLIENT:-bench/kv/bench.php}
out=$(mktemp -d /tmp/coyote-kv-bench.XXXXXX)
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$out"' EXIT
. bench/kv/server.sh
kv_server "$COYOTE_BIN" "$out" "$COYOTE_TEST_REDIS"
mkdir -p bench/out
php -d opcache.enable_cli=1 "$CLIENT" "$rpc" "$COYOTE_TEST_REDIS" 15 "$N" memory redis \
  | tee bench/out/kv.txt
awk '
  { split($3, a, "="); ops[$1" "$2] = a[2] }
  END {
    n = split("set get mget10", opsn, " ")
    for (i = 1; i <= n; i++) {
      o = opsn[i]; d = ops["php-redis " o]
      printf "kv %s memory_rpc/php_redis=%.2f redis_rpc/php_redis=%.2f\n", o, ops["rpc-memory " o] / d, ops["rpc-redis " o] / d
    }
  }' bench/out/kv.txt | tee -a bench/out/kv.txt
