#!/usr/bin/env bash
# Captures the request frame Coyote sends a worker for one wrk-like request
# (`GET / HTTP/1.1` with only a `Host: 127.0.0.1:PORT` header, which is all
# wrk sends), for `ceiling -f`. Starts COYOTE with one worker, capture.php,
# which writes the first request frame it receives byte for byte (header,
# option = context length, context, body) to OUT, then stops COYOTE.
# Usage: bench/ceiling/capture-http.sh COYOTE_BIN OUT [json|proto] [PATH]
set -euo pipefail
dir=$(cd "$(dirname "$0")" && pwd)
. "$dir/../lib.sh"
coyote=$1; out=$2; encoding=${3:-json}; path=${4:-/}
rm -f "$out"
cwork=$(mktemp -d)
port=$(free_port)
cat > "$cwork/.rr.yaml" <<YAML
version: "3"
server:
  command: "php $dir/capture.php $out"
http:
  address: 127.0.0.1:$port
  context_encoding: $encoding
  pool:
    num_workers: 1
logs:
  level: warn
YAML
"$coyote" serve -c "$cwork/.rr.yaml" > "$cwork/coyote.log" 2>&1 &
cpid=$!
trap 'kill $cpid 2>/dev/null || true; wait $cpid 2>/dev/null || true; rm -rf "$cwork"' EXIT
# curl without its default User-Agent and Accept headers: exactly wrk's request.
for _ in $(seq 100); do
  curl -sf -H 'User-Agent:' -H 'Accept:' "http://127.0.0.1:$port$path" >/dev/null && break
  sleep 0.1
done
if [ ! -s "$out" ]; then
  echo "capture-http: no frame captured; coyote log:" >&2
  cat "$cwork/coyote.log" >&2
  exit 1
fi
python3 - "$out" <<'PY' >&2
import struct, sys
b = open(sys.argv[1], 'rb').read()
hl, flags, plen = b[0] & 15, b[1], struct.unpack_from('<I', b, 2)[0]
ctx = struct.unpack_from('<I', b, 12)[0]
print(f"capture-http: {len(b)} bytes (flags 0x{flags:02x}, context {ctx} bytes, body {plen - ctx} bytes)")
PY
