#!/usr/bin/python3
"""Export the example ONNX models and their PyTorch reference outputs.

    /usr/bin/python3 examples/export_models.py OUTDIR [--only NAME ...]

For every model NAME this writes
    OUTDIR/NAME.onnx         opset 13, batch 1, static shapes, input "input", output "output"
    OUTDIR/NAME_input.npy    float32, the model's input shape
    OUTDIR/NAME_output.npy   float32, PyTorch's output for that input (eval mode, no_grad;
                             for the transformer see build_transformer)
and for digits also
    OUTDIR/digits_test_x.npy           float32 [N,1,8,8]  every test image
    OUTDIR/digits_test_y.npy           int64   [N]        their labels
    OUTDIR/digits_torch_pred.npy       int64   [N]        PyTorch's predicted labels
    OUTDIR/digits_torch_accuracy.txt   PyTorch's test accuracy (one number)
    OUTDIR/digits_batch.onnx           the same network taking all N test images at once
and OUTDIR/manifest.json: per model its files, shapes, node count, op counts, size, and
max|y - y(float64)| (how far float32 rounding alone moves PyTorch's output: a guide for
tolerances). With --only, the entries for the other models already there are kept.

Every model has its own fixed seed and everything runs on one thread, so two runs give
byte-identical .npy and .onnx files, and --only gives the same files as a full run.
Needs torch (1.13), torchvision, onnx, numpy and scikit-learn; downloads nothing.
Check the exported graphs against the outputs with examples/onnx_numpy_ref.py.
"""

import argparse
import copy
import json
import os
import random
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn as nn
import torchvision

OPSET = 13


def seed_all(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def randomize_batchnorm(model, seed, input_shape, calib_batch=8):
    """Give every BatchNorm non-trivial statistics and affine parameters.

    The defaults (mean 0, var 1, weight 1, bias 0) make BatchNorm an identity, which
    would hide a wrong folding of it into the preceding convolution; and with random
    weights the real activations are far from mean 0 / var 1, so purely random
    statistics make the outputs shrink and ReLU6 never reach its upper bound. So: first
    measure every BatchNorm's real input statistics on a batch of seeded random inputs
    (train-mode forward, cumulative average), then perturb those statistics and draw
    random weights and biases, all from one seeded generator. (With these ranges, every
    one of mobilenet_v2's 35 ReLU6s clips some elements at 6 on the reference input.)
    """
    g = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None                     # cumulative moving average
    model.train()
    with torch.no_grad():
        model(torch.randn(calib_batch, *input_shape[1:], generator=g))
    model.eval()
    with torch.no_grad():
        for m, momentum in zip(bns, momenta):
            m.momentum = momentum
            n = m.num_features
            std = m.running_var.sqrt()
            m.running_mean.add_(torch.randn(n, generator=g) * 0.2 * std)
            m.running_var.mul_(torch.rand(n, generator=g) * 1.5 + 0.5)     # x [0.5, 2)
            # Larger weights make resnet18's residual stream grow to ~1e3 and make
            # mobilenet_v2's output sensitive to float32 rounding (1e-4 relative and worse).
            m.weight.copy_(torch.rand(n, generator=g) + 0.5)                # [0.5, 1.5)
            m.bias.copy_(torch.randn(n, generator=g) * 0.5)


def seeded_input(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float32)


# ---------------------------------------------------------------------------
# Models


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(784, 256), nn.ReLU(),
            nn.Linear(256, 128), nn.ReLU(),
            nn.Linear(128, 10),
        )

    def forward(self, x):
        return self.net(x)


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),          # exported as GlobalAveragePool
        )
        self.classifier = nn.Linear(16, 10)

    def forward(self, x):
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


class DigitsCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),                  # 8x8 -> 4x4
        )
        self.classifier = nn.Sequential(
            nn.Linear(32 * 4 * 4, 64), nn.ReLU(),
            nn.Linear(64, 10),
        )

    def forward(self, x):
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def build_mlp(seed, outdir):
    model = MLP()
    return model, seeded_input((1, 784), seed + 1), {}


def build_cnn(seed, outdir):
    model = SmallCNN()
    randomize_batchnorm(model, seed + 2, (1, 1, 28, 28))
    return model, seeded_input((1, 1, 28, 28), seed + 1), {}


def build_resnet18(seed, outdir):
    model = torchvision.models.resnet18(weights=None)
    randomize_batchnorm(model, seed + 2, (1, 3, 224, 224))
    return model, seeded_input((1, 3, 224, 224), seed + 1), {}


