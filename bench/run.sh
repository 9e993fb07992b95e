#!/usr/bin/env bash
# bench/run.sh - the benchmarks, in one command: Lockstep's fast executor beside ONNX Runtime
# (npm onnxruntime-node) and PyTorch (Debian's python3-torch), on the example models at
# batch 1 with 1 and 2 threads, in one run on this machine; OpenBLAS sgemm's measured peak
# as the roofline; a fixed busy loop's jitter (bench/jitter.c) as this machine's floor under
# p99/p50; determinism checked throughout. Writes the raw JSON under
# generated/bench/, then docs/BENCHMARKS.md and docs/bench_latency.svg (bench/report.py).
#
#   bench/run.sh                                  # 1000 timed runs per measurement (~15 min)
#   BENCH_RUNS=50 bench/run.sh                    # a quick check of the plumbing
#   BENCH_MODELS="mlp digits" BENCH_THREADS=1 bench/run.sh
#
# Environment: BENCH_RUNS (timed runs, default 1000), BENCH_WARMUP (default 50, in each
# round), BENCH_ROUNDS (default 5: each peer's runs are split into rounds, the peers taking
# turns, and merged by bench/merge.py),
# BENCH_MODELS (default "mlp digits resnet18 mobilenet_v2 transformer"), BENCH_THREADS
# (default "1 2"), BENCH_DOC (default docs/BENCHMARKS.md; the plot goes beside it),
# LOCKSTEP (default build/tools/lockstep), BENCH_CORETYPE (an OPENBLAS_CORETYPE to run
# every peer with, used as is; otherwise the fastest OpenBLAS kernel that runs on this CPU
# is chosen by measuring each, whatever OPENBLAS_CORETYPE the environment holds),
# LOCKSTEP_CALIBRATION (a `lockstep calibrate` file to predict with; otherwise the run
# measures one first, about a minute).
set -euo pipefail
cd "$(dirname "$0")/.."
command_line="bench/run.sh"
for v in BENCH_RUNS BENCH_WARMUP BENCH_ROUNDS BENCH_MODELS BENCH_THREADS BENCH_DOC LOCKSTEP BENCH_CORETYPE; do
  if [ -n "${!v:-}" ]; then command_line="$v=\"${!v}\" $command_line"; fi
done
start=$SECONDS
runs=${BENCH_RUNS:-1000}
warmup=${BENCH_WARMUP:-50}
rounds=${BENCH_ROUNDS:-5}
models=${BENCH_MODELS:-mlp digits resnet18 mobilenet_v2 transformer}
threads=${BENCH_THREADS:-1 2}
doc=${BENCH_DOC:-docs/BENCHMARKS.md}
lockstep=${LOCKSTEP:-build/tools/lockstep}
py=/usr/bin/python3            # Debian's python packages (torch, onnx, numpy) live here only
out=generated/bench
say() {
  printf '%s bench: %s\n' "$(date +%H:%M:%S)" "$*" >&2
  # the 1-minute load average at every step: other processes make the timings noisy
  [ -d "$out" ] && echo "$(date +%H:%M:%S) $(cut -d' ' -f1 /proc/loadavg) $*" >>"$out/steps.txt" || true
}

# ---- what it needs --------------------------------------------------------------------------
scripts/deps.sh
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  say "installing nodejs and npm"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
# onnxruntime-node, pinned in bench/package.json and bench/package-lock.json. Its install
# script would try to download (refused on this network); the CPU library is in the package.
want=$(node -p "require('./bench/package.json').dependencies['onnxruntime-node']")
have=$(node -p "try { require('./bench/node_modules/onnxruntime-node/package.json').version } catch (e) { '' }")
if [ "$have" != "$want" ]; then
  say "installing onnxruntime-node $want into bench/node_modules (npm ci --ignore-scripts)"
  npm ci --ignore-scripts --no-audit --no-fund --prefix bench >/dev/null 2>&1 ||
    npm install --ignore-scripts --no-audit --no-fund --prefix bench onnxruntime-node@"$want" >/dev/null
fi
node -e "const o = require('./bench/node_modules/onnxruntime-node'); if (!o.InferenceSession) process.exit(1)" ||
  { say "onnxruntime-node does not load"; exit 1; }

scripts/build.sh build
[ -x "$lockstep" ] || { say "no $lockstep"; exit 1; }
"$lockstep" bench --help >/dev/null 2>&1 || { say "$lockstep has no 'bench' command"; exit 1; }

