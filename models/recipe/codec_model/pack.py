"""The data pack a GPU burst trains on (pack_data.py writes it): training
speech as Ogg Opus chunks, the dev files as FLAC, and pack.json.

The chunks hold the training files concatenated with the same 0.1 s gaps as
CropSampler, so random crops of the decoded chunks are CropSampler's crops.
"""

import hashlib
import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

FORMAT = "codec-burst-pack"
VERSION = 1
SAMPLE_RATE = 16000
GAP = 1600
# A pack travels in at most 64 MiB: no honest chunk decodes to more than this.
MAX_CHUNK_SAMPLES = 16000 * 3600
MAX_CHUNKS = 64
MAX_DEV_SAMPLES = 16000 * 300  # one asterisk dev prompt runs 74 s
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class PackError(Exception):
    pass


def chunk_name(i: int) -> str:
    return f"train-{i:02d}.ogg"


def dev_name(uid: str) -> str:
    if not NAME.match(uid):
        raise PackError(f"dev id {uid!r} is not a plain name")
    return f"dev-{uid}.flac"


def pcm_sha256(audio: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(audio, dtype="<i2").tobytes()).hexdigest()


def read_index(pack: Path) -> dict:
    try:
        index = json.loads((pack / "pack.json").read_text())
    except (OSError, ValueError) as e:
        raise PackError(f"{pack}: no readable pack.json ({e})") from e
    if index.get("format") != FORMAT or index.get("version") != VERSION:
        raise PackError(f"{pack}: not a version-{VERSION} {FORMAT}")
    chunks, dev = index.get("chunks", []), index.get("dev", [])
    if not 0 < len(chunks) <= MAX_CHUNKS or len(dev) > 64:
        raise PackError(f"{pack}: {len(chunks)} chunks and {len(dev)} dev files is not a pack")
    for c in chunks:
        if not 0 < int(c["samples"]) <= MAX_CHUNK_SAMPLES:
            raise PackError(f"{pack}: a chunk of {c['samples']} samples is out of bounds")
    for d in dev:
        dev_name(d["id"])
        if not 0 < int(d["samples"]) <= MAX_DEV_SAMPLES:
            raise PackError(f"{pack}: dev file {d['id']} of {d['samples']} samples is out of bounds")
    return index


def _read(path: Path, expected: int) -> np.ndarray:
    import soundfile as sf

    with sf.SoundFile(str(path)) as f:
        # The header's length, checked before the buffer is allocated.
        if f.samplerate != SAMPLE_RATE or f.channels != 1 or f.frames != expected:
            raise PackError(f"{path.name}: {f.frames} frames at {f.samplerate} Hz x {f.channels}, "
                            f"pack.json says {expected} at {SAMPLE_RATE} Hz mono")
        return to_int16(f.read(dtype="float32"))


def to_int16(audio: np.ndarray) -> np.ndarray:
    """Decoded Opus overshoots full scale; libsndfile's own conversion to int16 wraps such samples round."""
    return np.round(np.clip(audio, -1.0, 32767 / 32768) * 32768.0).astype(np.int16)


def load_pack(pack: Path, threads: int = 8):
    """-> (training speech int16 [N], [(dev id, float32 audio)], index, chunks whose PCM differs from the builder's)."""
    index = read_index(pack)
    chunks = index["chunks"]
    # libsndfile runs outside the GIL: threads decode the chunks in parallel.
    with ThreadPoolExecutor(max(1, threads)) as pool:
        parts = list(pool.map(lambda ic: _read(pack / chunk_name(ic[0]), int(ic[1]["samples"])), enumerate(chunks)))
    differ = [i for i, (p, c) in enumerate(zip(parts, chunks)) if pcm_sha256(p) != c["pcm_sha256"]]
    return np.concatenate(parts), load_dev(pack, index), index, differ


def load_dev(pack: Path, index: dict = None):
    """-> [(dev id, float32 audio)], each checked against the sha256 it was packed with."""
    index = index or read_index(pack)
    dev = []
    for d in index["dev"]:
        audio = _read(pack / dev_name(d["id"]), int(d["samples"]))
        if pcm_sha256(audio) != d["pcm_sha256"]:
            raise PackError(f"dev file {d['id']} is not the one packed (lossless, so it must match)")
        dev.append((d["id"], audio.astype(np.float32) / 32768.0))
    return dev
