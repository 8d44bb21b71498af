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
. bench/lib.sh
root=$PWD
app=$root/examples/lumen
workers=${1:-4}; seconds=${2:-10}; conns=${3:-64}
route=/users/42
scripts/deps.sh bench
cargo build --release -q -p coyote
work=$(mktemp -d); chmod 755 "$work"
trap 'kill $(jobs -p) 2>/dev/null || true; stop_servers "$work"; rm -rf "$work"' EXIT
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
coyote_http_start "$cport" "$workers" "php$php_flags $app/worker.php" "$route"

# --- nginx + php-fpm (static pool of the same size, unix socket)
fpm_start "$work" "$workers" "php_admin_value[opcache.validate_timestamps] = 0"
nginx_start "$work" "$nport" "    root $app/public;
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
    }"
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$nport$route" >/dev/null && break; sleep 0.1; done

# Both serve the same app: the same answer, or the comparison is void.
c_body=$(curl -sf "http://127.0.0.1:$cport$route") || { echo "coyote does not answer $route:" >&2; cat "$work/coyote.log" >&2; exit 1; }
f_body=$(curl -sf "http://127.0.0.1:$nport$route") || { echo "nginx + php-fpm do not answer $route:" >&2; cat "$work/nginx.err" "$work/fpm.log" >&2; exit 1; }
if [ "$c_body" != "$f_body" ]; then echo "different answers: coyote $c_body, fpm $f_body" >&2; exit 1; fi
echo "both answer $route with $c_body"
f_opcache=$(curl -sf "http://127.0.0.1:$nport/opcache-check")
echo "opcache: coyote workers $c_opcache, php-fpm $f_opcache"
if [ "$c_opcache" != "$f_opcache" ] || [[ "$c_opcache" != *'"enabled":true'* ]]; then echo "OPcache differs or is off: the comparison is void" >&2; exit 1; fi

show_wrk() { # url -> "rps p99_ms errors", wrk's output on stderr
  run_wrk "$1" "$seconds" "$conns"
  cat "$work/wrk.txt" >&2
}
echo "load before the runs: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; $workers PHP processes each side, $conns connections, ${seconds}s"
wrk -t1 -c8 -d2s "http://127.0.0.1:$cport$route" >/dev/null 2>&1
wrk -t1 -c8 -d2s "http://127.0.0.1:$nport$route" >/dev/null 2>&1
echo "== coyote" >&2
read -r c_rps c_p99 c_err <<<"$(show_wrk "http://127.0.0.1:$cport$route")"
echo "== nginx + php-fpm" >&2
read -r f_rps f_p99 f_err <<<"$(show_wrk "http://127.0.0.1:$nport$route")"
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
