#!/usr/bin/env bash
# Runs every speed benchmark and writes their figures to benches/speed/results.md:
# the parts (criterion: quantizers against the distance loop, DSP, packing,
# the networks through ONNX Runtime), the same networks in PyTorch where it
# is installed, and whole files against opusenc + opusdec with peak memory.
#
#   benches/speed.sh            # about 10 minutes on 2 cores; run it on a quiet machine
set -euo pipefail
cd "$(dirname "$0")/.."
out=benches/speed/results.md
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
cargo build --release -q -p codec-cli
{
    echo "# Speed benchmarks: last run"
    echo
    echo "$(date -u +%Y-%m-%d), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), \`benches/speed.sh\`"
    echo
    echo "## Parts (criterion; median time an iteration)"
    echo
    echo '```text'
    cargo bench -q -p codec-benches --benches -- --output-format bencher 2> /dev/null | grep "^test"
    echo '```'
    echo
    echo "## The networks in PyTorch (the reference for \`--bench codec\`)"
    echo
    if python3 -c 'import torch' 2> /dev/null; then
        python3 benches/speed/torch_reference.py
    else
        echo "PyTorch is not installed here (pip install -r models/recipe/requirements.txt): not measured."
    fi
    echo
    echo "## Whole files and peak memory"
    echo
    python3 benches/speed/whole_file.py
} | tee "$tmp"
mv "$tmp" "$out"
trap - EXIT
echo "written to $out"
