#!/usr/bin/env bash
# Queries and writes together: durable single-key PUTs (wrk, 16 connections, another map) alone,
# then while one client runs queries back to back over a map of KEYS keys (a predicate that 9 of
# them match, limit 10). What a long scan costs the writes (their p99) and what the writes cost
# the scan (its latency).
#
# Usage: Tools/bench-query.sh [--no-build]
# Environment: KEYS=1000000  DURATION=8 (seconds per wrk run)  SEDIMENT=path  BENCH_TMPDIR=dir
set -euo pipefail
NAME=query
KEYS=${KEYS:-1000000}
DURATION=${DURATION:-8}
source "$(dirname "${BASH_SOURCE[0]}")/bench/server_common.sh"
export TOKEN WRK_COMMON=$SCRIPT_DIR/bench/wrk_common.lua
wrk_json() { grep '^WRK ' | tail -n1 | cut -c5-; }

start_server
step "loading $KEYS keys into map big"
python3 - "$URL" "$TOKEN" "$KEYS" <<'PY'
import http.client, json, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1]); token = sys.argv[2]; keys = int(sys.argv[3])
c = http.client.HTTPConnection(u.hostname, u.port)
for start in range(0, keys, 1000):
    ops = [{"op": "put", "map": "big", "key": f"k{i}", "value": {"i": i, "s": "x" * 40}} for i in range(start, min(keys, start + 1000))]
    c.request("POST", "/v1/batch", json.dumps({"operations": ops, "durability": "memory"}), {"Authorization": "Bearer " + token})
    r = c.getresponse(); r.read(); assert r.status == 200, r.status
PY
step "PUT, 16 connections, ${DURATION}s, alone"
ALONE=$(wrk -t2 -c16 -d"${DURATION}s" -s "$SCRIPT_DIR/bench/wrk_put.lua" "$URL" | wrk_json)
step "PUT, 16 connections, ${DURATION}s, with queries of map big"
python3 - "$URL" "$TOKEN" "$KEYS" "$((DURATION + 1))" >"$WORK/queries.json" <<'PY' &
import http.client, json, sys, time, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1]); token = sys.argv[2]; keys = int(sys.argv[3]); seconds = float(sys.argv[4])
c = http.client.HTTPConnection(u.hostname, u.port)
query = json.dumps({"limit": 10, "predicate": {"op": "gt", "attribute": "i", "value": keys - 10}})
times, end = [], time.monotonic() + seconds
while time.monotonic() < end:
    t = time.monotonic()
    c.request("POST", "/v1/maps/big/query", query, {"Authorization": "Bearer " + token})
    r = c.getresponse(); rows = json.loads(r.read())["rows"]; assert r.status == 200 and len(rows) == 9
    times.append((time.monotonic() - t) * 1000)
times.sort()
print(json.dumps({"queries": len(times), "median_ms": round(times[len(times) // 2], 1), "max_ms": round(times[-1], 1)}))
PY
QUERIES_PID=$!
WITH=$(wrk -t2 -c16 -d"${DURATION}s" -s "$SCRIPT_DIR/bench/wrk_put.lua" "$URL" | wrk_json)
wait "$QUERIES_PID"
stop_server
python3 - "$ALONE" "$WITH" "$(cat "$WORK/queries.json")" "$KEYS" <<'PY'
import json, sys
alone, with_q, q, keys = json.loads(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3]), int(sys.argv[4])
rate = lambda w: w["requests"] / w["seconds"]
print("| case | PUT/s | PUT p50 / p99 ms | queries | query median / max ms |")
print("|---|---:|---:|---:|---:|")
print(f"| durable PUT, 16 connections, alone | {rate(alone):,.0f} | {alone['p50_ms']:.2f} / {alone['p99_ms']:.2f} | | |")
print(f"| the same, with queries of {keys:,} keys back to back | {rate(with_q):,.0f} | {with_q['p50_ms']:.2f} / {with_q['p99_ms']:.2f} | {q['queries']} | {q['median_ms']:,} / {q['max_ms']:,} |")
PY
