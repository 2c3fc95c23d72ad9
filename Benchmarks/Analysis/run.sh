#!/bin/sh
# Builds GraphIR, Passes and Zoo in release, links the analysis benchmark against their objects, runs it.
#   Benchmarks/Analysis/run.sh [model ...]
set -e
cd "$(dirname "$0")/../.."
swift build -c release --target Passes >/dev/null
swift build -c release --target Zoo >/dev/null
bin=.build/release
swiftc -O -I "$bin/Modules" -I "$bin" Benchmarks/Analysis/main.swift \
    "$bin"/GraphIR.build/*.o "$bin"/Passes.build/*.o "$bin"/Zoo.build/*.o -lm -o "$bin/analysis-bench"
"$bin/analysis-bench" "$@"