def build_mobilenet_v2(seed, outdir):
    model = torchvision.models.mobilenet_v2(weights=None)
    randomize_batchnorm(model, seed + 2, (1, 3, 224, 224))
    return model, seeded_input((1, 3, 224, 224), seed + 1), {}


def build_transformer(seed, outdir):
    layer = nn.TransformerEncoderLayer(
        d_model=128, nhead=4, dim_feedforward=512, dropout=0.0,
        activation="gelu", batch_first=True)
    model = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
    # TransformerEncoder deep-copies the layer, so both layers would share identical
    # weights (and the exporter would turn the duplicates into Identity nodes); the
    # attention biases start at zero and LayerNorm at weight 1, bias 0, which would hide a
    # wrong bias or scale. Give every parameter its own seeded random value.
    g = torch.Generator().manual_seed(seed + 2)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if pname.endswith("norm1.weight") or pname.endswith("norm2.weight"):
                p.copy_(torch.rand(p.shape, generator=g) * 0.75 + 0.5)      # [0.5, 1.25)
            elif p.dim() == 1:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
            else:                                   # xavier-uniform, as PyTorch initialises
                bound = (6.0 / (p.shape[0] + p.shape[1])) ** 0.5
                p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * bound)
    # torch 1.13 has no switch for the "fast path" of TransformerEncoderLayer and
    # MultiheadAttention (fused aten::_transformer_encoder_layer_fwd and
    # aten::_native_multi_head_attention, which do not export to ONNX). It is taken only
    # when autograd is off, so this model is both exported and run for its reference
    # output with autograd on: the plain composite path, the same math as the ONNX graph.
    return model, seeded_input((1, 64, 128), seed + 1), {"_reference_with_grad": True}


def build_digits(seed, outdir):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0)[:, None, :, :]     # [1797,1,8,8] in [0,1]
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=0.25, random_state=0, stratify=y)
    x_tr = np.ascontiguousarray(x_tr, dtype=np.float32)
    x_te = np.ascontiguousarray(x_te, dtype=np.float32)
    y_tr = np.ascontiguousarray(y_tr, dtype=np.int64)
    y_te = np.ascontiguousarray(y_te, dtype=np.int64)

    model = DigitsCNN()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
    g = torch.Generator().manual_seed(seed + 3)
    epochs, batch = 15, 32
    t0 = time.time()
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(xt), generator=g)
        for i in range(0, len(xt), batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    train_s = time.time() - t0

    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(x_te))
    pred = logits.argmax(1).numpy().astype(np.int64)
    acc = float((pred == y_te).mean())

    np.save(os.path.join(outdir, "digits_test_x.npy"), x_te)
    np.save(os.path.join(outdir, "digits_test_y.npy"), y_te)
    np.save(os.path.join(outdir, "digits_torch_pred.npy"), pred)
    with open(os.path.join(outdir, "digits_torch_accuracy.txt"), "w") as f:
        f.write("%.6f\n" % acc)
    print("digits: %d train / %d test images, %d epochs in %.1f s, PyTorch test accuracy %.4f (%d/%d)"
          % (len(x_tr), len(x_te), epochs, train_s, acc, int((pred == y_te).sum()), len(y_te)))
    if acc < 0.95:
        raise SystemExit("digits: test accuracy %.4f is below 0.95" % acc)
    # The same network over the whole test set at once, so that a runtime can classify
    # every test image in one run and its accuracy can be set beside PyTorch's.
    torch.onnx.export(
        model, (torch.from_numpy(x_te),), os.path.join(outdir, "digits_batch.onnx"),
        export_params=True, opset_version=OPSET, do_constant_folding=True,
        training=torch.onnx.TrainingMode.EVAL, input_names=["input"], output_names=["output"])
    extra = {"test_images": int(len(y_te)), "torch_test_accuracy": acc}
    return model, torch.from_numpy(x_te[:1].copy()), extra


MODELS = {
    # name: (builder, seed)
    "mlp": (build_mlp, 100),
    "cnn": (build_cnn, 200),
    "resnet18": (build_resnet18, 300),
    "mobilenet_v2": (build_mobilenet_v2, 400),
    "transformer": (build_transformer, 500),
    "digits": (build_digits, 600),
}


# ---------------------------------------------------------------------------


