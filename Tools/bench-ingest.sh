#!/usr/bin/env bash
# Durable single-record ingest: Sediment vs RocksDB (db_bench), SQLite (WAL) and
# Redis (AOF, appendfsync always), same machine, same writer counts, 16-byte keys,
# 100-byte values, every write durable before it is acknowledged.
#
# Usage: Tools/bench-ingest.sh [--no-build] [-h|--help]
#
# Environment (all optional):
#   WRITERS="1 16 64 256"   writer counts (threads / client connections)
#   OPS=N | OPS="1:30000 16:120000 ..."
#                           operations per run (total over all writers), either one
#                           number for every writer count or per-writer-count pairs;
#                           default 30000 / 120000 / 200000 / 250000 for
#                           1 / <=16 / <=64 / more writers (each run ~3-10 s here)
#   MIN_SECONDS=2 TARGET_SECONDS=5 MAX_OPS=3000000
#                           with the default OPS, a run that ends in under MIN_SECONDS is
#                           repeated with ops scaled to take ~TARGET_SECONDS (at most
#                           MAX_OPS); the short run is kept in the JSON as a calibration
#   SEDIMENT=path           sediment binary (default .build/release/sediment, built
#                           first with `swift build -c release --product sediment`
#                           unless SEDIMENT is set or --no-build is given)
#   SYSTEMS="sediment rocksdb sqlite redis"   which systems to run
#   REPEAT=1                run every (system, writers) pair this many times (interleaved);
#                           the report shows the median run and the min-max range
#   RUN_TIMEOUT=60          hard cap in seconds for any single run (-> "failed: timeout")
#   SQLITE_MAX_SECONDS=8    SQLite runs stop after this many seconds and report the
#                           rate over what they completed (0 = no cap); SQLite's
#                           busy-wait makes it far slower than the others at >1 writer
#   OUT=bench-results/ingest.json   raw results (JSON)
#   BENCH_TMPDIR=dir        parent of the scratch dir (default bench-results/, i.e. the
#                           filesystem of the repository)
#   PYTHON=python3  SWIFT=swift
#
# Output: progress on stderr; Markdown report on stdout; raw numbers in $OUT.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
HELPERS=$SCRIPT_DIR/bench
ORIG_PWD=$PWD
START_SECONDS=$SECONDS

# Exact command line, including the environment overrides that affect the run.
shq() { # quote for a shell command line, readably
    if [[ $1 =~ ^[A-Za-z0-9_./:=,+@%-]+$ ]]; then printf '%s' "$1"; else printf "'%s'" "${1//\'/\'\\\'\'}"; fi
}
COMMAND_LINE=""
for v in WRITERS OPS REPEAT MIN_SECONDS TARGET_SECONDS MAX_OPS SEDIMENT SYSTEMS RUN_TIMEOUT SQLITE_MAX_SECONDS OUT BENCH_TMPDIR PYTHON SWIFT; do
    if [[ -n ${!v+x} ]]; then COMMAND_LINE+="$v=$(shq "${!v}") "; fi
done
COMMAND_LINE+=$(shq "$0")
for a in "$@"; do COMMAND_LINE+=" $(shq "$a")"; done

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

