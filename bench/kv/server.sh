# Sourced by bench/kv/run.sh and count.sh: starts BIN serving the two kv
# storages the benchmarks use (`memory`, and `redis` on REDIS db 15) with
# RPC on a free port, in OUT; sets `server` (its pid) and `rpc` (host:port).
#   kv_server BIN OUT REDIS
kv_server() {
  local bin=$1 out=$2 redis=$3
  cat > "$out/.rr.yaml" <<YAML
version: "3"
rpc:
  listen: tcp://127.0.0.1:0
logs:
  level: warn
kv:
  memory:
    driver: memory
  redis:
    driver: redis
    config:
      addrs: ["$redis"]
      db: 15
YAML
  "$bin" serve -c "$out/.rr.yaml" --report "$out/report" > "$out/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 300); do
    grep -q "phase running" "$out/report" 2>/dev/null && break
    kill -0 "$server" 2>/dev/null || { cat "$out/server.log" >&2; return 1; }
    sleep 0.1
  done
  rpc=$(awk '$1=="listen" && $2=="rpc" {print $4}' "$out/report")
}
