"""How high the voices are: the F0 of the training speech beside the held-out sets.

  python f0_survey.py [--files 300] [--splits train dev dev2 dev_en]

Issue 31 found the codec loses low voices most (3 semitones down costs it
0.08 PESQ-WB while Opus gains). This counts how many low voices each split
holds. Per file: the median F0 of its voiced frames (YIN's cumulative mean
normalised difference on 40 ms frames every 10 ms, 60-400 Hz, threshold
0.15; frames within 35 dB of the file's loudest). Per split and per source:
the 10th, 50th and 90th percentile of those medians and the share of files
whose median is below 130 Hz (a low male voice: the kept-out studio voice of
the issue sits at 123 Hz). Files are taken evenly spaced over each manifest
(deterministic). Prints a Markdown table; --json writes the figures.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from codec_model import pitch
from codec_model.data import read_manifest
from prepare_data import default_out, wav_path

HOP = 160
LOW_HZ = 130.0


def frame_f0(audio: np.ndarray) -> np.ndarray:
    """F0 in Hz of each voiced frame (unvoiced and quiet frames left out)."""
    if len(audio) < pitch.FRAME + pitch.LAG_MAX:
        return np.zeros(0)
    n = (len(audio) - pitch.FRAME - pitch.LAG_MAX) // HOP + 1
    idx = np.arange(n)[:, None] * HOP + np.arange(pitch.FRAME + pitch.LAG_MAX)[None, :]
    frames = audio[idx].astype(np.float64)
    level = 10 * np.log10(np.mean(frames[:, : pitch.FRAME] ** 2, axis=1) + 1e-12)
    frames = frames[level > level.max() - pitch.QUIET_DB]
    if not len(frames):
        return np.zeros(0)
    f0, voiced = pitch.yin(torch.from_numpy(frames))
    return f0[voiced].double().numpy()


def survey(data: Path, split: str, files: int) -> list:
    entries = read_manifest(data, split)
    entries = entries[:: max(1, len(entries) // files)][:files] if files else entries
    out = []
    for e in entries:
        audio, _ = sf.read(wav_path(data, e), dtype="float32")
        f0 = frame_f0(audio if audio.ndim == 1 else audio.mean(axis=1))
        if len(f0) >= 5:
            out.append((e.get("source", "?"), float(np.median(f0))))
    return out


def summary(medians: list) -> dict:
    m = np.array(medians)
    return {"files": len(m), "p10": float(np.percentile(m, 10)), "median": float(np.median(m)),
            "p90": float(np.percentile(m, 90)), "low_share": float(np.mean(m < LOW_HZ))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=default_out())
    ap.add_argument("--splits", nargs="+", default=["train", "dev", "dev2", "dev_en"])
    ap.add_argument("--files", type=int, default=300, help="files a split (0: all)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rows = {}
    for split in args.splits:
        if not (args.data / f"{split}.jsonl").is_file():
            print(f"{split}: no manifest, skipped", file=sys.stderr)
            continue
        found = survey(args.data, split, args.files)
        if not found:
            continue
        rows[split] = summary([f for _, f in found])
        for source in sorted({s for s, _ in found}):
            part = [f for s, f in found if s == source]
            if len(found) > len(part) and len(part) >= 5:
                rows[f"{split}: {source}"] = summary(part)
    print(f"| split | files | F0 p10 (Hz) | median | p90 | files below {LOW_HZ:.0f} Hz |")
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['files']} | {r['p10']:.0f} | {r['median']:.0f} | {r['p90']:.0f} | {100 * r['low_share']:.0f} % |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
