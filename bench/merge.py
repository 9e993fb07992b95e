#!/usr/bin/python3
"""merge.py - one measurement from several rounds of the same peer (bench/run.sh).

    /usr/bin/python3 bench/merge.py OUT.json ROUND1.json ROUND2.json ...

bench/run.sh measures the peers of a model in rounds, Lockstep, ONNX Runtime and PyTorch
one after another in each, so that all three sample the same moments of this shared
machine: a busy minute slows each of them, not one. This writes the rounds of one peer as
if they were one run: the per-run samples concatenated (in round order) and the latency
statistics recomputed from them (the percentile of `lockstep bench`, ort_bench.js and
torch_bench.py: linear between the two nearest ranks). For ONNX Runtime the Identity
model's samples are merged the same way and its median subtracted again; PyTorch's
composite transformer path too. Outputs count as identical only if every round says so
and all rounds hashed the same bytes. Everything else is the first round's.
"""

import json
import sys

from latency import stats  # (bench/, beside this script)


def merge_part(parts):
    """the samples, statistics, identical flag and hash of a list of dicts of one kind"""
    out = dict(parts[0])
    samples = [x for p in parts for x in p.get("samples_us", [])]
    if samples:
        out["samples_us"] = samples
        out["latency_us"] = stats(samples)
    hashes = {p.get("output_hash") for p in parts}
    out["identical"] = all(p.get("identical") for p in parts) and len(hashes) == 1
    if "runs" in out:
        out["runs"] = sum(p.get("runs", 0) for p in parts)
    return out


def merge(rounds):
    out = merge_part(rounds)
    out["rounds"] = len(rounds)
    if all("identity" in r for r in rounds):  # ONNX Runtime: its per-call overhead again
        out["identity"] = merge_part([r["identity"] for r in rounds])
        ovh = out["identity"]["latency_us"]["p50"]
        out["overhead_us"] = ovh
        out["latency_minus_overhead_us"] = {k: round(v - ovh, 3) for k, v in out["latency_us"].items() if k != "std"}
    if all(isinstance(r.get("composite"), dict) for r in rounds):  # PyTorch's composite transformer path
        out["composite"] = merge_part([r["composite"] for r in rounds])
    if "flops" in out and out.get("latency_us", {}).get("p50"):  # Lockstep's GFLOP/s at the new median
        out["gflops"] = round(out["flops"] / out["latency_us"]["p50"] / 1e3, 4)
    if "cycles_every_run_equal" in out:
        cycles = {r.get("cycles") for r in rounds}
        out["cycles_every_run_equal"] = all(r.get("cycles_every_run_equal") for r in rounds) and len(cycles) == 1
    return out


def main(argv):
    if len(argv) < 3 or argv[1] in ("-h", "--help"):
        sys.stderr.write(__doc__)
        return 2 if len(argv) < 3 else 0
    rounds = []
    for path in argv[2:]:
        try:
            with open(path) as f:
                rounds.append(json.load(f))
        except (OSError, ValueError) as e:
            sys.stderr.write("merge.py: %s: %s\n" % (path, e))
            return 1
    with open(argv[1], "w") as f:
        json.dump(merge(rounds), f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
