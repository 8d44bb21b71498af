#!/usr/bin/env bash
# HTTP hello-world and JSON echo: Coyote vs nginx + php-fpm, same number of
# PHP processes, wrk on loopback, in one run. Last line:
#   http-hello coyote_rps=N fpm_rps=M ratio=R coyote_p99_ms=X fpm_p99_ms=Y coyote_rss_mb=Z
#     cpu_us_per_req=C (cpu_user_us=U cpu_sys_us=S) allocs_per_req=A
#     http_ceiling_rps=H ceiling_ratio=Q
# CPU per request: utime+stime of the coyote process over the measured hello
# run divided by the requests wrk completed. Allocations per request: a second,
# short run of a `--features count-allocs` build (a counting global allocator,
# exported as coyote_allocations_total), allocations over requests between two
# scrapes; its rate is not reported (the counting costs two atomics per
# allocation).
# HTTP ceiling (issue 16): the C driver of bench/ceiling feeds the same PHP
# workers (worker.php, same count, OPcache on) the very request frame Coyote
# sends for wrk's `GET /` (captured from a running Coyote by
# bench/ceiling/capture-http.sh), for the same duration, with no server and
# no wrk running: PHP's own limit on this route. ceiling_ratio =
# coyote_rps / http_ceiling_rps, where coyote_rps was measured with wrk
# sharing the cores and the ceiling with the driver alone.
# Usage: bench/http-hello/run.sh [WORKERS] [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh
root=$PWD
workers=${1:-4}; seconds=${2:-10}; conns=${3:-64}
scripts/deps.sh bench
# The counting build first (kept aside), then the normal one: cargo keeps both
# feature sets' artifacts, so switching back costs only the final link.
cargo build --release -q -p coyote --features count-allocs
counting_bin=$(mktemp); cp target/release/coyote "$counting_bin"; chmod 755 "$counting_bin"
cargo build --release -q -p coyote
work=$(mktemp -d); chmod 755 "$work"; trap 'rm -f "$counting_bin"; kill $(jobs -p) 2>/dev/null || true; stop_servers "$work"; rm -rf "$work"' EXIT
cport=$(free_port); nport=$(free_port)

# --- Coyote
# OPcache on, as php-fpm has it by default (and as RoadRunner's docs advise
# for workers): both sides run the same optimised PHP.
coyote_http_start "$cport" "$workers" "php -d opcache.enable_cli=1 $root/bench/http-hello/worker.php"
idle_rss_kb=$(awk '/VmRSS/{print $2}' /proc/$coyote_pid/status)

# --- nginx + php-fpm (static pool of the same size, unix socket)
fpm_start "$work" "$workers"
nginx_start "$work" "$nport" "    location / {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $root/bench/http-hello/fpm/index.php;
      fastcgi_pass unix:$work/fpm.sock;
      fastcgi_keep_conn on;
    }"
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$nport/" >/dev/null && break; sleep 0.1; done

ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12, $13 }' "/proc/$1/stat"; } # utime stime
printf "%-8s %-6s %12s %10s  %s\n" server route rps p99_ms errors
for route in / "/echo?x=1"; do
  # warm up both, then measure side by side
  wrk -t1 -c8 -d1s "http://127.0.0.1:$cport$route" >/dev/null 2>&1
  wrk -t1 -c8 -d1s "http://127.0.0.1:$nport$route" >/dev/null 2>&1
  read -r u0 s0 <<<"$(cpu_ticks "$coyote_pid")"
  read -r c_rps c_p99 c_err <<<"$(run_wrk "http://127.0.0.1:$cport$route" "$seconds" "$conns")"
  read -r u1 s1 <<<"$(cpu_ticks "$coyote_pid")"
  c_reqs=$(awk '/requests in/{print $1}' "$work/wrk.txt")
  c_rss_kb=$(awk '/VmRSS/{print $2}' /proc/$coyote_pid/status)
  read -r f_rps f_p99 f_err <<<"$(run_wrk "http://127.0.0.1:$nport$route" "$seconds" "$conns")"
  printf "%-8s %-6s %12s %10s  %s\n" coyote "$route" "$c_rps" "$c_p99" "${c_err:-}"
  printf "%-8s %-6s %12s %10s  %s\n" fpm "$route" "$f_rps" "$f_p99" "${f_err:-}"
  if [ "$route" = / ]; then
    h_c=$c_rps; h_f=$f_rps; h_cp=$c_p99; h_fp=$f_p99
    cpu_user=$(python3 -c "print(f'{($u1-$u0)*1e6/$ticks/$c_reqs:.1f}')")
    cpu_sys=$(python3 -c "print(f'{($s1-$s0)*1e6/$ticks/$c_reqs:.1f}')")
    cpu_total=$(python3 -c "print(f'{(($u1-$u0)+($s1-$s0))*1e6/$ticks/$c_reqs:.1f}')")
  fi
  if [ -n "${f_err:-}" ] || [ -n "${c_err:-}" ]; then echo "errors in a run: the comparison is invalid" >&2; exit 1; fi
