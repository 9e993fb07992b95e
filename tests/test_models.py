#!/usr/bin/python3
"""End-to-end model tests: real ONNX models from PyTorch, through `lockstep`.

    /usr/bin/python3 tests/test_models.py LOCKSTEP SOURCE_ROOT WORKDIR

Exports the example models with examples/export_models.py (seeded; skipped when WORKDIR
already holds them), then for each model and each target (host, tsp):
  - `lockstep compile` succeeds and states the cycle count (for MobileNetV2, no more than
    its banded GEMMs take);
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
        if name == "mobilenet_v2":  # its 1x1 convolutions over 12,544 pixels go in bands of
            # 1,024 rows, spread over the MXM planes (74,191 / 65,432 cycles in one GEMM each)
            bound = {"host": 50000, "tsp": 42000}[target]
            check(stated <= bound, "%s/%s: long 1x1 convolutions run in bands" % (name, target),
                  "%d cycles, at most %d" % (stated, bound))
            # the three expansions whose phase images are at most 1/8 larger than their image
            # are written there by their GEMM: their outputs (4.8, 1.8, 1.8 MB) need no buffer
            # (42.4 MB with them, on host; 45.4 MB on tsp)
            m = re.search(r"arena:\s+(\d+) bytes", r.stdout)
            arena = int(m.group(1)) if m else 0
            check(0 < arena <= 40 * 2**20, "%s/%s: expansions go straight into phase images" % (name, target),
                  "arena %d bytes, at most %d" % (arena, 40 * 2**20))
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


def operator_checks(tool, work):
    """One-operator models against NumPy references written here, for the operators the
    example models do not exercise (or exercise only in one form)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(7)
    vi = helper.make_tensor_value_info
    F = TensorProto.FLOAT

    def case(name, nodes, inputs, want, inits=(), out_type=F, tol=1e-5):
        """inputs: {name: array}; want: the expected output (NumPy, computed independently)"""
        g = helper.make_graph(nodes, name, [vi(k, F if v.dtype == np.float32 else TensorProto.INT64, list(v.shape))
                                            for k, v in inputs.items()],
                              [vi("y", out_type, list(want.shape))], [numpy_helper.from_array(v, k) for k, v in inits])
        path = os.path.join(work, "op_%s.onnx" % name)
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)
        args = [tool, "run", path, "-o", os.path.join(work, "op_%s_y.npy" % name)]
        for k, v in inputs.items():
            f = os.path.join(work, "op_%s_%s.npy" % (name, k))
            np.save(f, v)
            args += ["--input", "%s=%s" % (k, f)]
        for mode in ("fast", "checked"):
            r = run(args + ["--mode", mode])
            if r.returncode != 0:
                check(False, "operator %s (%s)" % (name, mode), r.stderr.strip())
                continue
            y = np.load(os.path.join(work, "op_%s_y.npy" % name))
            err = float(np.max(np.abs(y.astype(np.float64) - want)) / max(np.max(np.abs(want)), 1e-30)) if want.size else 0.0
            check(y.shape == want.shape and err <= tol, "operator %s (%s)" % (name, mode), "max error %.3g relative" % err)

    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    case("leaky_relu", [helper.make_node("LeakyRelu", ["x"], ["y"], alpha=0.1)], {"x": x}, np.where(x < 0, 0.1 * x, x))

    x = rng.standard_normal((1, 3, 4, 5)).astype(np.float32)
    gam, bet = rng.uniform(0.5, 1.5, 3).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    mean, var = rng.standard_normal(3).astype(np.float32), rng.uniform(0.5, 2, 3).astype(np.float32)
    bn = lambda v: ((v - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5) * gam[None, :, None, None]
                    + bet[None, :, None, None])
    bn_inits = [("g", gam), ("b", bet), ("m", mean), ("v", var)]
    case("batchnorm", [helper.make_node("BatchNormalization", ["x", "g", "b", "m", "v"], ["y"])], {"x": x}, bn(x), bn_inits)
    w = rng.standard_normal((3, 3, 3, 3)).astype(np.float32)
    conv = np.zeros((1, 3, 4, 5))
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    for o in range(3):
        for i in range(4):
            for j in range(5):
                conv[0, o, i, j] = np.sum(xp[0, :, i:i + 3, j:j + 3] * w[o])
    case("conv_batchnorm_folded", [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
                                   helper.make_node("BatchNormalization", ["c", "g", "b", "m", "v"], ["y"])],
         {"x": x}, bn(conv), bn_inits + [("w", w)])

    a, b = rng.standard_normal((1, 2, 3)).astype(np.float32), rng.standard_normal((1, 4, 3)).astype(np.float32)
    k = rng.standard_normal((1, 1, 3)).astype(np.float32)
    case("concat", [helper.make_node("Concat", ["a", "k", "b"], ["y"], axis=1)], {"a": a, "b": b},
         np.concatenate([a, k, b], axis=1), [("k", k)])

    x = rng.standard_normal((2, 5)).astype(np.float32)
    case("split", [helper.make_node("Split", ["x", "s"], ["p", "y"], axis=1)], {"x": x}, x[:, 2:],
         [("s", np.array([2, 3], np.int64))])

    x = rng.standard_normal((3, 1)).astype(np.float32)
    case("expand", [helper.make_node("Expand", ["x", "s"], ["y"])], {"x": x}, np.broadcast_to(x, (2, 3, 4)),
         [("s", np.array([2, 3, 4], np.int64))])

    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    case("softmax_axis1", [helper.make_node("Softmax", ["x"], ["y"], axis=1)], {"x": x}, e / e.sum(axis=1, keepdims=True))
    case("reduce_sum", [helper.make_node("ReduceSum", ["x", "ax"], ["y"], keepdims=0)], {"x": x}, x.sum(axis=(0, 2)),
         [("ax", np.array([0, 2], np.int64))])
    case("transpose", [helper.make_node("Transpose", ["x"], ["y"], perm=[2, 0, 1])], {"x": x}, x.transpose(2, 0, 1))
    case("gather", [helper.make_node("Gather", ["x", "i"], ["y"], axis=2)], {"x": x}, x[:, :, [3, 0, -1]],
         [("i", np.array([3, 0, -1], np.int64))])
    c = rng.standard_normal((4,)).astype(np.float32)
    case("where_greater", [helper.make_node("Greater", ["x", "c"], ["m"]), helper.make_node("Where", ["m", "x", "c"], ["y"])],
         {"x": x}, np.where(x > c, x, c), [("c", c)])

    x = rng.standard_normal((1, 2, 5, 5)).astype(np.float32)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    cnt = np.pad(np.ones((5, 5)), 1)
    avg = np.zeros((1, 2, 3, 3))
    for i in range(3):
        for j in range(3):
            avg[0, :, i, j] = xp[0, :, 2 * i:2 * i + 3, 2 * j:2 * j + 3].sum(axis=(1, 2)) / cnt[2 * i:2 * i + 3, 2 * j:2 * j + 3].sum()
    case("average_pool_padded", [helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2],
                                                  pads=[1, 1, 1, 1])], {"x": x}, avg)


