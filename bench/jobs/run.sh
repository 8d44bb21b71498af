#!/usr/bin/env bash
# Jobs benchmark: push and drain rates through a real coyote (memory and
# boltdb drivers, 2 and 8 PHP consumers), beside the pool-echo ceiling of
# the same PHP consumer, in one run. Last line:
#   jobs drain_per_sec=N ceiling_per_sec=M ratio=R
# Usage: bench/jobs/run.sh [extra jobs-bench flags, e.g. --jobs 100000]
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/deps.sh test
cargo build --release -q -p coyote --bin coyote
cargo build --release -q -p jobs-bench
mkdir -p bench/out
./target/release/jobs-bench --coyote target/release/coyote "$@" | tee bench/out/jobs.txt
