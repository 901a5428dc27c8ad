#!/usr/bin/env bash
# Rewrites docs/samples/: testdata/sample.wav and docs/samples/low-voice.wav
# (a low male voice) through the default model at three bitrates and through
# Opus at two, for the README's listening tables.
# Needs the release binary (cargo build --release -p codec-cli) and opus-tools.
# Run it again whenever the default model changes.
set -euo pipefail
cd "$(dirname "$0")/.."
codec=${CODEC:-target/release/codec}
out=docs/samples
command -v opusenc >/dev/null || { echo "make-samples: opusenc missing (apt-get install opus-tools)" >&2; exit 1; }
[ -x "$codec" ] || { echo "make-samples: $codec missing (cargo build --release -p codec-cli)" >&2; exit 1; }
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# input, and the prefix of its decodes' names
for pair in "testdata/sample.wav:" "$out/low-voice.wav:low-voice-"; do
  in=${pair%%:*}
  prefix=${pair#*:}
  for kbps in 1.5 2 4; do
    "$codec" encode -q --kbps "$kbps" "$in" "$tmp/codec.tok"
    "$codec" decode -q "$tmp/codec.tok" "$out/${prefix}codec-${kbps}kbps.wav"
  done
  for kbps in 6 8; do
    # 20 ms frames, as benches/eval does; opusdec writes the input's rate.
    opusenc --quiet --bitrate "$kbps" --framesize 20 "$in" "$tmp/opus.opus" 2> >(grep -v "Skipping chunk" >&2)
    opusdec --quiet --rate 16000 "$tmp/opus.opus" "$out/${prefix}opus-${kbps}kbps.wav"
  done
done
ls -l "$out"