def compiler_checks(tool, work):
    """--bind, the passes that remove nodes, a dilated convolution, and --emit-asm."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    vi = helper.make_tensor_value_info
    rng = np.random.default_rng(11)
    # --bind: a shape that is an input, fixed at compile time
    g = helper.make_graph([helper.make_node("Reshape", ["x", "shape"], ["r"]), helper.make_node("Relu", ["r"], ["y"])],
                          "bind", [vi("x", TensorProto.FLOAT, [2, 6]), vi("shape", TensorProto.INT64, [2])],
                          [vi("y", TensorProto.FLOAT, None)])
    path = os.path.join(work, "bind.onnx")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)
    x = rng.standard_normal((2, 6)).astype(np.float32)
    np.save(os.path.join(work, "bind_x.npy"), x)
    np.save(os.path.join(work, "bind_shape.npy"), np.array([3, 4], np.int64))
    out = os.path.join(work, "bind_y.npy")
    r = run([tool, "run", path, "--bind", "shape=" + os.path.join(work, "bind_shape.npy"), "--input",
             "x=" + os.path.join(work, "bind_x.npy"), "-o", out])
    ok = r.returncode == 0 and np.array_equal(np.load(out), np.maximum(x.reshape(3, 4), 0))
    check(ok, "--bind fixes a shape input at compile time", r.stderr.strip())
    r = run([tool, "compile", path])
    check(r.returncode != 0 and "input shape" in r.stderr and "must be a constant" in r.stderr,
          "without --bind, a shape input is an error that names it", r.stderr.strip())

    # Identity and Dropout are removed, Relu fused: one operator left to lower
    w = rng.standard_normal((4, 3)).astype(np.float32)
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["i"]), helper.make_node("Dropout", ["i"], ["d"]),
                           helper.make_node("MatMul", ["d", "w"], ["m"]), helper.make_node("Relu", ["m"], ["y"])],
                          "simplify", [vi("x", TensorProto.FLOAT, [2, 4])], [vi("y", TensorProto.FLOAT, [2, 3])],
                          [numpy_helper.from_array(w, "w")])
    path = os.path.join(work, "simplify.onnx")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)
    r = run([tool, "compile", path])
    check(r.returncode == 0 and "(4 nodes; 1 to lower" in r.stdout and "operators:    MatMul 1" in r.stdout,
          "Identity and Dropout dropped, Relu fused into MatMul", r.stdout.strip().splitlines()[0] if r.stdout else r.stderr)
    xs = rng.standard_normal((2, 4)).astype(np.float32)
    np.save(os.path.join(work, "simplify_x.npy"), xs)
    out = os.path.join(work, "simplify_y.npy")
    r = run([tool, "run", path, "--input", os.path.join(work, "simplify_x.npy"), "-o", out])
    want = np.maximum(xs.astype(np.float64) @ w, 0)
    check(r.returncode == 0 and np.max(np.abs(np.load(out) - want)) < 1e-5, "... and computes the same", r.stderr.strip())

    # Pow with a constant exponent 2 becomes x*x (one Mul to lower); a Pow by 3 stays a Pow
    x = rng.standard_normal((3, 50)).astype(np.float32)
    np.save(os.path.join(work, "pow_x.npy"), x)
    for e, op in ((2.0, "Mul"), (3.0, "Pow")):
        g = helper.make_graph([helper.make_node("Pow", ["x", "e"], ["y"])], "pow", [vi("x", TensorProto.FLOAT, [3, 50])],
                              [vi("y", TensorProto.FLOAT, [3, 50])], [numpy_helper.from_array(np.array(e, np.float32), "e")])
        path = os.path.join(work, "pow%d.onnx" % e)
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)
        r = run([tool, "compile", path])
        out = os.path.join(work, "pow%d_y.npy" % e)
        r2 = run([tool, "run", path, "--input", os.path.join(work, "pow_x.npy"), "-o", out])
        want = x.astype(np.float64) ** e
        err = np.max(np.abs(np.load(out) - want) / np.maximum(np.abs(want), 1e-30)) if r2.returncode == 0 else 1
        check("operators:    %s 1" % op in r.stdout and err < 1e-6, "Pow by %g is lowered as %s" % (e, op),
              "relative error %.3g; %s %s" % (err, [l for l in r.stdout.splitlines() if "operators" in l], r2.stderr.strip()))

    # a dilated, strided, grouped convolution against a direct loop
    x = rng.standard_normal((1, 4, 9, 9)).astype(np.float32)
    w = rng.standard_normal((6, 2, 3, 3)).astype(np.float32)
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (2, 2), (2, 2)))
    want = np.zeros((1, 6, 5, 5))
    for o in range(6):
        grp = o // 3
        for i in range(5):
            for j in range(5):
                win = xp[0, 2 * grp:2 * grp + 2, 2 * i:2 * i + 5:2, 2 * j:2 * j + 5:2]
                want[0, o, i, j] = np.sum(win * w[o])
    g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], dilations=[2, 2], strides=[2, 2], pads=[2, 2, 2, 2],
                                            group=2)], "dil", [vi("x", TensorProto.FLOAT, [1, 4, 9, 9])],
                          [vi("y", TensorProto.FLOAT, [1, 6, 5, 5])], [numpy_helper.from_array(w, "w")])
    path = os.path.join(work, "dilated.onnx")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)
    np.save(os.path.join(work, "dilated_x.npy"), x)
    out = os.path.join(work, "dilated_y.npy")
    r = run([tool, "run", path, "--input", os.path.join(work, "dilated_x.npy"), "-o", out])
    err = np.max(np.abs(np.load(out) - want)) / np.max(np.abs(want)) if r.returncode == 0 else 1
    check(err < 1e-5, "a dilated, strided, grouped convolution", "max error %.3g relative %s" % (err, r.stderr.strip()))

    # depthwise convolutions (one channel per group: channels on lanes, phase images for
    # stride 2) against a direct loop in double: channel counts below, not dividing and
    # above the 256 lanes, strides 1 and 2, odd padding, 3x3, 5x5 and 7x7 (partial sums
    # through one and two temporaries: 15 taps a group on host), with and without bias, two
    # images, and a fused Clip (ReLU6)
    for ci, (C, H, W, k, st, pads, bias, clip) in enumerate(((8, 9, 7, 3, 1, (1, 1, 1, 1), True, False),
                                                            (96, 12, 12, 3, 2, (1, 1, 1, 1), True, True),
                                                            (300, 6, 5, 3, 1, (1, 1, 1, 1), False, False),
                                                            (5, 11, 10, 5, 2, (2, 1, 0, 2), True, False),
                                                            (3, 4, 300, 3, 1, (0, 1, 0, 1), True, False),
                                                            (4, 9, 9, 7, 1, (3, 3, 3, 3), True, True))):
        x = rng.standard_normal((2, C, H, W)).astype(np.float32)
        w = rng.standard_normal((C, 1, k, k)).astype(np.float32)
        b = rng.standard_normal(C).astype(np.float32)
        xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
        Ho, Wo = (xp.shape[2] - k) // st + 1, (xp.shape[3] - k) // st + 1
        want = np.zeros((2, C, Ho, Wo))
        for ky in range(k):
            for kx in range(k):
                want += xp[:, :, ky:ky + st * (Ho - 1) + 1:st, kx:kx + st * (Wo - 1) + 1:st] * w[None, :, 0, ky, kx, None, None]
        if bias:
            want += b[None, :, None, None]
        nodes = [helper.make_node("Conv", ["x", "w", "b"] if bias else ["x", "w"], ["c" if clip else "y"],
                                  strides=[st, st], pads=list(pads), group=C, kernel_shape=[k, k])]
        inits = [numpy_helper.from_array(w, "w")] + ([numpy_helper.from_array(b, "b")] if bias else [])
        if clip:
            nodes.append(helper.make_node("Clip", ["c", "lo", "hi"], ["y"]))
            inits += [numpy_helper.from_array(np.array(0, np.float32), "lo"), numpy_helper.from_array(np.array(6, np.float32), "hi")]
            want = np.clip(want, 0, 6)
        g = helper.make_graph(nodes, "dw", [vi("x", TensorProto.FLOAT, list(x.shape))],
                              [vi("y", TensorProto.FLOAT, list(want.shape))], inits)
        path = os.path.join(work, "dw%d.onnx" % ci)
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)
        np.save(os.path.join(work, "dw_x.npy"), x)
        for mode in ("fast", "checked"):
            out = os.path.join(work, "dw_y_%s.npy" % mode)
            r = run([tool, "run", path, "--input", os.path.join(work, "dw_x.npy"), "-o", out, "--mode", mode])
            err = np.max(np.abs(np.load(out) - want)) / np.max(np.abs(want)) if r.returncode == 0 else 1
            check(err < 1e-5, "a depthwise %dx%d convolution, %d channels, stride %d (%s)" % (k, k, C, st, mode),
                  "max error %.3g relative %s" % (err, r.stderr.strip()))

    def save_and_compile(g, name, x):
        """the model and its input saved as NAME.onnx and NAME_x.npy, compiled with --emit-asm:
        (model path, the row counts of its MM instructions, the compile's result)"""
        path = os.path.join(work, name + ".onnx")
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)
        np.save(os.path.join(work, name + "_x.npy"), x)
        lsa = os.path.join(work, name + ".lsa")
        r = run([tool, "compile", path, "-o", os.path.join(work, name + ".lsp"), "--emit-asm", lsa])
        rows = set(re.findall(r"\bmm\.f32 [^\n]*\bn=(\d+)", open(lsa).read())) if r.returncode == 0 else set()
        return path, rows, r

    # channels-last regions: 1x1 and depthwise convolutions, and the Adds between them, keep
    # their tensors NHWC (a 1x1 convolution is then one GEMM of every pixel of both images:
    # an MM of 162 or 50 rows); the edges to NCHW tensors (the graph's input and outputs, an
    # Add with the input) in every combination, against a direct computation in double
    def conv(x, w, b, st, pad, groups):
        xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        M, cg, k = w.shape[0], w.shape[1], w.shape[2]
        Ho, Wo = (xp.shape[2] - k) // st + 1, (xp.shape[3] - k) // st + 1
        y = np.zeros((x.shape[0], M, Ho, Wo))
        for m in range(M):
            g0 = (m // (M // groups)) * cg
            for ky in range(k):
                for kx in range(k):
                    win = xp[:, g0:g0 + cg, ky:ky + st * (Ho - 1) + 1:st, kx:kx + st * (Wo - 1) + 1:st]
                    y[:, m] += np.einsum("nchw,c->nhw", win, w[m, :, ky, kx])
        return y + (b[None, :, None, None] if b is not None else 0)

    x = rng.standard_normal((2, 8, 9, 9)).astype(np.float32)
    ws = {"wa": (8, 1, 3), "w1": (24, 8, 1), "w2": (24, 1, 3), "w3": (8, 24, 1), "w4": (16, 8, 1), "w5": (16, 1, 3),
          "w6": (16, 16, 1), "w7": (12, 16, 1), "wz": (16, 1, 3)}
    W = {k: (rng.standard_normal((m, c, s, s)) * 0.5).astype(np.float32) for k, (m, c, s) in ws.items()}
    B = {k: rng.standard_normal(ws[k][0]).astype(np.float32) for k in ws}
    specs = (("wa", "x", "ta", 1, 1, 8, False), ("w1", "ta", "t1", 1, 0, 1, True), ("w2", "t1", "t2", 1, 1, 24, True),
             ("w3", "t2", "t3", 1, 0, 1, False), ("w4", "r", "t4", 1, 0, 1, True), ("w5", "t4", "t5", 2, 1, 16, True),
             ("w6", "t5", "t6", 1, 0, 1, False), ("w7", "a", "y", 1, 0, 1, False), ("wz", "a", "z", 1, 1, 16, False))
    nodes, inits, vals = [], [], {"x": x.astype(np.float64)}
    for wk, src, dst, st, pad, grp, clip in specs:
        k = ws[wk][2]
        out = dst + "c" if clip else dst
        nodes.append(helper.make_node("Conv", [src, wk, "b" + wk], [out], strides=[st, st], pads=[pad] * 4, group=grp,
                                      kernel_shape=[k, k]))
        inits += [numpy_helper.from_array(W[wk], wk), numpy_helper.from_array(B[wk], "b" + wk)]
        v = conv(vals[src], W[wk].astype(np.float64), B[wk].astype(np.float64), st, pad, grp)
        if clip:
            nodes.append(helper.make_node("Clip", [out, "lo", "hi"], [dst]))
            v = np.clip(v, 0, 6)
        vals[dst] = v
        if dst == "t3":
            nodes.append(helper.make_node("Add", ["t3", "x"], ["r"]))
            vals["r"] = vals["t3"] + vals["x"]
        if dst == "t6":
            nodes.append(helper.make_node("Add", ["t6", "t5"], ["a"]))
            vals["a"] = vals["t6"] + vals["t5"]
    inits += [numpy_helper.from_array(np.array(0, np.float32), "lo"), numpy_helper.from_array(np.array(6, np.float32), "hi")]
    g = helper.make_graph(nodes, "nhwc", [vi("x", TensorProto.FLOAT, list(x.shape))],
                          [vi("y", TensorProto.FLOAT, list(vals["y"].shape)), vi("z", TensorProto.FLOAT, list(vals["z"].shape))],
                          inits)
    path, rows, r = save_and_compile(g, "nhwc", x)
    errs = []
    for mode in ("fast", "checked"):
        outs = {o: os.path.join(work, "nhwc_%s_%s.npy" % (o, mode)) for o in "yz"}
        r2 = run([tool, "run", path, "--input", os.path.join(work, "nhwc_x.npy"), "--mode", mode] +
                 sum([["-o", "%s=%s" % (o, f)] for o, f in outs.items()], []))
        for o, f in outs.items():
            errs.append(np.max(np.abs(np.load(f) - vals[o])) / np.max(np.abs(vals[o])) if r2.returncode == 0 else 1)
    check(max(errs) < 1e-5 and {"162", "50"} <= rows, "channels-last 1x1 and depthwise convolutions, every edge",
          "max error %.3g relative; MM rows %s %s" % (max(errs), sorted(rows), (r.stderr + r2.stderr).strip()))

    # channels-last regions of ResNet's kind: a 7x7 stride-2 convolution from the NCHW input,
    # a max pool, 3x3 convolutions (one of stride 2) as GEMMs over im2col rows of channels,
    # a residual Add, a 1x1 stride-2 convolution and a global average pool read NHWC; two
    # images of 20 x 20 (gather lengths that are not whole vectors)
    def maxpool_pads(v, k, st, pads):
        """max pooling in double, pads (top, left, bottom, right) of -inf"""
        vp = np.pad(v, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])), constant_values=-np.inf)
        Ho, Wo = (vp.shape[2] - k) // st + 1, (vp.shape[3] - k) // st + 1
        out = np.full((v.shape[0], v.shape[1], Ho, Wo), -np.inf)
        for ky in range(k):
            for kx in range(k):
                out = np.maximum(out, vp[:, :, ky:ky + st * (Ho - 1) + 1:st, kx:kx + st * (Wo - 1) + 1:st])
        return out

    maxpool = lambda v, k, st, pad: maxpool_pads(v, k, st, [pad] * 4)

    x = rng.standard_normal((2, 3, 20, 20)).astype(np.float32)
    ws = {"r1": (8, 3, 7), "r2": (8, 8, 3), "r3": (8, 8, 3), "r4": (16, 8, 3), "r5": (16, 8, 1)}
    W = {k: (rng.standard_normal((m, c, s, s)) * 0.3).astype(np.float32) for k, (m, c, s) in ws.items()}
    B = {k: rng.standard_normal(ws[k][0]).astype(np.float32) for k in ws}
    inits = sum([[numpy_helper.from_array(W[k], k), numpy_helper.from_array(B[k], "b" + k)] for k in ws], [])
    cv = lambda v, k, st, pad: conv(v, W[k].astype(np.float64), B[k].astype(np.float64), st, pad, 1)
    mk = lambda k, src, dst, st, pad: helper.make_node("Conv", [src, k, "b" + k], [dst], strides=[st, st], pads=[pad] * 4,
                                                       kernel_shape=[ws[k][2]] * 2)
    nodes = [mk("r1", "x", "c1", 2, 3), helper.make_node("Relu", ["c1"], ["a1"]),
             helper.make_node("MaxPool", ["a1"], ["p1"], kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4),
             mk("r2", "p1", "c2", 1, 1), helper.make_node("Relu", ["c2"], ["a2"]), mk("r3", "a2", "c3", 1, 1),
             helper.make_node("Add", ["c3", "p1"], ["s3"]), helper.make_node("Relu", ["s3"], ["a3"]),
             mk("r4", "a3", "c4", 2, 1), mk("r5", "a3", "c5", 2, 0), helper.make_node("Add", ["c4", "c5"], ["s4"]),
             helper.make_node("GlobalAveragePool", ["s4"], ["y"])]
    a1 = np.maximum(cv(x.astype(np.float64), "r1", 2, 3), 0)
    p1 = maxpool(a1, 3, 2, 1)
    a3 = np.maximum(cv(np.maximum(cv(p1, "r2", 1, 1), 0), "r3", 1, 1) + p1, 0)
    want = (cv(a3, "r4", 2, 1) + cv(a3, "r5", 2, 0)).mean(axis=(2, 3), keepdims=True)
    g = helper.make_graph(nodes, "nhwc_resnet", [vi("x", TensorProto.FLOAT, list(x.shape))],
                          [vi("y", TensorProto.FLOAT, list(want.shape))], inits)
    path, rows, r = save_and_compile(g, "nhwc_resnet", x)
    errs = []
    for mode in ("fast", "checked"):
        out = os.path.join(work, "nhwc_resnet_y_%s.npy" % mode)
        r2 = run([tool, "run", path, "--input", os.path.join(work, "nhwc_resnet_x.npy"), "-o", out, "--mode", mode])
        errs.append(np.max(np.abs(np.load(out) - want)) / np.max(np.abs(want)) if r2.returncode == 0 else 1)
    check(max(errs) < 1e-5 and {"50", "18"} <= rows, "channels-last 3x3, strided and pooled convolutions (ResNet's kind)",
          "max error %.3g relative; MM rows %s %s" % (max(errs), sorted(rows), (r.stderr + r2.stderr).strip()))

    # a max pool between channels-last convolutions runs as a chain of maxes over phase
    # images whose padding holds the nearest pixel (no vmax over gathered windows): values
    # all below zero, so that a pad of 0 would show; symmetric, asymmetric and no padding,
    # strides 1 and 2, 72 channels (3 pixels a vector of 256 lanes, the rest masked)
    x = (rng.standard_normal((2, 4, 9, 11)) - 4).astype(np.float32)
    wa = (rng.random((72, 4, 1, 1)) + 0.1).astype(np.float32)  # positive: the 1x1 convolution keeps the sign
    wb = (rng.standard_normal((5, 72, 1, 1)) * 0.2).astype(np.float32)
    for k, st, pads in ((3, 2, [1, 1, 1, 1]), (3, 1, [1, 1, 1, 1]), (2, 2, [0, 0, 1, 1]), (3, 2, [0, 0, 0, 0]),
                        (2, 1, [1, 0, 0, 1])):
        name = "maxpool_phases_k%d_s%d_p%s" % (k, st, "".join(map(str, pads)))
        nodes = [helper.make_node("Conv", ["x", "wa"], ["a"], kernel_shape=[1, 1]),
                 helper.make_node("MaxPool", ["a"], ["p"], kernel_shape=[k, k], strides=[st, st], pads=pads),
                 helper.make_node("Conv", ["p", "wb"], ["y"], kernel_shape=[1, 1])]
        a = conv(x.astype(np.float64), wa.astype(np.float64), None, 1, 0, 1)
        want = conv(maxpool_pads(a, k, st, pads), wb.astype(np.float64), None, 1, 0, 1)
        g = helper.make_graph(nodes, name, [vi("x", TensorProto.FLOAT, list(x.shape))],
                              [vi("y", TensorProto.FLOAT, list(want.shape))],
                              [numpy_helper.from_array(wa, "wa"), numpy_helper.from_array(wb, "wb")])
        path, rows, r = save_and_compile(g, name, x)
        asm = open(os.path.join(work, name + ".lsa")).read() if r.returncode == 0 else ""
        errs = []
        for mode in ("fast", "checked"):
            out = os.path.join(work, name + "_y_%s.npy" % mode)
            r2 = run([tool, "run", path, "--input", os.path.join(work, name + "_x.npy"), "-o", out, "--mode", mode])
            errs.append(np.max(np.abs(np.load(out) - want)) / np.max(np.abs(want)) if r2.returncode == 0 else 1)
        check(max(errs) < 1e-5 and "vmax" not in asm and " max.f32" in asm,
              "max pool %dx%d stride %d pads %s by phase images, padding the nearest pixel" % (k, k, st, pads),
              "max error %.3g relative; vmax in the program: %s %s" % (max(errs), "vmax" in asm,
                                                                        (r.stderr + r2.stderr).strip()))

    # elementwise nodes fused into one pass: GELU (Div, Erf, Add, Mul, Mul) writes memory
    # once per range, not five times; an intermediate that is also a graph output, or that
    # is read twice, stays a tensor of its own; a broadcast bias inside a fused chain
    import math
    x = rng.standard_normal((4, 300)).astype(np.float32) * 2
    b = rng.standard_normal(300).astype(np.float32)
    c = lambda v: numpy_helper.from_array(np.array(v, np.float32), "c%g" % v)
    erf = np.vectorize(math.erf)
    xd = x.astype(np.float64)
    cases = (
        ("gelu", [helper.make_node("Div", ["x", "c1.41421"], ["d"]), helper.make_node("Erf", ["d"], ["e"]),
                  helper.make_node("Add", ["e", "c1"], ["f"]), helper.make_node("Mul", ["x", "f"], ["g"]),
                  helper.make_node("Mul", ["g", "c0.5"], ["y"])],
         [numpy_helper.from_array(np.array(1.41421, np.float32), "c1.41421"), c(1), c(0.5)], ["y"],
         [xd * (1 + erf(xd / np.float64(np.float32(1.41421)))) * 0.5], 2),
        ("output_inside", [helper.make_node("Add", ["x", "b"], ["s"]), helper.make_node("Relu", ["s"], ["y"])],
         [numpy_helper.from_array(b, "b")], ["s", "y"], [xd + b, np.maximum(xd + b, 0)], 4),
        ("read_twice", [helper.make_node("Sub", ["x", "b"], ["t"]), helper.make_node("Mul", ["t", "t"], ["u"]),
                        helper.make_node("Tanh", ["u"], ["y"])],
         [numpy_helper.from_array(b, "b")], ["y"], [np.tanh((xd - b) ** 2)], 4),
        ("bias_tanh", [helper.make_node("Add", ["x", "b"], ["s"]), helper.make_node("Tanh", ["s"], ["y"])],
         [numpy_helper.from_array(b, "b")], ["y"], [np.tanh(xd + b)], 2),
    )
    np.save(os.path.join(work, "fuse_x.npy"), x)
    for name, nodes, inits, outs, wants, max_writes in cases:
        g = helper.make_graph(nodes, name, [vi("x", TensorProto.FLOAT, [4, 300])],
                              [vi(o, TensorProto.FLOAT, [4, 300]) for o in outs], inits)
        path = os.path.join(work, "fuse_%s.onnx" % name)
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)
        lsa = os.path.join(work, "fuse_%s.lsa" % name)
        r = run([tool, "compile", path, "-o", os.path.join(work, "fuse_%s.lsp" % name), "--emit-asm", lsa])
        writes = open(lsa).read().count("write.") if r.returncode == 0 else -1
        errs = []
        for mode in ("fast", "checked"):
            outdir = os.path.join(work, "fuse_%s_%s" % (name, mode))
            os.makedirs(outdir, exist_ok=True)
            r2 = run([tool, "run", path, "--input", os.path.join(work, "fuse_x.npy"), "--mode", mode] +
                     sum([["-o", "%s=%s" % (o, os.path.join(outdir, o + ".npy"))] for o in outs], []))
            for o, want in zip(outs, wants):
                got = np.load(os.path.join(outdir, o + ".npy")) if r2.returncode == 0 else None
                errs.append(np.max(np.abs(got - want)) / np.max(np.abs(want)) if got is not None else 1)
        check(max(errs) < 1e-6 and 0 < writes <= max_writes, "elementwise nodes fused: %s" % name,
              "max error %.3g relative, %d writes (at most %d) %s" % (max(errs), writes, max_writes, r.stderr.strip()))

    # a batched A times a 2-D B is one GEMM over all of A's rows: [16, 3, 40] x [40, 24]
    # is one MM of 48 rows, not sixteen of 3
    a = rng.standard_normal((16, 3, 40)).astype(np.float32)
    w = rng.standard_normal((40, 24)).astype(np.float32)
    g = helper.make_graph([helper.make_node("MatMul", ["a", "w"], ["y"])], "bmm", [vi("a", TensorProto.FLOAT, [16, 3, 40])],
                          [vi("y", TensorProto.FLOAT, [16, 3, 24])], [numpy_helper.from_array(w, "w")])
    path = os.path.join(work, "bmm.onnx")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)
    np.save(os.path.join(work, "bmm_a.npy"), a)
    out = os.path.join(work, "bmm_y.npy")
    r = run([tool, "run", path, "--input", os.path.join(work, "bmm_a.npy"), "-o", out])
    err = np.max(np.abs(np.load(out) - a.astype(np.float64) @ w)) if r.returncode == 0 else 1
    run([tool, "compile", path, "-o", os.path.join(work, "bmm.lsp"), "--emit-asm", os.path.join(work, "bmm.lsa")])
    asm = open(os.path.join(work, "bmm.lsa")).read() if os.path.exists(os.path.join(work, "bmm.lsa")) else ""
    mms = [l for l in asm.splitlines() if re.search(r"\bmm\.f32\b", l)]
    check(err < 1e-4 and len(mms) == 1 and "n=48" in mms[0], "a batched MatMul with a 2-D B is one GEMM of all rows",
          "max error %.3g; MM instructions: %s %s" % (err, mms[:3], r.stderr.strip()))

    # Slice before opset 10 takes its parameters as attributes
    x = rng.standard_normal((4, 6)).astype(np.float32)
    g = helper.make_graph([helper.make_node("Slice", ["x"], ["y"], starts=[1, -4], ends=[3, 100], axes=[0, 1])], "s9",
                          [vi("x", TensorProto.FLOAT, [4, 6])], [vi("y", TensorProto.FLOAT, [2, 4])])
    path = os.path.join(work, "slice9.onnx")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 9)]), path)
    np.save(os.path.join(work, "slice9_x.npy"), x)
    out = os.path.join(work, "slice9_y.npy")
    r = run([tool, "run", path, "--input", os.path.join(work, "slice9_x.npy"), "-o", out])
    check(r.returncode == 0 and np.array_equal(np.load(out), x[1:3, -4:]), "Slice with attributes (opset 9)", r.stderr.strip())

    # OpenBLAS's kernels: on a CPU with AVX-512 the tool runs with AVX-512 kernels even when
    # OPENBLAS_CORETYPE asks for AVX2 ones (unless LOCKSTEP_KEEP_CORETYPE); elsewhere it
    # leaves the choice alone
    flags = set()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    env = dict(os.environ, OPENBLAS_CORETYPE="Haswell")
    env.pop("LOCKSTEP_KEEP_CORETYPE", None)
    v = run([tool, "--version"], env=env).stdout
    if "openblas" in v:
        avx512 = {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= flags
        want = "(SkylakeX)" if avx512 else "(Haswell)"
        check(want in v, "OpenBLAS runs its %s kernels on this CPU" % ("AVX-512" if avx512 else "chosen"), v.strip())
        kept = run([tool, "--version"], env=dict(env, LOCKSTEP_KEEP_CORETYPE="1")).stdout
        check("(Haswell)" in kept, "LOCKSTEP_KEEP_CORETYPE keeps OPENBLAS_CORETYPE as given", kept.strip())

    # --emit-asm: the assembly text of a compiled model assembles to the identical program
    lsp, lsa, again = (os.path.join(work, "cnn_emit" + e) for e in (".lsp", ".lsa", "_again.lsp"))
    r = run([tool, "compile", os.path.join(work, "cnn.onnx"), "-o", lsp, "--emit-asm", lsa])
    r2 = run([tool, "asm", lsa, "-o", again]) if r.returncode == 0 else r
    same = r2.returncode == 0 and open(lsp, "rb").read() == open(again, "rb").read()
    check(same, "--emit-asm writes text that assembles to the identical program", (r.stderr + r2.stderr).strip())


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    tool, src, work = sys.argv[1:]
    os.makedirs(work, exist_ok=True)
    export(src, work)
    for name, tol in MODELS.items():
        model_checks(tool, work, name, tol)
    digits_accuracy(tool, work)
    operator_checks(tool, work)
    compiler_checks(tool, work)
    error_checks(tool, work)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
