#!/usr/bin/env bash
# Stops the Kafka broker started by scripts/kafka/start.sh and removes its temp storage.
# Same environment as start.sh (KAFKA_PORT, KAFKA_CACHE_DIR, KAFKA_RUN_DIR). Idempotent.
set -euo pipefail
exec </dev/null

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KAFKA_PORT="${KAFKA_PORT:-19092}"
KAFKA_CACHE_DIR="${KAFKA_CACHE_DIR:-$ROOT/.cache/kafka}"
KAFKA_RUN_DIR="${KAFKA_RUN_DIR:-$KAFKA_CACHE_DIR/run-$KAFKA_PORT}"
PID_FILE="$KAFKA_RUN_DIR/kafka.pid"

if [[ -f "$PID_FILE" ]]; then
  pid="$(cat "$PID_FILE")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    # A controlled shutdown takes a few seconds; past 30 s the broker is killed.
    for _ in $(seq 1 60); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
    echo "[kafka] stopped pid $pid" >&2
  fi
  rm -f "$PID_FILE"
else
  echo "[kafka] not running (no $PID_FILE)" >&2
fi
if [[ -f "$KAFKA_RUN_DIR/data-dir" ]]; then
  rm -rf "$(cat "$KAFKA_RUN_DIR/data-dir")"
  rm -f "$KAFKA_RUN_DIR/data-dir"
fi
