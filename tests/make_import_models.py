#!/usr/bin/python3
"""make_import_models.py - small ONNX models for test_import, built with onnx.helper.

  make_import_models.py OUTDIR STAMP   write the models into OUTDIR, then touch STAMP
  make_import_models.py --big FILE     write one model with a ~200 MB float initializer

Run it with Debian's /usr/bin/python3 (python3-onnx). Without onnx, the first form
writes only OUTDIR/NO_ONNX and the stamp (the tests skip); the second exits with 77.
The expected values in test_import.c are written by hand against what is built here.
"""
import os
import sys

try:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError:
    onnx = None

F = 1  # TensorProto.FLOAT


def model(nodes, inputs, outputs, inits=(), value_info=(), opset=13, opsets=None):
    g = helper.make_graph(nodes, "g", list(inputs), list(outputs), initializer=list(inits),
                          value_info=list(value_info))
    ops = opsets if opsets is not None else [helper.make_opsetid("", opset)]
    m = helper.make_model(g, opset_imports=ops, producer_name="make_import_models")
    m.ir_version = 8
    return m


def raw(name, arr):
    """An initializer with its data in raw_data."""
    t = numpy_helper.from_array(arr, name)
    assert t.HasField("raw_data")
    return t


def vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def models():
    m = {}
    # MLP: Gemm + Relu, float initializers in raw_data; b1 also listed as a graph input
    # (IR < 4 style), so it must not become a graph input.
    w1 = (np.arange(12, dtype=np.float32) * 0.5).reshape(4, 3)
    b1 = np.array([0.1, 0.2, 0.3], dtype=np.float32)
    m["mlp"] = model(
        [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="gemm1", alpha=1.0, transB=0),
         helper.make_node("Relu", ["h"], ["y"])],
        [vi("x", F, [1, 4]), vi("b1", F, [3])], [vi("y", F, [1, 3])],
        inits=[raw("w1", w1), raw("b1", b1)], value_info=[vi("h", F, [1, 3])])

    # Initializers in the typed fields; a custom-domain node with every kind of attribute.
    T = TensorProto
    inits = [
        helper.make_tensor("wf", T.FLOAT, [2, 2], [1.5, -2.0, 3.25, 4.0]),
        helper.make_tensor("wi", T.INT64, [3], [-1, 0, 1 << 40]),
        helper.make_tensor("w8", T.INT8, [4], [-128, -1, 0, 127]),
        helper.make_tensor("wu8", T.UINT8, [2], [255, 1]),
        helper.make_tensor("wi16", T.INT16, [2], [-32768, 300]),
        helper.make_tensor("wu16", T.UINT16, [2], [65535, 1]),
        helper.make_tensor("wi32", T.INT32, [2], [-7, 2147483647]),
        helper.make_tensor("wh", T.FLOAT16, [2], [1.0, -2.5]),
        helper.make_tensor("wbf", T.BFLOAT16, [1], [1.0]),
        helper.make_tensor("wb", T.BOOL, [3], [True, False, True]),
        helper.make_tensor("wd", T.DOUBLE, [2], [0.5, -1e300]),
        helper.make_tensor("wu32", T.UINT32, [1], [4000000000]),
        helper.make_tensor("wu64", T.UINT64, [2], [(1 << 63) + 5, 7]),
        helper.make_tensor("scalar", T.INT64, [], [42]),
        helper.make_tensor("empty", T.FLOAT, [0, 3], []),
    ]
    body = helper.make_graph([helper.make_node("Identity", ["wf"], ["o"])], "body", [], [vi("o", F, [2, 2])])
    custom = helper.make_node(
        "Custom", ["wf", "wi"], ["y"], name="all_attrs", domain="com.example",
        i=7, f=0.5, s="hello", ints=[1, 2, 3], floats=[0.25, 0.5],
        t=helper.make_tensor("", T.INT32, [2], [10, 20]), g=body, strs=["a", "b"])
    m["typed"] = model([custom], [], [vi("y", F, None)], inits=inits,
                       opsets=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])

    # Constant nodes: they stay nodes; their value attribute becomes a constant tensor.
    # c1's natural name "c1:value" is taken by a model tensor, so it gets another.
    m["constant"] = model(
        [helper.make_node("Constant", [], ["shape"], name="c0",
                          value=helper.make_tensor("", T.INT64, [2], [2, 3])),
         helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape"),
         helper.make_node("Constant", [], ["k"], name="c1", value=helper.make_tensor("", T.FLOAT, [], [2.5])),
         helper.make_node("Identity", ["k"], ["c1:value"], name="id")],
        [vi("x", F, [6])], [vi("y", F, [2, 3]), vi("c1:value", F, [])])

    # Omitted optional inputs and outputs.
    m["optional"] = model(
        [helper.make_node("Clip", ["x", "", "hi"], ["c"], name="clip"),
         helper.make_node("Dropout", ["c"], ["d", ""], name="drop"),
         helper.make_node("Split", ["d"], ["a", "", "b"], name="split", axis=0)],
        [vi("x", F, [6])], [vi("a", F, [2]), vi("b", F, [2])],
        inits=[helper.make_tensor("hi", T.FLOAT, [], [6.0])])

    # Symbolic and unknown dimensions; opset given as domain "ai.onnx" after another domain.
    m["dynamic"] = model(
        [helper.make_node("Add", ["x", "z"], ["y"], name="add")],
        [vi("x", F, ["N", 3]), vi("z", F, [None, 3]), vi("u", T.INT64, None)], [vi("y", F, ["N", 3])],
        opsets=[helper.make_opsetid("com.microsoft", 1), helper.make_opsetid("ai.onnx", 11)])

    # ---- models that must fail ----
    m["bad_unknown_input"] = model([helper.make_node("Relu", ["nope"], ["y"], name="r")],
                                   [vi("x", F, [2])], [vi("y", F, [2])])
    m["bad_order"] = model([helper.make_node("Relu", ["h"], ["y"], name="second"),
                            helper.make_node("Relu", ["x"], ["h"], name="first")],
                           [vi("x", F, [2])], [vi("y", F, [2])])
    m["bad_dup_output"] = model([helper.make_node("Relu", ["x"], ["h"], name="r1"),
                                 helper.make_node("Neg", ["x"], ["h"], name="r2")],
                                [vi("x", F, [2])], [vi("h", F, [2])])
    relu = [helper.make_node("Relu", ["x"], ["y"], name="r")]
    io = ([vi("x", F, [2])], [vi("y", F, [2])])
    m["bad_opset5"] = model(relu, *io, opset=5)
    m["bad_opset18"] = model(relu, *io, opset=18)
    m["bad_no_opset"] = model(relu, *io, opsets=[helper.make_opsetid("com.example", 1)])
    m["bad_string"] = model(relu, *io, inits=[helper.make_tensor("names", T.STRING, [2], [b"a", b"b"])])
    ext = TensorProto(name="w", data_type=T.FLOAT, dims=[4], data_location=TensorProto.EXTERNAL)
    ext.external_data.add(key="location", value="w.bin")
    m["bad_external"] = model(relu, *io, inits=[ext])
    m["bad_count"] = model(relu, *io, inits=[TensorProto(name="w", data_type=T.FLOAT, dims=[2, 3],
                                                         float_data=[1, 2, 3, 4, 5])])
    m["bad_raw_size"] = model(relu, *io, inits=[raw("w", np.zeros(5, dtype=np.float32))])
    m["bad_raw_size"].graph.initializer[0].dims[:] = [2, 3]
    m["bad_graph_output"] = model(relu, [vi("x", F, [2])], [vi("missing", F, [2])])
    return m


def write(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def main(argv):
    if len(argv) == 3 and argv[1] == "--big":
        if onnx is None:
            print("make_import_models: no onnx module in this python", file=sys.stderr)
            return 77
        n = 200 * 1024 * 1024 // 4  # 200 MiB of float32
        t = raw("big", (np.arange(n, dtype=np.int64) % 1000).astype(np.float32))
        m = model([helper.make_node("Identity", ["big"], ["y"], name="id")], [], [vi("y", F, [n])],
                  inits=[t])
        write(argv[2], m.SerializeToString())
        return 0
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    out, stamp = argv[1], argv[2]
    os.makedirs(out, exist_ok=True)
    if onnx is None:
        write(os.path.join(out, "NO_ONNX"), b"")
    else:
        if os.path.exists(os.path.join(out, "NO_ONNX")):
            os.remove(os.path.join(out, "NO_ONNX"))
        for name, m in models().items():
            write(os.path.join(out, name + ".onnx"), m.SerializeToString())
        # No graph at all: a ModelProto with only its IR version.
        write(os.path.join(out, "bad_no_graph.onnx"), onnx.ModelProto(ir_version=8).SerializeToString())
    write(stamp, b"")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
