#!/usr/bin/env bash
# Kill storm for hand-off pools (docs/handoff.md), in each mode: reuseport,
# then fd_passing with least_connections; bench/handoff/worker.php (the
# SDK's event-driven HttpServer), configured as bench/handoff/run.sh does.
# Steady keep-alive load (wrk) while a random worker process is SIGKILLed
# every 100 ms for STORM seconds. Pass, per mode:
#   - Coyote is alive after the storm;
#   - the pool is back to full size (WORKERS ready, none of them a victim,
#     from informer.Workers) within 1 s of the last kill;
#   - failed requests (wrk's socket errors + non-2xx) <= bound: a killed
#     worker can only lose the connections it owned (fd_passing: Coyote
#     shuts them down) and, in reuseport, what waits in its accept queue,
#     which net.ipv4.tcp_migrate_req=1 moves to the other workers instead
#     (Coyote sets it; checked here, a reuseport run without it fails).
#     bound = kills * ceil(CONNECTIONS / WORKERS), the even share, or the
#     connections the victims held at their kill when that is more
#     (victims_held: per kill, the more of the victim's count in
#     informer.Workers (fd_passing: Coyote's, descriptors in flight
#     included; reuseport: the worker's last report) and the client
#     connections open in its descriptor table, /proc/PID/fd against
#     /proc/net/tcp, read while the victim is stopped with SIGSTOP just
#     before its SIGKILL): after a kill its connections reconnect to the
#     survivors and its replacement starts with none (keep-alive
#     connections move only when they reconnect), so the next victims
#     hold more than the even share, in both modes;
#   - Coyote's own open descriptors (/proc/PID/fd) once the storm and the
#     load are over are back within +5 of before (no connection, control
#     socket or pipe of a dead worker kept);
#   - a fresh request then succeeds.
# victims_held, the even share and the mean number of ready workers at the
# kills are printed to stderr, next to wrk's output.
# Last line per mode:
#   handoff-kill-storm mode=M kills=K requests=N failed=F bound=B recovery_ms=R fds_before=X fds_after=Y pass=yes|no
# Exits 1 if any mode has pass=no.
# Usage: bench/chaos/handoff-kill-storm.sh [STORM_SECONDS] [WORKERS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh
root=$PWD
storm=${1:-10}; workers=${2:-4}; conns=${3:-32}
scripts/deps.sh bench >&2
cargo build --release -q -p coyote
ulimit -n "$(ulimit -Hn)"
work=$(mktemp -d); chmod 755 "$work"
coyote_pid=
trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "$coyote_pid" ] && kill "$coyote_pid" 2>/dev/null; rm -rf "$work"' EXIT
php="php -d opcache.enable_cli=1"

# The storm's driver: informer.Workers over goridge RPC (JSON codec), the
# victims among Coyote's child processes (as kill-storm.sh's pgrep -P: a
# worker still starting may be hit too).
#   storm.py ready RPC_PORT WORKERS              until WORKERS are ready (10 s)
#   storm.py storm RPC_PORT WORKERS SECONDS PID PORT
#       -> "kills victims_held recovery_ms ready_at_kills"
cat > "$work/storm.py" <<'PY'
import json, os, random, signal, socket, struct, sys, time, zlib

