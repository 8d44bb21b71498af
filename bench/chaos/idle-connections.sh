#!/usr/bin/env bash
# 10k idle keep-alive connections: each makes one request and then stays
# open and silent; then they all close, and the whole thing is repeated
# (4 rounds). Pass: every connection was served every round, a new request
# is still served promptly while they are held, the first round's RSS
# stays under 20 KiB per held connection plus 32 MB, and RSS has stopped
# growing by the last round (< 5 % over the round before). glibc keeps
# freed connection memory for reuse instead of returning it, and
# fragmentation adds some in the first rounds, so RSS plateaus rather
# than dropping back.
# Last line:
#   idle-connections connections=N served=S rss_before_mb=A rss_held_mb=B rss_after_mb=C rss_last_round_mb=D probe_ms=P pass=yes|no
# Usage: bench/chaos/idle-connections.sh [CONNECTIONS]
source "$(dirname "$0")/common.sh"
n=${1:-10000}
ulimit -n "$(ulimit -Hn)"  # server and client each hold n sockets
port=$(free_port)
start_coyote "version: \"3\"
server:
  command: \"php $root/bench/http-hello/worker.php\"
http:
  address: 127.0.0.1:$port
  header_read_timeout: 120s
  pool:
    num_workers: 2
logs:
  level: error" "$port"
rss_before=$(rss_mb)
python3 - "$port" "$n" "$coyote_pid" > "$work/result.txt" <<'PY'
import asyncio, os, sys, time, urllib.request
port, n, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]

def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024

async def one(held):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    await w.drain()
    head = await r.readuntil(b"\r\n\r\n")
    length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0].split(b":")[1])
    await r.readexactly(length)
    held.append((r, w))
    return head.startswith(b"HTTP/1.1 200")

async def round_trip():
    held = []
    served = 0
    sem = asyncio.Semaphore(500)
    async def guarded():
        async with sem:
            return await one(held)
    results = await asyncio.gather(*(guarded() for _ in range(n)), return_exceptions=True)
    served = sum(1 for x in results if x is True)
    errors = [x for x in results if isinstance(x, Exception)]
    await asyncio.sleep(1)
    rss_held = rss()
    t = time.monotonic()
    probe = await asyncio.get_running_loop().run_in_executor(
        None, lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).status)
    probe_ms = (time.monotonic() - t) * 1000
    open_now = sum(1 for r, w in held if not r.at_eof())
    for r, w in held:
        w.close()
    await asyncio.sleep(2)
    if errors:
        print("first error:", repr(errors[0]), file=sys.stderr)
    return served, len(errors), rss_held, probe_ms, probe, open_now, rss()

async def main():
    rounds = [await round_trip() for _ in range(int(os.environ.get("ROUNDS", "4")))]
    for i, r in enumerate(rounds):
        print(f"round {i + 1}: served {r[0]} held {r[2]:.1f} MB, after close {r[6]:.1f} MB", file=sys.stderr)
    first, last = rounds[0], rounds[-1]
    before_last = rounds[-2] if len(rounds) > 1 else first
    served = min(r[0] for r in rounds)
    errors = sum(r[1] for r in rounds)
    probe_ms = max(r[3] for r in rounds)
    probe = next((r[4] for r in rounds if r[4] != 200), 200)
    open_now = min(r[5] for r in rounds)
    print(served, errors, f"{first[2]:.1f}", f"{probe_ms:.1f}", probe, open_now, f"{first[6]:.1f}", f"{last[2]:.1f}", f"{before_last[2]:.1f}")

asyncio.run(main())
PY
read -r served errors rss_held probe_ms probe_status open_now rss_after rss_again rss_before_last < "$work/result.txt"
limit=$(awk -v n="$n" 'BEGIN{printf "%.0f", n*20/1024 + 32}')
pass=no
if [ "$served" -eq "$n" ] && [ "$open_now" -eq "$n" ] && [ "$probe_status" = 200 ] \
   && awk -v h="$rss_held" -v l="$limit" -v p="$probe_ms" -v a="$rss_again" -v b="$rss_before_last" 'BEGIN{exit !(h <= l && p < 1000 && a <= b * 1.05)}' \
   && kill -0 "$coyote_pid"; then pass=yes; fi
echo "errors=$errors still_open_before_close=$open_now rss_limit_mb=$limit"
echo "idle-connections connections=$n served=$served rss_before_mb=$rss_before rss_held_mb=$rss_held rss_after_mb=$rss_after rss_last_round_mb=$rss_again probe_ms=$probe_ms pass=$pass"
[ "$pass" = yes ]
