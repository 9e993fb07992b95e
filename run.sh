#!/usr/bin/env bash
# run.sh - set everything up and run the main job: build Lockstep, then assemble and run
# an example program, printing its cycle count (known before the run), the predicted time
# at the target's clock and the time measured on this host.
set -euo pipefail
cd "$(dirname "$0")"
scripts/deps.sh
scripts/build.sh build
example=${1:-examples/matmul_bias_relu.lsa}
./build/tools/lockstep asm "$example" -o build/example.lsp
./build/tools/lockstep run build/example.lsp --fill random --runs 1000
