"""Encode throughput of speechcodec against `codec tokenize` on the same
files, one and two threads, in hours of audio an hour; and the C example's
time per frame. Prints a Markdown table.

    .venv/bin/python benches/python_speed.py [--minutes 20] [--runs 3] [--codec target/release/codec]

Needs the speechcodec wheel installed in the interpreter that runs it, the
release `codec` binary, and for the C figure the release codec-ffi library
and a C compiler (left out, and said so, when missing). The corpus is
testdata/sample.wav repeated into 60 s files, written to a temporary folder.
"""

import argparse
import concurrent.futures
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import time
import wave

import numpy as np

import speechcodec

ROOT = pathlib.Path(__file__).resolve().parents[1]
TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"


def make_corpus(folder, minutes):
    with wave.open(str(ROOT / "testdata" / "sample.wav")) as w:
        rate, pcm = w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    minute = np.tile(pcm, 60 * rate // len(pcm) + 1)[: 60 * rate]
    for i in range(minutes):
        with wave.open(str(folder / f"{i:03}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(np.roll(minute, i * 997).tobytes())
    return minutes * 60.0


def timed(fn, runs):
    """The fastest of `runs` runs: the least disturbed by the rest of the machine."""
    walls = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - start)
    return min(walls)


def cli(codec, corpus, jobs, scratch):
    out = scratch / f"cli-{jobs}"
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run([codec, "tokenize", corpus, out, "--jobs", str(jobs), "--quiet"], check=True)


def python(model, corpus, jobs):
    files = [p for _, p in speechcodec.list_inputs(corpus)]

    def encode(path):
        audio, rate = speechcodec.read_audio(path)
        return model.encode(audio, rate)

    # One model shared by the threads: the GIL is released while the networks run.
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        list(pool.map(encode, files))


def c_per_frame(scratch):
    lib = TARGET / "libcodec_ffi.so"
    cc = shutil.which(os.environ.get("CC", "cc"))
    if not lib.is_file() or not cc:
        return f"left out: no {lib} (cargo build --release -p codec-ffi) or no C compiler"
    exe = scratch / "encode_decode"
    subprocess.run(
        [cc, "-O2", f"-I{ROOT / 'codec-ffi' / 'include'}", ROOT / "codec-ffi" / "examples" / "c" / "encode_decode.c",
         f"-L{TARGET}", "-lcodec_ffi", f"-Wl,-rpath,{TARGET}", "-o", exe],
        check=True,
    )
    done = subprocess.run([exe, ROOT / "testdata" / "sample.wav"], capture_output=True, text=True)
    if done.returncode != 0:
        return f"left out: the example failed: {done.stderr.strip()}"
    out = done.stdout
    return " ".join(line.strip() for line in out.splitlines() if re.search("median", line))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=int, default=20, help="minutes of audio in the corpus")
    ap.add_argument("--runs", type=int, default=3, help="runs of each; the fastest counts")
    ap.add_argument("--codec", default=str(TARGET / "codec"), help="the codec binary")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scratch = pathlib.Path(tmp)
        corpus = scratch / "corpus"
        corpus.mkdir()
        seconds = make_corpus(corpus, args.minutes)
        model = speechcodec.Model()
        python(model, corpus, 1)  # warm: the library loaded, the files in the page cache
        load = os.getloadavg()[0]
        print(f"{args.minutes} files of 60 s, model {model.name}, {os.cpu_count()} CPUs, load {load:.1f}; fastest of {args.runs}\n")
        print("| encoder | threads | wall s | hours of audio an hour |\n|---|---|---|---|")
        for jobs in (1, 2):
            for name, run in (
                ("`codec tokenize`", lambda: cli(args.codec, corpus, jobs, scratch)),
                ("speechcodec `Model.encode`", lambda: python(model, corpus, jobs)),
            ):
                wall = timed(run, args.runs)
                print(f"| {name} | {jobs} | {wall:.2f} | {seconds / wall:.0f} |")
        print(f"\nC example, one frame a call: {c_per_frame(scratch)}")


if __name__ == "__main__":
    main()
