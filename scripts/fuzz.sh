#!/usr/bin/env bash
# Runs every fuzz target in the module for the given time each (default 30s).
#   scripts/fuzz.sh        # 30s per target
#   scripts/fuzz.sh 10m    # a long run
#   scripts/fuzz.sh 10000x # a number of inputs per target (CI's form: a
#                          # duration can end in Go 1.26's spurious
#                          # "context deadline exceeded", go.dev/issue/75804)
# FUZZ_JOBS=N runs N targets at once, each with one fuzzing worker (on a
# 2-core machine FUZZ_JOBS=2 halves the wall time of a long run). A finding
# fails the run; the fuzzer writes the input under the package's
# testdata/fuzz/<Target>/, where it becomes a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:-30s}
jobs=${FUZZ_JOBS:-1}
targets=()
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    targets+=("$pkg $target")
  done
done
if [ "$jobs" -le 1 ]; then
  for t in "${targets[@]}"; do
    set -- $t
    echo "-- $1 $2 ($dur)"
    go test -run='^$' -fuzz="^${2}\$" -fuzztime="$dur" "$1"
  done
  exit 0
fi
# Build every test binary first, so that the jobs do not race to compile.
for t in "${targets[@]}"; do set -- $t; go test -c -o /dev/null "$1"; done
# xargs exits non-zero when any target failed; each target prints its tail
# (the failing input's path, on a finding) when it ends.
for t in "${targets[@]}"; do echo "$t $dur"; done | xargs -P "$jobs" -L 1 sh -c '
  out=$(go test -run="^\$" -fuzz="^$1\$" -fuzztime="$2" -parallel=1 "$0" 2>&1); rc=$?
  printf -- "-- %s %s (%s, 1 worker): exit %d\n%s\n" "$0" "$1" "$2" "$rc" "$(printf "%s\n" "$out" | tail -n 8)"
  exit $rc'
