#!/usr/bin/env bash
# Measures the end-to-end delay of `codec loopback` on a real audio path (a
# headless PulseAudio, see scripts/pulse-null.sh): speech is played into the
# microphone side for SECONDS (default 60), both sides are recorded together,
# and the delay is found in every 10 s window. Prints the codec's own summary
# (xruns, concealment, its delay estimate) and the measured delays.
#
#   scripts/measure-latency.sh [SECONDS] [extra codec loopback options...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
work="$(mktemp -d)"
export CODEC_PULSE_DIR="$work/pulse"
eval "$(scripts/pulse-null.sh start)"
trap 'kill $(jobs -p) 2> /dev/null || true; scripts/pulse-null.sh stop; rm -rf "$work"' EXIT

cargo build --release -q -p codec-cli -p codec-stream --examples
codec=target/release/codec
"$codec" loopback --duration "$((seconds + 6))" "$@" 2> "$work/loopback.log" &
loop_pid=$!
sleep 3
parec -d duplex.monitor --raw --format=s16le --rate=48000 --channels=2 > "$work/duplex.raw" &
rec_pid=$!
sleep 0.5
target/release/examples/measure_delay make "$seconds" "$work/input.wav"
paplay -d mic "$work/input.wav"
# The recorder stays until the call ends: one leaving the sink makes
# PulseAudio reconfigure it, which the call would count as xruns.
wait "$loop_pid" || { cat "$work/loopback.log"; exit 1; }
kill "$rec_pid"
echo "notices during the call: $(grep -c '^notice' "$work/loopback.log" || true)"
tail -n 3 "$work/loopback.log"
target/release/examples/measure_delay "$work/duplex.raw" | tail -n 1
