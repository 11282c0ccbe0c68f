# Shared by Tools/bench-server.sh and Tools/bench-sync.sh (sourced, after NAME is set): the
# release build, a scratch directory removed on exit, a `sediment serve` with a fresh data
# directory and a token for it, and redis-server with `appendfsync always` as the peer.
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
"$SCRIPT_DIR/setup.sh" --bench >&2
if [[ -z ${SEDIMENT:-} ]]; then
    SEDIMENT=$ROOT/.build/release/sediment
    [[ ${1:-} == --no-build ]] || (cd "$ROOT" && swift build -c release --product sediment >&2)
fi
mkdir -p "$ROOT/bench-results"
WORK=$(mktemp -d "${BENCH_TMPDIR:-$ROOT/bench-results}/$NAME-tmp.XXXXXX")
SERVER_PID=""
REDIS_PID=""
cleanup() {
    [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    [[ -n $REDIS_PID ]] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
step() { echo "bench-$NAME: $*" >&2; }

SECRET=bench-secret-$RANDOM$RANDOM-$RANDOM$RANDOM
TOKEN=$(python3 -W ignore -c "import jwt,sys; print(jwt.encode({'sub':'bench','roles':['admin']}, sys.argv[1], algorithm='HS256'))" "$SECRET")

# Starts `sediment serve` on a fresh data directory, with any further flags given; sets SERVER_PID
# and URL.
start_server() {
    rm -rf "$WORK/data"
    SEDIMENT_LOG_LEVEL=warning "$SEDIMENT" serve --data "$WORK/data" --port 0 --jwt-secret "$SECRET" "$@" >"$WORK/serve.out" 2>"$WORK/serve.err" &
    SERVER_PID=$!
    for _ in $(seq 1 300); do grep -q "listening on" "$WORK/serve.out" 2>/dev/null && break; sleep 0.1; done
    URL=$(grep -o 'http://[0-9.]*:[0-9]*' "$WORK/serve.out" | head -n1)
    [[ -n $URL ]] || { echo "sediment serve did not start: $(cat "$WORK/serve.err")" >&2; exit 1; }
}
stop_server() { kill "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=""; }

# Starts redis-server with the append-only file fsynced on every write; sets REDIS_PID, REDIS_PORT.
start_redis() {
    step "redis-server --appendonly yes --appendfsync always"
    rm -rf "$WORK/redis"
    mkdir -p "$WORK/redis"
    REDIS_PORT=$((20000 + RANDOM % 20000))
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$WORK/redis" --appendonly yes --appendfsync always --save "" \
        --maxclients 10000 --daemonize no >"$WORK/redis.log" 2>&1 &
    REDIS_PID=$!
    for _ in $(seq 1 150); do redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
    [[ $(redis-cli -p "$REDIS_PORT" config get appendfsync | tail -n1) == always ]] || { echo "redis is not appendfsync always" >&2; exit 1; }
}
stop_redis() { kill "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true; REDIS_PID=""; }