done
# --- allocations per request (the counting build, same config plus metrics)
kill "$coyote_pid"; wait "$coyote_pid" 2>/dev/null || true
mport=$(free_port)
sed "s/^logs:/metrics:\n  address: 127.0.0.1:$mport\nlogs:/" "$work/.rr.yaml" > "$work/count.rr.yaml"
"$counting_bin" serve -c "$work/count.rr.yaml" > "$work/count.log" 2>&1 &
count_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$cport/" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$cport/" >/dev/null || { echo "the count-allocs build did not start:" >&2; cat "$work/count.log" >&2; exit 1; }
wrk -t1 -c8 -d1s "http://127.0.0.1:$cport/" >/dev/null 2>&1
scrape() { curl -sf "http://127.0.0.1:$mport/metrics" | awk '$1=="coyote_allocations_total"{a=$2} $1 ~ /^rr_http_request_total/{r+=$2} END{print a, r}'; }
read -r a0 r0 <<<"$(scrape)"
run_wrk "http://127.0.0.1:$cport/" 3 "$conns" >/dev/null
read -r a1 r1 <<<"$(scrape)"
allocs=$(python3 -c "print(f'{($a1-$a0)/($r1-$r0):.1f}')")
kill "$count_pid"; wait "$count_pid" 2>/dev/null || true
echo "coyote CPU per hello request: ${cpu_total} us (user ${cpu_user}, sys ${cpu_sys}); allocations per request: ${allocs} ($((r1-r0)) requests, count-allocs build)"
# --- HTTP ceiling: the same workers, no server, no wrk
OUT="$work/ceiling" bench/ceiling/build.sh >/dev/null
bench/ceiling/capture-http.sh target/release/coyote "$work/hello.frame"
ceiling_line=$("$work/ceiling" -w "$workers" -d "$seconds" -f "$work/hello.frame" -- \
  php -d opcache.enable_cli=1 "$root/bench/http-hello/worker.php")
echo "http ceiling (C driver, the captured Coyote request frame, no server, no wrk): $ceiling_line"
http_ceiling=$(tr ' ' '\n' <<<"$ceiling_line" | awk -F= '$1=="calls_per_sec"{print $2}')
ceiling_ratio=$(python3 -c "print(f'{$h_c/$http_ceiling:.2f}')")
echo "coyote RSS: idle $((idle_rss_kb/1024)) MB, under load $((c_rss_kb/1024)) MB (server process only, workers excluded)"
ratio=$(python3 -c "print(f'{$h_c/$h_f:.2f}')")
echo "http-hello coyote_rps=$h_c fpm_rps=$h_f ratio=$ratio coyote_p99_ms=$h_cp fpm_p99_ms=$h_fp coyote_rss_mb=$((idle_rss_kb/1024)) cpu_us_per_req=$cpu_total cpu_user_us=$cpu_user cpu_sys_us=$cpu_sys allocs_per_req=$allocs http_ceiling_rps=$http_ceiling ceiling_ratio=$ceiling_ratio"
