#!/usr/bin/env bash
# The server over HTTP on loopback against Redis, same machine, same run:
#   durable single-key writes   wrk (Tools/bench/wrk_put.lua), PUT ?durability=fsync, 16 and 64 connections
#                               (and ?durability=memory, answered once written, at 16)
#                               vs redis-benchmark -t set -c N against redis-server --appendfsync always
#   batches of 100              wrk (wrk_batch.lua), POST /v1/batch of 100 puts, 16 connections
#                               vs redis-benchmark -t set -P 100 -c 16 (same appendfsync always)
#   the ceiling of a write      the same PUTs with ?durability=none: authenticated, then refused (400) on the event
#                               loop before the database, so it is what HTTP, the handler and the sockets cost
#                               (its "errors" are those 400s)
#   the floor                   `sediment bench http-floor`: SwiftNIO with the server's request framing and a fixed
#                               answer, alone and with a durable write of each body (its bytes as a binary value,
#                               or with --json the JSON value it holds, committed as the server commits); the same
#                               PUTs at 16 and 64 connections
#   memory                      the resident memory the durable PUTs added, per PUT (each a fresh key)
#   reads                       wrk (wrk_get.lua), GET of random keys now and asOf a past time, 16 connections
#                               (redis-benchmark -t get -c 16 for scale); GET /health: through the router (a task per request)
# wrk runs 2 threads on the same 2-core machine as the server (as redis-benchmark does for Redis).
# REPEAT rounds; in each, every compared case runs beside Redis's (in turn first); every cell is
# the median of the rounds, with the range beside it (this VM moves by a third within minutes).
#
# Usage: Tools/bench-server.sh [--no-build]
# Environment: DURATION=10 (seconds per wrk run)  KEYS=100000 (read keys)  REPEAT=3  SEDIMENT=path
#              BENCH_TMPDIR=dir (scratch parent; default bench-results/)  OUT=bench-results/server.json
set -euo pipefail
NAME=server
DURATION=${DURATION:-10}
KEYS=${KEYS:-100000}
REPEAT=${REPEAT:-3}
OUT=${OUT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/bench-results/server.json}
source "$(dirname "${BASH_SOURCE[0]}")/bench/server_common.sh"
export TOKEN
export WRK_COMMON=$SCRIPT_DIR/bench/wrk_common.lua
wrk_json() { grep '^WRK ' | tail -n1 | cut -c5-; }
resident_bytes() { awk '/^VmRSS/{print $2 * 1024}' "/proc/$SERVER_PID/status"; }

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
rb() { redis-benchmark -p "$REDIS_PORT" -r 1000000 -d 80 --csv "$@" | tail -n1 | cut -d, -f2 | tr -d '"'; }

# Each case of Sediment's runs right beside Redis's that it is compared with (both servers up,
# the idle one waiting), the two in turn first: this machine's speed moves by a third within
# minutes, so a ratio of runs minutes apart measured the hour as much as the servers. Redis's
# request counts last about DURATION seconds here, as wrk's runs do.

