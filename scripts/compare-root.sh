#!/usr/bin/env bash
# Compares, side by side in one run, the token exchange and the middleware
# cache hit of a baseline commit (default 8ca2e3a, before keyturn.New) with
# the working tree: the two test binaries run interleaved, 8 times each, and
# benchstat compares them.
#   scripts/compare-root.sh [BASE_COMMIT]
# Needs benchstat (go install golang.org/x/perf/cmd/benchstat@latest).
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-8ca2e3a}
tmp=$(mktemp -d)
trap 'git worktree remove --force "$tmp/old" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git worktree add -q --detach "$tmp/old" "$base"
# Before keyturn.New the exchange benchmark lived in ./token.
oldpkg=./token
[ -f "$tmp/old/bench_test.go" ] && oldpkg=.
(cd "$tmp/old" && go test -c -o "$tmp/old-ex.test" "$oldpkg" && go test -c -o "$tmp/old-mw.test" ./middleware)
go test -c -o "$tmp/new-ex.test" . && go test -c -o "$tmp/new-mw.test" ./middleware
run() { (cd "$1" && "$2" -test.run '^$' -test.bench "$3" -test.benchmem -test.count 1); }
for _ in 1 2 3 4 5 6 7 8; do
  run "$tmp/old/$oldpkg" "$tmp/old-ex.test" 'Exchange/alg=EdDSA/keys=10$' >>"$tmp/old.txt"
  run . "$tmp/new-ex.test" 'Exchange/alg=EdDSA/keys=10$' >>"$tmp/new.txt"
  run "$tmp/old/middleware" "$tmp/old-mw.test" 'MiddlewareCacheHit$' >>"$tmp/old.txt"
  run middleware "$tmp/new-mw.test" 'MiddlewareCacheHit$' >>"$tmp/new.txt"
done
benchstat -ignore pkg old="$tmp/old.txt" new="$tmp/new.txt"
