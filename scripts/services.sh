#!/usr/bin/env bash
# Makes sure every service the tests use is up on this machine, starting any that is down.
# Idempotent; used by .ci/run and documented in the README for local runs.
set -uo pipefail
cd "$(dirname "$0")/.."

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && exec 3>&- 3<&-; }
wait_port() { # host port seconds name
  for _ in $(seq 1 "$3"); do port_open "$1" "$2" && return 0; sleep 1; done
  echo "$4 did not open $1:$2 within $3 s" >&2
  return 1
}

ok=0
if ! port_open 127.0.0.1 6379; then
  echo "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
fi
wait_port 127.0.0.1 6379 30 Redis || ok=1
echo "Redis: up"

if ! port_open 127.0.0.1 5672; then
  echo "starting RabbitMQ"
  rabbitmq-server -detached || true
fi
wait_port 127.0.0.1 5672 90 RabbitMQ || ok=1
echo "RabbitMQ: up"

if [ -f scripts/kafka/start.sh ]; then
  bash scripts/kafka/start.sh || ok=1
fi
exit $ok
