#!/usr/bin/env bash
# Keyledger local Elasticsearch: a real Elasticsearch 9.x node built from Maven Central jars,
# started by a small embedded-node launcher (no Docker, no tarball).
#
#   es.sh fetch    download the jars (mvn) and compile the launcher   (idempotent)
#   es.sh start    start the node in the background                   (idempotent)
#   es.sh wait     wait until the cluster is at least yellow          (up to KEYLEDGER_ES_WAIT_SECONDS, default 120)
#   es.sh stop     SIGTERM, then SIGKILL after 30 s
#   es.sh status   exit 0 if running, 3 if stopped
#
# Environment:
#   KEYLEDGER_HOME               default <repo root>/.keyledger
#   KEYLEDGER_ES_PORT            HTTP port, default 9200
#   KEYLEDGER_ES_TRANSPORT_PORT  transport port, default 9300
#   KEYLEDGER_JAVA25             java binary (Java 21+, a JDK for fetch), default Temurin 25
#   KEYLEDGER_MVN_ARGS           extra Maven arguments for `fetch` (e.g. -Dmaven.repo.local=/cache/m2)
#   KEYLEDGER_ES_JAVA_OPTS       extra JVM options appended last (optional)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# this file lives in <repo root>/deploy/local/elasticsearch
REPO_ROOT="$(cd "$SCRIPT_DIR/../../.." && pwd)"

KEYLEDGER_HOME="${KEYLEDGER_HOME:-$REPO_ROOT/.keyledger}"
ES_PORT="${KEYLEDGER_ES_PORT:-9200}"
ES_TRANSPORT_PORT="${KEYLEDGER_ES_TRANSPORT_PORT:-9300}"
JAVA="${KEYLEDGER_JAVA25:-/usr/lib/jvm/temurin-25-jdk-amd64/bin/java}"
WAIT_SECONDS="${KEYLEDGER_ES_WAIT_SECONDS:-120}"

ES_LIB="$KEYLEDGER_HOME/lib/elasticsearch"
LIBS_DIR="$ES_LIB/libs"
CLASSES_DIR="$ES_LIB/classes"
STAMP_FILE="$ES_LIB/fetch.stamp"
ES_PATH_HOME="$ES_LIB/home"                       # config/ (log4j2.properties), plugins/ (empty), native/
NATIVE_DIR="$ES_PATH_HOME/native"
RUN_DIR="$KEYLEDGER_HOME/run"
PID_FILE="$RUN_DIR/elasticsearch.pid"
LOG_DIR="$KEYLEDGER_HOME/logs/elasticsearch"      # Elasticsearch's own log: keyledger.log
OUT_FILE="$KEYLEDGER_HOME/logs/elasticsearch.out" # JVM stdout/stderr
DATA_DIR="$KEYLEDGER_HOME/data/elasticsearch"
TMP_DIR="$KEYLEDGER_HOME/tmp/elasticsearch"

MAIN_CLASS="dev.keyledger.es.EsLauncher"

log() { printf 'es: %s\n' "$*"; }
die() { printf 'es: ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# checks

require_java() {
  local need_javac="${1:-no}"
  if [[ ! -x "$JAVA" ]]; then
    cat >&2 <<EOF
es: ERROR: no Java at $JAVA
es: Elasticsearch 9 needs Java 21 or newer (Temurin 25 recommended).
es: Install a JDK 25, e.g. Eclipse Temurin 25 (Debian/Ubuntu package "temurin-25-jdk" from the
es: Adoptium apt repository, installed under /usr/lib/jvm/temurin-25-jdk-amd64), or point
es: KEYLEDGER_JAVA25 at the bin/java of any installed JDK 21+.
EOF
    exit 1
  fi
  local feature
  feature="$("$JAVA" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p' | awk 'NR==1')"
  feature="${feature%%.*}" # "1.8" -> 1
  if [[ ! "$feature" =~ ^[0-9]+$ || "$feature" -lt 21 ]]; then
    die "$JAVA is Java ${feature:-unknown}; Elasticsearch 9 needs Java 21+ (set KEYLEDGER_JAVA25 to a JDK 21+/25 bin/java)"
  fi
  if [[ "$need_javac" == yes && ! -x "$(dirname "$JAVA")/javac" ]]; then
    die "no javac next to $JAVA: a full JDK (not a JRE) is needed to compile the launcher"
  fi
}

# hash of everything that decides what fetch produces
fetch_hash() {
  {
    cat "$SCRIPT_DIR/pom.xml"
    find "$SCRIPT_DIR/src" -type f | LC_ALL=C sort | while read -r f; do printf '%s\n' "${f#"$SCRIPT_DIR"/}"; cat "$f"; done
    printf 'java=%s\n' "$JAVA"
  } | sha256sum | cut -d' ' -f1
}

is_fetched() {
  [[ -f "$STAMP_FILE" && -f "$CLASSES_DIR/dev/keyledger/es/EsLauncher.class" ]] || return 1
  compgen -G "$LIBS_DIR/elasticsearch-[0-9]*.jar" >/dev/null || return 1
  [[ "$(cat "$STAMP_FILE")" == "$(fetch_hash)" ]]
}

# alive and not a zombie (pid 1 of a container may reap late)
pid_alive() {
  kill -0 "$1" 2>/dev/null || return 1
  local state=""
  [[ -r "/proc/$1/stat" ]] && state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)"
  [[ "$state" != Z ]]
}

