#!/usr/bin/env bash
# The server over HTTP on loopback against Redis, same machine, same run:
#   durable single-key writes   wrk (Tools/bench/wrk_put.lua), PUT ?durability=fsync, 16 and 64 connections
#                               (and ?durability=memory, answered once written, at 16)
#                               vs redis-benchmark -t set -c N against redis-server --appendfsync always
#   batches of 100              wrk (wrk_batch.lua), POST /v1/batch of 100 puts, 16 connections
#                               vs redis-benchmark -t set -P 100 -c 16 (same appendfsync always)
#   reads                       wrk (wrk_get.lua), GET of random keys now and asOf a past time, 16 connections
#                               (redis-benchmark -t get -c 16 for scale); GET /health: the HTTP stack's ceiling
# wrk runs 2 threads on the same 2-core machine as the server (as redis-benchmark does for Redis).
#
# Usage: Tools/bench-server.sh [--no-build]
# Environment: DURATION=10 (seconds per wrk run)  KEYS=100000 (read keys)  SEDIMENT=path
#              BENCH_TMPDIR=dir (scratch parent; default bench-results/)  OUT=bench-results/server.json
set -euo pipefail
NAME=server
DURATION=${DURATION:-10}
KEYS=${KEYS:-100000}
OUT=${OUT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/bench-results/server.json}
source "$(dirname "${BASH_SOURCE[0]}")/bench/server_common.sh"
export TOKEN
export WRK_COMMON=$SCRIPT_DIR/bench/wrk_common.lua
wrk_json() { grep '^WRK ' | tail -n1 | cut -c5-; }

step "starting sediment serve"
start_server

declare -A R
for c in 16 64; do
    step "PUT, $c connections, ${DURATION}s"
    R[put$c]=$(wrk -t2 -c"$c" -d"${DURATION}s" -s "$SCRIPT_DIR/bench/wrk_put.lua" "$URL" | wrk_json)
done
step "PUT ?durability=memory (answered once written), 16 connections"
R[putmem]=$(DURABILITY=memory wrk -t2 -c16 -d"${DURATION}s" -s "$SCRIPT_DIR/bench/wrk_put.lua" "$URL" | wrk_json)
step "POST /v1/batch of 100, 16 connections"
R[batch]=$(wrk -t2 -c16 -d"${DURATION}s" -s "$SCRIPT_DIR/bench/wrk_batch.lua" "$URL" | wrk_json)

# Writes version V of keys k0..k(KEYS-1) of map "read", 1000 to a batch.
load_version() {
    python3 - "$URL" "$TOKEN" "$KEYS" "$1" <<'PY'
import http.client, json, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1]); token = sys.argv[2]; keys = int(sys.argv[3]); version = int(sys.argv[4])
c = http.client.HTTPConnection(u.hostname, u.port)
for start in range(0, keys, 1000):
    ops = [{"op": "put", "map": "read", "key": f"k{i}", "value": {"v": version, "i": i}} for i in range(start, min(keys, start + 1000))]
    c.request("POST", "/v1/batch", json.dumps({"operations": ops, "durability": "memory"}), {"Authorization": "Bearer " + token})
    r = c.getresponse(); r.read(); assert r.status == 200, r.status
PY
}
step "loading $KEYS keys for reads"
load_version 1
# asOf: just after the last key's first version (every key exists there).
ASOF=$(curl -s -H "Authorization: Bearer $TOKEN" "$URL/v1/maps/read/keys/k$((KEYS - 1))" | python3 -c 'import json,sys; print(json.load(sys.stdin)["txTimeMillis"] + 1)')
# A second version of every key after the asOf point, so asOf reads really go back in time.
sleep 1.1
load_version 2
step "GET now, 16 connections"
R[get]=$(KEYS=$KEYS wrk -t2 -c16 -d"${DURATION}s" -s "$SCRIPT_DIR/bench/wrk_get.lua" "$URL" | wrk_json)
step "GET asOf, 16 connections"
R[getasof]=$(KEYS=$KEYS ASOF=$ASOF wrk -t2 -c16 -d"${DURATION}s" -s "$SCRIPT_DIR/bench/wrk_get.lua" "$URL" | wrk_json)
step "GET /health (no auth, no database), 16 connections"
R[health]=$(wrk -t2 -c16 -d"${DURATION}s" -s "$SCRIPT_DIR/bench/wrk_health.lua" "$URL/health" | wrk_json)
stop_server

start_redis
rb() { redis-benchmark -p "$REDIS_PORT" -r 1000000 -d 80 --csv "$@" | tail -n1 | cut -d, -f2 | tr -d '"'; }
for c in 16 64; do
    step "redis-benchmark -t set -c $c"
    R[redis_set$c]=$(rb -t set -c "$c" -n $((c * 4000)))
done
step "redis-benchmark -t set -P 100 -c 16"
R[redis_pipe]=$(rb -t set -P 100 -c 16 -n 2000000)
step "redis-benchmark -t get -c 16"
R[redis_get]=$(rb -t get -c 16 -n 400000)

python3 - "$OUT" "${R[put16]}" "${R[put64]}" "${R[batch]}" "${R[get]}" "${R[getasof]}" "${R[health]}" "${R[putmem]}" \
    "${R[redis_set16]}" "${R[redis_set64]}" "${R[redis_pipe]}" "${R[redis_get]}" <<'PY'
import json, sys
out = sys.argv[1]
put16, put64, batch, get, getasof, health, putmem = (json.loads(a) for a in sys.argv[2:9])
rs16, rs64, rpipe, rget = (float(a) for a in sys.argv[9:13])
rate = lambda r, ops=1: r["requests"] * ops / r["seconds"]
rows = [
    ("durable PUT, 16 connections", rate(put16), put16, "redis-benchmark -t set -c 16", rs16, "≥ 1×"),
    ("durable PUT, 64 connections", rate(put64), put64, "redis-benchmark -t set -c 64", rs64, "≥ 1×"),
    ("PUT ?durability=memory, 16 connections", rate(putmem), putmem, "", None, ""),
    ("POST /v1/batch of 100, 16 connections (operations/s)", rate(batch, 100), batch, "redis-benchmark -t set -P 100 -c 16", rpipe, "≥ 1×"),
    ("GET now, 16 connections", rate(get), get, "redis-benchmark -t get -c 16", rget, ""),
    ("GET asOf a past time, 16 connections", rate(getasof), getasof, "", None, ""),
    ("GET /health (HTTP stack alone), 16 connections", rate(health), health, "", None, ""),
]
json.dump({"rows": [{"case": c, "sediment_ops_s": s, "wrk": w, "peer": p, "peer_ops_s": ps} for c, s, w, p, ps, _ in rows]}, open(out, "w"), indent=1)
print("| case | Sediment ops/s | p50 / p99 ms | errors | peer | peer ops/s | Sediment ÷ peer | goal |")
print("|---|---:|---:|---:|---|---:|---:|---|")
for c, s, w, p, ps, goal in rows:
    ratio = f"{s / ps:.2f}" if ps else ""
    print(f"| {c} | {s:,.0f} | {w['p50_ms']:.2f} / {w['p99_ms']:.2f} | {w['errors']} | {('`' + p + '`') if p else ''} | {f'{ps:,.0f}' if ps else ''} | {ratio} | {goal} |")
PY
