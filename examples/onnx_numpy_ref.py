#!/usr/bin/python3
"""A small NumPy interpreter for the ONNX ops the example models use.

    /usr/bin/python3 examples/onnx_numpy_ref.py OUTDIR [NAME ...]

Runs OUTDIR/NAME.onnx on OUTDIR/NAME_input.npy in float64 and compares the result with
PyTorch's OUTDIR/NAME_output.npy, independently of PyTorch and of ONNX Runtime (which is
not installed here). This checks that each exported graph computes what PyTorch computed,
and is a readable statement of the semantics the compiler has to implement. For digits it
also runs every test image and compares the predicted labels with PyTorch's.
Exit status 1 if any model disagrees.
"""

import os
import sys

import numpy as np
import onnx
import onnx.numpy_helper
from scipy.special import erf


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _pad_input(x, pads, value=0.0):
    nd = len(pads) // 2
    width = [(0, 0)] * (x.ndim - nd) + [(pads[i], pads[i + nd]) for i in range(nd)]
    return np.pad(x, width, constant_values=value)


def _windows(x, kh, kw, sh, sw, dh=1, dw=1):
    """[N,C,H,W] -> [N,C,OH,OW,kh,kw] view of the sliding windows."""
    n, c, h, w = x.shape
    oh = (h - dh * (kh - 1) - 1) // sh + 1
    ow = (w - dw * (kw - 1) - 1) // sw + 1
    s = x.strides
    return np.lib.stride_tricks.as_strided(
        x, (n, c, oh, ow, kh, kw), (s[0], s[1], s[2] * sh, s[3] * sw, s[2] * dh, s[3] * dw),
        writeable=False)


def conv(x, w, b, a):
    group = a.get("group", 1)
    kh, kw = w.shape[2:]
    sh, sw = a.get("strides", [1, 1])
    dh, dw = a.get("dilations", [1, 1])
    x = _pad_input(x, a.get("pads", [0, 0, 0, 0]))
    win = _windows(x, kh, kw, sh, sw, dh, dw)           # N,C,OH,OW,kh,kw
    n, c = x.shape[:2]
    m = w.shape[0]
    cg, mg = c // group, m // group
    outs = []
    for g in range(group):
        wg = w[g * mg:(g + 1) * mg]                       # mg,cg,kh,kw
        xg = win[:, g * cg:(g + 1) * cg]                  # N,cg,OH,OW,kh,kw
        outs.append(np.einsum("nchwij,mcij->nmhw", xg, wg, optimize=True))
    y = np.concatenate(outs, axis=1)
    if b is not None:
        y = y + b.reshape(1, -1, 1, 1)
    return y


def maxpool(x, a):
    assert a.get("ceil_mode", 0) == 0 and a.get("dilations", [1, 1]) == [1, 1]
    kh, kw = a["kernel_shape"]
    sh, sw = a.get("strides", [1, 1])
    x = _pad_input(x, a.get("pads", [0, 0, 0, 0]), -np.inf)
    return _windows(x, kh, kw, sh, sw).max(axis=(4, 5))


def gemm(a_, b_, c_, a):
    if a.get("transA", 0):
        a_ = a_.T
    if a.get("transB", 0):
        b_ = b_.T
    y = a.get("alpha", 1.0) * (a_ @ b_)
    if c_ is not None:
        y = y + a.get("beta", 1.0) * c_
    return y


def softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def run(model, feeds):
    env = {}
    for t in model.graph.initializer:
        v = onnx.numpy_helper.to_array(t)
        env[t.name] = v.astype(np.float64) if v.dtype == np.float32 else v
    for k, v in feeds.items():
        env[k] = v.astype(np.float64)
    for node in model.graph.node:
        a = _attrs(node)
        i = [env[n] if n else None for n in node.input]
        op = node.op_type
        if op == "Constant":
            v = onnx.numpy_helper.to_array(a["value"])
            y = v.astype(np.float64) if v.dtype == np.float32 else v
        elif op == "Identity":
            y = i[0]
        elif op == "Add":
            y = i[0] + i[1]
        elif op == "Sub":
            y = i[0] - i[1]
        elif op == "Mul":
            y = i[0] * i[1]
        elif op == "Div":
            if i[0].dtype.kind == "i":                    # integer Div truncates toward zero
                y = np.trunc(i[0] / i[1]).astype(i[0].dtype)
            else:
                y = i[0] / i[1]
        elif op == "Pow":
            y = np.power(i[0], i[1])
        elif op == "Sqrt":
            y = np.sqrt(i[0])
        elif op == "Erf":
            y = erf(i[0])
        elif op == "Relu":
            y = np.maximum(i[0], 0)
        elif op == "Clip":
            lo = i[1] if len(i) > 1 and i[1] is not None else -np.inf
            hi = i[2] if len(i) > 2 and i[2] is not None else np.inf
            y = np.minimum(np.maximum(i[0], lo), hi)
        elif op == "Conv":
            y = conv(i[0], i[1], i[2] if len(i) > 2 else None, a)
        elif op == "MaxPool":
            y = maxpool(i[0], a)
        elif op == "GlobalAveragePool":
            y = i[0].mean(axis=tuple(range(2, i[0].ndim)), keepdims=True)
        elif op == "Flatten":
            ax = a.get("axis", 1)
            y = i[0].reshape(int(np.prod(i[0].shape[:ax])), -1)
        elif op == "Gemm":
            y = gemm(i[0], i[1], i[2] if len(i) > 2 else None, a)
        elif op == "MatMul":
            y = np.matmul(i[0], i[1])
        elif op == "Softmax":                             # opset 13: along one axis
            y = softmax(i[0], a.get("axis", -1))
        elif op == "ReduceMean":                          # opset 13: axes is an attribute
            axes = a.get("axes")
            y = i[0].mean(axis=tuple(axes) if axes is not None else None,
                          keepdims=bool(a.get("keepdims", 1)))
        elif op == "Transpose":
            y = np.transpose(i[0], a.get("perm"))
        elif op == "Reshape":
            shape = [int(s) for s in i[1]]
            shape = [i[0].shape[k] if s == 0 else s for k, s in enumerate(shape)]
            y = i[0].reshape(shape)
        elif op == "Shape":
            y = np.array(i[0].shape, dtype=np.int64)
        elif op == "Gather":
            y = np.take(i[0], i[1], axis=a.get("axis", 0))
        elif op == "Slice":
            starts, ends = i[1], i[2]
            axes = i[3] if len(i) > 3 and i[3] is not None else range(len(starts))
            steps = i[4] if len(i) > 4 and i[4] is not None else [1] * len(starts)
            sl = [slice(None)] * i[0].ndim
            for s, e, ax, st in zip(starts, ends, axes, steps):
                sl[int(ax)] = slice(int(s), int(e), int(st))
            y = i[0][tuple(sl)]
        else:
            raise NotImplementedError("op %s (node %s)" % (op, node.name))
        env[node.output[0]] = y
    return [env[o.name] for o in model.graph.output]


def check(outdir, name):
    model = onnx.load(os.path.join(outdir, name + ".onnx"))
    x = np.load(os.path.join(outdir, name + "_input.npy"))
    want = np.load(os.path.join(outdir, name + "_output.npy")).astype(np.float64)
    got = run(model, {"input": x})[0]
    ok = got.shape == want.shape
    err = float(np.abs(got - want).max()) if ok else float("inf")
    scale = float(np.abs(want).max())
    rel = err / max(scale, 1e-30)
    ok = ok and rel < 1e-4
    line = "%-13s max |onnx(float64) - torch(float32)| = %.3g  (%.2g of max |y| %.4g)" % (
        name, err, rel, scale)
    if name == "digits" and os.path.exists(os.path.join(outdir, "digits_test_x.npy")):
        xs = np.load(os.path.join(outdir, "digits_test_x.npy"))
        ys = np.load(os.path.join(outdir, "digits_test_y.npy"))
        tp = np.load(os.path.join(outdir, "digits_torch_pred.npy"))
        pred = np.array([int(run(model, {"input": xs[k:k + 1]})[0].argmax()) for k in range(len(xs))])
        same = int((pred == tp).sum())
        line += "\n%-13s every test image: accuracy %.4f, same label as PyTorch for %d/%d" % (
            "", float((pred == ys).mean()), same, len(xs))
        ok = ok and same == len(xs)
    print(line + ("" if ok else "   MISMATCH"))
    sys.stdout.flush()
    return ok


def main(argv):
    if not argv or argv[0].startswith("-"):
        print(__doc__.strip())
        return 2
    outdir, names = argv[0], argv[1:]
    if not names:
        names = [n for n in ("mlp", "cnn", "resnet18", "mobilenet_v2", "transformer", "digits")
                 if os.path.exists(os.path.join(outdir, n + ".onnx"))]
    ok = all([check(outdir, n) for n in names])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