# Runs the two cases of a pair in this round's order (Sediment first in odd rounds).
in_turn() {
    local first=$1 second=$2
    ((round % 2)) || { first=$2; second=$1; }
    shift 2
    "$first" "$@"
    "$second" "$@"
}
sediment_put() {
    step "PUT, $1 connections, ${DURATION}s"
    R[put$1]=$(wrk -t2 -c"$1" -d"${DURATION}s" -s "$SCRIPT_DIR/bench/wrk_put.lua" "$URL" | wrk_json)
}
redis_set() {
    step "redis-benchmark -t set -c $1"
    R[redis_set$1]=$(rb -t set -c "$1" -n $((DURATION * ($1 == 16 ? 25000 : 45000))))
}
# The floor under a write (see `sediment bench http-floor`): "answer" (no database), "durable"
# (the body written as bytes) or "json" (written as the JSON value it holds, as a PUT's is).
floor_put() {
    local kind=$1 c=$2 flags=()
    step "http-floor, $kind, $c connections"
    rm -rf "$WORK/floor"
    [[ $kind == durable ]] && flags=(--data "$WORK/floor")
    [[ $kind == json ]] && flags=(--data "$WORK/floor" --json)
    "$SEDIMENT" bench http-floor "${flags[@]}" >"$WORK/floor.out" 2>"$WORK/floor.err" &
    local pid=$!
    for _ in $(seq 1 300); do grep -q "listening on" "$WORK/floor.out" 2>/dev/null && break; sleep 0.1; done
    local url
    url=$(grep -o 'http://[0-9.]*:[0-9]*' "$WORK/floor.out" | head -n1)
    [[ -n $url ]] || { echo "sediment bench http-floor did not start: $(cat "$WORK/floor.err")" >&2; exit 1; }
    R[floor_$kind$c]=$(wrk -t2 -c"$c" -d"${DURATION}s" -s "$SCRIPT_DIR/bench/wrk_put.lua" "$url" | wrk_json)
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}
sediment_batch() {
    step "POST /v1/batch of 100, 16 connections"
    R[batch]=$(wrk -t2 -c16 -d"${DURATION}s" -s "$SCRIPT_DIR/bench/wrk_batch.lua" "$URL" | wrk_json)
}
redis_pipe() {
    step "redis-benchmark -t set -P 100 -c 16"
    R[redis_pipe]=$(rb -t set -P 100 -c 16 -n $((DURATION * 300000)))
}
sediment_get() {
    step "GET now, 16 connections"
    R[get]=$(KEYS=$KEYS wrk -t2 -c16 -d"${DURATION}s" -s "$SCRIPT_DIR/bench/wrk_get.lua" "$URL" | wrk_json)
}
redis_get() {
    step "redis-benchmark -t get -c 16"
    R[redis_get]=$(rb -t get -c 16 -n $((DURATION * 100000)))
}

# One JSON object per round: every case's wrk summary (Sediment) or rate (Redis).
ROUNDS=()
for round in $(seq 1 "$REPEAT"); do
    declare -A R=()
    step "round $round of $REPEAT: starting sediment serve and redis-server"
    start_server
    start_redis
    rss_before=$(resident_bytes)
    for c in 16 64; do
        in_turn sediment_put redis_set "$c"
        floor_put durable "$c"
        floor_put json "$c"
    done
    floor_put answer 64
    # Every PUT writes a fresh key: what the views keep of it, in the server's resident memory.
    R[put_rss]=$(( $(resident_bytes) - rss_before ))
    for c in 16 64; do
        step "PUT refused before the database (?durability=none: 400), $c connections: the ceiling of a single-key write over HTTP"
        R[refused$c]=$(DURABILITY=none wrk -t2 -c"$c" -d"${DURATION}s" -s "$SCRIPT_DIR/bench/wrk_put.lua" "$URL" | wrk_json)
    done
    step "PUT ?durability=memory (answered once written), 16 connections"
    R[putmem]=$(DURABILITY=memory wrk -t2 -c16 -d"${DURATION}s" -s "$SCRIPT_DIR/bench/wrk_put.lua" "$URL" | wrk_json)
    in_turn sediment_batch redis_pipe
    step "loading $KEYS keys for reads"
    load_version 1
    # asOf: just after the last key's first version (every key exists there).
    ASOF=$(curl -s -H "Authorization: Bearer $TOKEN" "$URL/v1/maps/read/keys/k$((KEYS - 1))" | python3 -c 'import json,sys; print(json.load(sys.stdin)["txTimeMillis"] + 1)')
    # A second version of every key after the asOf point, so asOf reads really go back in time.
    sleep 1.1
    load_version 2
    in_turn sediment_get redis_get
    step "GET asOf, 16 connections"
    R[getasof]=$(KEYS=$KEYS ASOF=$ASOF wrk -t2 -c16 -d"${DURATION}s" -s "$SCRIPT_DIR/bench/wrk_get.lua" "$URL" | wrk_json)
    step "GET /health (no auth, no database), 16 connections"
    R[health]=$(wrk -t2 -c16 -d"${DURATION}s" -s "$SCRIPT_DIR/bench/wrk_health.lua" "$URL/health" | wrk_json)
    stop_server
    stop_redis

    # Every case's result under its name, as one JSON object.
    ROUNDS+=("{$(for k in "${!R[@]}"; do printf '"%s":%s,' "$k" "${R[$k]}"; done | sed 's/,$//')}")
done

