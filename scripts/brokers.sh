#!/usr/bin/env bash
# Sourced by scripts/test: makes sure every broker the tests talk to answers,
# and exports its address for them.
#
#   source scripts/brokers.sh redis amqp nats beanstalk memcached sqs
#
# For each broker named, the address comes from its variable when set, else
# the default below (what the development and CI machines run). When
# nothing answers there, the broker is installed from Debian's packages if
# missing (moto from PyPI for SQS), started on a free 127.0.0.1 port in a
# temporary directory, and stopped when the calling shell exits. A broker
# that cannot be started is a failure, never a skipped test.
#
#   COYOTE_TEST_REDIS      127.0.0.1:6379
#   COYOTE_TEST_AMQP       amqp://guest:guest@127.0.0.1:5672/%2f
#   COYOTE_TEST_AMQP_NODE  (the node rabbitmqctl reaches; set when started here)
#   COYOTE_TEST_NATS       127.0.0.1:4222                (JetStream on)
#   COYOTE_TEST_BEANSTALK  127.0.0.1:11300
#   COYOTE_TEST_MEMCACHED  127.0.0.1:11211
#   COYOTE_TEST_SQS        http://127.0.0.1:4566          (moto server)

_brokers_dir=""
_brokers_pids=()

_brokers_cleanup() {
  local pid
  for pid in "${_brokers_pids[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${_brokers_pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  [ -n "$_brokers_dir" ] && rm -rf "$_brokers_dir"
}
trap _brokers_cleanup EXIT

