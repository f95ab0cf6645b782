#!/usr/bin/env bash
# `make dev`: rebuilds and restarts the server whenever a Go or SQL file changes.
# Polls modification times, so it needs nothing beyond bash and find.
set -uo pipefail
stamp=$(mktemp)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -f "$stamp"; exit 0; }
trap cleanup INT TERM

start() {
  if go build -o bin/gateway-dev ./cmd/gateway; then
    ./bin/gateway-dev serve &
    pid=$!
  else
    pid=
    echo "build failed; waiting for the next change"
  fi
}

touch "$stamp"
start
while sleep 1; do
  if [ -n "$(find cmd internal migrations -newer "$stamp" \( -name '*.go' -o -name '*.sql' \) -print -quit)" ]; then
    touch "$stamp"
    echo "change detected; restarting"
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
    start
  fi
done
