#!/usr/bin/env bash
# Counts what one kv call costs beyond the work: context switches and CPU
# time per call of coyote, PHP and Redis (from /proc), then syscalls per
# call of coyote and PHP (strace -c, a second pass: strace slows it).
#   bench/kv/count.sh COYOTE_BINARY SDK_DIR memory|redis|php-redis get|set|mget10 N
# e.g. bench/kv/count.sh target/release/coyote php redis get 5000
# Needs strace; Redis at $COYOTE_TEST_REDIS (default 127.0.0.1:6379), db 15.
set -euo pipefail
BIN=$1 SDK=$(realpath "$2") TARGET=$3 OP=$4 N=$5
REDIS=${COYOTE_TEST_REDIS:-127.0.0.1:6379}
HERE=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
. "$HERE/server.sh"
kv_server "$BIN" "$out" "$REDIS"
srv=$server
coproc PHP { exec php -d opcache.enable_cli=1 $HERE/op.php $SDK $rpc $REDIS $TARGET $OP $N; }
read -r _ php_pid <&${PHP[0]}
cs() { cat /proc/$1/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches|^nonvoluntary_ctxt_switches/{s+=$2} END{print s}'; }
# The first redis-server on the machine (the brokers run one).
redis_pid=$(pgrep -x redis-server | head -1)
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
c0=$(cs $srv); p0=$(cs $php_pid); r0=$(cs $redis_pid)
u0=$(cpu $srv); v0=$(cpu $php_pid); w0=$(cpu $redis_pid)
echo go >&${PHP[1]}
read -r result <&${PHP[0]}
c1=$(cs $srv); p1=$(cs $php_pid); r1=$(cs $redis_pid)
u1=$(cpu $srv); v1=$(cpu $php_pid); w1=$(cpu $redis_pid)
echo "$result"
tck=$(getconf CLK_TCK)
echo "cpu_us/op: coyote $(( (u1-u0)*1000000/tck/N )) php $(( (v1-v0)*1000000/tck/N )) redis $(( (w1-w0)*1000000/tck/N ))"
echo "ctxsw/op: coyote $(( (c1-c0)*100/N ))e-2 php $(( (p1-p0)*100/N ))e-2 redis $(( (r1-r0)*100/N ))e-2"
strace -c -f -p $srv -o $out/srv.strace 2>/dev/null & s1=$!
strace -c -p $php_pid -o $out/php.strace 2>/dev/null & s2=$!
sleep 1 # strace has no readiness signal; a benchmark tool, not a test
echo go >&${PHP[1]}
read -r result <&${PHP[0]}
kill -INT $s1 $s2; wait $s1 $s2 2>/dev/null || true
for f in srv php; do echo "-- $f syscalls/op:"; awk -v n=$N '$NF=="total" {printf "  TOTAL=%.2f\n", $4/n; next} NR>2 && $4+0>0 {printf "  %s=%.2f", $NF, $4/n}' $out/$f.strace; done
exec {PHP[1]}>&-
kill -TERM $srv; wait $srv 2>/dev/null || true
rm -rf $out