_brokers_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# _brokers_answers HOST PORT: a TCP connect within a second.
_brokers_answers() {
  timeout 1 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

_brokers_wait() { # NAME HOST PORT SECONDS (the broker is the last one spawned)
  local deadline=$((SECONDS + $4)) pid=${_brokers_pids[-1]}
  until _brokers_answers "$2" "$3"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "brokers: $1 exited while starting" >&2
      [ -f "$_brokers_dir/$1.log" ] && tail -20 "$_brokers_dir/$1.log" >&2
      return 1
    fi
    if ((SECONDS > deadline)); then
      echo "brokers: $1 did not come up on $2:$3 within $4 s" >&2
      [ -f "$_brokers_dir/$1.log" ] && tail -20 "$_brokers_dir/$1.log" >&2
      return 1
    fi
    sleep 0.2
  done
}

_brokers_need_pkg() { # PACKAGE...
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    echo "brokers: installing ${missing[*]}" >&2
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    # Debian starts a packaged broker on its standard port; ours runs beside it.
  fi
}

_brokers_spawn() { # NAME COMMAND...
  local name=$1; shift
  [ -n "$_brokers_dir" ] || _brokers_dir=$(mktemp -d /tmp/coyote-brokers.XXXXXX)
  # Started from the temporary directory, so crash dumps stay there.
  (cd "$_brokers_dir" && exec setsid "$@" >"$_brokers_dir/$name.log" 2>&1) &
  _brokers_pids+=($!)
}

_brokers_hostport() { # an address like amqp://u:p@host:port/vhost or host:port -> "host port"
  local a=${1#*://}; a=${a#*@}; a=${a%%/*}
  echo "${a%:*} ${a##*:}"
}

_brokers_redis() {
  local addr=${COYOTE_TEST_REDIS:-127.0.0.1:6379}
  read -r h p < <(_brokers_hostport "$addr")
  if ! _brokers_answers "$h" "$p"; then
    _brokers_need_pkg redis-server
    p=$(_brokers_free_port); addr=127.0.0.1:$p
    mkdir -p "${_brokers_dir:=$(mktemp -d /tmp/coyote-brokers.XXXXXX)}/redis"
    _brokers_spawn redis redis-server --port "$p" --bind 127.0.0.1 --save "" --appendonly no --dir "$_brokers_dir/redis"
    _brokers_wait redis 127.0.0.1 "$p" 30 || return 1
    echo "brokers: started redis on $addr" >&2
  fi
  export COYOTE_TEST_REDIS=$addr
}

_brokers_amqp() {
  local addr=${COYOTE_TEST_AMQP:-amqp://guest:guest@127.0.0.1:5672/%2f}
  read -r h p < <(_brokers_hostport "$addr")
  if ! _brokers_answers "$h" "$p"; then
    _brokers_need_pkg rabbitmq-server
    p=$(_brokers_free_port)
    local dist; dist=$(_brokers_free_port)
    : "${_brokers_dir:=$(mktemp -d /tmp/coyote-brokers.XXXXXX)}"
    local r=$_brokers_dir/rabbitmq
    mkdir -p "$r/mnesia" "$r/log"
    echo "[]." >"$r/enabled_plugins"
    # The machine's /etc/rabbitmq/rabbitmq.conf may pin a listener: ours wins.
    printf 'listeners.tcp.1 = 127.0.0.1:%s\nloopback_users = none\n' "$p" >"$r/rabbitmq.conf"
    # Debian's rabbitmq-server runs the broker as the rabbitmq user.
    if id rabbitmq >/dev/null 2>&1; then
      chmod 755 "$_brokers_dir"; chown -R rabbitmq: "$r"
    fi
    _brokers_spawn amqp env RABBITMQ_NODE_PORT="$p" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
      RABBITMQ_DIST_PORT="$dist" RABBITMQ_NODENAME="coyote$$@localhost" \
      RABBITMQ_MNESIA_BASE="$r/mnesia" RABBITMQ_MNESIA_DIR="$r/mnesia/node" \
      RABBITMQ_FEATURE_FLAGS_FILE="$r/feature_flags" RABBITMQ_PLUGINS_EXPAND_DIR="$r/plugins" \
      RABBITMQ_LOG_BASE="$r/log" RABBITMQ_ENABLED_PLUGINS_FILE="$r/enabled_plugins" \
      RABBITMQ_PID_FILE="$r/pid" RABBITMQ_CONFIG_FILE="$r/rabbitmq" \
      rabbitmq-server
    _brokers_wait amqp 127.0.0.1 "$p" 90 || return 1
    addr="amqp://guest:guest@127.0.0.1:$p/%2f"
    # rabbitmqctl (users and permissions in the amqp tests) reaches it by name.
    export COYOTE_TEST_AMQP_NODE="coyote$$@localhost"
    echo "brokers: started rabbitmq on $addr" >&2
  fi
  export COYOTE_TEST_AMQP=$addr
}

_brokers_nats() {
  local addr=${COYOTE_TEST_NATS:-127.0.0.1:4222}
  read -r h p < <(_brokers_hostport "$addr")
  if ! _brokers_answers "$h" "$p"; then
    _brokers_need_pkg nats-server
    p=$(_brokers_free_port); addr=127.0.0.1:$p
    mkdir -p "${_brokers_dir:=$(mktemp -d /tmp/coyote-brokers.XXXXXX)}/nats"
    _brokers_spawn nats nats-server -a 127.0.0.1 -p "$p" -js -sd "$_brokers_dir/nats"
    _brokers_wait nats 127.0.0.1 "$p" 30 || return 1
    echo "brokers: started nats on $addr" >&2
  fi
  export COYOTE_TEST_NATS=$addr
}

_brokers_beanstalk() {
  local addr=${COYOTE_TEST_BEANSTALK:-127.0.0.1:11300}
  read -r h p < <(_brokers_hostport "$addr")
  if ! _brokers_answers "$h" "$p"; then
    _brokers_need_pkg beanstalkd
    p=$(_brokers_free_port); addr=127.0.0.1:$p
    _brokers_spawn beanstalk beanstalkd -l 127.0.0.1 -p "$p"
    _brokers_wait beanstalk 127.0.0.1 "$p" 30 || return 1
    echo "brokers: started beanstalkd on $addr" >&2
  fi
  export COYOTE_TEST_BEANSTALK=$addr
}

_brokers_memcached() {
  local addr=${COYOTE_TEST_MEMCACHED:-127.0.0.1:11211}
  read -r h p < <(_brokers_hostport "$addr")
  if ! _brokers_answers "$h" "$p"; then
    _brokers_need_pkg memcached
    p=$(_brokers_free_port); addr=127.0.0.1:$p
    _brokers_spawn memcached memcached -l 127.0.0.1 -p "$p" -U 0 -u nobody
    _brokers_wait memcached 127.0.0.1 "$p" 30 || return 1
    echo "brokers: started memcached on $addr" >&2
  fi
  export COYOTE_TEST_MEMCACHED=$addr
}

_brokers_sqs() {
  local addr=${COYOTE_TEST_SQS:-http://127.0.0.1:4566}
  read -r h p < <(_brokers_hostport "$addr")
  if ! _brokers_answers "$h" "$p"; then
    if ! python3 -c 'import moto.server' 2>/dev/null; then
      echo "brokers: installing moto[server] from PyPI" >&2
      python3 -m pip --version >/dev/null 2>&1 || _brokers_need_pkg python3-pip
      # Debian's own python3 refuses pip installs outside a venv (PEP 668);
      # moto goes beside the system packages there.
      python3 -m pip install -q 'moto[server]' >&2 \
        || python3 -m pip install -q --break-system-packages 'moto[server]' >&2 \
        || return 1
      python3 -c 'import moto.server' || return 1
    fi
    p=$(_brokers_free_port); addr=http://127.0.0.1:$p
    _brokers_spawn sqs python3 -m moto.server -H 127.0.0.1 -p "$p"
    _brokers_wait sqs 127.0.0.1 "$p" 60 || return 1
    echo "brokers: started moto (SQS) on $addr" >&2
  fi
  export COYOTE_TEST_SQS=$addr
}

for _broker in "$@"; do
  case "$_broker" in
    redis|amqp|nats|beanstalk|memcached|sqs) "_brokers_$_broker" || { echo "brokers: $_broker unavailable" >&2; exit 1; } ;;
    *) echo "brokers: unknown broker $_broker" >&2; exit 2 ;;
  esac
done
unset _broker
