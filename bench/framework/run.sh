#!/usr/bin/env bash
# A framework on both servers: the Lumen app of examples/lumen (Debian's
# php-laravel-lumen-framework), one JSON route (/users/{id}), served by
#   - Coyote: examples/lumen/worker.php, the app booted once per worker and
#     requests handed over by the SDK's HttpFoundation bridge;
#   - nginx + php-fpm: examples/lumen/public/index.php, the app booted for
#     every request (the classic setup, nginx's usual Laravel config);
# the same number of PHP processes, the same OPcache settings on both
# sides (on; opcache.validate_timestamps=0, the production setting), wrk on
# loopback, warm-up, then one measured run each. Last line:
#   framework coyote_rps=N fpm_rps=M ratio=R coyote_p99_ms=X fpm_p99_ms=Y
# Usage: bench/framework/run.sh [WORKERS] [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
app=$root/examples/lumen
workers=${1:-4}; seconds=${2:-10}; conns=${3:-64}
route=/users/42
scripts/deps.sh bench
cargo build --release -q -p coyote
work=$(mktemp -d); chmod 755 "$work"
trap 'kill $(jobs -p) 2>/dev/null || true; [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null; [ -f "$work/fpm.pid" ] && kill "$(cat "$work/fpm.pid")" 2>/dev/null; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cport=$(free_port); nport=$(free_port)
# The same OPcache settings for both: on (php-fpm has it on by default, the
# CLI needs opcache.enable_cli) and no timestamp checks (the production
# setting; php-fpm takes it as an admin value). Checked below on each side.
opcache_cli=(opcache.enable_cli=1 opcache.validate_timestamps=0)
cat > "$work/opcache.php" <<'PHP'
<?php
$s = function_exists('opcache_get_status') ? opcache_get_status(false) : false;
echo json_encode(['enabled' => is_array($s) && $s['opcache_enabled'], 'validate_timestamps' => ini_get('opcache.validate_timestamps')]);
PHP

# --- Coyote
php_flags=""; for o in "${opcache_cli[@]}"; do php_flags+=" -d $o"; done
c_opcache=$(php $php_flags "$work/opcache.php")
cat > "$work/.rr.yaml" <<YAML
version: "3"
server:
  command: "php$php_flags $app/worker.php"
http:
  address: 127.0.0.1:$cport
  pool:
    num_workers: $workers
logs:
  level: warn
YAML
target/release/coyote serve -c "$work/.rr.yaml" > "$work/coyote.log" 2>&1 &
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$cport$route" >/dev/null && break; sleep 0.1; done

# --- nginx + php-fpm (static pool of the same size, unix socket)
fpm_bin=$(command -v php-fpm8.2 || command -v php-fpm)
{
  cat <<CONF
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
catch_workers_output = yes
CONF
  echo "php_admin_value[opcache.validate_timestamps] = 0"
} > "$work/fpm.conf"
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
    root $app/public;
    index index.php;
    location / {
      try_files \$uri \$uri/ /index.php?\$query_string;
    }
    location = /opcache-check {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $work/opcache.php;
      fastcgi_pass unix:$work/fpm.sock;
    }
    location = /index.php {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME \$document_root\$fastcgi_script_name;
      fastcgi_pass unix:$work/fpm.sock;
      fastcgi_keep_conn on;
    }
  }
}
CONF
nginx -c "$work/nginx.conf"
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$nport$route" >/dev/null && break; sleep 0.1; done

# Both serve the same app: the same answer, or the comparison is void.
c_body=$(curl -sf "http://127.0.0.1:$cport$route") || { echo "coyote does not answer $route:" >&2; cat "$work/coyote.log" >&2; exit 1; }
f_body=$(curl -sf "http://127.0.0.1:$nport$route") || { echo "nginx + php-fpm do not answer $route:" >&2; cat "$work/nginx.err" "$work/fpm.log" >&2; exit 1; }
if [ "$c_body" != "$f_body" ]; then echo "different answers: coyote $c_body, fpm $f_body" >&2; exit 1; fi
echo "both answer $route with $c_body"
f_opcache=$(curl -sf "http://127.0.0.1:$nport/opcache-check")
echo "opcache: coyote workers $c_opcache, php-fpm $f_opcache"
if [ "$c_opcache" != "$f_opcache" ] || [[ "$c_opcache" != *'"enabled":true'* ]]; then echo "OPcache differs or is off: the comparison is void" >&2; exit 1; fi

run_wrk() { # url -> "rps p99_ms errors"
  wrk -t2 -c"$conns" -d"${seconds}s" --latency "$1" > "$work/wrk.txt" 2>&1
  cat "$work/wrk.txt" >&2
  rps=$(awk '/Requests\/sec/{print $2}' "$work/wrk.txt")
  p99=$(awk '$1=="99%"{v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' "$work/wrk.txt")
  errors=$(awk '/Non-2xx|Socket errors/{print}' "$work/wrk.txt" | tr '\n' ' ')
  echo "$rps $p99 $errors"
}
echo "load before the runs: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; $workers PHP processes each side, $conns connections, ${seconds}s"
wrk -t1 -c8 -d2s "http://127.0.0.1:$cport$route" >/dev/null 2>&1
wrk -t1 -c8 -d2s "http://127.0.0.1:$nport$route" >/dev/null 2>&1
echo "== coyote" >&2
read -r c_rps c_p99 c_err <<<"$(run_wrk "http://127.0.0.1:$cport$route")"
echo "== nginx + php-fpm" >&2
read -r f_rps f_p99 f_err <<<"$(run_wrk "http://127.0.0.1:$nport$route")"
echo "load after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
# Warnings either side would mean one of them did extra work.
if grep -qiE 'warn|error' "$work/fpm.log" "$work/coyote.log" "$work/nginx.err" 2>/dev/null; then
  echo "warnings in the logs:" >&2; grep -hiE 'warn|error' "$work/fpm.log" "$work/coyote.log" "$work/nginx.err" | head -5 >&2
fi
printf "%-8s %12s %10s  %s\n" server rps p99_ms errors
printf "%-8s %12s %10s  %s\n" coyote "$c_rps" "$c_p99" "${c_err:-}"
printf "%-8s %12s %10s  %s\n" fpm "$f_rps" "$f_p99" "${f_err:-}"
if [ -n "${f_err:-}" ] || [ -n "${c_err:-}" ]; then echo "errors in a run: the comparison is invalid" >&2; exit 1; fi
ratio=$(python3 -c "print(f'{$c_rps/$f_rps:.2f}')")
echo "framework coyote_rps=$c_rps fpm_rps=$f_rps ratio=$ratio coyote_p99_ms=$c_p99 fpm_p99_ms=$f_p99"
