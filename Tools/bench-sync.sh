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
NAME=sync
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-200}
SUBSCRIBERS=${SUBSCRIBERS:-1000}
RATE=${RATE:-10000}
OUT=${OUT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/bench-results/sync.json}
source "$(dirname "${BASH_SOURCE[0]}")/bench/server_common.sh"
ulimit -n 65536 2>/dev/null || true

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

start_redis
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
