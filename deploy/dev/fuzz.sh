#!/usr/bin/env bash
# Runs every fuzz target of the module for a short time each: FUZZTIME (default 10s) per
# target. The targets are listed with `go test -list '^Fuzz'` in each package that declares
# one, so a new target is picked up without editing anything. Each package's test binary is
# built once, instrumented as `go test -fuzz` builds it, and run once per target (linking a
# binary per target cost more than the fuzzing). A failing target stops the run; its failing
# input is then in <package>/testdata/fuzz/<target>/, to commit with the fix.
set -euo pipefail
cd "$(dirname "$0")/../.."
go=${GO:-go}
fuzztime=${FUZZTIME:-10s}
cache="$("$go" env GOCACHE)/fuzz" # where go test -fuzz keeps what it found interesting
bins=$(mktemp -d)
trap 'rm -rf "$bins"' EXIT

start=$SECONDS
count=0
for dir in $(grep -rl --include='*_test.go' '^func Fuzz' cmd internal 2>/dev/null | xargs -n1 dirname | sort -u); do
  targets=$("$go" test -list '^Fuzz' "./$dir" | grep '^Fuzz' || true)
  [ -n "$targets" ] || continue
  pkg=$("$go" list "./$dir")
  bin="$bins/${pkg//\//_}.test"
  "$go" test -c -o "$bin" -fuzz "^$(head -n1 <<<"$targets")\$" "./$dir"
  for target in $targets; do
    echo "== $target ($pkg, $fuzztime)"
    (cd "$dir" && "$bin" -test.run '^$' -test.fuzz "^${target}\$" -test.fuzztime "$fuzztime" \
      -test.fuzzcachedir "$cache/$pkg" -test.timeout 10m) ||
      { echo "$target failed: its input is in ./$dir/testdata/fuzz/$target/" >&2; exit 1; }
    count=$((count + 1))
  done
done
echo "fuzzed $count targets for $fuzztime each in $((SECONDS - start))s"
