#!/usr/bin/env bash
# Measures the end-to-end delay of `codec loopback` on a real audio path (a
# headless PulseAudio, see scripts/pulse-null.sh): speech is played into the
# microphone side for SECONDS (default 60), both sides are recorded together,
# and the delay is found in every 10 s window. Prints the codec's own summary
# (xruns, concealment, its delay estimate) and the measured delays.
#
#   scripts/measure-latency.sh [SECONDS] [extra codec loopback options...]
#   CODEC_CALL=network scripts/measure-latency.sh [SECONDS] [extra codec send options...]
#
# With CODEC_CALL=network the call is `codec send` to a `codec receive` on
# 127.0.0.1 instead of a loopback (the send options set the simulated
# network: --jitter 20 --loss 2), and the receiver's jitter buffer depth is
# printed for each 10 s.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
work="$(mktemp -d)"
export CODEC_PULSE_DIR="$work/pulse"
# At debug level the server logs every underrun of the call's streams.
export CODEC_PULSE_LOG_LEVEL=debug
eval "$(scripts/pulse-null.sh start)"
trap 'kill $(jobs -p) 2> /dev/null || true; scripts/pulse-null.sh stop; rm -rf "$work"' EXIT

cargo build --release -q -p codec-cli -p codec-stream --bins --examples
codec=target/release/codec
# Every stream is in place before the call starts and stays until it ends: a
# stream joining or leaving the sink makes PulseAudio rewind and reconfigure
# it, which the call would suffer as an underrun that real use never sees.
target/release/examples/measure_delay make "$((seconds + 15))" "$work/input.wav"
paplay -d mic "$work/input.wav" &
play_pid=$!
parec -d duplex.monitor --raw --format=s16le --rate=48000 --channels=2 > "$work/duplex.raw" &
rec_pid=$!
sleep 2
if [ "${CODEC_CALL:-loopback}" = network ]; then
    port=$((20000 + RANDOM % 20000))
    "$codec" receive --listen "127.0.0.1:$port" --duration "$((seconds + 2))" 2> "$work/receive.log" &
    receive_pid=$!
    sleep 1
    "$codec" send --to "127.0.0.1:$port" --duration "$seconds" "$@" 2> "$work/loopback.log" &
else
    "$codec" loopback --duration "$seconds" "$@" 2> "$work/loopback.log" &
fi
call_pid=$!
# What the server granted the call's streams, a few seconds in: its
# latencies are the sound server's share of the delay.
sleep "$((seconds < 20 ? seconds / 2 : 10))"
pactl list source-outputs > "$work/streams.txt" 2>&1 || true
pactl list sink-inputs >> "$work/streams.txt" 2>&1 || true
server_pid="$(cat "$work/pulse/runtime/pulse/pid" 2> /dev/null || true)"
server_ticks() { awk '{print $14 + $15}' "/proc/$server_pid/stat" 2> /dev/null || echo 0; }
ticks_before="$(server_ticks)"
wait "$call_pid" || { cat "$work/loopback.log"; exit 1; }
ticks_after="$(server_ticks)"
if [ -n "${receive_pid:-}" ]; then
    wait "$receive_pid" || { cat "$work/receive.log"; exit 1; }
    echo "receiver's jitter buffer depth/target, frames, at the end of each 10 s (and its delay estimate):"
    grep '^received' "$work/receive.log" | awk -F'[|(]' 'NR % 10 == 0 { printf "  %3d s: %s |%s\n", NR, $3, $2 }'
    tail -n "${CODEC_LOG_LINES:-3}" "$work/receive.log"
fi
kill "$rec_pid" "$play_pid"
echo "the call's streams at $((seconds < 20 ? seconds / 2 : 10)) s (buffer latency, sink/source latency):"
grep -E "^(Source Output|Sink Input) #|media.name|Buffer Latency|(Sink|Source) Latency" "$work/streams.txt" | sed 's/^[[:space:]]*/  /'
echo "notices during the call: $(grep -c '^notice' "$work/loopback.log" || true)"
tail -n "${CODEC_LOG_LINES:-3}" "$work/loopback.log"
echo "sound server CPU during the call (after its first seconds): $(( (ticks_after - ticks_before) / $(getconf CLK_TCK) )) s"
echo "sound server: $(grep -c "Implicit underrun" "$work/pulse/pulse.log" || true) playback underruns, $(grep -ci overrun "$work/pulse/pulse.log" || true) overrun lines"
cp "$work/pulse/pulse.log" "${CODEC_PULSE_LOG_COPY:-/dev/null}"
target/release/examples/measure_delay "$work/duplex.raw" | tail -n 1
