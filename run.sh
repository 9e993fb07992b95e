#!/usr/bin/env bash
# run.sh - set everything up and run the main job: install what is missing, build Lockstep,
# calibrate this CPU (once), export ResNet-18 from PyTorch (seeded weights), compile it to a
# static schedule and run it, printing the cycle count (known before the run), the time
# predicted for the target's clock and for this host, the latency measured on this host, and
# the difference from PyTorch's output.
set -euo pipefail
cd "$(dirname "$0")"
model=${1:-resnet18}
scripts/deps.sh
scripts/build.sh build
mkdir -p generated/models
[ -f "generated/models/$model.onnx" ] || /usr/bin/python3 examples/export_models.py generated/models --only "$model"
# measure this CPU once, so that the latency on this host is predicted before the run
calib=${LOCKSTEP_CALIBRATION:-${XDG_CONFIG_HOME:-$HOME/.config}/lockstep/calibration}
[ -f "$calib" ] || ./build/tools/lockstep calibrate -o "$calib"
./build/tools/lockstep compile "generated/models/$model.onnx" -o "generated/$model.lsp"
./build/tools/lockstep run "generated/$model.lsp" --input "generated/models/${model}_input.npy" \
  -o "generated/${model}_output.npy" --runs 20 --threads 1
/usr/bin/python3 -c "
import numpy as np
y, ref = np.load('generated/${model}_output.npy'), np.load('generated/models/${model}_output.npy')
print('pytorch:   max difference %.3g relative to the largest output' % (abs(y - ref).max() / abs(ref).max()))"
