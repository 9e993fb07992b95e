#!/usr/bin/python3
"""Generate the ONNX backend node test cases (922 with ONNX 1.12) from Debian's python3-onnx.

    /usr/bin/python3 tests/gen_node_tests.py OUTDIR [STAMP]

Writes OUTDIR/node/<case>/model.onnx and test_data_set_0/{input,output}_N.pb (ONNX's own
`python3 -m onnx.backend.test.cmd_tools generate-data`), then touches STAMP. ONNX 1.12's
case scripts use NumPy aliases that NumPy 1.24 removed (np.float, np.int, np.bool,
np.object, ...): they are put back before onnx is imported. Generated data is never
committed; meson makes it in the build directory.
"""
import os
import shutil
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")
for alias, value in (("float", float), ("int", int), ("bool", bool), ("object", object), ("complex", complex),
                     ("str", str), ("long", int), ("unicode", str)):
    if alias not in np.__dict__:
        setattr(np, alias, value)

from onnx.backend.test import cmd_tools  # noqa: E402 (after the aliases)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    if os.path.isdir(out):
        shutil.rmtree(out)
    sys.argv = [sys.argv[0], "generate-data", "-o", out]
    cmd_tools.main()
    n = len(os.listdir(os.path.join(out, "node")))
    print(f"gen_node_tests: {n} node cases in {os.path.join(out, 'node')}")
    return n


if __name__ == "__main__":
    stamp = sys.argv[2] if len(sys.argv) > 2 else None
    main()
    if stamp:
        with open(stamp, "w") as f:
            f.write("ok\n")
