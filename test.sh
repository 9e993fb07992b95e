#!/usr/bin/env bash
# test.sh - the whole test suite, as CI runs it: installs what it needs, then builds and
# tests four configurations: gcc (OpenBLAS + OpenMP), clang (LLVM libomp), gcc with the
# address and undefined-behaviour sanitizers, and the runtime with no optional dependency.
set -uo pipefail
cd "$(dirname "$0")"
scripts/deps.sh || exit 1

declare -a names=(gcc clang sanitize portable)
declare -A opts=(
  [gcc]="-Dbuildtype=release"
  [clang]="-Dbuildtype=release"
  [sanitize]="-Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false"
  [portable]="-Dbuildtype=release -Dblas=disabled -Dopenmp=disabled -Dnative=false"
)
declare -A compiler=([gcc]=gcc [clang]=clang [sanitize]=gcc [portable]=gcc)
only=${LS_TEST_CONFIGS:-${names[*]}}
passed=0 failed=0 broken=0
for n in $only; do
  echo "=== $n: build"
  # shellcheck disable=SC2086
  if ! CC=${compiler[$n]} scripts/build.sh "build-$n" ${opts[$n]}; then
    echo "=== $n: BUILD FAILED"; broken=$((broken + 1)); continue
  fi
  echo "=== $n: test"
  export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1
  meson test -C "build-$n" --print-errorlogs --num-processes 2 >"build-$n.test.log" 2>&1
  rc=$?
  ok=$(awk '/^Ok:/ {print $2}' "build-$n.test.log"); bad=$(awk '/^(Fail|Timeout):/ {s += $2} END {print s + 0}' "build-$n.test.log")
  [ $rc -ne 0 ] && cat "build-$n.test.log"
  echo "=== $n: ${ok:-0} ok, $bad failed"
  passed=$((passed + ${ok:-0})); failed=$((failed + bad))
  [ $rc -ne 0 ] && [ "$bad" -eq 0 ] && broken=$((broken + 1))
done
[ "$broken" -gt 0 ] && echo "$broken configuration(s) did not build or run"
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$broken" -eq 0 ]
