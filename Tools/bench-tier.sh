#!/usr/bin/env bash
# Cold-tier throughput against a SeaweedFS server on loopback, with the AWS CLI as the peer in
# the same run: upload of the sealed segments (`sediment upload` vs `aws s3 cp --recursive` of
# the same files) and restore (`sediment restore`, which also proves every root, vs
# `aws s3 sync` download); then the RPO under steady durable ingest (`sediment bench rpo`, 1 s
# roll) with the uploader's RPO target and with the log's age-based roll alone.
#
# Usage: Tools/bench-tier.sh [--no-build]
# Environment: OPS=1000000 VALUE_SIZE=1000 (about 1 GiB of log)  SEDIMENT=path
#              BENCH_TMPDIR=dir (scratch parent; default bench-results/) OUT=bench-results/tier.json
set -euo pipefail
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
OPS=${OPS:-1000000}
VALUE_SIZE=${VALUE_SIZE:-1000}
OUT=${OUT:-$ROOT/bench-results/tier.json}
if [[ -z ${SEDIMENT:-} ]]; then
    SEDIMENT=$ROOT/.build/release/sediment
    [[ ${1:-} == --no-build ]] || (cd "$ROOT" && swift build -c release --product sediment >&2)
fi
mkdir -p "$ROOT/bench-results"
WORK=$(mktemp -d "${BENCH_TMPDIR:-$ROOT/bench-results}/tier-tmp.XXXXXX")
trap '[[ -n ${SEDIMENT_S3_PID:-} ]] && kill -9 "$SEDIMENT_S3_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
step() { echo "bench-tier: $*" >&2; }
now() { date +%s.%N; }

step "starting SeaweedFS"
eval "$("$SCRIPT_DIR/seaweedfs.sh" "$WORK/seaweedfs" $$)"
export AWS_ACCESS_KEY_ID=$SEDIMENT_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$SEDIMENT_S3_SECRET_KEY AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
B=(--endpoint "$SEDIMENT_S3_ENDPOINT" --bucket "$SEDIMENT_S3_BUCKET")

step "writing $OPS operations of $VALUE_SIZE bytes"
"$SEDIMENT" bench ingest --data "$WORK/data" --writers 16 --ops "$OPS" --value-size "$VALUE_SIZE" --durability none \
    --distinct-values --json >/dev/null
# Seal the active segment (an upload with --seal and an empty prefix would also do it; keep the
# timed upload free of sealing work).
"$SEDIMENT" upload --data "$WORK/data" --seal --prefix warmup "${B[@]}" >/dev/null

step "sediment upload"
UP=$("$SEDIMENT" upload --data "$WORK/data" --prefix sediment "${B[@]}" --json)
step "sediment restore"
RESTORE=$("$SEDIMENT" restore --prefix sediment --to "$WORK/restored" "${B[@]}" --json)
# The peer moves exactly the sealed segments Sediment moved (the restored log directory).
LOG_BYTES=$(du -sb "$WORK/restored/log" | cut -f1)
step "sealed log: $LOG_BYTES bytes in $(ls "$WORK/restored/log" | wc -l) segments"
step "aws s3 cp --recursive"
t0=$(now)
aws --endpoint-url "$SEDIMENT_S3_ENDPOINT" s3 cp --recursive --quiet "$WORK/restored/log" "s3://$SEDIMENT_S3_BUCKET/awscli/log"
AWS_UP=$(echo "$(now) - $t0" | bc)
step "aws s3 sync (download)"
t0=$(now)
aws --endpoint-url "$SEDIMENT_S3_ENDPOINT" s3 sync --quiet "s3://$SEDIMENT_S3_BUCKET/awscli/log" "$WORK/awscli-download"
AWS_DOWN=$(echo "$(now) - $t0" | bc)

step "RPO under steady ingest, 1 s roll, with the uploader's RPO target"
RPO_TARGET=$("$SEDIMENT" bench rpo --data "$WORK/rpo-target" --prefix rpo-target --seconds "${RPO_SECONDS:-15}" --roll-ms 1000 "${B[@]}" --json)
step "RPO under steady ingest, 1 s roll, age-based roll only"
RPO_AGE=$("$SEDIMENT" bench rpo --data "$WORK/rpo-age" --prefix rpo-age --seconds "${RPO_SECONDS:-15}" --roll-ms 1000 --no-rpo-target "${B[@]}" --json)

python3 - "$UP" "$RESTORE" "$AWS_UP" "$AWS_DOWN" "$LOG_BYTES" "$OUT" "$RPO_TARGET" "$RPO_AGE" <<'PY'
import json, sys
up, restore = json.loads(sys.argv[1]), json.loads(sys.argv[2])
aws_up, aws_down, log_bytes = float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
mb = lambda b, s: b / s / 1e6
rows = {
    "upload": {"sediment_s": up["elapsed_s"], "sediment_mb_s": mb(up["bytes"], up["elapsed_s"]), "aws_s": aws_up, "aws_mb_s": mb(log_bytes, aws_up), "bytes": up["bytes"]},
    "restore": {"sediment_s": restore["elapsed_s"], "sediment_mb_s": mb(restore["bytes"], restore["elapsed_s"]), "aws_s": aws_down, "aws_mb_s": mb(log_bytes, aws_down), "bytes": restore["bytes"]},
}
json.dump(rows, open(sys.argv[6], "w"), indent=1)
print(f"| transfer | bytes | Sediment s | Sediment MB/s | AWS CLI s | AWS CLI MB/s | Sediment ÷ AWS CLI |\n|---|---:|---:|---:|---:|---:|---:|")
for name, peer in (("upload", "aws s3 cp --recursive"), ("restore", "aws s3 sync")):
    r = rows[name]
    print(f"| {name} (vs `{peer}`) | {r['bytes']:,} | {r['sediment_s']:.2f} | {r['sediment_mb_s']:.0f} | {r['aws_s']:.2f} | {r['aws_mb_s']:.0f} | {r['sediment_mb_s'] / r['aws_mb_s']:.2f} |")
rpo = {"target": json.loads(sys.argv[7]), "age": json.loads(sys.argv[8])}
rows["rpo"] = rpo
json.dump(rows, open(sys.argv[6], "w"), indent=1)
print("\n| roll 1 s | durable appends | samples | RPO p50 ms | p99 ms | max ms | goal ≤ 1,000 ms |\n|---|---:|---:|---:|---:|---:|---|")
for name, label in (("target", "uploader RPO target 1 s (default)"), ("age", "age-based roll only")):
    r = rpo[name]
    print(f"| {label} | {r['operations']:,} | {r['samples']} | {r['rpo_p50_ms']:.0f} | {r['rpo_p99_ms']:.0f} | {r['rpo_max_ms']:.0f} | {'met' if r['rpo_max_ms'] <= 1000 else 'not met'} |")
PY
