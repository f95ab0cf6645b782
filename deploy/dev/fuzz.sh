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
flaked=
for dir in $(grep -rl --include='*_test.go' '^func Fuzz' cmd internal 2>/dev/null | xargs -n1 dirname | sort -u); do
  targets=$("$go" test -list '^Fuzz' "./$dir" | grep '^Fuzz' || true)
  [ -n "$targets" ] || continue
  pkg=$("$go" list "./$dir")
  bin="$bins/${pkg//\//_}.test"
  "$go" test -c -o "$bin" -fuzz "^$(head -n1 <<<"$targets")\$" "./$dir"
  for target in $targets; do
    echo "== $target ($pkg, $fuzztime)"
    corpus="$dir/testdata/fuzz/$target"
    before=$(ls "$corpus" 2>/dev/null | sort || true)
    if (cd "$dir" && "$bin" -test.run '^$' -test.fuzz "^${target}\$" -test.fuzztime "$fuzztime" \
      -test.fuzzcachedir "$cache/$pkg" -test.timeout 10m) 2>&1 | tee "$bins/out"; [ "${PIPESTATUS[0]}" -eq 0 ]; then
      count=$((count + 1))
      continue
    fi
    after=$(ls "$corpus" 2>/dev/null | sort || true)
    # Go's fuzzing coordinator can report its own -fuzztime deadline as a failure, with no
    # input written (go.dev/issue/75804, fixed in Go 1.27): the failure's message is the line
    # "context deadline exceeded" alone (the target's cleanup may print more after it, such as
    # a test gateway's logs). An input that fails is always written to the corpus directory,
    # so only that counts as a failure.
    if [ "$before" = "$after" ] && grep -qx '[[:space:]]*context deadline exceeded' "$bins/out"; then
      echo "$target: the fuzzing coordinator's deadline race (go.dev/issue/75804), no failing input; not a failure"
      flaked=$((flaked + 1))
      continue
    fi
    echo "$target failed: its input is in ./$corpus/" >&2
    exit 1
  done
done
echo "fuzzed $count targets for $fuzztime each in $((SECONDS - start))s${flaked:+ ($flaked more stopped early by the coordinator deadline race)}"
