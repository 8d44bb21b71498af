#!/usr/bin/env bash
# Payload scaling (issue 16): request and response bodies of 1 KiB, 64 KiB,
# 1 MiB and 16 MiB, echoed (the response body is the request body), through
#   pipe    raw pipe bandwidth: `dd bs=SIZE | cat` (one way, streaming, no
#           round trip), pinned both to one CPU and to two different CPUs
#           (on this VM a pipe between two vCPUs moves ~0.6-0.9 GB/s at any
#           block size, against 1.4-7 GB/s on one vCPU, so unpinned figures
#           flip between the two with scheduler placement); and the C
#           ceiling driver with the C echo worker
#           (bench/ceiling: goridge frames over a pipe pair, a worker that
#           costs ~nothing: the kernel's round-trip floor);
#   no-pool the C ceiling driver with the PHP SDK echo worker (php/workers/echo.php):
#           PHP's own cost, no Coyote;
#   pool    coyote_pool::Pool (bench/pool-echo), same PHP worker, pipes,
#           one call in flight per worker;
#   http    Coyote's HTTP server, POST SIZE bytes (application/octet-stream)
#           to bench/payload/worker.php, which answers with the same body;
#           wrk with a Lua body, keep-alive, one connection per worker.
# MiB/s counts the body once (the request body: the same bytes travel back
# in the response, so the bytes moved are twice that), MiB = 2^20 bytes;
# µs/MiB = 1e6 / (MiB/s), i.e. wall time per MiB of body at this
# concurrency: constant when cost grows linearly with size (the per-call
# overhead dominates the small sizes). p99 is per call / request, in µs.
# CPU per call (second table): user+sys of everything on the serving side
# (driver or pool or coyote, plus the PHP workers; not wrk) divided by the
# calls: it is what linearity is judged on, since wall-clock rates on this
# shared 2-core VM move with other load while CPU per byte moves much less.
#   C echo / no-pool: the ceiling driver's -v (driver + workers, measured part)
#   pool: bash `time` of the whole pool-echo run (workers included, as they
#         are reaped) over its calls + 200 warm-up calls; includes starting
#         two PHP processes (~50 ms), negligible against the calls
#   http: /proc utime+stime of coyote and its workers around the wrk run
# Every cell is SECONDS long (default 2; plus each tool's warm-up).
# Output: two markdown tables (rates and p99; CPU per call and per MiB),
# then one line
#   payload workers=W sizes=1k/64k/1m/16m pipe_1cpu_mibps=a/b/c/d pipe_2cpu_mibps=...
#     ... pool_mibps=...
#     http_mibps=... pool_p99_us=... http_p99_us=... pool_cpu_us_per_mib=...
#     http_cpu_us_per_mib=... nopool_cpu_lin=R pool_cpu_lin=R http_cpu_lin=R
# where *_cpu_lin = CPU µs/MiB at 16 MiB / CPU µs/MiB at 1 MiB (1.0 =
# linear; > 1: the largest size costs more per byte).
# Usage: bench/payload/run.sh [WORKERS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh
root=$PWD
workers=${1:-2}; seconds=${2:-2}
sizes=(1024 65536 1048576 16777216)
scripts/deps.sh bench
cargo build --release -q -p coyote -p pool-echo
work=$(mktemp -d); chmod 755 "$work"
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
OUT="$work/ceiling" bench/ceiling/build.sh >/dev/null
export LC_ALL=C

# --- Coyote HTTP with the echo worker, a fresh server for every size: when
# wrk stops it drops the requests in flight, and a worker whose large request
# was cut off midway is out of service until the pool gives up draining it
# (stream_timeout, 60 s; see BENCHMARKS.md "payload scaling"), which would
# stall the next cell. OPcache off, as the pool-echo and ceiling workers run:
# the same PHP on every path.
coyote_pid=
start_coyote() {
  hport=$(free_port)
  coyote_http_start "$hport" "$workers" "php $root/bench/payload/worker.php" || exit 1
}
stop_coyote() {
  kill -9 "$coyote_pid" 2>/dev/null || true # its workers exit on their stdin's EOF
  wait "$coyote_pid" 2>/dev/null || true
}

