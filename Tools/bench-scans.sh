#!/usr/bin/env bash
# Scans beside the router: how long `GET /health` (a route of Hummingbird's router, as every
# route but the event loop's writes and key reads) takes while CLIENTS clients scan a map of KEYS
# keys back to back, first with queries (`POST /v1/maps/big/query`, limit 10), then with sync
# deltas (`POST /sync` from timestamp 0: every key, encoded). Before the scans ran on threads of
# their own (`BlockingReads`), they held Swift's cooperative threads, which the router shares.
#
# Usage: Tools/bench-scans.sh [--no-build]
# Environment: KEYS=300000  CLIENTS=4  PROBES=40 (health requests, 50 ms apart)  SEDIMENT=path
#              BENCH_TMPDIR=dir
set -euo pipefail
NAME=scans
KEYS=${KEYS:-300000}
CLIENTS=${CLIENTS:-4}
PROBES=${PROBES:-40}
source "$(dirname "${BASH_SOURCE[0]}")/bench/server_common.sh"

start_server --memory-budget-mb 0
step "loading $KEYS keys into map big; then $CLIENTS clients of each kind"
python3 - "$URL" "$TOKEN" "$KEYS" "$CLIENTS" "$PROBES" <<'PY'
import http.client, json, statistics, sys, threading, time, urllib.parse
url, token, keys, clients, probes = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
u = urllib.parse.urlsplit(url)
H = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
c = http.client.HTTPConnection(u.hostname, u.port)
for start in range(0, keys, 1000):
    ops = [{"op": "put", "map": "big", "key": f"k{i}", "value": {"i": i}} for i in range(start, min(keys, start + 1000))]
    c.request("POST", "/v1/batch", json.dumps({"operations": ops, "durability": "memory"}), H)
    r = c.getresponse(); r.read(); assert r.status == 200, r.status

def health(count):
    hc, out = http.client.HTTPConnection(u.hostname, u.port), []
    for _ in range(count):
        t = time.perf_counter(); hc.request("GET", "/health"); r = hc.getresponse(); r.read(); assert r.status == 200
        out.append((time.perf_counter() - t) * 1000); time.sleep(0.05)
    return out

REQUESTS = {
    "query": ("/v1/maps/big/query", {"where": {"op": "gt", "attribute": "i", "value": keys - 10}, "limit": 10}),
    "sync delta": ("/sync", {"clientId": "bench", "syncMaps": [{"mapName": "big", "lastSyncTimestamp": 0}]}),
}
alone = health(probes)
fmt = lambda xs: f"{statistics.median(xs):.1f} / {max(xs):.1f}"
print("| beside | /health p50 / max ms | scans/s | scan median ms |")
print("|---|---:|---:|---:|")
print(f"| nothing | {fmt(alone)} | | |")
for kind, (path, body) in REQUESTS.items():
    stop, durations = False, []
    def client():
        lc = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
        while not stop:
            t = time.perf_counter(); lc.request("POST", path, json.dumps(body), H); r = lc.getresponse(); r.read(); assert r.status == 200, r.status
            durations.append(time.perf_counter() - t)
    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads: t.start()
    while not durations: time.sleep(0.01)  # the scans are under way
    beside = health(probes)
    stop = True
    for t in threads: t.join()
    rate = len(durations) / (time.perf_counter() - started)
    print(f"| {clients} clients: {kind} over {keys} keys | {fmt(beside)} | {rate:.2f} | {statistics.median(durations) * 1000:.0f} |")
PY
stop_server
