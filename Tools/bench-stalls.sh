#!/usr/bin/env bash
# Stalls of the server under sustained batch writes (BENCHMARKS.md, "Stalls under sustained batch
# writes"): wrk sends POST /v1/batch of 100 durable puts (Tools/bench/wrk_batch.lua: random keys
# among 1,000,000) from 16 connections for DURATION seconds, past the first background snapshot
# (60 s after the open), while a probe client sends one durable single-key PUT every 5 ms on its
# own connection. Reports the probe's worst and p99 latency and how many took over 1 s, wrk's
# batches and timeouts (2 s), and the server's peak resident set (sampled from /proc every 0.5 s).
#
# Usage: Tools/bench-stalls.sh [--no-build]
# Environment: DURATION=80  BUDGET_MB= (the server's --memory-budget-mb, 0 for none; empty: the
#              server's default, half of the machine's memory)
#              SEDIMENT=path  BENCH_TMPDIR=dir (scratch parent)  OUT=bench-results/stalls.json
set -euo pipefail
NAME=stalls
DURATION=${DURATION:-80}
BUDGET_MB=${BUDGET_MB:-}
OUT=${OUT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/bench-results/stalls.json}
source "$(dirname "${BASH_SOURCE[0]}")/bench/server_common.sh"
export TOKEN
export WRK_COMMON=$SCRIPT_DIR/bench/wrk_common.lua

step "starting sediment serve${BUDGET_MB:+ --memory-budget-mb $BUDGET_MB}"
start_server ${BUDGET_MB:+--memory-budget-mb "$BUDGET_MB"}

# Peak resident set of the server, sampled until it exits or the file "stop" appears.
(
    peak=0
    while [[ ! -e $WORK/stop ]] && [[ -r /proc/$SERVER_PID/status ]]; do
        kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0)
        ((kb > peak)) && peak=$kb
        echo "$peak" >"$WORK/rss-peak"
        sleep 0.5
    done
) &
SAMPLER=$!

python3 - "$URL" "$TOKEN" "$DURATION" >"$WORK/probe.json" <<'PY' &
import http.client, json, sys, time, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1]); token = sys.argv[2]; duration = float(sys.argv[3])
c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
latencies = []
end = time.monotonic() + duration
i = 0
while time.monotonic() < end:
    start = time.monotonic()
    c.request("PUT", "/v1/maps/probe/keys/k%d" % (i % 1000), json.dumps({"value": i}), headers)
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
    took = time.monotonic() - start
    latencies.append(took)
    i += 1
    time.sleep(max(0.0, 0.005 - took))
latencies.sort()
print(json.dumps({"probes": len(latencies), "max_ms": latencies[-1] * 1000,
                  "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
                  "over_1s": sum(1 for t in latencies if t > 1.0)}))
PY
PROBE=$!

step "wrk: POST /v1/batch of 100, 16 connections, ${DURATION}s"
WRK=$(wrk -t2 -c16 -d"${DURATION}s" --latency -s "$SCRIPT_DIR/bench/wrk_batch.lua" "$URL" | grep '^WRK ' | tail -n1 | cut -c5-)
wait "$PROBE"
touch "$WORK/stop"
wait "$SAMPLER" || true
RSS_KB=$(cat "$WORK/rss-peak")
stop_server

python3 - "$OUT" "$WRK" "$(cat "$WORK/probe.json")" "$RSS_KB" "$DURATION" "$BUDGET_MB" "$SEDIMENT" <<'PY'
import json, sys
out, wrk, probe, rss_kb, duration, budget, binary = sys.argv[1:]
wrk = json.loads(wrk); probe = json.loads(probe)
result = {"duration_s": float(duration), "budget_mb": int(budget) if budget else None, "binary": binary,
          "batches": wrk["requests"], "batch_p99_ms": wrk["p99_ms"], "batch_max_ms": wrk["max_ms"],
          "wrk_timeouts": wrk["timeouts"], "wrk_errors": wrk["errors"], "probe": probe,
          "peak_rss_mb": round(int(rss_kb) / 1024)}
json.dump(result, open(out, "w"), indent=2)
print(f"batches {wrk['requests']} ({wrk['requests'] / float(duration):.0f}/s), batch p99 {wrk['p99_ms']:.1f} ms, "
      f"max {wrk['max_ms']:.0f} ms, wrk timeouts {wrk['timeouts']}; probe PUTs {probe['probes']}: "
      f"worst {probe['max_ms']:.0f} ms, p99 {probe['p99_ms']:.1f} ms, over 1 s {probe['over_1s']}; "
      f"peak RSS {int(rss_kb) / 1024:.0f} MB" + (f" (budget {budget} MB)" if budget not in ("", "0") else ""))
PY
