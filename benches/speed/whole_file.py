"""Whole-file speed and peak memory: `codec roundtrip` on one thread against
`opusenc` + `opusdec` at 8 kbps (20 ms frames) on the same minute of speech,
in the same run, and the peak memory of `codec loopback` through files.

  python benches/speed/whole_file.py [--seconds 60] [--runs 5]

Needs a release build (`cargo build --release -p codec-cli`) and opus-tools.
The input is the shipped sample repeated to the length asked for. Times are
wall-clock medians of whole processes (loading the model and the files
included); memory is the peak resident size of each process.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[2]
CODEC = REPO / "target" / "release" / "codec"


def run(cmd: list) -> tuple:
    """Wall seconds and peak resident MiB of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed: {err.strip()}")
    return wall, usage.ru_maxrss / 1024


def measure(name: str, commands: list, runs: int, seconds: float) -> dict:
    walls, peaks = [], []
    for _ in range(runs):
        wall, peak = 0.0, 0.0
        for cmd in commands:
            w, p = run(cmd)
            wall, peak = wall + w, max(peak, p)
        walls.append(wall)
        peaks.append(peak)
    wall = statistics.median(walls)
    return {"name": name, "wall": wall, "rtf": seconds / wall, "peak": max(peaks)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--loopback-seconds", type=float, default=10.0,
                    help="length of the file `codec loopback` plays at real-time pace for its memory figure")
    args = ap.parse_args()
    if not CODEC.exists():
        sys.exit("no release build: run `cargo build --release -p codec-cli` first")
    for tool in ("opusenc", "opusdec"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found: install opus-tools")
    sample, rate = sf.read(REPO / "testdata" / "sample.wav", dtype="float32")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        signal = np.resize(sample, int(args.seconds * rate))
        sf.write(tmp / "in.wav", signal, rate, subtype="PCM_16")
        short = np.resize(sample, int(args.loopback_seconds * rate))
        sf.write(tmp / "short.wav", short, rate, subtype="PCM_16")
        rows = [
            measure("codec roundtrip (default model, 2 kbps, one thread)",
                    [[CODEC, "roundtrip", tmp / "in.wav", tmp / "codec.wav", "--threads", "1"]], args.runs, args.seconds),
            measure("opusenc + opusdec (8 kbps, 20 ms frames)",
                    [["opusenc", "--quiet", "--bitrate", "8", "--framesize", "20", tmp / "in.wav", tmp / "x.opus"],
                     ["opusdec", "--quiet", "--rate", "16000", tmp / "x.opus", tmp / "opus.wav"]], args.runs, args.seconds),
        ]
        _, loop_peak = run([CODEC, "loopback", "--input", tmp / "short.wav", "--output", tmp / "loop.wav", "-q"])
    print(f"{args.seconds:.0f} s of speech, median of {args.runs} runs, whole processes\n")
    print("| command | wall | realtime factor | peak memory |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['name']} | {r['wall'] * 1000:.0f} ms | {r['rtf']:.0f}x | {r['peak']:.0f} MiB |")
    print(f"| codec loopback, {args.loopback_seconds:.0f} s file to file at real-time pace | - | - | {loop_peak:.0f} MiB |")
    ratio = rows[0]["rtf"] / rows[1]["rtf"]
    print(f"\ncodec roundtrip is {ratio:.2f}x the speed of opusenc + opusdec at 8 kbps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
