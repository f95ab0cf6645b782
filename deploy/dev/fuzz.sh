#!/usr/bin/env bash
# Runs every fuzz target of the module for a short time each: FUZZTIME (default 10s) per
# target. The targets are listed with `go test -list '^Fuzz'` in each package that declares
# one, so a new target is picked up without editing anything. A failing target stops the run;
# its failing input is then in <package>/testdata/fuzz/<target>/, to commit with the fix.
set -euo pipefail
cd "$(dirname "$0")/../.."
go=${GO:-go}
fuzztime=${FUZZTIME:-10s}

start=$SECONDS
count=0
for dir in $(grep -rl --include='*_test.go' '^func Fuzz' cmd internal 2>/dev/null | xargs -n1 dirname | sort -u); do
  for target in $("$go" test -list '^Fuzz' "./$dir" | grep '^Fuzz'); do
    echo "== $target (./$dir, $fuzztime)"
    "$go" test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "./$dir" ||
      { echo "$target failed: its input is in ./$dir/testdata/fuzz/$target/" >&2; exit 1; }
    count=$((count + 1))
  done
done
echo "fuzzed $count targets for $fuzztime each in $((SECONDS - start))s"
