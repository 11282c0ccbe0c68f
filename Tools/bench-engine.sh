#!/usr/bin/env bash
# Engine benchmarks (issue 4) with their peers, in one go on this machine:
#   point reads       sediment bench read   vs RocksDB db_bench readrandom (native, 1 thread)
#                     and LMDB / rocksdict / SQLite through Python (Tools/bench/read_peers.py)
#   asOf reads        sediment bench asof                (goal: p99 <= 20 us in the hot window)
#   corrections       sediment bench asof --corrections 10000   (goal: median < 50 us)
#   open              sediment bench open                (snapshot vs full replay, 5M operations)
#   memory budget     sediment bench memory              (RSS vs budget on a larger data set)
#
# Usage: Tools/bench-engine.sh [--no-build] [-h|--help]
# Environment: KEYS=1000000 READS=5000000 OPEN_OPS=5000000 SEDIMENT=path PYTHON=python3
#              BENCH_TMPDIR=dir (scratch parent; default bench-results/) OUT=bench-results/engine.json
# Output: progress on stderr, a Markdown report on stdout, raw JSON lines in $OUT.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
KEYS=${KEYS:-1000000}
READS=${READS:-5000000}
OPEN_OPS=${OPEN_OPS:-5000000}
PYTHON=${PYTHON:-python3}
OUT=${OUT:-$ROOT/bench-results/engine.json}
BUILD=1
for a in "$@"; do
    case $a in
        --no-build) BUILD=0 ;;
        -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "unknown argument $a" >&2; exit 2 ;;
    esac
done

if [[ -z ${SEDIMENT:-} ]]; then
    SEDIMENT=$ROOT/.build/release/sediment
    if ((BUILD)); then (cd "$ROOT" && swift build -c release --product sediment >&2); fi
fi
mkdir -p "$ROOT/bench-results" "$(dirname "$OUT")"
WORK=$(mktemp -d "${BENCH_TMPDIR:-$ROOT/bench-results}/engine-tmp.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
: >"$OUT"

step() { echo "bench-engine: $*" >&2; }
fresh() { rm -rf "$WORK/data"; echo "$WORK/data"; }
record() { echo "$1" | tee -a "$OUT" >/dev/null; }
field() { "$PYTHON" -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2], ""))' "$1" "$2"; }

step "sediment point reads ($KEYS keys, $READS reads)"
READ=$("$SEDIMENT" bench read --data "$(fresh)" --keys "$KEYS" --reads "$READS" --json)
record "{\"bench\":\"read\",\"system\":\"sediment\",\"result\":$READ}"

step "RocksDB db_bench readrandom"
rm -rf "$WORK/rocksdb"
DBB=$(db_bench --benchmarks=fillseq,compact,readrandom --num="$KEYS" --reads=$((READS / 2)) --value_size=100 \
    --key_size=16 --threads=1 --db="$WORK/rocksdb" --compression_type=none --cache_size=$((2 << 30)) --bloom_bits=10 2>&1 |
    awk '/^readrandom/ {for (i = 1; i <= NF; i++) if ($i == "ops/sec") print $(i - 1)}')
rm -rf "$WORK/rocksdb"
record "{\"bench\":\"read\",\"system\":\"rocksdb-db_bench\",\"result\":{\"reads_per_sec\":${DBB:-0}}}"

step "LMDB, rocksdict and SQLite through Python"
mkdir -p "$WORK/peers"
while read -r line; do
    record "{\"bench\":\"read\",\"system\":\"$(field "$line" system)-python\",\"result\":$line}"
done < <("$PYTHON" "$SCRIPT_DIR/bench/read_peers.py" --dir "$WORK/peers" --keys "$KEYS" --reads 1000000)

step "asOf reads (10k keys x 20 versions)"
ASOF=$("$SEDIMENT" bench asof --data "$(fresh)" --json)
record "{\"bench\":\"asof\",\"system\":\"sediment\",\"result\":$ASOF}"

step "asOf reads after 10,000 corrections of one key's past"
CORR=$("$SEDIMENT" bench asof --data "$(fresh)" --corrections 10000 --reads 200000 --json)
record "{\"bench\":\"corrections\",\"system\":\"sediment\",\"result\":$CORR}"

step "open: snapshot vs full replay ($OPEN_OPS operations)"
OPEN=$("$SEDIMENT" bench open --data "$(fresh)" --ops "$OPEN_OPS" --keys 1000000 --json)
record "{\"bench\":\"open\",\"system\":\"sediment\",\"result\":$OPEN}"

for BUDGET in 384 128; do
    step "memory budget ($BUDGET MiB budget, ~2 GiB of values)"
    MEM=$("$SEDIMENT" bench memory --data "$(fresh)" --budget-mb "$BUDGET" --value-size 2048 --json)
    record "{\"bench\":\"memory-$BUDGET\",\"system\":\"sediment\",\"result\":$MEM}"
done

"$PYTHON" - "$OUT" "$KEYS" "$READS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
keys, reads = sys.argv[2], sys.argv[3]
by = {(r["bench"], r["system"]): r["result"] for r in rows}
s = by[("read", "sediment")]["reads_per_sec"]
print(f"### Point reads ({keys} keys, 100-byte values, random keys, one thread)\n")
print("| system | reads/s | Sediment ÷ system |\n|---|---:|---:|")
print(f"| Sediment (`bench read`, {reads} reads) | {s:,.0f} | 1.00 |")
for (bench, system), r in by.items():
    if bench == "read" and system != "sediment":
        rate = r.get("reads_per_sec") or 0
        print(f"| {system} | {rate:,.0f} | {s / rate:.2f} |" if rate else f"| {system} | failed: {r.get('error', '?')} | |")
a = by[("asof", "sediment")]; c = by[("corrections", "sediment")]
o = by[("open", "sediment")]
print(f"\n### Bi-temporal reads\n\n| case | p50 µs | p99 µs | p99.9 µs | goal |\n|---|---:|---:|---:|---|")
print(f"| {a['shape']}, random asOf and validAt | {a['p50_us']} | {a['p99_us']} | {a['p999_us']} | p99 ≤ 20 µs |")
print(f"| {c['shape']} | {c['p50_us']} | {c['p99_us']} | {c['p999_us']} | median < 50 µs |")
print(f"\n### Open ({o['operations']:,} operations over 1,000,000 keys)\n")
print(f"| path | seconds |\n|---|---:|\n| snapshot ({o['snapshot_bytes'] / 2**20:.1f} MiB) + replay after it | {o['open_with_snapshot_s']} |")
print(f"| full replay of the log | {o['open_full_replay_s']} |\n\nSnapshot open is {o['speedup']}x faster.")
mib = lambda b: f"{b / 2**20:,.0f} MiB"
print(f"\n### Memory budget (process RSS)\n")
print("| budget | values (versions) | RSS after load | RSS after reads | peak RSS | peak ÷ budget | versions evicted whole | cold read p50 / p99 µs |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|")
for budget in (384, 128):
    m = by[(f"memory-{budget}", "sediment")]
    print(f"| {mib(m['budget_bytes'])} | {mib(m['data_set_bytes'])} ({m['versions']:,}) | {mib(m['rss_after_load_bytes'])} | "
          f"{mib(m['rss_after_reads_bytes'])} | {mib(m['peak_rss_bytes'])} | {m['peak_rss_bytes'] / m['budget_bytes']:.2f} | "
          f"{m['cold_versions']:,} | {m['cold_read_p50_us']} / {m['cold_read_p99_us']} |")
PY
