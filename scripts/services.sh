#!/usr/bin/env bash
# Local services for lambda-serving's tests and demos: a real Apache Kafka broker on
# 127.0.0.1:9092, PostgreSQL on 127.0.0.1:5432, and S3Proxy (a real S3-compatible server, in
# memory) on 127.0.0.1:9000 for the Redshift S3 COPY path.
#
#   scripts/services.sh start|stop|status
#
# start is idempotent. For each service it uses, in order:
#   1. one that already answers on its port;
#   2. `docker compose up -d` of the repo's docker-compose.yml, where a Docker engine answers;
#   3. Kafka: a single-node KRaft broker from Maven Central jars (Java 17+, Maven), cached under
#      $LS_SERVICES_DIR (default ~/.cache/lambda-serving) so later starts take seconds;
#      PostgreSQL: the installed Debian cluster (pg_ctlcluster);
#      S3: S3Proxy from Maven Central jars, cached the same way.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
state=${LS_SERVICES_DIR:-$HOME/.cache/lambda-serving}
kafka_version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/kafka/pom.xml")
libs="$state/kafka-$kafka_version/libs"
data="$state/kafka-data"
pidfile="$state/kafka.pid"
logfile="$state/kafka.log"
s3_version=$(sed -n 's:.*<s3proxy.version>\(.*\)</s3proxy.version>.*:\1:p' "$here/s3proxy/pom.xml")
s3_libs="$state/s3proxy-$s3_version/libs"
s3_pidfile="$state/s3proxy.pid"
s3_logfile="$state/s3proxy.log"
S3_PORT=9000
KAFKA_PORT=9092
PG_HOST=127.0.0.1
PG_PORT=5432

log() { printf '[services] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port seconds what
  local i
  for ((i = 0; i < $2 * 4; i++)); do
    port_open "$1" && return 0
    sleep 0.25
  done
  return 1
}

docker_ok() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

pg_ready() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h "$PG_HOST" -p "$PG_PORT"
  else
    port_open "$PG_PORT"
  fi
}

start_postgres() {
  if pg_ready; then log "postgres: answering on $PG_HOST:$PG_PORT"; return; fi
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    local ver
    ver=$(ls /etc/postgresql | sort -V | tail -n 1)
    log "postgres: starting cluster $ver/main"
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  elif docker_ok; then
    log "postgres: docker compose up -d postgres"
    docker compose -f "$repo/docker-compose.yml" up -d postgres
  else
    die "postgres: nothing answers on $PG_HOST:$PG_PORT, no installed cluster and no Docker engine"
  fi
  for _ in $(seq 1 120); do pg_ready && { log "postgres: ready"; return; }; sleep 0.5; done
  die "postgres: did not become ready on $PG_HOST:$PG_PORT"
}

fetch_kafka() {
  [ -f "$libs/.complete" ] && return
  command -v mvn >/dev/null 2>&1 || die "kafka: Maven is needed to fetch the broker jars (apt-get install maven)"
  log "kafka: fetching Apache Kafka $kafka_version jars from Maven Central into $libs"
  rm -rf "$libs"; mkdir -p "$libs"
  mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$libs" >&2
  touch "$libs/.complete"
}

java_bin() {
  local j=${JAVA_HOME:+$JAVA_HOME/bin/java}
  j=${j:-$(command -v java || true)}
  [ -n "$j" ] || die "kafka: Java 17+ is needed (apt-get install openjdk-17-jre-headless)"
  local major
  major=$("$j" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)
  [ "${major:-0}" -ge 17 ] || die "kafka: Java 17+ is needed, found $major at $j"
  echo "$j"
}

