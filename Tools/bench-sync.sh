#!/usr/bin/env bash
# The sync server over WebSocket on loopback against Redis, same machine, same run:
#   writes      `sediment bench sync`: 200 TopGun clients, each sending OP_BATCH of 10 PUTs and
#               waiting for its OP_ACK, write concern PERSISTED (fsynced in the log) and
#               FIRE_AND_FORGET; ops/s and ack latency p50/p99
#               vs redis-benchmark -t set -c 200 -P 10 against redis-server --appendfsync always
#   fan-out     1,000 subscribers following one map, one writer at 10,000 ops/s (batches of 10):
#               time from the writer's send to a subscriber's receipt, p50/p99; then 1,000 at
#               1,000 ops/s and 100 at 10,000 ops/s
# The load generator (swift-websocket's client, release build) shares the 2-core machine with
# the server, as redis-benchmark does with Redis.
#
# Usage: Tools/bench-sync.sh [--no-build]
# Environment: DURATION=10 (seconds per run)  CLIENTS=200  SUBSCRIBERS=1000  RATE=10000  SEDIMENT=path
#              BENCH_TMPDIR=dir (scratch parent; default bench-results/)  OUT=bench-results/sync.json
set -euo pipefail
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-200}
SUBSCRIBERS=${SUBSCRIBERS:-1000}
RATE=${RATE:-10000}
OUT=${OUT:-$ROOT/bench-results/sync.json}
"$SCRIPT_DIR/setup.sh" --bench >&2
if [[ -z ${SEDIMENT:-} ]]; then
    SEDIMENT=$ROOT/.build/release/sediment
    [[ ${1:-} == --no-build ]] || (cd "$ROOT" && swift build -c release --product sediment >&2)
fi
mkdir -p "$ROOT/bench-results"
WORK=$(mktemp -d "${BENCH_TMPDIR:-$ROOT/bench-results}/sync-tmp.XXXXXX")
SERVER_PID=""
REDIS_PID=""
cleanup() {
    [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    [[ -n $REDIS_PID ]] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
step() { echo "bench-sync: $*" >&2; }
ulimit -n 65536 2>/dev/null || true

SECRET=bench-secret-$RANDOM$RANDOM-$RANDOM$RANDOM
TOKEN=$(python3 -W ignore -c "import jwt,sys; print(jwt.encode({'sub':'bench','roles':['admin']}, sys.argv[1], algorithm='HS256'))" "$SECRET")

start_server() {
    rm -rf "$WORK/data"
    SEDIMENT_LOG_LEVEL=warning "$SEDIMENT" serve --data "$WORK/data" --port 0 --jwt-secret "$SECRET" >"$WORK/serve.out" 2>"$WORK/serve.err" &
    SERVER_PID=$!
    for _ in $(seq 1 300); do grep -q "listening on" "$WORK/serve.out" 2>/dev/null && break; sleep 0.1; done
    URL=$(grep -o 'http://[0-9.]*:[0-9]*' "$WORK/serve.out" | head -n1)
    [[ -n $URL ]] || { echo "sediment serve did not start: $(cat "$WORK/serve.err")" >&2; exit 1; }
}
stop_server() { kill "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=""; }
bench() { "$SEDIMENT" bench sync --url "$URL" --token "$TOKEN" --duration "$DURATION" "$@" | tail -n1; }

declare -A R
for concern in PERSISTED FIRE_AND_FORGET; do
    start_server
    step "$CLIENTS clients, batches of 10, $concern, ${DURATION}s"
    R[$concern]=$(bench --clients "$CLIENTS" --batch 10 --concern "$concern")
    stop_server
done
# The goal's case, then the two it combines, each at a tenth: where the limit lies.
FANOUT_CASES=("$SUBSCRIBERS:$RATE" "$SUBSCRIBERS:$((RATE / 10))" "$((SUBSCRIBERS / 10)):$RATE")
FANOUT=()
for case in "${FANOUT_CASES[@]}"; do
    start_server
    step "fan-out: ${case%%:*} subscribers, ${case##*:} ops/s, ${DURATION}s"
    FANOUT+=("$(bench --fanout --clients "${case%%:*}" --rate "${case##*:}" --batch 10)")
    stop_server
done

step "redis-server --appendonly yes --appendfsync always"
mkdir -p "$WORK/redis"
REDIS_PORT=$((20000 + RANDOM % 20000))
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$WORK/redis" --appendonly yes --appendfsync always --save "" \
    --maxclients 10000 --daemonize no >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
for _ in $(seq 1 150); do redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
[[ $(redis-cli -p "$REDIS_PORT" config get appendfsync | tail -n1) == always ]] || { echo "redis is not appendfsync always" >&2; exit 1; }
step "redis-benchmark -t set -c $CLIENTS -P 10"
R[redis]=$(redis-benchmark -p "$REDIS_PORT" -r 100000 -d 40 --csv -t set -c "$CLIENTS" -P 10 -n $((CLIENTS * 5000)) | tail -n1)

python3 - "$OUT" "${R[PERSISTED]}" "${R[FIRE_AND_FORGET]}" "${R[redis]}" "${FANOUT[@]}" <<'PY'
import csv, io, json, sys
out = sys.argv[1]
persisted, faf = (json.loads(a) for a in sys.argv[2:4])
redis = next(csv.reader(io.StringIO(sys.argv[4])))
redis_rps = float(redis[1])
fanouts = [json.loads(a) for a in sys.argv[5:]]
json.dump({"persisted": persisted, "fire_and_forget": faf, "fanout": fanouts, "redis_set_P10": redis_rps}, open(out, "w"), indent=1)
print("| case | Sediment ops/s | ack p50 / p99 ms | peer | peer ops/s | Sediment ÷ peer | goal |")
print("|---|---:|---:|---|---:|---:|---|")
for name, r, goal in [("PERSISTED", persisted, "≥ 1.5×"), ("FIRE_AND_FORGET", faf, "")]:
    print(f"| {r['clients']} clients, OP_BATCH of 10, {name} | {r['ops_per_sec']:,.0f} | {r['p50_ms']:.2f} / {r['p99_ms']:.2f} | "
          f"`redis-benchmark -t set -c {r['clients']} -P 10` (appendfsync always) | {redis_rps:,.0f} | {r['ops_per_sec'] / redis_rps:.2f} | {goal} |")
print()
print("| fan-out | p50 ms | p99 ms | max ms | frames received | goal |")
print("|---|---:|---:|---:|---:|---|")
for i, f in enumerate(fanouts):
    print(f"| {f['subscribers']:,} subscribers, {f['rate']:,} ops/s | {f['p50_ms']:.2f} | {f['p99_ms']:.2f} | {f['max_ms']:.2f} | {f['frames']:,} | {'p99 < 50 ms' if i == 0 else ''} |")
PY
