#!/bin/sh
# Builds GraphIR and Passes in release, links the benchmark against their objects, and runs it.
#   Benchmarks/MemoryPlanner/run.sh <layers> <uniform|stages|jitter> [bestFitLimit]
set -e
cd "$(dirname "$0")/../.."
swift build -c release --target Passes >/dev/null
bin=.build/release
swiftc -O -I "$bin/Modules" -I "$bin" Benchmarks/MemoryPlanner/main.swift \
    "$bin"/GraphIR.build/*.o "$bin"/Passes.build/*.o -lm -o "$bin/memory-planner-bench"
"$bin/memory-planner-bench" "$@"
