#!/usr/bin/env bash
# The Python package as a user gets it: builds the speechcodec wheel (maturin
# in a build venv; ONNX Runtime and the models inside), installs it into a
# fresh venv in a temporary folder with pytest and Ray, and runs codec-py's
# tests from outside the checkout, the Ray example's included. They compare
# with the `codec` binary the workspace tests built (CODEC_BIN, default
# target/debug/codec). Prints how long each step took.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
export CODEC_BIN=${CODEC_BIN:-$target/debug/codec}
[ -x "$CODEC_BIN" ] || (cd "$root" && cargo build -p codec-cli)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
step() {
    local name=$1 start=$SECONDS
    shift
    "$@"
    echo "test-python: $name took $((SECONDS - start)) s" >&2
}
step "the build venv" bash -c "python3 -m venv '$tmp/build' && '$tmp/build/bin/pip' install -q 'maturin>=1.5,<2'"
# Its own target folder: maturin's build of codec-core is not the workspace's.
step "the wheel" env PATH="$tmp/build/bin:$PATH" CARGO_TARGET_DIR="$target/maturin" \
    "$root/codec-py/build-wheel.sh" "$tmp/wheels"
step "the fresh venv" bash -c "python3 -m venv '$tmp/venv' && '$tmp/venv/bin/pip' install -q '$tmp'/wheels/speechcodec-*.whl pytest 'ray[data]==2.60.0'"
cd "$tmp"
step "the Python tests" env CODEC_REQUIRE_RAY=1 CARGO_TARGET_DIR="$target" \
    "$tmp/venv/bin/python" -m pytest -q -p no:cacheprovider "$root/codec-py/tests"
