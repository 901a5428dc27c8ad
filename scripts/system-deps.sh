#!/usr/bin/env bash
# Installs the system packages the build and the tests need, when missing:
# ALSA's development files (cpal links libasound) and pkg-config, python3-venv
# (the Python package's tests); with --audio-server also PulseAudio and its
# ALSA plugin, for the tests that run calls on a headless sound server; with
# --peer-stacks tshark and GStreamer, which receive our RTP calls in the
# tests. Uses apt-get (through sudo when not root).
set -euo pipefail

packages=()
pkg-config --exists alsa 2> /dev/null || packages+=(libasound2-dev pkg-config)
# The Python package's tests build and install it in venvs (scripts/test-python.sh).
python3 -c 'import ensurepip, venv' 2> /dev/null || packages+=(python3-venv)
for option in "$@"; do
    case "$option" in
        --audio-server)
            command -v pulseaudio > /dev/null || packages+=(pulseaudio)
            command -v parec > /dev/null || packages+=(pulseaudio-utils)
            dpkg -s libasound2-plugins > /dev/null 2>&1 || packages+=(libasound2-plugins)
            ;;
        --peer-stacks)
            command -v tshark > /dev/null || packages+=(tshark)
            command -v gst-launch-1.0 > /dev/null || packages+=(gstreamer1.0-tools)
            dpkg -s gstreamer1.0-plugins-good > /dev/null 2>&1 || packages+=(gstreamer1.0-plugins-good)
            dpkg -s gstreamer1.0-plugins-bad > /dev/null 2>&1 || packages+=(gstreamer1.0-plugins-bad)
            ;;
        *)
            echo "unknown option $option (--audio-server, --peer-stacks)" >&2
            exit 2
            ;;
    esac
done
[ ${#packages[@]} -eq 0 ] && exit 0

if ! command -v apt-get > /dev/null; then
    echo "missing system packages: ${packages[*]} (no apt-get here: install them with your package manager)" >&2
    exit 1
fi
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "installing ${packages[*]}" >&2
# tshark's package asks whether unprivileged users may capture: no (the
# tests capture as root, or say that they cannot).
echo "wireshark-common wireshark-common/install-setuid boolean false" | "${sudo[@]}" debconf-set-selections
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${packages[@]}" > /dev/null