start_kafka() {
  if port_open "$KAFKA_PORT"; then log "kafka: answering on 127.0.0.1:$KAFKA_PORT"; return; fi
  if docker_ok; then
    log "kafka: docker compose up -d kafka"
    docker compose -f "$repo/docker-compose.yml" up -d kafka
  else
    local java
    java=$(java_bin)
    fetch_kafka
    mkdir -p "$state"
    local props="$state/server.properties"
    cp "$here/kafka/server.properties" "$props"
    echo "log.dirs=$data" >> "$props"
    local cp="$libs/*"
    if [ ! -f "$data/meta.properties" ]; then
      log "kafka: formatting KRaft storage in $data"
      rm -rf "$data"
      local cluster_id
      cluster_id=$("$java" -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
      "$java" -cp "$cp" -Dlog4j2.configurationFile="$here/kafka/log4j2.properties" \
        kafka.tools.StorageTool format --standalone -t "$cluster_id" -c "$props" >&2
    fi
    log "kafka: starting broker $kafka_version (log: $logfile)"
    nohup setsid "$java" -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$here/kafka/log4j2.properties" \
      -cp "$cp" kafka.Kafka "$props" >"$logfile" 2>&1 </dev/null &
    echo $! > "$pidfile"
  fi
  wait_port "$KAFKA_PORT" 90 || { tail -n 30 "$logfile" >&2 || true; die "kafka: broker did not open 127.0.0.1:$KAFKA_PORT"; }
  log "kafka: ready on 127.0.0.1:$KAFKA_PORT"
}

start_s3() {
  if port_open "$S3_PORT"; then log "s3: answering on 127.0.0.1:$S3_PORT"; return; fi
  local java
  java=$(java_bin)
  if [ ! -f "$s3_libs/.complete" ]; then
    command -v mvn >/dev/null 2>&1 || die "s3: Maven is needed to fetch S3Proxy"
    log "s3: fetching S3Proxy $s3_version jars from Maven Central into $s3_libs"
    rm -rf "$s3_libs"; mkdir -p "$s3_libs"
    mvn -q -B -f "$here/s3proxy/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$s3_libs" >&2
    touch "$s3_libs/.complete"
  fi
  log "s3: starting S3Proxy $s3_version (log: $s3_logfile)"
  LOG_LEVEL=warn nohup setsid "$java" -Xmx256m -cp "$s3_libs/*" org.gaul.s3proxy.Main \
    --properties "$here/s3proxy/s3proxy.properties" >"$s3_logfile" 2>&1 </dev/null &
  echo $! > "$s3_pidfile"
  wait_port "$S3_PORT" 60 || { tail -n 30 "$s3_logfile" >&2 || true; die "s3: S3Proxy did not open 127.0.0.1:$S3_PORT"; }
  log "s3: ready on 127.0.0.1:$S3_PORT"
}

stop_pidfile() { # name pidfile
  if [ -f "$2" ] && kill -0 "$(cat "$2")" 2>/dev/null; then
    local pid; pid=$(cat "$2")
    log "$1: stopping pid $pid"
    kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$2"
  fi
}

stop_kafka() {
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    stop_pidfile "kafka broker" "$pidfile"
  elif docker_ok && [ -f "$repo/docker-compose.yml" ]; then
    docker compose -f "$repo/docker-compose.yml" stop kafka || true
  else
    log "kafka: no broker started by this script is running"
  fi
}

status() {
  local rc=0
  if port_open "$KAFKA_PORT"; then echo "kafka: up (127.0.0.1:$KAFKA_PORT)"; else echo "kafka: down"; rc=1; fi
  if port_open "$S3_PORT"; then echo "s3: up (127.0.0.1:$S3_PORT)"; else echo "s3: down"; rc=1; fi
  if pg_ready; then echo "postgres: up ($PG_HOST:$PG_PORT)"; else echo "postgres: down"; rc=1; fi
  return $rc
}

case "${1:-}" in
  start) start_postgres; start_kafka; start_s3 ;;
  stop) stop_kafka; stop_pidfile s3 "$s3_pidfile" ;;  # PostgreSQL is the machine's own service: left running
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 64 ;;
esac
