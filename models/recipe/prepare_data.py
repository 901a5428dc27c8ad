"""Fetch and prepare the training speech from Debian packages.

Downloads the packages with `apt-get download`, extracts them, decodes every
speech file to 16 kHz mono 16-bit WAV with ffmpeg (asterisk's raw G.722 with
`-f g722`), drops silence-only and very short files, and writes deterministic
manifests: train.jsonl, valid.jsonl (a hash-chosen 2% of the training
sources) and dev.jsonl (asterisk Russian, never trained on).

Russian speech from any package is kept out of train and valid so that the dev
set stays an unseen language with unseen voices.

Usage: python prepare_data.py [--out DIR]   (default: $CODEC_DATA or ~/.cache/codec-data)
"""

import argparse
import concurrent.futures as cf
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

SAMPLE_RATE = 16000
MIN_SECONDS = 0.5
# A file whose loudest 20 ms frame is below this is taken as silence.
SILENCE_DBFS = -45.0

PACKAGES = [
    "asterisk-core-sounds-en-g722",
    "asterisk-core-sounds-es-g722",
    "asterisk-core-sounds-fr-g722",
    "asterisk-core-sounds-it-g722",
    "asterisk-core-sounds-ru-g722",
    "fillets-ng-data",
    "fillets-ng-data-cs",
    "fillets-ng-data-nl",
    "klettres-data",
]
FILLETS_SPEECH_LANGS = {"en", "cs", "nl"}


def default_out() -> Path:
    env = os.environ.get("CODEC_DATA")
    return Path(env) if env else Path.home() / ".cache" / "codec-data"


def fetch_debs(debs: Path) -> None:
    debs.mkdir(parents=True, exist_ok=True)
    missing = [p for p in PACKAGES if not list(debs.glob(f"{p}_*.deb"))]
    if missing:
        print(f"downloading {len(missing)} packages", flush=True)
        subprocess.run(["apt-get", "download", *missing], cwd=debs, check=True)


def extract(debs: Path, root: Path) -> None:
    marker = root / ".extracted"
    if marker.exists():
        return
    root.mkdir(parents=True, exist_ok=True)
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
    marker.touch()


def classify(path: Path, root: Path):
    """Return (source, language, speaker) for a speech file, or None to skip it."""
    rel = path.relative_to(root).parts
    if path.suffix == ".g722" and "asterisk" in rel:
        voice = rel[rel.index("sounds") + 1]  # e.g. ru_RU_f_IvrvoiceRU
        return "asterisk", voice.split("_")[0], voice
    if path.suffix == ".ogg" and "fillets-ng" in rel:
        lang = path.parent.name
        if lang not in FILLETS_SPEECH_LANGS:
            return None  # music and sound effects
        # Names look like `vit-m-hlava.ogg`: the level, then the speaking fish.
        speaker = path.stem.split("-")[1] if "-" in path.stem else "x"
        return "fillets", lang, f"fillets-{lang}-{speaker}"
    if path.suffix == ".ogg" and "klettres" in rel:
        lang = rel[rel.index("klettres") + 1]
        return "klettres", lang.split("_")[0], f"klettres-{lang}"
    return None


def decode(src: Path, dst: Path) -> np.ndarray:
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y"]
    if src.suffix == ".g722":
        cmd += ["-f", "g722"]
    cmd += ["-i", str(src), "-ac", "1", "-ar", str(SAMPLE_RATE), "-sample_fmt", "s16", str(dst)]
    subprocess.run(cmd, check=True)
    audio, rate = sf.read(dst, dtype="float32")
    assert rate == SAMPLE_RATE
    return audio


def loudest_frame_dbfs(audio: np.ndarray) -> float:
    hop = SAMPLE_RATE // 50
    n = len(audio) // hop
    if n == 0:
        return -120.0
    frames = audio[: n * hop].reshape(n, hop)
    rms = np.sqrt(np.mean(frames**2, axis=1) + 1e-12)
    return float(20 * np.log10(rms.max()))


def stable_id(rel: str) -> str:
    return hashlib.sha1(rel.encode()).hexdigest()[:12]


def process(item, root: Path, wav_dir: Path):
    path, (source, lang, speaker) = item
    rel = str(path.relative_to(root))
    uid = stable_id(rel)
    dst = wav_dir / f"{uid}.wav"
    try:
        audio = decode(path, dst) if not dst.exists() else sf.read(dst, dtype="float32")[0]
    except (subprocess.CalledProcessError, RuntimeError) as e:
        return None, f"{rel}: decode failed: {e}"
    seconds = len(audio) / SAMPLE_RATE
    if seconds < MIN_SECONDS:
        dst.unlink(missing_ok=True)
        return None, f"{rel}: too short ({seconds:.2f} s)"
    if loudest_frame_dbfs(audio) < SILENCE_DBFS:
        dst.unlink(missing_ok=True)
        return None, f"{rel}: silence"
    entry = {
        "id": uid,
        "path": str(dst.relative_to(wav_dir.parent)),
        "source": source,
        "lang": lang,
        "speaker": speaker,
        "seconds": round(seconds, 3),
        "origin": rel,
    }
    return entry, None


def split_of(entry) -> str:
    if entry["lang"] == "ru":
        return "dev" if entry["source"] == "asterisk" else "excluded"
    h = int(hashlib.sha1(entry["id"].encode()).hexdigest(), 16)
    return "valid" if h % 50 == 0 else "train"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=default_out(), help="data folder (outside the work tree)")
    ap.add_argument("--jobs", type=int, default=max(2, os.cpu_count() or 2) * 2)
    args = ap.parse_args()
    out: Path = args.out
    fetch_debs(out / "debs")
    extract(out / "debs", out / "x")
    wav_dir = out / "wav"
    wav_dir.mkdir(parents=True, exist_ok=True)

    root = out / "x"
    items = []
    for path in sorted(root.rglob("*")):
        if path.suffix in (".g722", ".ogg") and path.is_file():
            info = classify(path, root)
            if info is not None:
                items.append((path, info))
    print(f"{len(items)} candidate speech files", flush=True)

    entries, skipped = [], []
    with cf.ThreadPoolExecutor(args.jobs) as pool:
        for i, (entry, why) in enumerate(pool.map(lambda it: process(it, root, wav_dir), items)):
            if entry:
                entries.append(entry)
            else:
                skipped.append(why)
            if (i + 1) % 500 == 0:
                print(f"  {i + 1}/{len(items)}", flush=True)

    splits = {"train": [], "valid": [], "dev": [], "excluded": []}
    for e in sorted(entries, key=lambda e: e["id"]):
        splits[split_of(e)].append(e)
    for name in ("train", "valid", "dev"):
        with open(out / f"{name}.jsonl", "w") as f:
            for e in splits[name]:
                f.write(json.dumps(e) + "\n")
        hours = sum(e["seconds"] for e in splits[name]) / 3600
        print(f"{name}: {len(splits[name])} files, {hours:.2f} h")
    print(f"excluded (Russian outside the dev set): {len(splits['excluded'])} files")
    (out / "skipped.txt").write_text("\n".join(skipped) + "\n")
    print(f"skipped {len(skipped)} files (see {out / 'skipped.txt'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
