#!/usr/bin/env bash
# The whole reliability suite in one command: the fast, deterministic
# fault and hostile-input tests (cargo: pool faults, hostile workers,
# hostile HTTP, TLS, security defaults), then each timed chaos scenario
# (the hand-off kill storm runs 10 s per mode whatever STORM_SECONDS is).
# Prints every scenario's summary line and exits non-zero if any failed.
# Usage: bench/chaos/run-all.sh [STORM_SECONDS]
set -uo pipefail
cd "$(dirname "$0")/../.."
storm=${1:-30}
status=0
summary=()
run() { # name command...
  local name=$1; shift
  echo "=== $name" >&2
  local out
  out=$("$@" 2> >(tail -n 40 >&2))
  local rc=$?
  # Its summary lines ("name key=value ..."; one per mode for
  # handoff-kill-storm), else its last line.
  local lines line
  lines=$(printf '%s\n' "$out" | grep -E '^[a-z-]+ [a-z_]+=' || printf '%s\n' "$out" | tail -n 1)
  while IFS= read -r line; do
    summary+=("$(printf '%-16s %s %s' "$name" "$([ $rc -eq 0 ] && echo PASS || echo FAIL)" "$line")")
  done <<<"$lines"
  [ $rc -eq 0 ] || status=1
}
scripts/deps.sh bench >&2
# The fault tests include the broker suites: the same brokers as scripts/test,
# found at their addresses or started here (and stopped at exit).
source scripts/brokers.sh redis amqp beanstalk nats sqs memcached
run tests bash -c 'cargo test --workspace --locked 2>&1 | grep -E "^test result|FAILED|panicked"; rc=${PIPESTATUS[0]}; echo "cargo test --workspace exit=$rc"; exit $rc'
run kill-storm bench/chaos/kill-storm.sh "$storm" 4 32
run handoff-storm bench/chaos/handoff-kill-storm.sh 10 4 32
run leak bench/chaos/leak.sh 20 2 4
run queue-pressure bench/chaos/queue-pressure.sh 15 4 10
run idle-conns bench/chaos/idle-connections.sh 10000
echo
printf '%s\n' "${summary[@]}"
exit $status
