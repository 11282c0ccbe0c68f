#!/usr/bin/env bash
# The main job, on an embedded default: ingest a sample workload into ./sediment-data with
# durable group commit, seal it, prove it with `sediment verify`, list it, and rebuild its state
# with `sediment replay`.
# Extra arguments go to `sediment sample` (e.g. --ops 1000000 --data /tmp/d).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
Tools/setup.sh
swift build -c release --product sediment
bin=$(swift build -c release --show-bin-path)/sediment
data=./sediment-data
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do [[ ${args[i]} == --data ]] && data=${args[i + 1]}; done
"$bin" sample --data "$data" "$@"
"$bin" verify --data "$data"
"$bin" inspect --data "$data" | head -n 20
"$bin" replay --data "$data"