class Rpc:
    def __init__(self, port):
        self.port, self.sock, self.seq = port, None, 0

    def _read(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("rpc closed")
            data += chunk
        return data

    def call(self, method, arg):
        for attempt in range(3):
            try:
                if self.sock is None:
                    self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                self.seq += 1
                payload = method.encode() + json.dumps(arg).encode()
                head = bytes([0x15, 0x08]) + struct.pack("<I", len(payload))
                head += struct.pack("<I", zlib.crc32(head)) + b"\0\0"
                self.sock.sendall(head + struct.pack("<II", self.seq, len(method)) + payload)
                head = self._read(12)
                flags, length = head[1], struct.unpack("<I", head[2:6])[0]
                options = self._read((head[0] & 0x0F) * 4 - 12)
                body = self._read(length)
                split = struct.unpack("<I", options[4:8])[0]
                if flags & 0x40:
                    raise RuntimeError(body[split:].decode(errors="replace"))
                return json.loads(body[split:])
            except (OSError, ConnectionError):
                self.sock = None
                if attempt == 2:
                    raise

    def workers(self):
        return self.call("informer.Workers", "handoff").get("workers") or []

def children(pid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                found.append(int(entry))
    return found

def client_sockets(port):
    # Inodes of the TCP sockets on the listener's port that are not the
    # listening ones (TIME_WAIT entries have inode 0: never in a table).
    inodes = set()
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(path).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if int(f[1].rsplit(":", 1)[1], 16) == port and f[3] != "0A":
                inodes.add(f[9])
    return inodes

def owned(pid, inodes):
    found = set()
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return 0
    for name in names:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            found.add(link[8:-1])
    return len(found)

def ready(rpc, n, killed=()):
    return len([w for w in rpc.workers() if w["statusStr"] == "ready" and w["pid"] not in killed]) >= n

cmd, rpc, n = sys.argv[1], Rpc(int(sys.argv[2])), int(sys.argv[3])
if cmd == "ready":
    deadline = time.monotonic() + 10
    while not ready(rpc, n):
        if time.monotonic() > deadline:
            sys.exit("the pool never got ready")
        time.sleep(0.05)
    sys.exit(0)
seconds, coyote, port = float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
kills, held, killed, ready_sum = 0, 0, set(), 0
end = time.monotonic() + seconds
while time.monotonic() < end:
    victims = children(coyote)
    if victims:
        victim = random.choice(victims)
        # Frozen while its connections are counted: it accepts no more
        # (what its listening socket queues meanwhile migrates at the
        # kill), then SIGKILL, whatever the counting met.
        try:
            os.kill(victim, signal.SIGSTOP)
        except ProcessLookupError:
            victim = None
        if victim is not None:
            try:
                listed = rpc.workers()
                conns = {w["pid"]: w.get("connections") or 0 for w in listed}
                mine = max(conns.get(victim, 0), owned(victim, client_sockets(port)))
            finally:
                try:
                    os.kill(victim, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            kills += 1
            held += mine
            killed.add(victim)
            ready_sum += len([w for w in listed if w["statusStr"] == "ready"])
    time.sleep(0.1)
storm_end = time.monotonic()
recovery = -1
while time.monotonic() < storm_end + 10:
    if ready(rpc, n, killed):
        recovery = int((time.monotonic() - storm_end) * 1000)
        break
    time.sleep(0.01)
print(kills, held, recovery, f"{ready_sum / max(kills, 1):.2f}")
PY

fd_count() { ls "/proc/$coyote_pid/fd" | wc -l; }

overall=0
for mode in reuseport fd_passing; do
  port=$(free_port); rpc=$(free_port)
  cat > "$work/$mode.rr.yaml" <<YAML
version: "3"
rpc:
  listen: tcp://127.0.0.1:$rpc
handoff:
  bench:
    address: tcp://127.0.0.1:$port
    mode: $mode
    balancer: least_connections
    pool:
      command: "$php $root/bench/handoff/worker.php"
      num_workers: $workers
logs:
  level: warn
YAML
  (cd "$work" && exec "$root/target/release/coyote" serve -c "$work/$mode.rr.yaml") > "$work/$mode.log" 2>&1 &
  coyote_pid=$!
  wait_http "http://127.0.0.1:$port/" || { cat "$work/$mode.log" >&2; exit 1; }
  python3 "$work/storm.py" ready "$rpc" "$workers"
  migrate=$(cat /proc/sys/net/ipv4/tcp_migrate_req 2>/dev/null || echo unreadable)
  fds_before=$(fd_count)
  run_wrk "http://127.0.0.1:$port/" "$((storm + 3))" "$conns" > "$work/rps.txt" &
  wrk_pid=$!
  sleep 1
  driven=$(python3 "$work/storm.py" storm "$rpc" "$workers" "$storm" "$coyote_pid" "$port") || driven="0 0 -1 0"
  read -r kills held recovery_ms ready_at_kills <<<"$driven"
  wait "$wrk_pid" || true
  kill -0 "$coyote_pid" 2>/dev/null && alive=yes || alive=no
  requests=$(awk '/requests in/{print $1}' "$work/wrk.txt")
  non2xx=$(awk '/Non-2xx/{print $5}' "$work/wrk.txt"); non2xx=${non2xx:-0}
  sockerr=$(awk '/Socket errors/{gsub(",",""); print $4+$6+$8+$10}' "$work/wrk.txt"); sockerr=${sockerr:-0}
  failed=$((non2xx + sockerr))
  share=$((kills * ((conns + workers - 1) / workers)))
  bound=$((held > share ? held : share))
  # Connections wrk closed at its end are counted out asynchronously
  # (reports, hang-ups): give the count 5 s to settle.
  fds_after=-1
  if [ "$alive" = yes ]; then
    for _ in $(seq 100); do
      fds_after=$(fd_count)
      [ "$fds_after" -le $((fds_before + 5)) ] && break
      sleep 0.05
    done
  fi
  fresh=$(curl -s -o /dev/null -w "%{http_code}" --max-time 5 "http://127.0.0.1:$port/" || true)
  pass=no
  if [ "$alive" = yes ] && [ "$recovery_ms" -ge 0 ] && [ "$recovery_ms" -le 1000 ] \
     && [ "$failed" -le "$bound" ] && [ "$fds_after" -ge 0 ] && [ "$fds_after" -le $((fds_before + 5)) ] \
     && [ "$fresh" = 200 ] && { [ "$mode" != reuseport ] || [ "$migrate" = 1 ]; }; then
    pass=yes
  fi
  [ "$pass" = yes ] || overall=1
  cat "$work/wrk.txt" >&2
  grep -c "exited unexpectedly" "$work/$mode.log" | sed "s/^/$mode: workers reported dead in the log: /" >&2 || true
  echo "$mode: alive=$alive tcp_migrate_req=$migrate even_share=$share victims_held=$held ready_at_kills=$ready_at_kills/$workers non2xx=$non2xx socket_errors=$sockerr fresh_request=$fresh" >&2
  echo "handoff-kill-storm mode=$mode kills=$kills requests=$requests failed=$failed bound=$bound recovery_ms=$recovery_ms fds_before=$fds_before fds_after=$fds_after pass=$pass"
  kill "$coyote_pid" 2>/dev/null || true
  wait "$coyote_pid" 2>/dev/null || true
  coyote_pid=
done
exit "$overall"
