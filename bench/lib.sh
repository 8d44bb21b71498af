# Shared pieces of the benchmark scripts (sourced, not run):
#   free_port                      a free loopback TCP port
#   wait_http URL                  until URL answers 2xx (10 s at most)
#   fpm_start WORK N [LINES] [OPTS] php-fpm, static pool of N, unix socket WORK/fpm.sock
#                                  (OPTS: php -d options for the master, e.g. the JIT)
#                                  (extra pool lines, e.g. php_admin_value, in LINES)
#   nginx_start WORK PORT BODY     nginx, one worker, BODY inside `server { listen ...; }`
#   run_wrk URL SECONDS CONNS [ARGS...]
#                                  -> "rps p99_ms errors"; wrk's output in WORK/wrk.txt
#                                  (ARGS: more wrk options, e.g. -s script.lua)
#   stop_servers WORK              nginx and php-fpm of WORK, if started
#   coyote_http_start PORT WORKERS COMMAND [PATH]
#                                  target/release/coyote with one http pool
#                                  (WORK/.rr.yaml, log WORK/coyote.log) until
#                                  PATH (default /) answers; pid in coyote_pid
# Each needs `work` (a private temp dir) set by the caller for run_wrk.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_http() {
  for _ in $(seq 100); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done
  echo "no answer from $1" >&2
  return 1
}

fpm_start() { # work workers [extra pool lines] [php -d options, e.g. the JIT's]
  local w=$1 n=$2 extra=${3:-} options=${4:-}
  local bin
  bin=$(command -v php-fpm8.2 || command -v php-fpm)
  cat > "$w/fpm.conf" <<CONF
[global]
pid = $w/fpm.pid
error_log = $w/fpm.log
daemonize = yes
[bench]
listen = $w/fpm.sock
listen.mode = 0666
pm = static
pm.max_children = $n
user = root
group = root
catch_workers_output = yes
$extra
CONF
  # shellcheck disable=SC2086 # the options are words
  "$bin" $options -R -y "$w/fpm.conf"
}

nginx_start() { # work port server-body
  local w=$1 port=$2 body=$3
  cat > "$w/nginx.conf" <<CONF
worker_processes 1;
pid $w/nginx.pid;
error_log $w/nginx.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $w/body;
  proxy_temp_path $w/proxy;
  fastcgi_temp_path $w/fastcgi;
  uwsgi_temp_path $w/uwsgi;
  scgi_temp_path $w/scgi;
  server {
    listen 127.0.0.1:$port;
$body
  }
}
CONF
  nginx -c "$w/nginx.conf"
}

run_wrk() { # url seconds conns [wrk args...] -> "rps p99_ms errors"
  wrk -t2 -c"$3" -d"$2s" --latency "${@:4}" "$1" > "$work/wrk.txt" 2>&1
  local rps p99 errors
  rps=$(awk '/Requests\/sec/{print $2}' "$work/wrk.txt")
  p99=$(awk '$1=="99%"{v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' "$work/wrk.txt")
  errors=$(awk '/Non-2xx|Socket errors/{print}' "$work/wrk.txt" | tr '\n' ' ')
  echo "$rps $p99 $errors"
}

stop_servers() { # work
  [ -f "$1/nginx.pid" ] && kill "$(cat "$1/nginx.pid")" 2>/dev/null
  [ -f "$1/fpm.pid" ] && kill "$(cat "$1/fpm.pid")" 2>/dev/null
  return 0
}

coyote_http_start() { # port workers command [path]
  local port=$1 n=$2 cmd=$3 path=${4:-/}
  cat > "$work/.rr.yaml" <<YAML
version: "3"
server:
  command: "$cmd"
http:
  address: 127.0.0.1:$port
  pool:
    num_workers: $n
logs:
  level: warn
YAML
  target/release/coyote serve -c "$work/.rr.yaml" > "$work/coyote.log" 2>&1 &
  coyote_pid=$!
  wait_http "http://127.0.0.1:$port$path" || { cat "$work/coyote.log" >&2; return 1; }
}
