#!/usr/bin/python3
"""End-to-end model tests: real ONNX models from PyTorch, through `lockstep`.

    /usr/bin/python3 tests/test_models.py LOCKSTEP SOURCE_ROOT WORKDIR

Exports the example models with examples/export_models.py (seeded; skipped when WORKDIR
already holds them), then for each model and each target (host, tsp):
  - `lockstep compile` succeeds and states the cycle count;
  - `lockstep run` in fast and in checked mode takes exactly that many cycles, gives
    bit-identical outputs in both modes, and matches PyTorch's output within 1e-4
    relative to the largest output (1e-3 for the transformer);
and the digits CNN classifies every held-out test image as PyTorch does, with the same
accuracy. Then bad input: a file that is not ONNX, a truncated model, an unsupported
operator, an input of the wrong shape or type, a model too big for its target: each
must give a one-line error naming the problem and a non-zero exit, never a crash.
Prints one line per check and "N passed, M failed".
"""

import os
import re
import subprocess
import sys

import numpy as np

MODELS = {"mlp": 1e-4, "cnn": 1e-4, "resnet18": 1e-4, "mobilenet_v2": 1e-4, "transformer": 1e-3, "digits": 1e-4}

passed = failed = 0


def check(ok, what, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok    " + what + (": " + detail if detail else ""))
    else:
        failed += 1
        print("FAIL  " + what + (": " + detail if detail else ""))
    sys.stdout.flush()


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


def cycles_in(text, label):
    m = re.search(label + r"\s+(\d+)", text)
    return int(m.group(1)) if m else None


def export(src, work):
    if all(os.path.exists(os.path.join(work, n + ".onnx")) for n in MODELS) and os.path.exists(
            os.path.join(work, "digits_batch.onnx")):
        return
    r = run(["/usr/bin/python3", os.path.join(src, "examples", "export_models.py"), work])
    if r.returncode != 0:
        print(r.stdout[-3000:], r.stderr[-3000:])
        sys.exit("test_models: exporting the models failed")


def model_checks(tool, work, name, tol):
    onnx_path = os.path.join(work, name + ".onnx")
    x = os.path.join(work, name + "_input.npy")
    ref = np.load(os.path.join(work, name + "_output.npy"))
    for target in ("host", "tsp"):
        prog = os.path.join(work, "%s.%s.lsp" % (name, target))
        r = run([tool, "compile", onnx_path, "-o", prog, "--target", target])
        stated = cycles_in(r.stdout, "cycles:")
        check(r.returncode == 0 and stated, "%s/%s compiles" % (name, target),
              (r.stderr.strip() or "%d cycles" % (stated or 0)))
        if r.returncode != 0:
            continue
        outs = {}
        for mode in ("fast", "checked"):
            out = os.path.join(work, "%s.%s.%s.npy" % (name, target, mode))
            r = run([tool, "run", prog, "--input", x, "-o", out, "--mode", mode])
            ran = cycles_in(r.stdout, r"this run:")
            if r.returncode != 0:
                check(False, "%s/%s runs in %s mode" % (name, target, mode), r.stderr.strip())
                continue
            check(ran == stated, "%s/%s %s run takes the stated cycles" % (name, target, mode),
                  "%s vs %s" % (ran, stated))
            y = np.load(out)
            err = float(np.max(np.abs(y.astype(np.float64) - ref)) / max(np.max(np.abs(ref)), 1e-30))
            check(y.shape == ref.shape and err <= tol, "%s/%s %s matches PyTorch" % (name, target, mode),
                  "max error %.3g relative (limit %g)" % (err, tol))
            outs[mode] = open(out, "rb").read()
        if len(outs) == 2:
            check(outs["fast"] == outs["checked"], "%s/%s fast and checked outputs are bit-identical" % (name, target))


def digits_accuracy(tool, work):
    logits = os.path.join(work, "digits_batch_out.npy")
    r = run([tool, "run", os.path.join(work, "digits_batch.onnx"), "--input",
             os.path.join(work, "digits_test_x.npy"), "-o", logits])
    if r.returncode != 0:
        check(False, "digits: every test image through lockstep", r.stderr.strip())
        return
    y = np.load(os.path.join(work, "digits_test_y.npy"))
    torch_pred = np.load(os.path.join(work, "digits_torch_pred.npy"))
    pred = np.load(logits).argmax(1)
    acc, torch_acc = float((pred == y).mean()), float((torch_pred == y).mean())
    print("digits: lockstep test accuracy %.4f (%d/%d), PyTorch %.4f" % (acc, int((pred == y).sum()), len(y), torch_acc))
    check(acc == torch_acc, "digits: lockstep's test accuracy equals PyTorch's", "%.4f vs %.4f" % (acc, torch_acc))
    check(bool((pred == torch_pred).all()), "digits: the same label as PyTorch for every test image")


def error_checks(tool, work):
    import onnx
    from onnx import TensorProto, helper

    def expect_error(args, want, what):
        r = run([tool] + args)
        lines = [l for l in r.stderr.strip().splitlines() if l]
        ok = r.returncode in (1, 2) and len(lines) == 1 and want in r.stderr and r.returncode < 128
        check(ok, what, "exit %d: %s" % (r.returncode, r.stderr.strip()[:300]))

    junk = os.path.join(work, "junk.onnx")
    with open(junk, "w") as f:
        f.write("this is not a model\n")
    expect_error(["compile", junk], "not an ONNX model", "a file that is not ONNX is refused")
    data = open(os.path.join(work, "mlp.onnx"), "rb").read()
    cut = os.path.join(work, "cut.onnx")
    with open(cut, "wb") as f:
        f.write(data[: len(data) // 3])
    expect_error(["compile", cut], "not an ONNX model", "a truncated model is refused")

    def save(nodes, inputs, outputs, name, inits=()):
        g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
        path = os.path.join(work, name)
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)
        return path

    vi = helper.make_tensor_value_info
    p = save([helper.make_node("NonZero", ["x"], ["y"], name="find_them")], [vi("x", TensorProto.FLOAT, [4])],
             [vi("y", TensorProto.INT64, None)], "unsupported.onnx")
    expect_error(["compile", p], "node find_them: unsupported operator NonZero (opset 13)",
                 "an unsupported operator is named with its node and opset")
    mlp = os.path.join(work, "mlp.onnx")
    bad = os.path.join(work, "bad_shape.npy")
    np.save(bad, np.zeros((1, 10), np.float32))
    expect_error(["run", mlp, "--input", bad], "must be f32 [1,784], the file holds f32 [1,10]",
                 "an input of the wrong shape is refused")
    np.save(bad, np.zeros((1, 784), np.float64))
    expect_error(["run", mlp, "--input", bad], "must be f32 [1,784], the file holds f64 [1,784]",
                 "an input of the wrong type is refused")
    expect_error(["compile", mlp, "--set", "sram=65536"], "mlp.onnx: the model needs 944832 bytes of SRAM",
                 "a model that does not fit the target is refused")


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    tool, src, work = sys.argv[1:]
    os.makedirs(work, exist_ok=True)
    export(src, work)
    for name, tol in MODELS.items():
        model_checks(tool, work, name, tol)
    digits_accuracy(tool, work)
    error_checks(tool, work)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