field() { # line key -> value of key=value
  tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1==k{print $2}'
}
ceiling_cpu() { # total CPU µs per call from the ceiling's -v line in WORK/cpu.txt
  sed -n 's/.*(total \([0-9.]*\);.*/\1/p' "$work/cpu.txt"
}
ticks=$(getconf CLK_TCK)
other_cpu=$(( $(nproc) > 1 ? 1 : 0 ))
pipe_mibps() { # block_size count writer_cpu reader_cpu -> MiB/s of dd | cat
  taskset -c "$3" dd if=/dev/zero bs="$1" count="$2" 2>"$work/dd.txt" | taskset -c "$4" cat > /dev/null
  awk '/bytes/ && /copied/ {for (i = 1; i <= NF; i++) if ($i ~ /^s,?$/) s = $(i-1); print $1 / s / 1048576; exit}' "$work/dd.txt"
}
server_ticks() { # utime+stime of coyote and its children (the workers), in ticks
  local total=0 p
  for p in "$coyote_pid" $(pgrep -P "$coyote_pid"); do
    total=$((total + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat")))
  done
  echo "$total"
}
: > "$work/results.tsv"
for size in "${sizes[@]}"; do
  # (a) raw pipe: dd streaming one way (~1 GiB, 256 MiB for 1 KiB blocks),
  # writer and reader on one CPU, then on two
  total=$((1 << 30)); [ "$size" -lt 65536 ] && total=$((1 << 28))
  dd_same=$(pipe_mibps "$size" $((total / size)) 0 0)
  dd_cross=$(pipe_mibps "$size" $((total / size)) 0 "$other_cpu")
  # (a') round trip over pipes with a C echo worker
  line=$("$work/ceiling" -v -w "$workers" -d "$seconds" -u 0.3 -s "$size" -- bench/ceiling/c-echo 2>"$work/cpu.txt")
  cecho_cps=$(field "$line" calls_per_sec); cecho_p99=$(field "$line" p99_us); cecho_cpu=$(ceiling_cpu)
  # (b0) no pool: the C driver with the PHP SDK echo worker
  line=$("$work/ceiling" -v -w "$workers" -d "$seconds" -u 0.3 -s "$size" -- php php/workers/echo.php 2>"$work/cpu.txt")
  nopool_cps=$(field "$line" calls_per_sec); nopool_p99=$(field "$line" p99_us); nopool_cpu=$(ceiling_cpu)
  # (b) the pool (concurrency = workers)
  TIMEFORMAT='%U %S'
  { time target/release/pool-echo --workers "$workers" --relays pipes --concurrency "$workers" \
    --seconds "$seconds" --body "$size" --worker php/workers/echo.php > "$work/pool.txt"; } 2> "$work/time.txt"
  read -r pool_calls pool_cps pool_p99 < <(awk '$1=="pipes"{print $4, $5, $7; exit}' "$work/pool.txt")
  pool_cpu=$(awk -v n="$pool_calls" '{print ($1 + $2) * 1e6 / (n + 200)}' "$work/time.txt")
  # (c) HTTP: a fresh server; check the echo, warm up with complete requests
  # (curl, one at a time: a wrk warm-up would leave cut-off requests behind), measure
  start_coyote
  head -c "$size" /dev/zero | tr '\0' x > "$work/body.bin"
  for _ in $(seq $((2 * workers))); do
    check=$(curl -s -o "$work/resp.bin" -w '%{http_code} %{size_download}' -H 'Expect:' -H 'Content-Type: application/octet-stream' \
      --data-binary @"$work/body.bin" "http://127.0.0.1:$hport/")
    if [ "$check" != "200 $size" ] || ! cmp -s "$work/body.bin" "$work/resp.bin"; then
      echo "HTTP echo of $size bytes failed: $check" >&2; cat "$work/coyote.log" >&2; exit 1
    fi
  done
  cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.body = string.rep("x", $size)
LUA
  c0=$(server_ticks)
  read -r http_rps http_p99_ms http_err <<<"$(run_wrk "http://127.0.0.1:$hport/" "$seconds" "$workers" --timeout 10s -s "$work/post.lua")"
  c1=$(server_ticks)
  stop_coyote
  http_reqs=$(awk '/requests in/{print $1}' "$work/wrk.txt")
  http_cpu=$(python3 -c "print(($c1 - $c0) * 1e6 / $ticks / $http_reqs)")
  if [ -n "${http_err:-}" ]; then echo "HTTP errors at $size bytes: $http_err" >&2; cat "$work/wrk.txt" >&2; exit 1; fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$dd_same" "$cecho_cps" "$cecho_p99" \
    "$nopool_cps" "$nopool_p99" "$pool_cps" "$pool_p99" "$http_rps" "$http_p99_ms" \
    "$cecho_cpu" "$nopool_cpu" "$pool_cpu" "$http_cpu" "$dd_cross" >> "$work/results.tsv"
done

python3 - "$work/results.tsv" "$workers" "$seconds" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
workers, seconds = sys.argv[2], sys.argv[3]
def name(n):
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB"
def short(n):
    return f"{n >> 20}m" if n >= 1 << 20 else f"{n >> 10}k"
def num(x):
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"
inv = lambda m: 1e6 / m if m > 0 else float("inf")
paths = ["cecho", "nopool", "pool", "http"]
data = []
for r in rows:
    size = int(r[0]); mib = size / 1048576
    d = {"size": size, "mib": mib, "dd": float(r[1]), "ddx": float(r[14])}
    for k, (cps, p99, scale) in zip(paths, [(r[2], r[3], 1), (r[4], r[5], 1), (r[6], r[7], 1), (r[8], r[9], 1000)]):
        d[k] = float(cps) * mib            # MiB/s, body one way
        d[k + "_p99"] = float(p99) * scale  # µs
    for k, cpu in zip(paths, r[10:14]):
        d[k + "_cpu"] = float(cpu)          # CPU µs per call
        d[k + "_cpu_mib"] = float(cpu) / mib
    data.append(d)
print(f"workers={workers}, {seconds} s per cell, body echoed (the response body is the request body); "
      "MiB/s counts the body one way; p99 in µs per call; wall µs/MiB = 1e6 / (MiB/s)")
print()
print("| body | pipe MiB/s 1 CPU | pipe 2 CPUs | C echo MiB/s | p99 | no-pool PHP MiB/s | p99 | pool MiB/s | p99 "
      "| HTTP MiB/s | p99 | wall µs/MiB: C echo | no-pool | pool | HTTP |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for d in data:
    print(f"| {name(d['size'])} | {num(d['dd'])} | {num(d['ddx'])} | " + " | ".join(f"{num(d[k])} | {num(d[k + '_p99'])}" for k in paths)
          + " | " + " | ".join(num(inv(d[k])) for k in paths) + " |")
print()
print("CPU per call (serving side: driver / pool / coyote + PHP workers; not wrk), µs, and per MiB of body:")
print()
print("| body | C echo µs/call | no-pool | pool | HTTP | C echo µs/MiB | no-pool | pool | HTTP |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for d in data:
    print(f"| {name(d['size'])} | " + " | ".join(num(d[k + '_cpu']) for k in paths) + " | "
          + " | ".join(num(d[k + '_cpu_mib']) for k in paths) + " |")
def lin(key):
    a = next((d[key] for d in data if d["size"] == 1 << 20), None)
    b = next((d[key] for d in data if d["size"] == 16 << 20), None)
    return f"{b / a:.2f}" if a and b else "n/a"
keys = {
    "pipe_1cpu_mibps": [d["dd"] for d in data],
    "pipe_2cpu_mibps": [d["ddx"] for d in data],
    "cecho_mibps": [d["cecho"] for d in data],
    "nopool_mibps": [d["nopool"] for d in data],
    "pool_mibps": [d["pool"] for d in data],
    "http_mibps": [d["http"] for d in data],
    "pool_p99_us": [d["pool_p99"] for d in data],
    "http_p99_us": [d["http_p99"] for d in data],
    "pool_cpu_us_per_mib": [d["pool_cpu_mib"] for d in data],
    "http_cpu_us_per_mib": [d["http_cpu_mib"] for d in data],
}
print()
print("payload workers=" + workers + " sizes=" + "/".join(short(d["size"]) for d in data) + " "
      + " ".join(f"{k}={'/'.join(f'{x:.0f}' for x in v)}" for k, v in keys.items())
      + f" nopool_cpu_lin={lin('nopool_cpu_mib')} pool_cpu_lin={lin('pool_cpu_mib')} http_cpu_lin={lin('http_cpu_mib')}")
PY