BUILD=1
while (($#)); do
    case $1 in
        --no-build) BUILD=0 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "bench-ingest: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

WRITERS=${WRITERS:-"1 16 64 256"}
OPS=${OPS:-}
VALUE_SIZE=100
KEY_SIZE=16
SYSTEMS=${SYSTEMS:-"sediment rocksdb sqlite redis"}
RUN_TIMEOUT=${RUN_TIMEOUT:-60}
SQLITE_MAX_SECONDS=${SQLITE_MAX_SECONDS:-8}
REPEAT=${REPEAT:-1}
MIN_SECONDS=${MIN_SECONDS:-2}
TARGET_SECONDS=${TARGET_SECONDS:-5}
MAX_OPS=${MAX_OPS:-3000000}
PYTHON=${PYTHON:-python3}
SWIFT=${SWIFT:-swift}
OUT=${OUT:-$ROOT/bench-results/ingest.json}
[[ $OUT == /* ]] || OUT=$ORIG_PWD/$OUT

log() { printf '[bench-ingest %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 2; }

# ---------------------------------------------------------------- validation
for w in $WRITERS; do
    [[ $w =~ ^[1-9][0-9]*$ ]] || die "WRITERS must be positive integers, got '$w'"
done
[[ -n ${WRITERS// /} ]] || die "WRITERS is empty"
if [[ -n $OPS && ! $OPS =~ ^[1-9][0-9]*$ ]]; then
    for p in $OPS; do
        [[ $p =~ ^[1-9][0-9]*:[1-9][0-9]*$ ]] || die "OPS must be N or 'W:N W:N ...', got '$p'"
    done
fi
for s in $SYSTEMS; do
    case $s in sediment | rocksdb | sqlite | redis) ;; *) die "unknown system in SYSTEMS: $s" ;; esac
done
[[ $MIN_SECONDS =~ ^[0-9]+([.][0-9]+)?$ && $TARGET_SECONDS =~ ^[0-9]+([.][0-9]+)?$ ]] ||
    die "MIN_SECONDS and TARGET_SECONDS must be numbers"
[[ $MAX_OPS =~ ^[1-9][0-9]*$ ]] || die "MAX_OPS must be a positive integer"
[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || die "REPEAT must be a positive integer"
[[ $RUN_TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "RUN_TIMEOUT must be a positive integer"
[[ $SQLITE_MAX_SECONDS =~ ^[0-9]+([.][0-9]+)?$ ]] || die "SQLITE_MAX_SECONDS must be a number"
command -v "$PYTHON" >/dev/null || die "$PYTHON not found"
command -v timeout >/dev/null || die "timeout (coreutils) not found"

wants() { [[ " $SYSTEMS " == *" $1 "* ]]; }

ops_for() {
    local w=$1 p
    if [[ $OPS =~ ^[0-9]+$ ]]; then echo "$OPS"; return; fi
    for p in $OPS; do
        if [[ ${p%%:*} == "$w" ]]; then echo "${p#*:}"; return; fi
    done
    if ((w <= 1)); then echo 30000
    elif ((w <= 16)); then echo 120000
    elif ((w <= 64)); then echo 200000
    else echo 250000
    fi
}

# ---------------------------------------------------------------- scratch + cleanup
mkdir -p "$(dirname "$OUT")" "$ROOT/bench-results"
WORK=$(mktemp -d "${BENCH_TMPDIR:-$ROOT/bench-results}/ingest-tmp.XXXXXX")
RESULTS=$WORK/results.jsonl
: >"$RESULTS"
CHILD_PID=""
REDIS_PID=""
REDIS_PORT=""
REDIS_ERR=""

stop_redis() {
    [[ -n $REDIS_PID ]] || return 0
    local pid=$REDIS_PID st deadline=$((SECONDS + 15))
    REDIS_PID=""
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do
        st=$(ps -o stat= -p "$pid" 2>/dev/null || true)
        [[ ${st// /} == Z* ]] && break
        if ((SECONDS >= deadline)); then
            log "redis-server $pid did not stop in 15 s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.05
    done
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    set +e
    if [[ -n $CHILD_PID ]]; then
        kill -TERM "$CHILD_PID" 2>/dev/null
        wait "$CHILD_PID" 2>/dev/null
    fi
    stop_redis
    [[ -n ${WORK:-} && -d $WORK ]] && rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

# Run "$@" with the hard per-run timeout, stdout/stderr to files; sets RUN_RC.
# Runs in the background + wait so that INT/TERM reach our trap immediately
# (timeout(1) puts itself in its own process group).
run_timed() {
    local out=$1 err=$2
    shift 2
    timeout --kill-after=10 "$RUN_TIMEOUT" "$@" >"$out" 2>"$err" </dev/null &
    CHILD_PID=$!
    RUN_RC=0
    wait "$CHILD_PID" || RUN_RC=$?
    CHILD_PID=""
}

# record SYSTEM WRITERS OPS COMMAND_STRING [extra args for `ingest_report.py parse`]
record() {
    local sys=$1 w=$2 ops=$3 cmd=$4
    shift 4
    if ! "$PYTHON" "$HELPERS/ingest_report.py" parse "$sys" --writers "$w" --ops-requested "$ops" \
        --rep "${rep:-1}" --timeout "$RUN_TIMEOUT" --command "$cmd" "$@" >>"$RESULTS"; then
        log "$sys: failed (writers=$w: could not parse result)"
        printf '{"system":"%s","writers":%d,"ops_requested":%d,"status":"failed","reason":"result parser crashed"}\n' \
            "$sys" "$w" "$ops" >>"$RESULTS"
    fi
}

skip() { # skip SYSTEM WRITERS OPS REASON
    record "$1" "$2" "$3" "" --status skipped --reason "$4"
}

quote_cmd() { local s; s=$(printf '%q ' "$@"); echo "${s% }"; }

# ---------------------------------------------------------------- tool checks
"$SCRIPT_DIR/setup.sh" --bench  # the peers: Redis, RocksDB's db_bench, SQLite (Debian)
declare -A SKIP=()
if wants rocksdb && ! command -v db_bench >/dev/null; then SKIP[rocksdb]="db_bench not installed (apt install rocksdb-tools)"; fi
if wants redis; then
    for t in redis-server redis-cli redis-benchmark; do
        command -v $t >/dev/null || SKIP[redis]="$t not installed (apt install redis-server redis-tools)"
    done
fi
if wants sqlite && ! "$PYTHON" -c 'import sqlite3' 2>/dev/null; then SKIP[sqlite]="python sqlite3 module missing"; fi

if wants sediment; then
    if [[ -n ${SEDIMENT:-} ]]; then
        [[ $SEDIMENT == /* || $SEDIMENT != */* ]] || SEDIMENT=$ORIG_PWD/$SEDIMENT
        if [[ $SEDIMENT != */* ]]; then SEDIMENT=$(command -v "$SEDIMENT" || echo "$SEDIMENT"); fi
    else
        SEDIMENT=$ROOT/.build/release/sediment
        if ((BUILD)); then
            log "building sediment: $SWIFT build -c release --product sediment (in $ROOT)"
            if ! (cd "$ROOT" && "$SWIFT" build -c release --product sediment) >&2; then
                SKIP[sediment]="swift build -c release --product sediment failed"
            fi
        fi
    fi
    if [[ -z ${SKIP[sediment]:-} && ! -x $SEDIMENT ]]; then
        SKIP[sediment]="binary not found: $SEDIMENT"
    fi
    [[ -z ${SKIP[sediment]:-} ]] || log "sediment: skipped (${SKIP[sediment]})"
fi

# ---------------------------------------------------------------- fsync probe
fsync_probe() { # fsync_probe [append|overwrite]
    local f=$WORK/fsync-probe.json
    if "$PYTHON" "$HELPERS/fsync_probe.py" --dir "$WORK" --count 200 --mode "${1:-append}" >"$f" 2>"$f.err"; then
        cat "$f"
    else
        "$PYTHON" -c 'import json,sys; print(json.dumps("failed: " + sys.argv[1]))' "$(tail -n1 "$f.err")"
    fi
}
log "scratch dir: $WORK ($(findmnt -n -o FSTYPE -T "$WORK" 2>/dev/null || echo '?'))"
# CPU busy % over one second before starting: other load on this 2-core box skews everything.
cpu_busy_pct() {
    local a b
    a=$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat 2>/dev/null) || return 0
    sleep 1
    b=$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat 2>/dev/null) || return 0
    awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); busy = y[1] - x[1]; all = busy + y[2] - x[2];
        if (all > 0) printf "%.0f", 100 * busy / all; else print "null" }'
}
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
CPU_BUSY=$(cpu_busy_pct || true)
[[ $CPU_BUSY =~ ^[0-9]+$ ]] || CPU_BUSY=null
log "CPU busy before start: ${CPU_BUSY}%, load average: $LOAD_START"
if [[ $CPU_BUSY != null ]] && ((CPU_BUSY > 25)); then
    log "warning: the machine is busy (${CPU_BUSY}% CPU) - results will be skewed"
fi
FSYNC_BEFORE=$(fsync_probe append)
FSYNC_OVERWRITE=$(fsync_probe overwrite)
log "fsync probe (append): $FSYNC_BEFORE"
log "fsync probe (overwrite): $FSYNC_OVERWRITE"

# ---------------------------------------------------------------- peers
run_sediment() {
    local w=$1 ops=$2 dir=$WORK/sediment-w$1
    mkdir -p "$dir"
    local cmd=("$SEDIMENT" bench ingest --data "$dir" --writers "$w" --ops "$ops"
        --value-size "$VALUE_SIZE" --durability fsync --json)
    run_timed "$WORK/out" "$WORK/err" "${cmd[@]}"
    record sediment "$w" "$ops" "$(quote_cmd "${cmd[@]}")" --rc "$RUN_RC" --stdout "$WORK/out" --stderr "$WORK/err"
    rm -rf "$dir"
}

run_rocksdb() {
    local w=$1 ops=$2 dir=$WORK/rocksdb-w$1
    local per=$(((ops + w - 1) / w))
    local cmd=(db_bench --benchmarks=fillrandom --sync=1 --disable_wal=0 --threads="$w"
        --num="$per" --key_size="$KEY_SIZE" --value_size="$VALUE_SIZE" --compression_type=none
        --histogram=1 --db="$dir")
    run_timed "$WORK/out" "$WORK/err" "${cmd[@]}"
    record rocksdb "$w" "$((per * w))" "$(quote_cmd "${cmd[@]}")" --rc "$RUN_RC" --stdout "$WORK/out" --stderr "$WORK/err"
    rm -rf "$dir"
}

run_sqlite() {
    local w=$1 ops=$2 dir=$WORK/sqlite-w$1
    mkdir -p "$dir"
    local cmd=("$PYTHON" "$HELPERS/sqlite_wal_peer.py" --db "$dir/bench.db" --writers "$w" --ops "$ops"
        --key-size "$KEY_SIZE" --value-size "$VALUE_SIZE" --busy-timeout-ms 60000
        --max-seconds "$SQLITE_MAX_SECONDS")
    run_timed "$WORK/out" "$WORK/err" "${cmd[@]}"
    record sqlite "$w" "$ops" "$(quote_cmd "${cmd[@]}")" --rc "$RUN_RC" --stdout "$WORK/out" --stderr "$WORK/err"
    rm -rf "$dir"
}

free_port() {
    "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start_redis DIR: sets REDIS_PID/REDIS_PORT, or returns 1 with REDIS_ERR set.
start_redis() {
    local dir=$1 deadline
    REDIS_ERR=""
    for _ in 1 2 3; do # retry in case another process grabbed the port
        REDIS_PORT=$(free_port)
        redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --appendonly yes --appendfsync always \
            --save '' --dir "$dir" --daemonize no --logfile "$dir/redis.log" </dev/null >"$dir/redis.stderr" 2>&1 &
        REDIS_PID=$!
        deadline=$((SECONDS + 15))
        while :; do
            if [[ $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; then
                return 0
            fi
            if ! kill -0 "$REDIS_PID" 2>/dev/null; then
                wait "$REDIS_PID" 2>/dev/null || true
                REDIS_PID=""
                REDIS_ERR="redis-server exited: $(cat "$dir/redis.stderr" "$dir/redis.log" 2>/dev/null | grep -v '^[[:space:]]*$' | tail -n1)"
                break
            fi
            if ((SECONDS >= deadline)); then
                stop_redis
                REDIS_ERR="redis-server did not answer PING within 15 s"
                return 1
            fi
            sleep 0.05
        done
    done
    return 1
}

run_redis() {
    local w=$1 ops=$2 dir=$WORK/redis-w$1
    mkdir -p "$dir"
    if ! start_redis "$dir"; then
        record redis "$w" "$ops" "" --status failed --reason "$REDIS_ERR"
        rm -rf "$dir"
        return 0
    fi
    local fsync_mode
    fsync_mode=$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" config get appendfsync 2>/dev/null | tail -n1 || true)
    local cmd=(redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -t set -c "$w" -n "$ops" -d "$VALUE_SIZE"
        -r 1000000 --csv)
    run_timed "$WORK/out" "$WORK/err" "${cmd[@]}"
    local aof_bytes
    aof_bytes=$(du -sb "$dir/appendonlydir" 2>/dev/null | cut -f1 || echo 0)
    stop_redis
    local extra
    extra=$(printf '{"appendfsync":"%s","aof_bytes":%d,"redis_server_pid_stopped":true}' "$fsync_mode" "${aof_bytes:-0}")
    if [[ $fsync_mode != always && $RUN_RC == 0 ]]; then
        echo "redis appendfsync is '$fsync_mode', not 'always'" >"$WORK/err"
        RUN_RC=1
    fi
    record redis "$w" "$ops" "redis-server --appendonly yes --appendfsync always --save '' ...; $(quote_cmd "${cmd[@]}")" \
        --rc "$RUN_RC" --stdout "$WORK/out" --stderr "$WORK/err" --extra "$extra"
    rm -rf "$dir"
}

OPS_LIST=""
for w in $WRITERS; do OPS_LIST+="$w:$(ops_for "$w") "; done
for ((rep = 1; rep <= REPEAT; rep++)); do
    ((REPEAT == 1)) || log "--- repeat $rep of $REPEAT"
    for w in $WRITERS; do
        ops=$(ops_for "$w")
        for sys in sediment rocksdb sqlite redis; do
            wants "$sys" || continue
            if [[ -n ${SKIP[$sys]:-} ]]; then
                skip "$sys" "$w" "$ops" "${SKIP[$sys]}" 2>/dev/null # already logged once
                continue
            fi
            log "$sys: writers=$w ops=$ops ..."
            "run_$sys" "$w" "$ops"
            # With default OPS, a run that finished in under MIN_SECONDS is too short to mean
            # much (no steady state, no segment/memtable roll): redo it sized for ~TARGET_SECONDS.
            if [[ -z $OPS && $sys != sqlite ]]; then
                more=$("$PYTHON" "$HELPERS/ingest_report.py" rescale "$RESULTS" \
                    --min-seconds "$MIN_SECONDS" --target-seconds "$TARGET_SECONDS" --max-ops "$MAX_OPS") || more=""
                if [[ -n $more ]]; then
                    log "$sys: that run was shorter than ${MIN_SECONDS}s; rerunning with ops=$more"
                    "run_$sys" "$w" "$more"
                fi
            fi
        done
    done
done

FSYNC_AFTER=$(fsync_probe append)
log "fsync probe (append): $FSYNC_AFTER"
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')

# ---------------------------------------------------------------- report
versions() {
    local v=() s
    wants rocksdb && command -v db_bench >/dev/null && v+=("$(db_bench --version 2>&1 | head -n1)")
    wants redis && command -v redis-server >/dev/null && v+=("$(redis-server --version | awk '{print $1, $2, $3}')")
    wants sqlite && v+=("SQLite $("$PYTHON" -c 'import sqlite3; print(sqlite3.sqlite_version)' 2>/dev/null || echo '?')")
    v+=("$("$PYTHON" --version 2>&1)")
    wants sediment && v+=("sediment: ${SEDIMENT:-n/a}")
    s=$(printf '%s; ' "${v[@]}")
    echo "${s%; }"
}

M_NPROC=$(nproc 2>/dev/null || echo '?')
M_CPU=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n1 || true)
[[ -n $M_CPU ]] || M_CPU=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n1 || true)
M_MEM=$(awk '/^MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo 2>/dev/null || true)
M_KERNEL=$(uname -srm)
M_OS=$(sed -n 's/^PRETTY_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/os-release 2>/dev/null || true)
M_FS=$(findmnt -n -o SOURCE,FSTYPE,OPTIONS -T "$WORK" 2>/dev/null | tr -s ' ' || echo '?')
M_VERSIONS=$(versions || true)
M_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)

export M_NPROC M_CPU M_MEM M_KERNEL M_OS M_FS M_VERSIONS M_DATE
export M_WRITERS="$WRITERS" M_OPS="$OPS_LIST" M_VALUE_SIZE=$VALUE_SIZE M_KEY_SIZE=$KEY_SIZE M_REPEAT=$REPEAT \
    M_CMD="$COMMAND_LINE" M_OUT="$OUT" M_RUN_TIMEOUT=$RUN_TIMEOUT M_SQLITE_MAX=$SQLITE_MAX_SECONDS \
    M_FSYNC_BEFORE="$FSYNC_BEFORE" M_FSYNC_AFTER="$FSYNC_AFTER" M_FSYNC_OVERWRITE="$FSYNC_OVERWRITE" M_LOAD_START="$LOAD_START" M_CPU_BUSY="$CPU_BUSY" M_LOAD_END="$LOAD_END" M_SYSTEMS="$SYSTEMS" \
    M_ELAPSED=$((SECONDS - START_SECONDS))
"$PYTHON" - "$WORK/meta.json" <<'PY'
import json, os, sys
e = os.environ
def js(s):
    try:
        return json.loads(s)
    except ValueError:
        return s
meta = {
    "benchmark": "durable single-record ingest",
    "writers": [int(w) for w in e["M_WRITERS"].split()],
    "ops_per_run": {p.split(":")[0]: int(p.split(":")[1]) for p in e["M_OPS"].split()},
    "key_size": int(e["M_KEY_SIZE"]),
    "value_size": int(e["M_VALUE_SIZE"]),
    "systems": e["M_SYSTEMS"].split(),
    "repeat": int(e["M_REPEAT"]),
    "nproc": int(e["M_NPROC"]) if e["M_NPROC"].isdigit() else e["M_NPROC"],
    "cpu_model": e["M_CPU"] or "?",
    "mem_total": e["M_MEM"],
    "kernel": e["M_KERNEL"],
    "os": e["M_OS"],
    "filesystem": e["M_FS"],
    "versions": e["M_VERSIONS"],
    "date": e["M_DATE"],
    "command_line": e["M_CMD"],
    "results_path": e["M_OUT"],
    "run_timeout_s": int(e["M_RUN_TIMEOUT"]),
    "sqlite_max_seconds": float(e["M_SQLITE_MAX"]),
    "fsync_probe_before": js(e["M_FSYNC_BEFORE"]),
    "fsync_probe_after": js(e["M_FSYNC_AFTER"]),
    "fsync_probe_overwrite": js(e["M_FSYNC_OVERWRITE"]),
    "loadavg_start": e["M_LOAD_START"],
    "cpu_busy_pct_start": js(e["M_CPU_BUSY"]),
    "loadavg_end": e["M_LOAD_END"],
    "elapsed_s": int(e["M_ELAPSED"]),
}
with open(sys.argv[1], "w") as f:
    json.dump(meta, f)
PY
"$PYTHON" "$HELPERS/ingest_report.py" report --results "$RESULTS" --meta "$WORK/meta.json" --out "$OUT"
log "done in $((SECONDS - START_SECONDS)) s; raw results in $OUT"
