#!/usr/bin/env bash
# HTTP hello-world and JSON echo: Coyote vs nginx + php-fpm, same number of
# PHP processes, wrk on loopback, in one run. Last line:
#   http-hello coyote_rps=N fpm_rps=M ratio=R coyote_p99_ms=X fpm_p99_ms=Y coyote_rss_mb=Z
# Usage: bench/http-hello/run.sh [WORKERS] [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
workers=${1:-4}; seconds=${2:-10}; conns=${3:-64}
scripts/deps.sh bench
cargo build --release -q -p coyote
work=$(mktemp -d); chmod 755 "$work"; trap 'kill $(jobs -p) 2>/dev/null || true; [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null; [ -f "$work/fpm.pid" ] && kill "$(cat "$work/fpm.pid")" 2>/dev/null; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cport=$(free_port); nport=$(free_port)

# --- Coyote
cat > "$work/.rr.yaml" <<YAML
version: "3"
server:
  # OPcache on, as php-fpm has it by default (and as RoadRunner's docs
  # advise for workers): both sides run the same optimised PHP.
  command: "php -d opcache.enable_cli=1 $root/bench/http-hello/worker.php"
http:
  address: 127.0.0.1:$cport
  pool:
    num_workers: $workers
logs:
  level: warn
YAML
target/release/coyote serve -c "$work/.rr.yaml" > "$work/coyote.log" 2>&1 &
coyote_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$cport/" >/dev/null && break; sleep 0.1; done
idle_rss_kb=$(awk '/VmRSS/{print $2}' /proc/$coyote_pid/status)

# --- nginx + php-fpm (static pool of the same size, unix socket)
fpm_bin=$(command -v php-fpm8.2 || command -v php-fpm)
cat > "$work/fpm.conf" <<CONF
[global]
pid = $work/fpm.pid
error_log = $work/fpm.log
daemonize = yes
[bench]
listen = $work/fpm.sock
listen.mode = 0666
pm = static
pm.max_children = $workers
user = root
group = root
CONF
"$fpm_bin" -R -y "$work/fpm.conf"
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/body;
  proxy_temp_path $work/proxy;
  fastcgi_temp_path $work/fastcgi;
  uwsgi_temp_path $work/uwsgi;
  scgi_temp_path $work/scgi;
  server {
    listen 127.0.0.1:$nport;
    location / {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $root/bench/http-hello/fpm/index.php;
      fastcgi_pass unix:$work/fpm.sock;
      fastcgi_keep_conn on;
    }
  }
}
CONF
nginx -c "$work/nginx.conf"
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$nport/" >/dev/null && break; sleep 0.1; done

run_wrk() { # url -> "rps p99_ms"
  wrk -t2 -c"$conns" -d"${seconds}s" --latency "$1" > "$work/wrk.txt" 2>&1
  rps=$(awk '/Requests\/sec/{print $2}' "$work/wrk.txt")
  p99=$(awk '$1=="99%"{v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' "$work/wrk.txt")
  errors=$(awk '/Non-2xx|Socket errors/{print}' "$work/wrk.txt" | tr '\n' ' ')
  echo "$rps $p99 $errors"
}
printf "%-8s %-6s %12s %10s  %s\n" server route rps p99_ms errors
for route in / "/echo?x=1"; do
  # warm up both, then measure side by side
  wrk -t1 -c8 -d1s "http://127.0.0.1:$cport$route" >/dev/null 2>&1
  wrk -t1 -c8 -d1s "http://127.0.0.1:$nport$route" >/dev/null 2>&1
  read -r c_rps c_p99 c_err <<<"$(run_wrk "http://127.0.0.1:$cport$route")"
  c_rss_kb=$(awk '/VmRSS/{print $2}' /proc/$coyote_pid/status)
  read -r f_rps f_p99 f_err <<<"$(run_wrk "http://127.0.0.1:$nport$route")"
  printf "%-8s %-6s %12s %10s  %s\n" coyote "$route" "$c_rps" "$c_p99" "${c_err:-}"
  printf "%-8s %-6s %12s %10s  %s\n" fpm "$route" "$f_rps" "$f_p99" "${f_err:-}"
  [ "$route" = / ] && { h_c=$c_rps; h_f=$f_rps; h_cp=$c_p99; h_fp=$f_p99; }
  if [ -n "${f_err:-}" ] || [ -n "${c_err:-}" ]; then echo "errors in a run: the comparison is invalid" >&2; exit 1; fi
done
echo "coyote RSS: idle $((idle_rss_kb/1024)) MB, under load $((c_rss_kb/1024)) MB (server process only, workers excluded)"
ratio=$(python3 -c "print(f'{$h_c/$h_f:.2f}')")
echo "http-hello coyote_rps=$h_c fpm_rps=$h_f ratio=$ratio coyote_p99_ms=$h_cp fpm_p99_ms=$h_fp coyote_rss_mb=$((idle_rss_kb/1024))"
