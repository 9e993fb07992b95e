#!/usr/bin/python3
"""Time one example model in PyTorch: the nn.Module itself, rebuilt as the exporter built it.

    /usr/bin/python3 bench/torch_bench.py NAME --models generated/models [--runs 1000]
        [--warmup 50] [--threads 1] [--json OUT.json]

The module comes from examples/export_models.py's own builder with the model's own seed
(for digits that retrains it: 15 epochs, a few seconds; the side files it writes go to a
temporary directory), on one thread with deterministic algorithms, exactly as the
exporter ran it; its output on NAME_input.npy is then compared with the exporter's
NAME_output.npy, so the module timed is the one that was exported.

Timing: eval mode, torch.no_grad(), torch.set_num_threads(THREADS) (interop threads 1),
deterministic algorithms off again (PyTorch's default), each run one forward call timed
with time.perf_counter_ns(); the output bytes of every run (warm-up included) are hashed
(SHA-256, outside the timed region) and compared with the first. Under no_grad the
transformer takes PyTorch's fused inference fast path (aten::_transformer_encoder_layer_fwd),
not the composite ops the ONNX graph was exported from; for the transformer the composite
path is timed as well (autograd on, as the exporter ran it) and reported as "composite".
Eager PyTorch does not fold BatchNorm into the convolutions as the ONNX export did.
Prints (with --json writes) JSON with the same latency fields as `lockstep bench`.
"""

import argparse
import contextlib
import hashlib
import importlib.util
import io
import json
import os
import sys
import tempfile
import time

import numpy as np
import torch

from latency import stats  # (bench/, beside this script)

HERE = os.path.dirname(os.path.abspath(__file__))
EXPORTER = os.path.join(HERE, "..", "examples", "export_models.py")


def load_exporter():
    spec = importlib.util.spec_from_file_location("export_models", EXPORTER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def time_module(model, x, runs, warmup, grad):
    samples = []
    first, identical, y = None, True, None
    with torch.set_grad_enabled(grad):
        for r in range(-warmup, runs):
            t0 = time.perf_counter_ns()
            y = model(x)
            t1 = time.perf_counter_ns()
            h = hashlib.sha256(y.detach().numpy().tobytes()).hexdigest()
            if first is None:
                first = h
            elif h != first:
                identical = False
            if r >= 0:
                samples.append((t1 - t0) / 1000.0)
    return samples, identical, first, y.detach().numpy()


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("name")
    ap.add_argument("--models", default=os.path.join(HERE, "..", "generated", "models"))
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json")
    a = ap.parse_args(argv)

    ex = load_exporter()
    if a.name not in ex.MODELS:
        sys.exit("torch_bench.py: unknown model %s (%s)" % (a.name, ", ".join(ex.MODELS)))
    builder, seed = ex.MODELS[a.name]

    # Build exactly as export_models.main / export_one do.
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    t_build = time.time()
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        ex.seed_all(seed)
        model, _, extra = builder(seed, tmp)
    model.eval()
    t_build = time.time() - t_build
    composite = bool(extra.get("_reference_with_grad", False))

    x_np = np.load(os.path.join(a.models, a.name + "_input.npy"))
    ref = np.load(os.path.join(a.models, a.name + "_output.npy"))
    x = torch.from_numpy(x_np.copy())
    with torch.set_grad_enabled(composite):
        y_ref = model(x).detach().numpy()
    rebuild_diff = float(np.abs(y_ref - ref).max())

    torch.use_deterministic_algorithms(False)
    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # only settable before any inter-op work has started

    samples, identical, h, y = time_module(model, x, a.runs, a.warmup, grad=False)
    out = {
        "runtime": "pytorch",
        "version": torch.__version__,
        "model": a.name,
        "threads": a.threads,
        "torch_num_threads": torch.get_num_threads(),
        "path": "eval, torch.no_grad()" + (" (fused transformer fast path)" if composite else ""),
        "runs": a.runs,
        "warmup": a.warmup,
        "build_seconds": round(t_build, 2),
        "rebuilt_output_max_abs_diff": rebuild_diff,
        "rebuilt_output_bit_identical": bool(rebuild_diff == 0.0 and y_ref.shape == ref.shape),
        "max_abs_diff_vs_reference": float(np.abs(y - ref).max()),
        "latency_us": stats(samples),
        "identical": identical,
        "output_hash": h,
    }
    if composite:
        cs, cid, ch, cy = time_module(model, x, a.runs, a.warmup, grad=True)
        out["composite"] = {
            "path": "eval, autograd on: the composite ops the ONNX graph was exported from",
            "latency_us": stats(cs), "identical": cid, "output_hash": ch,
            "max_abs_diff_vs_reference": float(np.abs(cy - ref).max()),
            "samples_us": [round(v, 3) for v in cs],
        }
    out["samples_us"] = [round(v, 3) for v in samples]
    text = json.dumps(out)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    lat = out["latency_us"]
    sys.stderr.write("torch %s T=%d: p50 %.1f us p99 %.1f us, identical %s, rebuilt model matches the export: %s (max diff %.3g)\n"
                     % (a.name, a.threads, lat["p50"], lat["p99"], identical, out["rebuilt_output_bit_identical"], rebuild_diff))


if __name__ == "__main__":
    main(sys.argv[1:])
