#!/usr/bin/python3
"""bench/merge.py: rounds of one peer merged as one run, checked against numpy.

    /usr/bin/python3 tests/test_bench_merge.py SOURCE_ROOT WORKDIR

Two rounds of ONNX Runtime (with its Identity model) and two of Lockstep, written as the
bench scripts write them: the merged median must be numpy's median of all the samples, the
overhead subtracted again from the merged Identity median, Lockstep's GFLOP/s recomputed at
the new median, and outputs identical only when every round hashed the same bytes.
"""

import json
import os
import subprocess
import sys

import numpy as np

src, work = sys.argv[1], sys.argv[2]
os.makedirs(work, exist_ok=True)
merge = os.path.join(src, "bench", "merge.py")
failed = 0


def check(ok, what):
    global failed
    print(("ok    " if ok else "FAIL  ") + what)
    failed += not ok


def write(name, d):
    path = os.path.join(work, name)
    with open(path, "w") as f:
        json.dump(d, f)
    return path


def run(out, *inputs):
    r = subprocess.run(["/usr/bin/python3", merge, out] + list(inputs), capture_output=True, text=True)
    check(r.returncode == 0, "merge.py %s exits 0 (%s)" % (os.path.basename(out), r.stderr.strip()))
    with open(out) as f:
        return json.load(f)


rng = np.random.default_rng(7)
a, b = list(rng.uniform(100, 200, 101)), list(rng.uniform(150, 400, 60))  # two rounds, the second slower
ia, ib = list(rng.uniform(10, 20, 101)), list(rng.uniform(10, 30, 60))
ort = [{"runtime": "onnxruntime-node", "runs": len(s), "samples_us": s, "identical": True, "output_hash": "h",
        "latency_us": {}, "identity": {"samples_us": i, "identical": True, "output_hash": "z"}}
       for s, i in ((a, ia), (b, ib))]
m = run(os.path.join(work, "ort.json"), write("ort1.json", ort[0]), write("ort2.json", ort[1]))
p50, ovh = float(np.median(a + b)), float(np.median(ia + ib))
check(abs(m["latency_us"]["p50"] - p50) < 1e-3, "ONNX Runtime: the median of every round's samples (%s, numpy %s)"
      % (m["latency_us"]["p50"], p50))
check(abs(m["latency_us"]["p99"] - float(np.percentile(a + b, 99))) < 1e-3, "ONNX Runtime: p99 as numpy's")
check(abs(m["overhead_us"] - ovh) < 1e-3 and abs(m["latency_minus_overhead_us"]["p50"] - (p50 - ovh)) < 2e-3,
      "ONNX Runtime: the merged Identity median subtracted (%s)" % m["overhead_us"])
check(m["runs"] == 161 and m["rounds"] == 2 and len(m["samples_us"]) == 161 and m["identical"],
      "ONNX Runtime: 161 runs in 2 rounds, outputs identical")
ls = [{"runs": len(s), "samples_us": s, "identical": True, "output_hash": hsh, "flops": 1e6, "gflops": 0,
       "cycles": 100, "cycles_every_run_equal": True, "latency_us": {}} for s, hsh in ((a, "x"), (b, "y"))]
m = run(os.path.join(work, "ls.json"), write("ls1.json", ls[0]), write("ls2.json", ls[1]))
check(abs(m["gflops"] - 1e6 / p50 / 1e3) < 1e-3, "Lockstep: GFLOP/s at the merged median")
check(not m["identical"], "Lockstep: rounds that hashed different bytes are not identical")
check(m["cycles_every_run_equal"], "Lockstep: the same cycles in every round")
r = subprocess.run(["/usr/bin/python3", merge, os.path.join(work, "x.json"), os.path.join(work, "missing.json")],
                   capture_output=True, text=True)
check(r.returncode == 1 and "missing.json" in r.stderr, "a missing round is an error naming the file")
print("%d failed" % failed)
sys.exit(1 if failed else 0)