mkdir -p generated/models
missing=()
for m in $models; do
  [ -f "generated/models/$m.onnx" ] && [ -f "generated/models/${m}_input.npy" ] || missing+=("$m")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "exporting ${missing[*]}"
  $py examples/export_models.py generated/models --only "${missing[@]}" >/dev/null
fi

rm -rf "$out"
mkdir -p "$out"
# Every step uses this copy of the binary: build/ may be rebuilt while the benchmark runs.
cp "$lockstep" "$out/lockstep"
lockstep_src=$lockstep
lockstep=$out/lockstep
status="$out/status.txt"     # one line per failed step: report.py lists them
: >"$status"
fail() { echo "$*" >>"$status"; say "FAILED: $*"; }

# ---- the machine ----------------------------------------------------------------------------
{
  echo "command: $command_line"
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  # (the report and plot this command writes are not changes to what it measures)
  echo "git: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- . ':!$doc' ':!${doc%/*}/bench_latency.svg' 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "lockstep: $lockstep_src, copied to $lockstep (sha256 $(sha256sum "$lockstep" | cut -c1-16))"
  echo "runs: $runs"
  echo "warmup: $warmup"
  echo "rounds: $rounds"
  echo "kernel: $(uname -r)"
  echo "node: $(node --version)"
  echo "load_before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "openblas_coretype_inherited: ${OPENBLAS_CORETYPE:-(unset)}"
} >"$out/meta.txt"
LC_ALL=C lscpu >"$out/lscpu.txt" 2>/dev/null || true

# ---- roofline: OpenBLAS sgemm ---------------------------------------------------------------
# One process per kernel: a kernel this CPU cannot run (SkylakeX without AVX-512) dies of
# SIGILL. Unless BENCH_CORETYPE is given, every peer then runs with the fastest one.
say "sgemm peak (OpenBLAS)"
# an OPENBLAS_CORETYPE inherited from the environment is not a choice made for this run
unset OPENBLAS_CORETYPE
if [ -n "${BENCH_CORETYPE:-}" ]; then export OPENBLAS_CORETYPE=$BENCH_CORETYPE; fi
cc -O2 bench/sgemm_peak.c -o "$out/sgemm_peak" -lopenblas
if [ -n "${OPENBLAS_CORETYPE:-}" ]; then cores=("$OPENBLAS_CORETYPE"); else cores=(default SkylakeX Cooperlake Haswell Zen); fi
for c in "${cores[@]}"; do
  f="$out/sgemm_$c.json"
  # (in a subshell whose stderr is kept, so that bash's "Illegal instruction" goes there)
  if [ "$c" = default ]; then
    (env -u OPENBLAS_CORETYPE "$out/sgemm_peak" 1 2 >"$f"; exit $?) 2>"$f.err" && rc=0 || rc=$?
  else
    (OPENBLAS_CORETYPE=$c "$out/sgemm_peak" 1 2 >"$f"; exit $?) 2>"$f.err" && rc=0 || rc=$?
  fi
  if [ $rc -ne 0 ]; then
    echo "{\"coretype_env\": \"$c\", \"failed\": true, \"exit_status\": $rc}" >"$f"
    say "  OPENBLAS_CORETYPE=$c: exit status $rc (SIGILL is 132: kernel not supported by this CPU)"
  else
    say "  OPENBLAS_CORETYPE=$c: $($py -c "import json,sys; d=json.load(open(sys.argv[1])); print(d['corename'], d['peak_gflops'], 'GFLOP/s')" "$f")"
  fi
  rm -f "$f.err"
done
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  # the fastest at 1 thread; the default (no variable) unless that is more than 10% faster
  # (the measurements are noisy when other processes run; Debian's OpenBLAS 0.3.21 falls
  # back to Prescott kernels on CPUs it does not know, at a fraction of the speed)
  best=$($py - "$out" <<'EOF'
import glob, json, sys
res = {}
for f in glob.glob(sys.argv[1] + "/sgemm_*.json"):
    d = json.load(open(f))
    if not d.get("failed"):
        res[f.split("sgemm_")[1][:-5]] = d["peak_gflops"]["1"]
best = max(res, key=res.get)
print("default" if res.get("default", 0) >= res[best] / 1.10 else best)
EOF
)
  if [ "$best" != default ]; then export OPENBLAS_CORETYPE=$best; fi
fi
echo "openblas_coretype: ${OPENBLAS_CORETYPE:-default}" >>"$out/meta.txt"

# ---- the machine's own jitter: a fixed busy loop, timed like the models ---------------------
say "jitter of a fixed busy loop"
cc -O2 bench/jitter.c -o "$out/jitter"
"$out/jitter" "$runs" >"$out/jitter.json" 2>>"$out/log.txt" || fail "jitter"
say "every peer runs with OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)}"

