"""The files an evaluation runs on: a deterministic subset of the dev set, or
the audio under a folder, each read as the 16 kHz mono 16-bit signal every
coder is fed."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from repo import SR
from prepare_data import default_out, wav_path

AUDIO_EXTS = {".wav", ".flac", ".ogg", ".oga", ".mp3", ".opus", ".m4a", ".aac", ".webm"}
# The held-out sets prepare_data.py writes, and what each one is.
DEV_SETS = {
    "dev": "dev set (asterisk Russian, unseen language and voices)",
    "dev2": "dev2 (tuxpaint Greek: one full-band voice on its own microphone, never trained on)",
    "dev_en": "dev_en (Drascula's English dub: acted dialogue, 11 voices, 11 kHz, never trained on)",
}
# The sets in English, on which the recogniser's word error rate means something.
ENGLISH_SETS = {"dev_en"}
RUN_TIMEOUT_S = 600


def default_data() -> Path:
    """$CODEC_DATA or ~/.cache/codec-data, where prepare_data.py puts dev.jsonl."""
    return default_out()


def spaced_subset(items: list, n: int) -> list:
    """n items evenly spaced over `items` (already sorted), first and last included."""
    if n <= 0 or n >= len(items):
        return list(items)
    picks = sorted(set(np.linspace(0, len(items) - 1, n).round().astype(int).tolist()))
    return [items[i] for i in picks]


def dev_files(data: Path, n: int, split: str = "dev") -> "tuple[list, str]":
    """(files, description of the set) for one of DEV_SETS."""
    manifest = data / f"{split}.jsonl"
    if not manifest.is_file():
        sys.exit(f"error: {manifest} not found: run models/recipe/prepare_data.py first, or pass --data / --folder")
    rows = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    rows.sort(key=lambda r: r["id"])
    try:
        files = [{"id": r["id"], "path": str(wav_path(data, r)), "speaker": str(r.get("speaker"))}
                 for r in spaced_subset(rows, n)]
    except ValueError as e:
        sys.exit(f"error: {manifest}: {e}")
    return files, f"{DEV_SETS[split]}: {len(files)} of {len(rows)} files, evenly spaced over the sorted ids"


def folder_files(folder: Path, n: int) -> "tuple[list, str]":
    paths = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTS)
    if not paths:
        sys.exit(f"error: no audio files ({', '.join(sorted(AUDIO_EXTS))}) under {folder}")
    # A folder's speaker is taken to be the sub-folder a file is in (speaker/utterance.wav).
    files = [{"id": str(p.relative_to(folder)), "path": str(p), "speaker": str(p.parent.relative_to(folder))}
             for p in spaced_subset(paths, n)]
    return files, f"folder {folder.name}: {len(files)} of {len(paths)} files" + (
        ", evenly spaced over the sorted paths" if len(files) < len(paths) else "")


def load_reference(path: str, tmp: Path):
    """The input as 16 kHz mono float, and a 16-bit WAV of exactly that to feed the coders
    (scoring against anything else would charge the coders for our own conversion)."""
    try:
        info = sf.info(path)
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
    except Exception:
        info = None
    if info is not None and rate == SR and audio.shape[1] == 1 and info.format == "WAV" and info.subtype == "PCM_16":
        return audio[:, 0], path
    wav = tmp / "reference.wav"
    if info is None:  # a format libsndfile cannot read: let ffmpeg decode it
        p = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", path, "-ac", "1", "-ar", str(SR),
                            "-c:a", "pcm_s16le", str(wav)], capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        if p.returncode != 0:
            raise RuntimeError("ffmpeg: " + " | ".join(p.stderr.strip().splitlines()[-2:]))
        audio, _ = sf.read(wav, dtype="float32")
        return audio, str(wav)
    mono = audio.mean(axis=1)
    if rate != SR:
        g = math.gcd(SR, rate)
        mono = resample_poly(mono, SR // g, rate // g).astype(np.float32)
    sf.write(wav, np.clip(mono, -1.0, 1.0), SR, subtype="PCM_16")
    audio, _ = sf.read(wav, dtype="float32")
    return audio, str(wav)
