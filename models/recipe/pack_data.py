"""Build the data pack a GPU burst trains on (gpu_burst.py), small enough to
travel beside the working tree (64 MiB in all, issue 19).

  python pack_data.py                 # 1.8 h of training speech, 16 dev files, the warm start, wheels
  python pack_data.py --measure 120   # also PESQ-WB of 120 packed training files against the originals

Writes into --out (default models/recipe/pack/, git-ignored; carry it):
- train-NN.ogg: a deterministic sample of the training files (ordered by a
  hash of their ids, taken until --hours), concatenated with CropSampler's
  0.1 s gaps, in Ogg Opus (libsndfile's, at --level). Opus at about 18 kbps
  is transparent next to a 2 kbps codec and is what fits: 1.8 h of 16-bit
  PCM is 207 MB, FLAC about half that.
- dev-ID.flac: --dev-files dev files, chosen as train.py chooses them but
  among those of at most --dev-max-seconds, losslessly.
- init.safetensors: the warm start without its moving average (the burst
  starts a new one from the weights, as train.py does for a warm start that
  lacks it) and with its codebooks in float16: what fits.
- wheels/: soundfile and cffi for Python 3.12, which the GPU machine lacks.
- pack.json: what is where, with the sha256 of each chunk's decoded PCM.

The encoder writes a random Ogg serial number, so the bytes differ from run
to run; the decoded audio does not (pack.json's pcm_sha256).
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from codec_model.data import read_manifest
from codec_model.metrics import pesq_wb
from codec_model.pack import FORMAT, GAP, SAMPLE_RATE, VERSION, chunk_name, dev_name, load_pack, pcm_sha256, to_int16
from prepare_data import default_out
from warmstarts import ROOT, fetch

HERE = Path(__file__).resolve().parent
# Pinned: the wheels the GPU machine (CPython 3.12, manylinux x86_64) installs from the pack.
WHEELS = ["soundfile==0.14.0", "cffi==2.1.1", "pycparser==3.12"]
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"]
# The device tool's limit on what travels: tracked and untracked-not-ignored files plus carried paths.
TRAVEL_LIMIT = 64 * 2**20


def wav_path(data: Path, uid: str) -> Path:
    # prepare_data.py names every file by its id; the manifest's path is not used as one.
    if not all(c in "0123456789abcdef" for c in uid) or len(uid) != 12:
        raise ValueError(f"training id {uid!r} is not prepare_data.py's")
    return data / "wav" / f"{uid}.wav"


def select(entries, hours: float):
    """A deterministic, representative sample: ids in hash order until `hours`."""
    ordered = sorted(entries, key=lambda e: hashlib.sha256(e["id"].encode()).hexdigest())
    out, total = [], 0.0
    for e in ordered:
        if total >= hours * 3600:
            break
        out.append(e)
        total += float(e["seconds"])
    if total < hours * 3600:
        raise ValueError(f"only {total / 3600:.2f} h of training speech: fewer than --hours {hours}")
    return out


def split(entries, n: int):
    """n consecutive groups of about equal duration."""
    total = sum(float(e["seconds"]) for e in entries)
    groups, acc = [[] for _ in range(n)], 0.0
    for e in entries:
        groups[min(n - 1, int(acc / total * n))].append(e)
        acc += float(e["seconds"])
    return [g for g in groups if g]


def encode_chunk(job):
    """One chunk: its files and gaps, streamed to Ogg Opus; -> (samples, pcm sha256, file offsets)."""
    data, entries, path, level = job
    gap = np.zeros(GAP, dtype=np.int16)
    offsets, pos = [], 0
    with sf.SoundFile(str(path), "w", SAMPLE_RATE, 1, format="OGG", subtype="OPUS", compression_level=level) as f:
        for e in entries:
            audio, rate = sf.read(wav_path(data, e["id"]), dtype="int16")
            if rate != SAMPLE_RATE or audio.ndim != 1:
                raise ValueError(f"{e['id']}: {rate} Hz, {audio.ndim} dimension(s); prepare_data.py writes 16 kHz mono")
            f.write(audio)
            f.write(gap)
            offsets.append([e["id"], pos, len(audio)])
            pos += len(audio) + GAP
    decoded = to_int16(sf.read(str(path), dtype="float32")[0])
    if len(decoded) != pos:
        raise ValueError(f"{path.name}: decodes to {len(decoded)} samples, {pos} written")
    return pos, pcm_sha256(decoded), offsets


def dev_choice(data: Path, n: int, max_seconds: float):
    """load_files' rule (n files evenly spaced over the sorted ids), over the
    dev files no longer than max_seconds: one asterisk prompt of 74 s would
    take 1.5 MiB of the pack."""
    entries = [e for e in read_manifest(data, "dev") if float(e["seconds"]) <= max_seconds]
    return entries[:: max(1, len(entries) // n)][:n]


def travel_weights(name: str, out: Path) -> dict:
    src = fetch(name)
    with safe_open(str(src), "pt") as f:
        meta = f.metadata() or {}
    weights = {k: v for k, v in load_file(str(src)).items() if not k.startswith("ema.")}
    # Codebooks in half precision too: 2 MiB more for speech. They are EMA
    # tables that training rewrites a little every step.
    weights = {k: v.half() if k.endswith(".embed") else v for k, v in weights.items()}
    save_file(weights, str(out), metadata=meta | {"name": name})
    return meta


def download_wheels(folder: Path):
    folder.mkdir(exist_ok=True)
    for spec in WHEELS:
        stem = spec.split("==")[0].replace("-", "_") + "-" + spec.split("==")[1] + "-"
        if any(p.name.startswith(stem) for p in folder.glob("*.whl")):
            continue
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               "--python-version", "3.12", "--implementation", "cp", "-d", str(folder), spec]
        for p in PLATFORMS:
            cmd += ["--platform", p]
        subprocess.run(cmd, check=True)


def measure(pack: Path, data: Path, index: dict, n: int):
    """PESQ-WB of n packed training files (evenly spaced) against the originals."""
    audio, _, _, differ = load_pack(pack, threads=2)
    files, base = [], 0
    for c in index["chunks"]:
        files += [(uid, base + start, length) for uid, start, length in c["files"]]
        base += c["samples"]
    scores = []
    for uid, start, length in files[:: max(1, len(files) // n)][:n]:
        ref, _ = sf.read(wav_path(data, uid), dtype="float32")
        deg = audio[start : start + length].astype(np.float32) / 32768.0
        scores.append(pesq_wb(ref, deg))
    s = np.array(scores)
    return {"files": len(s), "pesq_wb_mean": round(float(np.nanmean(s)), 3), "pesq_wb_min": round(float(np.nanmin(s)), 3),
            "pesq_wb_p10": round(float(np.nanpercentile(s, 10)), 3), "unscored": int(np.isnan(s).sum()),
            "chunks_decoding_differently": differ}


def tree_bytes() -> int:
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           check=True, capture_output=True).stdout.split(b"\0")
    return sum(os.path.getsize(ROOT / f.decode()) for f in files if f and os.path.isfile(ROOT / f.decode()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=default_out())
    ap.add_argument("--out", type=Path, default=HERE / "pack")
    ap.add_argument("--hours", type=float, default=1.8)
    ap.add_argument("--level", type=float, default=0.95, help="libsndfile's Opus compression level (0.95: about 18 kbps)")
    ap.add_argument("--chunks", type=int, default=8, help="files to decode in parallel on the GPU machine")
    ap.add_argument("--dev-files", type=int, default=16)
    ap.add_argument("--dev-max-seconds", type=float, default=20.0)
    ap.add_argument("--warmstart", default="mcrvq", help="warm start to travel (warmstarts.py name)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--measure", type=int, default=0, help="PESQ-WB of this many packed files against the originals")
    args = ap.parse_args()
    out: Path = args.out
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        sys.exit(f"pack_data.py: {out} is not a folder: not replaced")
    out.mkdir(parents=True, exist_ok=True)
    for old in list(out.glob("train-*.ogg")) + list(out.glob("dev-*.flac")):
        old.unlink()

    train = select(read_manifest(args.data, "train"), args.hours)
    groups = split(train, args.chunks)
    jobs = [(args.data, g, out / chunk_name(i), args.level) for i, g in enumerate(groups)]
    with ProcessPoolExecutor(args.jobs) as pool:
        encoded = list(pool.map(encode_chunk, jobs))
    chunks = [{"samples": n, "pcm_sha256": h, "files": offs} for n, h, offs in encoded]

    dev = []
    for e in dev_choice(args.data, args.dev_files, args.dev_max_seconds):
        pcm, _ = sf.read(wav_path(args.data, e["id"]), dtype="int16")
        uid = e["id"]
        sf.write(str(out / dev_name(uid)), pcm, SAMPLE_RATE, subtype="PCM_16", format="FLAC")
        dev.append({"id": uid, "samples": len(pcm), "pcm_sha256": pcm_sha256(pcm)})

    meta = travel_weights(args.warmstart, out / "init.safetensors")
    download_wheels(out / "wheels")
    index = {"format": FORMAT, "version": VERSION, "sample_rate": SAMPLE_RATE, "gap": GAP,
             "opus_level": args.level, "hours": round(sum(c["samples"] for c in chunks) / SAMPLE_RATE / 3600, 3),
             "train_files": len(train), "warmstart": {"name": args.warmstart, "step": meta.get("step")},
             "chunks": chunks, "dev": dev}
    (out / "pack.json").write_text(json.dumps(index) + "\n")

    sizes = {p.name: p.stat().st_size for p in sorted(out.rglob("*")) if p.is_file()}
    train_bytes = sum(v for k, v in sizes.items() if k.endswith(".ogg"))
    pack_bytes, tree = sum(sizes.values()), tree_bytes()
    print(f"train: {len(train)} files, {index['hours']} h in {len(chunks)} chunks, {train_bytes / 2**20:.2f} MiB "
          f"({train_bytes * 8 / (index['hours'] * 3600) / 1000:.1f} kbps)")
    print(f"dev: {len(dev)} files, {sum(v for k, v in sizes.items() if k.startswith('dev-')) / 2**20:.2f} MiB; "
          f"init.safetensors {sizes['init.safetensors'] / 2**20:.2f} MiB (step {meta.get('step')}); "
          f"wheels {sum(v for k, v in sizes.items() if k.endswith('.whl')) / 2**20:.2f} MiB")
    print(f"pack {pack_bytes / 2**20:.2f} MiB + travelling tree {tree / 2**20:.2f} MiB = "
          f"{(pack_bytes + tree) / 2**20:.2f} MiB of 64")
    if pack_bytes + tree > TRAVEL_LIMIT:
        print("pack_data.py: too big to travel: lower --level (bit rate) or --hours", file=sys.stderr)
        return 1
    if args.measure:
        m = measure(out, args.data, index, args.measure)
        print(json.dumps({"pack_vs_original": m}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