# pid from the pid file if that process is alive and is our launcher
running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(tr -dc '0-9' <"$PID_FILE")"
  [[ -n "$pid" ]] || return 1
  pid_alive "$pid" || return 1
  if [[ -r "/proc/$pid/cmdline" ]] && ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$MAIN_CLASS"; then
    return 1 # pid reused by something else
  fi
  printf '%s\n' "$pid"
}

port_in_use() { # true if something accepts TCP connections on 127.0.0.1:$1
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

show_log_tail() {
  if [[ -f "$OUT_FILE" ]]; then
    echo "----- tail of $OUT_FILE -----" >&2
    tail -n 20 "$OUT_FILE" >&2 || true
  fi
  if [[ -f "$LOG_DIR/keyledger.log" ]]; then
    echo "----- tail of $LOG_DIR/keyledger.log -----" >&2
    tail -n 40 "$LOG_DIR/keyledger.log" >&2 || true
  fi
}

# ---------------------------------------------------------------------------------------------
# commands

cmd_fetch() {
  require_java yes
  if is_fetched; then
    log "already fetched ($(basename "$(compgen -G "$LIBS_DIR/elasticsearch-[0-9]*.jar" | awk 'NR==1')"); launcher compiled): nothing to do"
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || die "mvn not found: install Maven 3.8+ (apt-get install maven)"
  local t0=$SECONDS
  mkdir -p "$ES_LIB"

  log "step 1/2: resolving Elasticsearch jars from Maven Central into $LIBS_DIR"
  rm -rf "$LIBS_DIR.tmp" "$ES_LIB/build"
  # -B without -q: one line per downloaded artifact is the progress display; the sed drops the
  # ANSI reset codes that Maven's console library still prints at exit
  mvn -B -Dstyle.color=never -f "$SCRIPT_DIR/pom.xml" ${KEYLEDGER_MVN_ARGS:-} package \
    -Des.build.dir="$ES_LIB/build" -Des.libs.dir="$LIBS_DIR.tmp" 2>&1 \
    | sed -u 's/\x1b\[[0-9;]*m//g' \
    || die "mvn failed (see output above)"
  rm -rf "$LIBS_DIR" "$ES_LIB/build"
  mv "$LIBS_DIR.tmp" "$LIBS_DIR"
  log "step 1/2: $(find "$LIBS_DIR" -name '*.jar' | wc -l) jars, $(du -sh "$LIBS_DIR" | cut -f1)"

  log "step 2/2: compiling the launcher into $CLASSES_DIR"
  rm -rf "$CLASSES_DIR.tmp"
  mkdir -p "$CLASSES_DIR.tmp"
  local sources=()
  mapfile -t sources < <(find "$SCRIPT_DIR/src/main/java" -name '*.java' | LC_ALL=C sort)
  "$(dirname "$JAVA")/javac" --release 21 -encoding UTF-8 -nowarn \
    -cp "$LIBS_DIR/*" -d "$CLASSES_DIR.tmp" "${sources[@]}" \
    || die "javac failed"
  cp -R "$SCRIPT_DIR/src/main/resources/." "$CLASSES_DIR.tmp/"
  rm -rf "$CLASSES_DIR"
  mv "$CLASSES_DIR.tmp" "$CLASSES_DIR"

  fetch_hash >"$STAMP_FILE"
  log "fetch done in $((SECONDS - t0)) s"
}

# Elasticsearch's native access (zstd for index.codec=best_compression, rlimits, ...) loads
# libzstd.so from -Des.nativelibs.path. Elastic's own native bundle is not on Maven Central,
# so link the system libzstd (Debian: libzstd1) there. Without it the node still runs, but an
# index with index.codec=best_compression fails its shards.
prepare_native_dir() {
  mkdir -p "$NATIVE_DIR"
  if [[ -e "$NATIVE_DIR/libzstd.so" ]]; then return 0; fi
  local lib="" cand
  if command -v ldconfig >/dev/null 2>&1; then
    # awk reads to the end: exiting early would SIGPIPE ldconfig and, under pipefail, fail the start
    # (seen once Chromium's libraries made the cache longer than a pipe buffer).
    lib="$(ldconfig -p 2>/dev/null | awk '/libzstd\.so\.1 / && !found {print $NF; found = 1}')"
  fi
  if [[ -z "$lib" ]]; then
    for cand in /usr/lib/x86_64-linux-gnu/libzstd.so.1 /lib/x86_64-linux-gnu/libzstd.so.1 \
                /usr/lib/aarch64-linux-gnu/libzstd.so.1 /usr/lib64/libzstd.so.1 /usr/lib/libzstd.so.1; do
      if [[ -e "$cand" ]]; then lib="$cand"; break; fi
    done
  fi
  if [[ -n "$lib" ]]; then
    ln -sfn "$lib" "$NATIVE_DIR/libzstd.so"
  else
    log "warning: no system libzstd.so.1 found (apt-get install libzstd1); native access disabled, index.codec=best_compression will not work"
  fi
}

cmd_start() {
  require_java
  local pid
  if pid="$(running_pid)"; then
    log "elasticsearch already running (pid $pid, http://127.0.0.1:$ES_PORT)"
    return 0
  fi
  rm -f "$PID_FILE"
  if port_in_use "$ES_PORT"; then
    echo "port $ES_PORT (elasticsearch) is already in use" >&2
    exit 1
  fi
  if port_in_use "$ES_TRANSPORT_PORT"; then
    echo "port $ES_TRANSPORT_PORT (elasticsearch transport) is already in use" >&2
    exit 1
  fi
  is_fetched || cmd_fetch

  mkdir -p "$RUN_DIR" "$LOG_DIR" "$DATA_DIR" "$TMP_DIR" "$ES_PATH_HOME"
  prepare_native_dir
  if [[ -f "$OUT_FILE" ]]; then mv -f "$OUT_FILE" "$OUT_FILE.1"; fi

  local nproc_avail processors
  nproc_avail="$(nproc 2>/dev/null || echo 2)"
  processors=$(( nproc_avail < 2 ? nproc_avail : 2 ))   # node.processors may not exceed the CPUs

  local jvm_opts=(
    -Xms512m -Xmx1g
    -XX:+UseG1GC
    -XX:+ExitOnOutOfMemoryError
    -XX:-OmitStackTraceInFastThrow
    -Xss1m
    -Dfile.encoding=UTF-8
    -Djava.io.tmpdir="$TMP_DIR"
    -Djava.awt.headless=true
    # as in Elasticsearch's stock jvm.options
    -Dlog4j.shutdownHookEnabled=false
    -Dlog4j2.disable.jmx=true
    -Dlog4j2.formatMsgNoLookups=true
    -Dio.netty.noUnsafe=true
    -Dio.netty.noKeySetOptimization=true
    -Dio.netty.recycler.maxCapacityPerThread=0
    --enable-native-access=ALL-UNNAMED
    --add-modules=jdk.incubator.vector           # Lucene/ES Panama vectorization (else a WARN at startup)
    # native: system libzstd only; Elastic's libvec.so is not on Central, and its loader would
    # otherwise fail the whole native provider
    -Des.nativelibs.path="$NATIVE_DIR"
    -Dorg.elasticsearch.nativeaccess.enableVectorLibrary=false
  )
  # shellcheck disable=SC2206
  local extra_opts=( ${KEYLEDGER_ES_JAVA_OPTS:-} )
  local es_settings=(
    -Epath.home="$ES_PATH_HOME"
    -Epath.data="$DATA_DIR"
    -Epath.logs="$LOG_DIR"
    -Ecluster.name=keyledger
    -Enode.name=keyledger-1
    -Enetwork.host=127.0.0.1
    -Ehttp.port="$ES_PORT"
    -Etransport.port="$ES_TRANSPORT_PORT"
    -Ediscovery.type=single-node
    -Enode.processors="$processors"
    -Eaction.destructive_requires_name=false
    -Ecluster.routing.allocation.disk.threshold_enabled=false  # a full dev disk must not block shards
  )

  {
    echo "=== $(date -u +%FT%TZ) es.sh start: $JAVA (http 127.0.0.1:$ES_PORT, transport 127.0.0.1:$ES_TRANSPORT_PORT)"
  } >"$OUT_FILE"

  # setsid: own session, so the node survives the calling shell/CI step; the inner bash writes its
  # own pid and then execs java, so the pid file holds the java pid.
  # shellcheck disable=SC2016  # $$ and $@ are for the inner bash
  PID_FILE="$PID_FILE" setsid nohup bash -c 'echo $$ >"$PID_FILE"; exec "$@"' es-launcher \
    "$JAVA" "${jvm_opts[@]}" "${extra_opts[@]}" -cp "$CLASSES_DIR:$LIBS_DIR/*" "$MAIN_CLASS" "${es_settings[@]}" \
    >>"$OUT_FILE" 2>&1 </dev/null &

  local i
  for i in 1 2 3 4 5 6 7 8 9 10; do
    [[ -s "$PID_FILE" ]] && break
    sleep 0.1
  done
  sleep 1
  if ! pid="$(running_pid)"; then
    echo "es: elasticsearch exited right after start" >&2
    show_log_tail
    rm -f "$PID_FILE"
    exit 1
  fi
  log "elasticsearch starting (pid $pid, http://127.0.0.1:$ES_PORT); logs: $OUT_FILE, $LOG_DIR/keyledger.log"
}

cmd_wait() {
  command -v curl >/dev/null 2>&1 || die "curl not found (apt-get install curl)"
  local url="http://127.0.0.1:$ES_PORT/_cluster/health?wait_for_status=yellow&timeout=5s"
  local deadline=$((SECONDS + WAIT_SECONDS)) t0=$SECONDS
  while ((SECONDS < deadline)); do
    if [[ -f "$PID_FILE" ]] && ! running_pid >/dev/null; then
      echo "es: elasticsearch is not running any more" >&2
      show_log_tail
      exit 1
    fi
    if curl -fsS -o /dev/null --max-time 10 "$url" 2>/dev/null; then
      log "elasticsearch is up (cluster yellow or green) on http://127.0.0.1:$ES_PORT after $((SECONDS - t0)) s"
      return 0
    fi
    sleep 1
  done
  echo "es: elasticsearch not ready on http://127.0.0.1:$ES_PORT within ${WAIT_SECONDS} s" >&2
  show_log_tail
  exit 1
}

cmd_stop() {
  local pid
  if ! pid="$(running_pid)"; then
    rm -f "$PID_FILE"
    log "elasticsearch is not running"
    return 0
  fi
  log "stopping elasticsearch (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for ((i = 0; i < 300; i++)); do
    pid_alive "$pid" || break
    sleep 0.1
  done
  if pid_alive "$pid"; then
    log "still running after 30 s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      pid_alive "$pid" || break
      sleep 0.1
    done
    if pid_alive "$pid"; then
      die "pid $pid survived SIGKILL"
    fi
  fi
  rm -f "$PID_FILE"
  log "elasticsearch stopped"
}

cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    echo "elasticsearch running (pid $pid, http://127.0.0.1:$ES_PORT)"
    return 0
  fi
  echo "elasticsearch stopped"
  return 3
}

case "${1:-}" in
  fetch) cmd_fetch ;;
  start) cmd_start ;;
  wait) cmd_wait ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *)
    echo "usage: $(basename "$0") fetch|start|wait|stop|status" >&2
    exit 2
    ;;
esac
