#!/usr/bin/env bash
# Keyledger local Kafka: Apache Kafka 4.x in KRaft combined mode (broker + controller, one node),
# run straight from Maven Central jars with OpenJDK 17. No Docker.
#
#   kafka.sh fetch    download the jars (Maven) into $KEYLEDGER_HOME/lib/kafka/libs (no-op when up to date)
#   kafka.sh start    format storage once, then start kafka.Kafka detached (no-op when already running)
#   kafka.sh wait     wait until the broker accepts clients (default 90 s)
#   kafka.sh stop     SIGTERM, up to 30 s, then SIGKILL
#   kafka.sh status   "running (pid N)" exit 0 / "stopped" exit 3
#
# Environment:
#   KEYLEDGER_HOME                   default <repo>/.keyledger
#   KEYLEDGER_KAFKA_PORT             broker port, default 9092
#   KEYLEDGER_KAFKA_CONTROLLER_PORT  KRaft controller port, default 9093
#   KEYLEDGER_JAVA17                 java binary, default /usr/lib/jvm/java-17-openjdk-amd64/bin/java, else `java`
#   KEYLEDGER_KAFKA_HEAP_OPTS        default "-Xms256m -Xmx768m"
#   KEYLEDGER_KAFKA_WAIT_SECS        timeout of `wait`, default 90
#   KEYLEDGER_KAFKA_STOP_SECS        SIGTERM grace period of `stop`, default 30
#   KEYLEDGER_MVN_ARGS               extra Maven arguments for `fetch` (e.g. -Dmaven.repo.local=/cache/m2)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# deploy/local/kafka -> repo root is three directories up
REPO_ROOT="$(cd "$SCRIPT_DIR/../../.." && pwd)"
KEYLEDGER_HOME="${KEYLEDGER_HOME:-$REPO_ROOT/.keyledger}"

BROKER_PORT="${KEYLEDGER_KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KEYLEDGER_KAFKA_CONTROLLER_PORT:-9093}"
HEAP_OPTS="${KEYLEDGER_KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}"
WAIT_SECS="${KEYLEDGER_KAFKA_WAIT_SECS:-90}"
STOP_SECS="${KEYLEDGER_KAFKA_STOP_SECS:-30}"

POM="$SCRIPT_DIR/pom.xml"
TEMPLATE="$SCRIPT_DIR/server.properties"
LOG4J_CONF="$SCRIPT_DIR/log4j2.properties"

LIB_DIR="$KEYLEDGER_HOME/lib/kafka"
LIBS="$LIB_DIR/libs"
STAMP="$LIB_DIR/.fetched"
DATA_DIR="$KEYLEDGER_HOME/data/kafka"
LOG_DIR_DATA="$DATA_DIR/kraft-combined-logs"
CLUSTER_ID_FILE="$DATA_DIR/cluster.id"
RUN_DIR="$KEYLEDGER_HOME/run"
PID_FILE="$RUN_DIR/kafka.pid"
CONF_FILE="$RUN_DIR/kafka.server.properties"
LOGS_DIR="$KEYLEDGER_HOME/logs/kafka"
OUT_FILE="$LOGS_DIR/kafka.out"

READY_LINE="Kafka Server started"
MAIN_CLASS="kafka.Kafka"

log() { printf '[kafka] %s\n' "$*"; }
err() { printf '[kafka] ERROR: %s\n' "$*" >&2; }

for v in BROKER_PORT CONTROLLER_PORT WAIT_SECS STOP_SECS; do
  if ! [[ "${!v}" =~ ^[0-9]+$ ]]; then err "$v must be a number, got '${!v}'"; exit 2; fi
done
if [ "$BROKER_PORT" = "$CONTROLLER_PORT" ]; then
  err "broker port and controller port are both $BROKER_PORT"; exit 2
fi

# ---------------------------------------------------------------------------- helpers

now_ms() { date +%s%3N; }

