#!/usr/bin/env python3
"""Balance quality under skewed connection lifetimes.

Opens connections to HOST:PORT one after another; each asks GET /pid (the
worker's pid comes back) and is then either short-lived (closed after a
random 1-20 later opens; probability SHORT) or long-lived (kept to the
end). Stops when LONG connections are held, then prints how many each
worker holds and max/mean over WORKERS workers.

Usage: balance.py HOST PORT WORKERS [LONG] [SHORT] [SEED]
Last line: max_over_mean=X held=N workers_seen=K
"""
import random
import socket
import sys
from collections import Counter


def ask_pid(sock):
    sock.sendall(b"GET /pid HTTP/1.1\r\nHost: bench\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed before the answer")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed in the body")
        body += chunk
    return int(body[:length])


def main():
    host, port, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    long_target = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
    short_p = float(sys.argv[5]) if len(sys.argv) > 5 else 0.7
    rng = random.Random(int(sys.argv[6]) if len(sys.argv) > 6 else 42)
    held = []          # (sock, pid) kept to the end
    short = []         # (close_at_open_number, sock)
    opened = 0
    while len(held) < long_target:
        sock = socket.create_connection((host, port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pid = ask_pid(sock)
        opened += 1
        if rng.random() < short_p:
            short.append((opened + rng.randint(1, 20), sock))
        else:
            held.append((sock, pid))
        still = []
        for close_at, s in short:
            if close_at <= opened:
                s.close()
            else:
                still.append((close_at, s))
        short = still
    for _, s in short:
        s.close()
    # Every held connection must still be served by the worker it names.
    counts = Counter()
    for sock, pid in held:
        again = ask_pid(sock)
        if again != pid:
            raise SystemExit(f"connection moved from {pid} to {again}")
        counts[pid] += 1
    mean = len(held) / workers
    print("per worker:", " ".join(str(n) for _, n in counts.most_common()), f"({opened} opened)")
    print(f"max_over_mean={max(counts.values()) / mean:.3f} held={len(held)} workers_seen={len(counts)}")
    for sock, _ in held:
        sock.close()


if __name__ == "__main__":
    main()
