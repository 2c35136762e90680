#!/usr/bin/env bash
# The figures of BENCHMARKS.md's "Many processes, one PostgreSQL" section,
# from one run:
#   1. tokens/s of one process on the memory store, SQLite and PostgreSQL,
#      without and with the key-record cache (BenchmarkExchangeStore;
#      tokens/s = 1e9 / ns/op, one goroutine), summarised by benchstat;
#   2. revocation propagation across three real server processes: median
#      and worst of 50 observations each for a key revoked and a token
#      revoked through RFC 7009 (TestEndToEndManyProcesses).
# Needs KEYTURN_TEST_POSTGRES (a PostgreSQL URL; the script sets the local
# default when a server answers on 127.0.0.1:5432). Run it on a quiet
# machine. BENCH_COUNT (default 6) and BENCH_TIME (default 1s) override.
#   scripts/multiproc-bench.sh [out.txt]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-multiproc-bench.txt}
if [ -z "${KEYTURN_TEST_POSTGRES:-}" ]; then
  if (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
    export KEYTURN_TEST_POSTGRES="postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
  else
    echo "no PostgreSQL: set KEYTURN_TEST_POSTGRES" >&2; exit 1
  fi
fi
benchstat=$(command -v benchstat || echo "$(go env GOPATH)/bin/benchstat")
{
  echo "# $(date -u +%FT%TZ) $(git rev-parse --short HEAD) $(go version | cut -d' ' -f3-) $(nproc) CPUs"
  go test -run='^$' -bench='^BenchmarkExchangeStore$' -benchmem -count="${BENCH_COUNT:-6}" \
    -benchtime="${BENCH_TIME:-1s}" . | tee /dev/stderr | grep -E '^(Benchmark|goos|goarch|pkg|cpu)' > "$out.raw"
  if [ -x "$benchstat" ]; then "$benchstat" "$out.raw"; else cat "$out.raw"; fi
  echo
  go test -count=1 -v -run '^TestEndToEndManyProcesses$' ./examples/tokenserver/ | grep -E 'propagation over|^(ok|FAIL|---)'
} | tee "$out"
