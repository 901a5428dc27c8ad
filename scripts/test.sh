#!/usr/bin/env bash
# The whole test suite. Installs what the tests need first if it is missing:
# ALSA's development files, and PulseAudio for the tests that run calls on a
# headless sound server (they start their own; none is needed beforehand),
# tshark and GStreamer, which receive our RTP calls in the tests, and
# python3-venv for the Python package's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/system-deps.sh --audio-server --peer-stacks
cargo test --workspace "$@"
# The Python wheel in a fresh venv: its tests and the Ray example's.
scripts/test-python.sh