# Java >= 17: $KEYLEDGER_JAVA17, then the Debian OpenJDK 17 path, then `java` on PATH.
find_java() {
  local candidates=() c ver major
  if [ -n "${KEYLEDGER_JAVA17:-}" ]; then
    candidates+=("$KEYLEDGER_JAVA17")
    [ -x "$KEYLEDGER_JAVA17" ] || log "warning: KEYLEDGER_JAVA17=$KEYLEDGER_JAVA17 is not executable; looking elsewhere" >&2
  fi
  candidates+=("/usr/lib/jvm/java-17-openjdk-amd64/bin/java")
  if command -v java >/dev/null 2>&1; then candidates+=("$(command -v java)"); fi
  for c in "${candidates[@]}"; do
    [ -x "$c" ] || continue
    ver="$("$c" -version 2>&1 | sed -n 's/.* version "\([^"]*\)".*/\1/p' | awk 'NR==1')"
    major="${ver%%.*}"
    if [ "$major" = "1" ]; then major="$(echo "$ver" | cut -d. -f2)"; fi
    major="${major%%[^0-9]*}"   # "17-ea" -> 17
    if [[ "$major" =~ ^[0-9]+$ ]] && [ "$major" -ge 17 ]; then
      JAVA="$c"; return 0
    fi
  done
  err "no Java 17 or newer found (tried: ${candidates[*]:-nothing})."
  err "install one, e.g.:  apt-get install -y openjdk-17-jre-headless   (or set KEYLEDGER_JAVA17=/path/to/bin/java)"
  exit 1
}

pom_hash() {
  sha256sum < "$POM" | cut -d' ' -f1
}

jar_count() { find "$LIBS" -maxdepth 1 -name '*.jar' | wc -l; }

is_fetched() {
  [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(pom_hash)" ] && compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null
}

# pid of our running broker, or nothing. Checks the pid really is a kafka.Kafka JVM (pid reuse).
running_pid() {
  local pid
  [ -f "$PID_FILE" ] || return 1
  pid="$(tr -dc '0-9' < "$PID_FILE")"
  [ -n "$pid" ] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- " $MAIN_CLASS " || return 1
  echo "$pid"
}

# broker / controller port the running instance was started with (rendered config), else the configured one
running_port() {
  local name="$1" fallback="$2" p=""
  if [ -f "$CONF_FILE" ]; then
    p="$(sed -n "s#^listeners=.*${name}://127\.0\.0\.1:\([0-9]*\).*#\1#p" "$CONF_FILE" | awk 'NR==1')"
  fi
  echo "${p:-$fallback}"
}

# true when something accepts TCP connections on 127.0.0.1:$1
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# true when some socket is bound/listening on port $1 (any address), per ss; falls back to a connect test
port_in_use() {
  if command -v ss >/dev/null 2>&1; then
    ss -Htln "sport = :$1" 2>/dev/null | grep -q . && return 0
  fi
  port_open "$1"
}

log_tail() {
  local n="${1:-40}"
  if [ -s "$OUT_FILE" ]; then
    echo "----- last $n lines of $OUT_FILE -----" >&2
    tail -n "$n" "$OUT_FILE" >&2
  fi
  if [ -s "$LOGS_DIR/server.log" ]; then
    echo "----- last $n lines of $LOGS_DIR/server.log -----" >&2
    tail -n "$n" "$LOGS_DIR/server.log" >&2
  fi
}

# random Kafka cluster id: 16 random bytes, URL-safe base64 without padding (22 chars), not starting with '-'
new_cluster_id() {
  local id=""
  while [ -z "$id" ] || [ "${id:0:1}" = "-" ]; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
  done
  echo "$id"
}

render_config() {
  mkdir -p "$RUN_DIR"
  sed -e "s#@LOG_DIR@#$LOG_DIR_DATA#g" \
      -e "s#@BROKER_PORT@#$BROKER_PORT#g" \
      -e "s#@CONTROLLER_PORT@#$CONTROLLER_PORT#g" \
      "$TEMPLATE" > "$CONF_FILE.tmp"
  mv "$CONF_FILE.tmp" "$CONF_FILE"
}

jvm_opts() {
  # shellcheck disable=SC2206
  JVM_OPTS=($HEAP_OPTS
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError
    -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$LOG4J_CONF"
    "-Dkafka.logs.dir=$LOGS_DIR")
}

# ---------------------------------------------------------------------------- subcommands

cmd_fetch() {
  if is_fetched; then
    log "jars up to date in $LIBS ($(jar_count) files; pom unchanged)"
    return 0
  fi
  if ! command -v mvn >/dev/null 2>&1; then
    err "Maven (mvn) not found; install it, e.g.:  apt-get install -y maven"
    exit 1
  fi
  find_java
  local t0 t1 version
  version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | awk 'NR==1')"
  log "fetching Kafka $version jars from Maven Central into $LIBS ..."
  t0="$(now_ms)"
  rm -rf "$LIBS" "$STAMP"
  mkdir -p "$LIBS"
  # Maven runs on the same Java as the broker (needs no particular version itself).
  # Download lines are the progress output; sed drops the ANSI resets Debian's Maven prints even with -B.
  # shellcheck disable=SC2086
  if ! JAVA_HOME="$(dirname "$(dirname "$(readlink -f "$JAVA")")")" \
      mvn -B -Dstyle.color=never -f "$POM" ${KEYLEDGER_MVN_ARGS:-} package \
        "-Dkafka.libs.dir=$LIBS" "-Dkafka.build.dir=$LIB_DIR/build" 2>&1 \
      | sed -u 's/\x1b\[[0-9;]*m//g'; then
    err "Maven failed to fetch the Kafka jars (see above)"
    exit 1
  fi
  if ! compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null; then
    err "Maven finished but $LIBS has no kafka_2.13 jar"; exit 1
  fi
  pom_hash > "$STAMP"
  t1="$(now_ms)"
  log "fetched $(jar_count) jars ($(du -sh "$LIBS" | cut -f1)) in $(( (t1 - t0) / 1000 )).$(( (t1 - t0) % 1000 / 100 ))s"
}

cmd_format() {
  if [ -f "$LOG_DIR_DATA/meta.properties" ]; then
    return 0
  fi
  mkdir -p "$DATA_DIR" "$LOGS_DIR"
  if [ ! -s "$CLUSTER_ID_FILE" ]; then
    new_cluster_id > "$CLUSTER_ID_FILE"
  fi
  local cid t0 t1
  cid="$(tr -d '[:space:]' < "$CLUSTER_ID_FILE")"
  log "formatting storage $LOG_DIR_DATA (cluster id $cid) ..."
  t0="$(now_ms)"
  jvm_opts
  if ! "$JAVA" "${JVM_OPTS[@]}" -cp "$LIBS/*" kafka.tools.StorageTool format \
        --cluster-id "$cid" --config "$CONF_FILE" --ignore-formatted > "$LOGS_DIR/format.out" 2>&1; then
    err "storage format failed:"; cat "$LOGS_DIR/format.out" >&2; exit 1
  fi
  t1="$(now_ms)"
  log "formatted in $(( (t1 - t0) / 1000 )).$(( (t1 - t0) % 1000 / 100 ))s: $(tail -n1 "$LOGS_DIR/format.out")"
}

cmd_start() {
  local pid
  if pid="$(running_pid)"; then
    log "already running (pid $pid, broker 127.0.0.1:$(running_port PLAINTEXT "$BROKER_PORT"))"
    return 0
  fi
  rm -f "$PID_FILE"
  find_java
  is_fetched || cmd_fetch

  local p name
  for p in "$BROKER_PORT:kafka" "$CONTROLLER_PORT:kafka controller"; do
    name="${p#*:}"; p="${p%%:*}"
    if port_in_use "$p"; then
      err "port $p ($name) is already in use"
      exit 1
    fi
  done

  mkdir -p "$DATA_DIR" "$RUN_DIR" "$LOGS_DIR"
  render_config
  cmd_format

  [ -f "$OUT_FILE" ] && mv -f "$OUT_FILE" "$OUT_FILE.1"
  jvm_opts
  local gc_log="-Xlog:gc*:file=$LOGS_DIR/gc.log:time,tags:filecount=3,filesize=10M"
  # setsid: own session, so the broker survives the caller's terminal / process group being killed.
  # The inner shell writes its own pid and then execs java, so the pid file holds the JVM's pid.
  # shellcheck disable=SC2016
  setsid nohup bash -c 'echo $$ > "$0"; exec "$@"' "$PID_FILE" \
      "$JAVA" "${JVM_OPTS[@]}" "$gc_log" -cp "$LIBS/*" "$MAIN_CLASS" "$CONF_FILE" \
      > "$OUT_FILE" 2>&1 < /dev/null &
  local i
  for i in $(seq 1 50); do
    [ -s "$PID_FILE" ] && break
    sleep 0.1
  done
  if ! pid="$(running_pid)"; then
    sleep 0.5
    if ! pid="$(running_pid)"; then
      err "kafka exited right after start"
      log_tail 40
      rm -f "$PID_FILE"
      exit 1
    fi
  fi
  log "started (pid $pid) broker 127.0.0.1:$BROKER_PORT controller 127.0.0.1:$CONTROLLER_PORT; logs in $LOGS_DIR"
}

cmd_wait() {
  local pid t0 deadline port
  if ! pid="$(running_pid)"; then
    err "kafka is not running"
    log_tail 40
    exit 1
  fi
  port="$(running_port PLAINTEXT "$BROKER_PORT")"
  t0="$(date +%s)"
  deadline=$(( t0 + WAIT_SECS ))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      err "kafka (pid $pid) died while starting"
      log_tail 60
      rm -f "$PID_FILE"
      exit 1
    fi
    if grep -q "$READY_LINE" "$OUT_FILE" 2>/dev/null && port_open "$port"; then
      log "ready on 127.0.0.1:$port (pid $pid, waited $(( $(date +%s) - t0 ))s)"
      return 0
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      err "kafka not ready after ${WAIT_SECS}s"
      log_tail 60
      exit 1
    fi
    sleep 0.5
  done
}

cmd_stop() {
  local pid i
  if ! pid="$(running_pid)"; then
    rm -f "$PID_FILE"
    log "not running"
    return 0
  fi
  log "stopping (pid $pid) ..."
  kill -TERM "$pid" 2>/dev/null || true
  for (( i = 0; i < STOP_SECS * 5; i++ )); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "still running after ${STOP_SECS}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for (( i = 0; i < 50; i++ )); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  rm -f "$PID_FILE"
  log "stopped"
}

cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    echo "kafka: running (pid $pid, broker 127.0.0.1:$(running_port PLAINTEXT "$BROKER_PORT"), controller 127.0.0.1:$(running_port CONTROLLER "$CONTROLLER_PORT"))"
    return 0
  fi
  echo "kafka: stopped"
  return 3
}

usage() {
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
}

case "${1:-}" in
  fetch)  cmd_fetch ;;
  start)  cmd_start ;;
  wait)   cmd_wait ;;
  stop)   cmd_stop ;;
  status) cmd_status ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
