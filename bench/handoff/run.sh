#!/usr/bin/env bash
# Hand-off listeners against the rest, one run, the same 4 PHP processes
# each (OPcache everywhere, the tracing JIT in the CLI workers; HANDOFF_JIT=0: no JIT),
# wrk over keep-alive HTTP on loopback:
#   reuseport    handoff mode reuseport, bench/handoff/worker.php (the SDK's
#                event-driven HttpServer): the kernel balances, no hop
#                through Coyote at all;
#   fd_passing   handoff mode fd_passing (least_connections), same worker;
#   goridge      Coyote's http plugin with bench/http-hello/worker.php;
#   fpm          nginx + php-fpm with bench/http-hello/fpm/index.php.
# Then balance quality: bench/handoff/balance.py holds 1,000 long
# connections among short-lived ones (skewed lifetimes) and reports max/mean
# connections per worker, for least_connections and round_robin.
# Last line:
#   handoff reuseport_rps=A fd_passing_rps=B goridge_rps=C fpm_rps=D lc_max_over_mean=E rr_max_over_mean=F
# Usage: bench/handoff/run.sh [WORKERS] [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh
root=$PWD
workers=${1:-4}; seconds=${2:-10}; conns=${3:-64}
scripts/deps.sh bench
cargo build --release -q -p coyote
ulimit -n "$(ulimit -Hn)"  # the balance run holds 1,000+ connections
work=$(mktemp -d); chmod 755 "$work"
trap 'kill $(jobs -p) 2>/dev/null || true; stop_servers "$work"; rm -rf "$work"' EXIT
# OPcache everywhere; the tracing JIT too (HANDOFF_JIT=0: without it) for
# every CLI worker alike: the goridge workers get the same options as the
# hand-off workers. php-fpm runs without it (FPM_JIT=1: with it): with the
# JIT it served 7-11k req/s against 21k without on 2026-12-04.
jit=""
if [ "${HANDOFF_JIT:-1}" != 0 ]; then jit="-d opcache.jit_buffer_size=64M -d opcache.jit=tracing"; fi
php="php -d opcache.enable_cli=1 $jit"

coyote_start() { # name yaml-body -> port in $port, pid in $cpid
  port=$(free_port)
  printf 'version: "3"\n%s\nlogs:\n  level: warn\n' "${2//@PORT@/$port}" > "$work/$1.rr.yaml"
  target/release/coyote serve -c "$work/$1.rr.yaml" > "$work/$1.log" 2>&1 &
  cpid=$!
  wait_http "http://127.0.0.1:$port/" || { cat "$work/$1.log" >&2; exit 1; }
}
coyote_stop() { kill "$cpid"; wait "$cpid" 2>/dev/null || true; }
handoff_yaml() { # mode balancer
  cat <<YAML
handoff:
  bench:
    address: tcp://127.0.0.1:@PORT@
    mode: $1
    balancer: $2
    pool:
      command: "$php $root/bench/handoff/worker.php"
      num_workers: $workers
YAML
}
measure() { # label url -> prints a row, sets rps_<label>
  wrk -t1 -c8 -d1s "$2" >/dev/null 2>&1
  read -r rps p99 errors <<<"$(run_wrk "$2" "$seconds" "$conns")"
  printf "%-11s %12s %10s  %s\n" "$1" "$rps" "$p99" "${errors:-}"
  if [ -n "${errors:-}" ]; then echo "errors in the $1 run: the comparison is invalid" >&2; exit 1; fi
  printf -v "rps_$1" %s "$rps"
}

echo "load before the runs: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; $workers PHP processes each, $conns connections, ${seconds}s; JIT: ${jit:-off}"
printf "%-11s %12s %10s  %s\n" server rps p99_ms errors
coyote_start reuseport "$(handoff_yaml reuseport least_connections)"
measure reuseport "http://127.0.0.1:$port/"
coyote_stop
coyote_start fd_passing "$(handoff_yaml fd_passing least_connections)"
measure fd_passing "http://127.0.0.1:$port/"
fd_cpid=$cpid; fd_port=$port
cpu0=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$fd_cpid/stat")
run_wrk "http://127.0.0.1:$fd_port/" 3 "$conns" >/dev/null
cpu1=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$fd_cpid/stat")
echo "fd_passing: Coyote's own CPU over a 3 s keep-alive run: $((cpu1 - cpu0)) ticks (connections are passed once; requests never cross Coyote)"
coyote_stop
coyote_start goridge "http:
  address: 127.0.0.1:@PORT@
  pool:
    num_workers: $workers
server:
  command: \"$php $root/bench/http-hello/worker.php\""
measure goridge "http://127.0.0.1:$port/"
coyote_stop
nport=$(free_port)
fpm_start "$work" "$workers" "" "$([ "${FPM_JIT:-0}" = 1 ] && echo "$jit")"
nginx_start "$work" "$nport" "    location / {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $root/bench/http-hello/fpm/index.php;
      fastcgi_pass unix:$work/fpm.sock;
      fastcgi_keep_conn on;
    }"
wait_http "http://127.0.0.1:$nport/"
measure fpm "http://127.0.0.1:$nport/"
stop_servers "$work"
echo "load after the throughput runs: $(cut -d' ' -f1-3 /proc/loadavg)"

for balancer in least_connections round_robin; do
  coyote_start "bal-$balancer" "$(handoff_yaml fd_passing "$balancer")"
  echo "balance, fd_passing $balancer:"
  out=$(python3 bench/handoff/balance.py 127.0.0.1 "$port" "$workers" 1000)
  echo "$out" | sed 's/^/  /'
  value=$(echo "$out" | sed -n 's/^max_over_mean=\([0-9.]*\).*/\1/p')
  if [ "$balancer" = least_connections ]; then lc=$value; else rr=$value; fi
  coyote_stop
done

ratio_goridge=$(python3 -c "print(f'{$rps_reuseport/$rps_goridge:.2f}')")
ratio_fd=$(python3 -c "print(f'{$rps_fd_passing/$rps_reuseport:.2f}')")
echo "reuseport/goridge=$ratio_goridge (target >= 1.2); fd_passing/reuseport=$ratio_fd (target >= 0.8); lc max/mean=$lc (target <= 1.15)"
echo "handoff reuseport_rps=$rps_reuseport fd_passing_rps=$rps_fd_passing goridge_rps=$rps_goridge fpm_rps=$rps_fpm lc_max_over_mean=$lc rr_max_over_mean=$rr"
