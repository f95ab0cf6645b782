#!/usr/bin/env bash
# Makes sure PostgreSQL and Redis answer before `make run` / `make test`.
# When one does not and a Docker engine is running, starts both with docker compose;
# otherwise says exactly what to start.
set -euo pipefail
pg_addr=${1:-127.0.0.1:5432}
redis_addr=${2:-127.0.0.1:6379}

answers() { # host:port
  timeout 2 bash -c "exec 3<>/dev/tcp/${1%:*}/${1##*:}" 2>/dev/null
}

missing=()
answers "$pg_addr" || missing+=("PostgreSQL at $pg_addr")
answers "$redis_addr" || missing+=("Redis at $redis_addr")
[ ${#missing[@]} -eq 0 ] && exit 0

printf 'Not reachable: %s\n' "${missing[@]}"
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  echo "Starting postgres and redis with docker compose..."
  docker compose up -d --wait postgres redis
  exit 0
fi
cat <<MSG
No Docker engine answers, so start them yourself, for example:
  PostgreSQL 15:  pg_ctlcluster 15 main start      (Debian/Ubuntu; trust or password auth for user postgres)
  Redis 7:        redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
or point DATABASE_URL / REDIS_URL (and PGHOST_ADDR / REDIS_ADDR for make) at running servers.
MSG
exit 1
