#!/usr/bin/env bash
# Builds the self-contained speechcodec wheel into OUT (default: target/wheels):
# the ONNX Runtime library (fetched into .ort/ if missing) and the shipped
# models go inside the package, in speechcodec/_data/, where the extension
# looks for them at run time.
#   codec-py/build-wheel.sh [OUT]      (needs maturin on PATH)
# It builds in target/maturin of the repository (CARGO_TARGET_DIR elsewhere),
# not in codec-py/target: one build folder for everything, which
# scripts/test-python.sh reuses. Cargo's progress shows: a first build takes
# minutes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$root/target/wheels}")
lib=$("$root/scripts/fetch-onnxruntime.sh")
data=$root/codec-py/python/speechcodec/_data
rm -rf "$data"
mkdir -p "$data/lib" "$data/models"
cp "$lib" "$(dirname "$lib")"/libonnxruntime_providers_shared.so "$data/lib/"
cp "$root/models/DEFAULT" "$data/models/"
for manifest in "$root"/models/*/manifest.json; do
    name=$(basename "$(dirname "$manifest")")
    mkdir -p "$data/models/$name"
    cp "$manifest" "$(dirname "$manifest")"/*.onnx "$(dirname "$manifest")"/*.safetensors "$data/models/$name/"
done
cd "$root/codec-py"
# Panic messages name source files: by their path in the repository or the
# crate registry, not on this machine.
export RUSTFLAGS="${RUSTFLAGS:-} --remap-path-prefix=$root=codec --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=cargo"
# Its own folder: the flags above make this build differ from the workspace's.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/maturin}"
maturin build --release -o "$out"
