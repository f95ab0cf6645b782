#!/usr/bin/env bash
# Fails when the statement coverage in a Go cover profile is below a floor (percent).
set -euo pipefail
profile=${1:?cover profile}
floor=${2:?minimum percent}
total=$(go tool cover -func="$profile" | awk '/^total:/ {sub("%", "", $3); print $3}')
echo "coverage of internal/: ${total}% (floor ${floor}%)"
awk -v t="$total" -v f="$floor" 'BEGIN { exit !(t + 0 >= f + 0) }' || {
  echo "coverage ${total}% is below the floor of ${floor}%" >&2
  exit 1
}
