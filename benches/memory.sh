#!/usr/bin/env bash
# Peak memory (max RSS, from /usr/bin/time -v) of `codec encode` and `codec
# decode` on a long input made by repeating testdata/sample.wav, to show that
# memory does not grow with the length of the file.
#
#   benches/memory.sh [HOURS...]     # default: 1 10; needs /usr/bin/time and python3
#   CODEC=path/to/codec benches/memory.sh 1
#
# The long inputs (115 MB an hour at 16 kHz) go to a temporary folder that is
# removed at the end; nothing is written into the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
codec=${CODEC:-}
if [ -z "$codec" ]; then
    cargo build --release -q -p codec-cli
    codec="${CARGO_TARGET_DIR:-target}/release/codec"
fi
[ -x /usr/bin/time ] || { echo "memory.sh: /usr/bin/time is needed (apt-get install time)" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# A 16-bit mono WAV of HOURS hours: the sample's PCM repeated, written in pieces.
make_input() {
    python3 - "$1" "$2" << 'EOF'
import sys, wave
hours, out = float(sys.argv[1]), sys.argv[2]
with wave.open("testdata/sample.wav") as w:
    params, pcm = w.getparams(), w.readframes(w.getnframes())
want = int(hours * 3600 * params.framerate) * params.sampwidth * params.nchannels
with wave.open(out, "wb") as o:
    o.setparams(params)
    written = 0
    while written < want:
        piece = pcm[: want - written]
        o.writeframes(piece)
        written += len(piece)
EOF
}

# Prints "<max RSS in MiB> MiB, <wall> s" for one command.
peak() {
    /usr/bin/time -v "$@" 2> "$tmp/time" > /dev/null || { cat "$tmp/time" >&2; exit 1; }
    awk -F': ' '/Maximum resident/ { rss = $2 } /Elapsed/ { wall = $2 }
        END { printf "%.0f MiB, %s wall", rss / 1024, wall }' "$tmp/time"
}

echo "| input | encode peak | decode peak |"
echo "|---|---|---|"
for hours in "${@:-1 10}"; do
    make_input "$hours" "$tmp/long.wav"
    enc=$(peak "$codec" encode -q "$tmp/long.wav" "$tmp/long.tok")
    dec=$(peak "$codec" decode -q "$tmp/long.tok" "$tmp/long.out.wav")
    echo "| $hours h at 16 kHz | $enc | $dec |"
    rm -f "$tmp/long.wav" "$tmp/long.tok" "$tmp/long.out.wav"
done
