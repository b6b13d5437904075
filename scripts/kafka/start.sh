#!/usr/bin/env bash
# Starts a single-node Apache Kafka broker (KRaft mode, no ZooKeeper) on the loopback
# interface for the integration tests. The official jars come from Maven Central through
# `mvn dependency:copy-dependencies` into a cache directory, so nothing but Java 17 and
# Maven is needed. Idempotent: a broker this script already started is left running.
#
# Environment (all optional):
#   KAFKA_VERSION          Kafka release to run                 (default 3.9.1)
#   KAFKA_PORT             client (PLAINTEXT) port on 127.0.0.1 (default 19092)
#   KAFKA_CONTROLLER_PORT  KRaft controller port on 127.0.0.1   (default 19093)
#   KAFKA_CACHE_DIR        where the jars are kept              (default <repo>/.cache/kafka)
#   KAFKA_RUN_DIR          pid file, config and broker log      (default $KAFKA_CACHE_DIR/run-$KAFKA_PORT)
#   KAFKA_START_TIMEOUT    seconds to wait for the port         (default 90)
#   KAFKA_HEAP             JVM heap options                     (default "-Xms256m -Xmx512m")
#   KAFKA_MVN_ARGS         extra mvn arguments, e.g. -Dmaven.repo.local=/path (default none)
#
# Why 3.9.x: kafkajs 2.x speaks protocol versions that Kafka 4.0 removed (KIP-896).
set -euo pipefail
exec </dev/null

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KAFKA_VERSION="${KAFKA_VERSION:-3.9.1}"
KAFKA_PORT="${KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
KAFKA_CACHE_DIR="${KAFKA_CACHE_DIR:-$ROOT/.cache/kafka}"
KAFKA_RUN_DIR="${KAFKA_RUN_DIR:-$KAFKA_CACHE_DIR/run-$KAFKA_PORT}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
KAFKA_HEAP="${KAFKA_HEAP:--Xms256m -Xmx512m}"
LIBS="$KAFKA_CACHE_DIR/$KAFKA_VERSION/libs"
PID_FILE="$KAFKA_RUN_DIR/kafka.pid"

log() { echo "[kafka] $*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [[ -f "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null && port_open "$KAFKA_PORT"; then
  log "already running (pid $(cat "$PID_FILE")) on 127.0.0.1:$KAFKA_PORT"
  exit 0
fi
if port_open "$KAFKA_PORT" && pgrep -f "kafka\.Kafka .*" >/dev/null 2>&1; then
  # A broker started from another checkout (another cache dir) already serves this port.
  log "a Kafka broker (pid $(pgrep -f 'kafka\.Kafka .*' | head -n 1)) already listens on 127.0.0.1:$KAFKA_PORT; using it"
  exit 0
fi
if port_open "$KAFKA_PORT"; then
  log "port 127.0.0.1:$KAFKA_PORT is already taken by another process; set KAFKA_PORT"
  exit 1
fi

command -v java >/dev/null || { log "java (17+) is required"; exit 1; }

# 1. Resolve the broker and its runtime dependencies once per version.
if [[ ! -f "$LIBS/.complete" ]]; then
  command -v mvn >/dev/null || { log "mvn is required to fetch the Kafka jars"; exit 1; }
  log "resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION into $LIBS"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  cat >"$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>mcpmas.test</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <!-- The broker logs through slf4j; reload4j is the binding Kafka 3.x ships with. -->
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-reload4j</artifactId>
      <version>1.7.36</version>
    </dependency>
  </dependencies>
</project>
POM
  rm -rf "$LIBS"
  mkdir -p "$LIBS"
  # shellcheck disable=SC2086
  mvn -B -q -Dstyle.color=never ${KAFKA_MVN_ARGS:-} -f "$work/pom.xml" \
    org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$LIBS" >"$work/mvn.log" 2>&1 ||
    { cat "$work/mvn.log" >&2; log "mvn could not resolve the Kafka jars"; exit 1; }
  touch "$LIBS/.complete"
fi

# 2. Fresh KRaft storage in a temp dir on every start: tests never see old topics.
mkdir -p "$KAFKA_RUN_DIR"
if [[ -f "$KAFKA_RUN_DIR/data-dir" ]]; then rm -rf "$(cat "$KAFKA_RUN_DIR/data-dir")"; fi
DATA_DIR="$(mktemp -d "${TMPDIR:-/tmp}/mcpmas-kafka-XXXXXX")"
echo "$DATA_DIR" >"$KAFKA_RUN_DIR/data-dir"

cat >"$KAFKA_RUN_DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DATA_DIR
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS

cat >"$KAFKA_RUN_DIR/log4j.properties" <<L4J
log4j.rootLogger=WARN, stdout
log4j.logger.kafka.server.KafkaRaftServer=INFO
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
L4J

JAVA_OPTS=(-Dlog4j.configuration="file:$KAFKA_RUN_DIR/log4j.properties" -Djava.awt.headless=true)
# A random 16-byte id, base64url without padding: the form `kafka-storage random-uuid` prints.
# Like Kafka's own, never one starting with '-': the tool's argument parser would take it for
# an option and fail ("--cluster-id: expected one argument"), about one run in 64.
CLUSTER_ID="-"
while [[ "$CLUSTER_ID" == -* ]]; do
  CLUSTER_ID="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
done
java "${JAVA_OPTS[@]}" -cp "$LIBS/*" kafka.tools.StorageTool format \
  -t "$CLUSTER_ID" -c "$KAFKA_RUN_DIR/server.properties" >"$KAFKA_RUN_DIR/format.log" 2>&1 ||
  { cat "$KAFKA_RUN_DIR/format.log" >&2; exit 1; }

# 3. Start detached from this shell (setsid), so CI's process group can end without it.
# shellcheck disable=SC2086
setsid nohup java $KAFKA_HEAP "${JAVA_OPTS[@]}" -cp "$LIBS/*" kafka.Kafka \
  "$KAFKA_RUN_DIR/server.properties" >"$KAFKA_RUN_DIR/kafka.log" 2>&1 &
echo $! >"$PID_FILE"
pid="$(cat "$PID_FILE")"

# 4. Wait, bounded, until the client port accepts connections.
deadline=$((SECONDS + KAFKA_START_TIMEOUT))
until port_open "$KAFKA_PORT"; do
  if ! kill -0 "$pid" 2>/dev/null; then
    log "broker exited during start-up; last lines of $KAFKA_RUN_DIR/kafka.log:"
    tail -n 40 "$KAFKA_RUN_DIR/kafka.log" >&2 || true
    rm -f "$PID_FILE"
    exit 1
  fi
  if ((SECONDS >= deadline)); then
    log "not accepting connections after ${KAFKA_START_TIMEOUT}s; stopping it"
    tail -n 40 "$KAFKA_RUN_DIR/kafka.log" >&2 || true
    kill "$pid" 2>/dev/null || true
    rm -f "$PID_FILE"
    exit 1
  fi
  sleep 0.5
done
log "Kafka $KAFKA_VERSION ready on 127.0.0.1:$KAFKA_PORT (pid $pid, log $KAFKA_RUN_DIR/kafka.log)"
