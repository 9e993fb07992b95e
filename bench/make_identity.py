#!/usr/bin/python3
"""Write a one-node ONNX model, output = Identity(input), for the shape of an .npy input.

    /usr/bin/python3 bench/make_identity.py NAME_input.npy OUT.onnx

ONNX Runtime times this model through Node exactly as it times the real one: its latency
is the per-call overhead of the binding (and a copy of the input), not inference.
Opset 13, input "input", output "output", static shape and dtype of the .npy file.
"""
import sys

import numpy as np
import onnx
from onnx import helper


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__)
    x = np.load(argv[0], mmap_mode="r")
    elem = onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[x.dtype]
    vi_in = helper.make_tensor_value_info("input", elem, list(x.shape))
    vi_out = helper.make_tensor_value_info("output", elem, list(x.shape))
    graph = helper.make_graph([helper.make_node("Identity", ["input"], ["output"])],
                              "identity", [vi_in], [vi_out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="lockstep-bench")
    model.ir_version = 7
    onnx.checker.check_model(model)
    onnx.save(model, argv[1])


if __name__ == "__main__":
    main(sys.argv[1:])
