#!/usr/bin/env bash
# Runs every benchmark in the module with -benchmem and writes the raw
# output to bench.txt (or $1), ready for benchstat:
#   scripts/bench.sh                 # -count=6, all packages
#   scripts/bench.sh old.txt         # keep a baseline, change code, then
#   scripts/bench.sh new.txt && benchstat old.txt new.txt
# BENCH_COUNT, BENCH_TIME and BENCH_PKGS override the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench.txt}
count=${BENCH_COUNT:-6}
btime=${BENCH_TIME:-1s}
pkgs=${BENCH_PKGS:-./...}
go test -run='^$' -bench=. -benchmem -count="$count" -benchtime="$btime" $pkgs | tee "$out"
