"""Training batches: random crops of the training speech, held in memory."""

import json
from pathlib import Path

import numpy as np
import soundfile as sf

from prepare_data import wav_path

from .augment import Augmenter


def read_manifest(data: Path, split: str):
    with open(data / f"{split}.jsonl") as f:
        return [json.loads(line) for line in f if line.strip()]


class CropSampler:
    """All training audio concatenated (with short gaps) and cropped at random offsets.

    Files are mostly shorter than a crop, so crops span file boundaries as a
    conversation would; a random gain varies the level.
    """

    def __init__(self, data: Path, splits, crop: int, seed: int, augment: bool = False):
        """`splits`: a manifest's name, or a list of them whose audio is pooled."""
        parts, gap = [], np.zeros(1600, dtype=np.int16)
        splits = [splits] if isinstance(splits, str) else splits
        for e in [e for split in splits for e in read_manifest(data, split)]:
            audio, _ = sf.read(wav_path(data, e), dtype="int16")
            parts += [audio, gap]
        self.audio = np.concatenate(parts)
        self.crop = crop
        self.rng = np.random.default_rng(seed)
        self.hours = len(self.audio) / 16000 / 3600
        self.augment = Augmenter(self.rng) if augment else None

    def batch(self, size: int) -> np.ndarray:
        if self.augment is None:
            starts = self.rng.integers(0, len(self.audio) - self.crop, size)
            x = np.stack([self.audio[s : s + self.crop] for s in starts]).astype(np.float32) / 32768.0
        else:
            x = np.stack([self.augmented_crop() for _ in range(size)])
        # A random level: peaks between -18 and -0.5 dBFS, quiet crops boosted at most 20 dB.
        peak = np.abs(x).max(axis=1, keepdims=True) + 1e-6
        target = 10 ** (self.rng.uniform(-18.0, -0.5, (size, 1)) / 20)
        return (x * np.minimum(target / peak, 10.0)).astype(np.float32)

    def augmented_crop(self) -> np.ndarray:
        length, ratio = self.augment.source_length(self.crop)
        start = self.rng.integers(0, len(self.audio) - length)
        return self.augment(self.audio[start : start + length].astype(np.float32) / 32768.0, ratio, self.crop)


def load_files(data: Path, split: str, limit: int = None):
    entries = read_manifest(data, split)
    if limit:
        entries = entries[:: max(1, len(entries) // limit)][:limit]
    return [(e["id"], sf.read(wav_path(data, e), dtype="float32")[0]) for e in entries]