python3 - "$OUT" "${ROUNDS[@]}" <<'PY'
import json, statistics, sys
out = sys.argv[1]
rounds = [json.loads(a) for a in sys.argv[2:]]
rate = lambda r, ops=1: r["requests"] * ops / r["seconds"]
med = statistics.median
cases = [
    ("durable PUT, 16 connections", "put16", 1, "redis-benchmark -t set -c 16", "redis_set16", "≥ 1×"),
    ("durable PUT, 64 connections", "put64", 1, "redis-benchmark -t set -c 64", "redis_set64", "≥ 1×"),
    ("PUT refused (400) before the database: the HTTP ceiling, 16 connections", "refused16", 1, "redis-benchmark -t set -c 16", "redis_set16", ""),
    ("PUT refused (400) before the database: the HTTP ceiling, 64 connections", "refused64", 1, "redis-benchmark -t set -c 64", "redis_set64", ""),
    ("PUT ?durability=memory, 16 connections", "putmem", 1, "", None, ""),
    ("the floor: SwiftNIO and the server's framing, a durable write of the body, a fixed answer; 16 connections", "floor_durable16", 1, "redis-benchmark -t set -c 16", "redis_set16", ""),
    ("the floor: the same, 64 connections", "floor_durable64", 1, "redis-benchmark -t set -c 64", "redis_set64", ""),
    ("the floor with the body written as its JSON value (as a PUT's is); 16 connections", "floor_json16", 1, "redis-benchmark -t set -c 16", "redis_set16", ""),
    ("the floor with the body written as its JSON value; 64 connections", "floor_json64", 1, "redis-benchmark -t set -c 64", "redis_set64", ""),
    ("the floor: SwiftNIO and the server's framing, a fixed answer (no database); 64 connections", "floor_answer64", 1, "redis-benchmark -t set -c 64", "redis_set64", ""),
    ("POST /v1/batch of 100, 16 connections (operations/s)", "batch", 100, "redis-benchmark -t set -P 100 -c 16", "redis_pipe", "≥ 1×"),
    ("GET now, 16 connections", "get", 1, "redis-benchmark -t get -c 16", "redis_get", ""),
    ("GET asOf a past time, 16 connections", "getasof", 1, "", None, ""),
    ("GET /health (the router, no database), 16 connections", "health", 1, "", None, ""),
]
rows = []
for case, key, ops, peer, peer_key, goal in cases:
    ours = [rate(r[key], ops) for r in rounds]
    theirs = [r[peer_key] for r in rounds] if peer_key else []
    rows.append({
        "case": case, "sediment_ops_s": med(ours), "sediment_runs": ours, "peer": peer,
        "peer_ops_s": med(theirs) if theirs else None, "peer_runs": theirs,
        "p50_ms": med([r[key]["p50_ms"] for r in rounds]), "p99_ms": med([r[key]["p99_ms"] for r in rounds]),
        "errors": sum(r[key]["errors"] for r in rounds), "goal": goal,
        "ratio_runs": [o / t for o, t in zip(ours, theirs)]})
per_put = [r["put_rss"] / (r["put16"]["requests"] + r["put64"]["requests"]) for r in rounds]
json.dump({"rounds": rounds, "rows": rows, "resident_bytes_per_put": per_put}, open(out, "w"), indent=1)
k = lambda x: f"{x / 1000:,.1f}k"
print(f"Median of {len(rounds)} rounds (each compared case beside Redis's, in turn first); ranges over the rounds; p50 / p99 are medians too.\n")
print("| case | Sediment ops/s | range | p50 / p99 ms | errors | peer | peer ops/s | range | Sediment ÷ peer | per round | goal |")
print("|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---|")
for r in rows:
    ours = r["sediment_runs"]; theirs = r["peer_runs"]
    ratio = f"{r['sediment_ops_s'] / r['peer_ops_s']:.2f}" if theirs else ""
    per = " ".join(f"{x:.2f}" for x in r["ratio_runs"])
    peer = f"`{r['peer']}`" if r["peer"] else ""
    peer_rate = f"{r['peer_ops_s']:,.0f}" if theirs else ""
    peer_range = f"{k(min(theirs))}–{k(max(theirs))}" if theirs else ""
    print(f"| {r['case']} | {r['sediment_ops_s']:,.0f} | {k(min(ours))}–{k(max(ours))} | {r['p50_ms']:.2f} / {r['p99_ms']:.2f} | "
          f"{r['errors']} | {peer} | {peer_rate} | {peer_range} | {ratio} | {per} | {r['goal']} |")
print(f"\nResident memory the durable PUTs added (each a fresh key with a two-member JSON object): "
      f"{med(per_put):,.0f} bytes per PUT (rounds: {', '.join(f'{x:,.0f}' for x in per_put)}).")
PY
