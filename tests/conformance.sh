#!/bin/sh
# Regenerate docs/CONFORMANCE.md (and the expected-pass list with --update-pass):
#
#   tests/conformance.sh [--update-pass] [BUILDDIR]      (BUILDDIR defaults to build)
#
# Builds the runner and the ONNX node test cases in BUILDDIR, runs every case in both
# executor modes (two at a time) and writes the report.
set -e
src=$(cd "$(dirname "$0")/.." && pwd)
update=0
if [ "$1" = "--update-pass" ]; then update=1; shift; fi
build=${1:-$src/build}
ninja -C "$build" -j2 tests/conformance tests/node_tests.stamp >/dev/null
"$build/tests/conformance" --jobs 2 --timeout 120 --report "$src/docs/CONFORMANCE.md" \
  --list "$build/conformance.tsv" --command "tests/conformance.sh" "$build/tests/node_tests/node"
if [ $update = 1 ]; then
  { sed -n '/^#/p' "$src/tests/conformance_pass.txt"; awk -F '\t' '$2 == "pass" { print $1 }' "$build/conformance.tsv"; } \
    > "$src/tests/conformance_pass.txt.new"
  mv "$src/tests/conformance_pass.txt.new" "$src/tests/conformance_pass.txt"
  echo "tests/conformance_pass.txt: $(grep -vc '^#' "$src/tests/conformance_pass.txt") cases"
fi
