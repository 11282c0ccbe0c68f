#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, runs every test (unit, property, golden
# files, torn tails and bit flips, and the SIGKILL crash test against the real binary).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
Tools/setup.sh
swift build --build-tests
swift test --skip-build "$@"
