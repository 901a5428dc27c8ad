#!/usr/bin/env bash
# Starts a headless PulseAudio with virtual sound cards, for the realtime
# tests and the latency measurement on machines with no sound card.
#
#   eval "$(scripts/pulse-null.sh start)"   # exports XDG_RUNTIME_DIR: clients find the server's socket under it
#   scripts/pulse-null.sh stop
#
# One stereo null sink, `duplex`, carries both ends of a call so a single
# recording of its monitor holds them sample-aligned:
#   - `mic` (sink): what is played into it lands on duplex's left channel;
#     `mic_in` (source) captures that left channel: the call's microphone;
#   - `spk` (sink): the call's speaker, landing on duplex's right channel.
# `mic_in` and `spk` are the defaults, so `codec loopback` uses them as its
# microphone and speaker; `parec -d duplex.monitor` records input (left)
# beside output (right).
set -euo pipefail

dir="${CODEC_PULSE_DIR:-/tmp/codec-pulse}"

case "${1:-start}" in
start)
    mkdir -p "$dir/runtime"
    chmod 700 "$dir/runtime"
    cat > "$dir/default.pa" <<'PA'
load-module module-native-protocol-unix auth-anonymous=1
load-module module-null-sink sink_name=duplex channels=2 channel_map=front-left,front-right rate=48000
load-module module-remap-sink sink_name=mic master=duplex channels=1 channel_map=mono master_channel_map=front-left remix=no
load-module module-remap-sink sink_name=spk master=duplex channels=1 channel_map=mono master_channel_map=front-right remix=no
load-module module-remap-source source_name=mic_in master=duplex.monitor channels=1 channel_map=mono master_channel_map=front-left remix=no
set-default-sink spk
set-default-source mic_in
PA
    export XDG_RUNTIME_DIR="$dir/runtime"
    if ! pactl info > /dev/null 2>&1; then
        pulseaudio --daemonize=yes --system=no --disable-shm=yes --realtime=yes --high-priority=yes --exit-idle-time=-1 \
            -n -F "$dir/default.pa" --log-target=file:"$dir/pulse.log" --log-level="${CODEC_PULSE_LOG_LEVEL:-notice}" --log-time=yes
        for _ in $(seq 50); do
            pactl info > /dev/null 2>&1 && break
            sleep 0.1
        done
    fi
    pactl info > /dev/null
    # A desktop's server runs realtime through rtkit, but only its I/O threads.
    # With shared memory off, every request for more audio goes to a client
    # through the main thread, so here all of them run realtime (FIFO 5, the
    # priority PulseAudio gives its I/O threads), where the system allows it.
    pid="$(cat "$dir/runtime/pulse/pid" 2> /dev/null || true)"
    if [ -n "$pid" ] && ! chrt -a -f -p 5 "$pid" > /dev/null 2>&1; then
        echo "pulse-null.sh: realtime scheduling refused; the server runs at normal priority" >&2
    fi
    echo "export XDG_RUNTIME_DIR=$dir/runtime"
    ;;
stop)
    XDG_RUNTIME_DIR="$dir/runtime" pulseaudio --kill 2> /dev/null || true
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
