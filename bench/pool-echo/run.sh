#!/usr/bin/env bash
# Pool echo benchmark, side by side with the C ceiling, in one run.
# Usage: bench/pool-echo/run.sh [extra pool-echo flags]
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/deps.sh test
cargo build --release -q -p pool-echo
OUT="$PWD/bench/ceiling/ceiling" bench/ceiling/build.sh >/dev/null
mkdir -p bench/out
./target/release/pool-echo --ceiling bench/ceiling/ceiling "$@" | tee bench/out/pool-echo.txt