# ---- Lockstep's host calibration (cycles -> this CPU's microseconds) ------------------------
# Measured here, in the same run and conditions as the benchmark, unless LOCKSTEP_CALIBRATION
# names one to use.
if [ -n "${LOCKSTEP_CALIBRATION:-}" ]; then
  echo "calibration: $LOCKSTEP_CALIBRATION (given)" >>"$out/meta.txt"
elif "$lockstep" calibrate --help >/dev/null 2>&1; then
  say "lockstep calibrate"
  if "$lockstep" calibrate -o "$out/calibration" >"$out/calibrate.txt" 2>&1; then
    export LOCKSTEP_CALIBRATION=$out/calibration
    echo "calibration: measured in this run (lockstep calibrate -o $out/calibration)" >>"$out/meta.txt"
  else
    fail "lockstep calibrate: $(tail -1 "$out/calibrate.txt")"
  fi
fi

# ---- the models -----------------------------------------------------------------------------
# Per model: its cycle count from the compiler; then per thread count, in rounds, Lockstep
# (fast), ONNX Runtime (with the Identity model) and PyTorch taking turns; then Lockstep once
# in checked mode. A failed step is recorded and the run goes on.
for m in $models; do
  model=generated/models/$m.onnx
  input=generated/models/${m}_input.npy
  "$lockstep" compile "$model" >"$out/${m}_compile.txt" 2>&1 || fail "$m: lockstep compile"
  $py bench/make_identity.py "$input" "$out/${m}_identity.onnx"
  for t in $threads; do
    # in rounds of runs/rounds, the three peers one after another in each, merged after
    # (bench/merge.py): all three sample the same moments of this shared machine
    per=$(((runs + rounds - 1) / rounds))
    ls_r="" ort_r="" torch_r=""
    for r in $(seq "$rounds"); do
      say "$m, $t thread(s), round $r of $rounds: lockstep (fast), onnxruntime, pytorch ($per runs each)"
      "$lockstep" bench "$model" --input "$input" --runs "$per" --warmup "$warmup" --threads "$t" --mode fast \
        --json "$out/${m}_lockstep_fast_t${t}_r$r.json" >"$out/${m}_lockstep_fast_t$t.txt" 2>&1 &&
        ls_r="$ls_r $out/${m}_lockstep_fast_t${t}_r$r.json" ||
        fail "$m T=$t: lockstep bench (fast) exit status $? ($(tail -1 "$out/${m}_lockstep_fast_t$t.txt"))"
      node bench/ort_bench.js --model "$model" --input "$input" --identity "$out/${m}_identity.onnx" \
        --reference "generated/models/${m}_output.npy" --runs "$per" --warmup "$warmup" --threads "$t" \
        --json "$out/${m}_ort_t${t}_r$r.json" 2>>"$out/log.txt" && ort_r="$ort_r $out/${m}_ort_t${t}_r$r.json" ||
        fail "$m T=$t: ort_bench.js"
      $py bench/torch_bench.py "$m" --models generated/models --runs "$per" --warmup "$warmup" --threads "$t" \
        --json "$out/${m}_torch_t${t}_r$r.json" 2>>"$out/log.txt" && torch_r="$torch_r $out/${m}_torch_t${t}_r$r.json" ||
        fail "$m T=$t: torch_bench.py"
    done
    # shellcheck disable=SC2086 # (lists of files)
    { [ -z "$ls_r" ] || $py bench/merge.py "$out/${m}_lockstep_fast_t$t.json" $ls_r; } &&
      { [ -z "$ort_r" ] || $py bench/merge.py "$out/${m}_ort_t$t.json" $ort_r; } &&
      { [ -z "$torch_r" ] || $py bench/merge.py "$out/${m}_torch_t$t.json" $torch_r; } || fail "$m T=$t: merging the rounds"
  done
  say "$m: lockstep (checked mode, 2 runs)"
  "$lockstep" bench "$model" --input "$input" --runs 2 --warmup 0 --threads 1 --mode checked \
    --json "$out/${m}_lockstep_checked.json" >"$out/${m}_lockstep_checked.txt" 2>&1 ||
    fail "$m: lockstep bench (checked) exit status $?"
done
echo "load_after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/meta.txt"
ps -eo pid,pcpu,etime,args --sort=-pcpu | head -8 | cut -c1-160 >"$out/processes_at_end.txt" || true

say "writing $doc"
$py bench/report.py "$out" --doc "$doc"
say "done in $(((SECONDS - start) / 60)) min $(((SECONDS - start) % 60)) s"
