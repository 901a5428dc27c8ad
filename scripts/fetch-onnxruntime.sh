#!/usr/bin/env bash
# Fetches the ONNX Runtime shared library that the runtime loads (ort's load-dynamic)
# from the onnxruntime wheel on PyPI, into DEST (default: .ort/ at the repository root).
#   scripts/fetch-onnxruntime.sh [--gpu] [DEST]
# --gpu takes the onnxruntime-gpu wheel, which carries the CUDA and TensorRT providers.
set -euo pipefail
VERSION=1.31.1
package=onnxruntime
if [ "${1:-}" = "--gpu" ]; then package=onnxruntime-gpu; shift; fi
root=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$root/.ort}
[ "$package" = onnxruntime-gpu ] && dest=${1:-$root/.ort-gpu}
lib=$dest/libonnxruntime.so.$VERSION
if [ -f "$lib" ]; then echo "$lib"; exit 0; fi
command -v python3 >/dev/null || { echo "fetch-onnxruntime: python3 is needed to fetch the wheel" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: \
  --platform manylinux_2_27_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --python-version 3.11 --implementation cp -d "$tmp" "$package==$VERSION" >&2
wheel=$(ls "$tmp"/*.whl)
mkdir -p "$dest"
python3 - "$wheel" "$dest" <<'PY'
import sys, zipfile, os
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        if "/capi/" in name and base.startswith(("libonnxruntime", "libonnxruntime_providers")) and ".so" in base:
            with z.open(name) as src, open(os.path.join(dest, base), "wb") as out:
                out.write(src.read())
PY
[ -f "$lib" ] || { echo "fetch-onnxruntime: $lib not found in $wheel" >&2; exit 1; }
echo "$lib"
