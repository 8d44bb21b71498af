#!/usr/bin/env bash
# Jobs benchmark: push and drain rates through a real coyote, per driver
# (memory and boltdb with 2 and 8 PHP consumers; the brokers nats, redis,
# beanstalk, amqp and sqs with 2), beside the pool-echo ceiling of the same
# PHP consumer, in one run. The brokers are found at their COYOTE_TEST_*
# addresses or started by scripts/brokers.sh (as for the tests). Last lines:
#   jobs driver=D consumers=C drain_per_sec=N ceiling_per_sec=M ratio=R
#   jobs drain_per_sec=N ceiling_per_sec=M ratio=R        (memory, 2)
# Usage: bench/jobs/run.sh [extra jobs-bench flags, e.g. --jobs 100000]
#   JOBS_BENCH_DRIVERS=memory,nats bench/jobs/run.sh    (a subset)
set -euo pipefail
cd "$(dirname "$0")/../.."
drivers=${JOBS_BENCH_DRIVERS:-memory,boltdb,nats,redis,beanstalk,amqp,sqs}
scripts/deps.sh test
brokers=()
for d in ${drivers//,/ }; do
  case "$d" in nats|redis|beanstalk|amqp|sqs) brokers+=("$d") ;; esac
done
# shellcheck source=scripts/brokers.sh
source scripts/brokers.sh "${brokers[@]}"
cargo build --release -q -p coyote --bin coyote
cargo build --release -q -p jobs-bench
mkdir -p bench/out
./target/release/jobs-bench --coyote target/release/coyote --drivers "$drivers" "$@" | tee bench/out/jobs.txt
