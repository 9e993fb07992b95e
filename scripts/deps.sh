#!/usr/bin/env bash
# deps.sh - install what Lockstep needs from Debian, if it is not there yet.
# Build: meson, ninja, a C compiler (gcc, clang with LLVM's libomp), pkg-config.
# Runtime accelerators (optional, on by default): OpenBLAS, OpenMP.
# Tests: Criterion; Debian's Python packages (under /usr/bin/python3): NumPy, ONNX, and
# PyTorch with torchvision and scikit-learn to export the example models and their outputs.
# Compiler (optional): the ONNX schema, protobuf-c and protoc-c; python3-onnx makes its test models.
set -euo pipefail
pkgs=(meson ninja-build pkg-config gcc clang libomp-dev libcriterion-dev libopenblas-dev python3-numpy
  libonnx-dev protobuf-c-compiler libprotobuf-c-dev python3-onnx
  python3-torch python3-torchvision python3-sklearn python3-scipy)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
echo "deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
