#!/usr/bin/env bash
# The main job on the embedded default: `sediment serve` on 127.0.0.1:8080 with its data in
# ./sediment-data and no bucket, printing a development token. Stop it with Ctrl-C (a graceful
# shutdown: requests drain, the log syncs, a snapshot is written).
# Extra arguments go to `sediment serve` (e.g. --port 9090, --data /tmp/d, --config FILE).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
Tools/setup.sh
swift build -c release --product sediment
exec "$(swift build -c release --show-bin-path)/sediment" serve "$@"
