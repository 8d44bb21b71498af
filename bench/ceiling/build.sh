#!/bin/sh
# Build the ceiling driver (OUT, default bench/ceiling/ceiling) and the C
# reference echo worker (bench/ceiling/c-echo). No external libraries.
set -e
DIR=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$DIR/ceiling}
cd "$DIR"
cc -O2 -Wall -Wextra -o "$OUT" ceiling.c
cc -O2 -Wall -Wextra -o "$DIR/c-echo" c-echo.c
echo "built $OUT and $DIR/c-echo"
