#!/usr/bin/env bash
# LinearRegex (the matcher of the query predicates regex and like) against Swift's Regex, the
# backtracking matcher it replaced: Tools/bench/regex_main.swift compiled with -O together with
# Sources/SedimentEngine/LinearRegex.swift (no package build). Prints Markdown tables.
# Usage: Tools/bench-regex.sh
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cp "$ROOT/Tools/bench/regex_main.swift" "$WORK/main.swift"  # top-level code lives in main.swift
swiftc -O -o "$WORK/bench-regex" "$ROOT/Sources/SedimentEngine/LinearRegex.swift" "$WORK/main.swift"
"$WORK/bench-regex"