def export_one(name, outdir):
    builder, seed = MODELS[name]
    t0 = time.time()
    seed_all(seed)                       # module initialisers use the global generator
    model, x, extra = builder(seed, outdir)
    model.eval()
    x = x.contiguous().to(torch.float32)

    with_grad = extra.pop("_reference_with_grad", False)
    with torch.set_grad_enabled(with_grad):
        y = model(x)
    y = y.detach().numpy().astype(np.float32)
    if with_grad:
        with torch.no_grad():          # the fused fast path, for information only
            y_fast = model(x).numpy()
        extra["fast_path_max_abs_diff"] = float(np.abs(y_fast - y).max())
    # How far float32 rounding alone moves the output: the same model in float64.
    # A guide for the tolerance when comparing another float32 implementation.
    m64 = copy.deepcopy(model).double()
    with torch.set_grad_enabled(with_grad):
        y64 = m64(x.double()).detach().numpy()
    del m64
    f64_diff = float(np.abs(y.astype(np.float64) - y64).max())

    # Exported with autograd on (torch.onnx.export's default): under no_grad the
    # transformer would trace into fused kernels that have no ONNX export.
    path = os.path.join(outdir, name + ".onnx")
    torch.onnx.export(
        model, (x,), path,
        export_params=True,
        opset_version=OPSET,
        do_constant_folding=True,
        training=torch.onnx.TrainingMode.EVAL,
        input_names=["input"],
        output_names=["output"],
        dynamic_axes=None,
    )
    np.save(os.path.join(outdir, name + "_input.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(outdir, name + "_output.npy"), y)

    m = onnx.load(path)
    onnx.checker.check_model(m)
    opset = max((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), default=-1)
    nodes = m.graph.node
    counts = {}
    for n in nodes:
        counts[n.op_type] = counts.get(n.op_type, 0) + 1
    foreign = sorted({n.domain for n in nodes if n.domain not in ("", "ai.onnx")})
    if foreign:
        raise SystemExit("%s: nodes from non-standard domains %s" % (name, foreign))
    if opset != OPSET:
        raise SystemExit("%s: exported opset %d, wanted %d" % (name, opset, OPSET))
    size = os.path.getsize(path)
    ins = [(i.name, [d.dim_value for d in i.type.tensor_type.shape.dim]) for i in m.graph.input
           if i.name not in {t.name for t in m.graph.initializer}]
    outs = [(o.name, [d.dim_value for d in o.type.tensor_type.shape.dim]) for o in m.graph.output]
    if ins != [("input", list(x.shape))] or outs != [("output", list(y.shape))]:
        raise SystemExit("%s: unexpected graph inputs/outputs %s -> %s" % (name, ins, outs))

    print("%-13s opset %d  %4d nodes  %9d bytes  ops: %s"
          % (name, opset, len(nodes), size, " ".join(sorted(counts))))
    print("%-13s input %s  output %s  max|y| %.4g  std %.4g  max|y - y(float64)| %.3g  (%.1f s)"
          % ("", list(x.shape), list(y.shape), float(np.abs(y).max()), float(y.std()),
             f64_diff, time.time() - t0))
    sys.stdout.flush()

    info = {
        "onnx": name + ".onnx",
        "input": name + "_input.npy",
        "output": name + "_output.npy",
        "input_shape": list(x.shape),
        "output_shape": list(y.shape),
        "opset": opset,
        "nodes": len(nodes),
        "op_counts": dict(sorted(counts.items())),
        "initializers": len(m.graph.initializer),
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "bytes": size,
        "seed": seed,
        "output_max_abs": float(np.abs(y).max()),
        "float64_max_abs_diff": f64_diff,
    }
    info.update(extra)
    return info


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--only", nargs="+", metavar="NAME", choices=list(MODELS),
                    help="export only these models (%s)" % ", ".join(MODELS))
    args = ap.parse_args(argv)

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    if hasattr(torch.backends, "mha") and hasattr(torch.backends.mha, "set_fastpath_enabled"):
        torch.backends.mha.set_fastpath_enabled(False)

    os.makedirs(args.outdir, exist_ok=True)
    names = args.only if args.only else list(MODELS)
    print("torch %s, torchvision %s, onnx %s, numpy %s"
          % (torch.__version__, torchvision.__version__, onnx.__version__, np.__version__))
    manifest_path = os.path.join(args.outdir, "manifest.json")
    manifest = {}
    if args.only and os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
    t0 = time.time()
    for name in names:
        manifest[name] = export_one(name, args.outdir)
    manifest = {k: manifest[k] for k in MODELS if k in manifest}
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=False)
        f.write("\n")
    print("exported %d model(s) into %s in %.1f s" % (len(names), args.outdir, time.time() - t0))


if __name__ == "__main__":
    main(sys.argv[1:])
