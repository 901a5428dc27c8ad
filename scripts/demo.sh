#!/usr/bin/env bash
# The main job: encodes and decodes the shipped sample with the shipped default
# model and prints the bitrate and the speed. Installs ALSA's development
# files first if they are missing (the `codec` binary also drives sound cards).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/system-deps.sh
cargo run --release -p codec-cli -- roundtrip testdata/sample.wav sample.decoded.wav "$@"
