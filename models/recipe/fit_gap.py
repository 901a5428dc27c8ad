"""How much better a run does on speech it trained on than on the dev set.

  python fit_gap.py --weights RUNS/mcrvq/warmstart.safetensors --quantizer mcrvq [--ema]

Scores evenly spaced training files of the dev set's kind (same source) and
dev files the same way as train.py's evaluation (PyTorch, PESQ-WB and STOI).
A wide gap says the model memorises its data (more data would help); none
says the limit is elsewhere (size, losses, steps).
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from codec_model.codec import load_codec
from codec_model.data import read_manifest
from prepare_data import default_out, wav_path
from train import evaluate


def pick(data: Path, split: str, source: str, limit: int, seconds: float):
    entries = [e for e in read_manifest(data, split) if e["source"] == source and e["seconds"] >= seconds]
    entries = entries[:: max(1, len(entries) // limit)][:limit]
    return [(e["id"], sf.read(wav_path(data, e), dtype="float32")[0]) for e in entries]


def diagnostic_args(description: str) -> argparse.ArgumentParser:
    """The options of a diagnostic that scores a warm start on dev-like files."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, required=True)
    ap.add_argument("--quantizer", choices=["mcrvq", "grvq"], required=True)
    ap.add_argument("--config", default="small")
    ap.add_argument("--ema", action="store_true", help="score the moving average of the weights")
    ap.add_argument("--data", type=Path, default=default_out())
    ap.add_argument("--files", type=int, default=32)
    ap.add_argument("--min-seconds", type=float, default=1.5, help="PESQ needs speech of some length")
    ap.add_argument("--threads", type=int, default=1)
    return ap


def diagnostic_model(args):
    """The codec the options of `diagnostic_args` name; exits with the reason if the weights do not fit."""
    torch.set_num_threads(args.threads)
    try:
        return load_codec(args.weights, args.quantizer, args.config, args.ema)
    except (ValueError, OSError) as e:
        sys.exit(str(e))


def main() -> int:
    ap = diagnostic_args(__doc__)
    ap.add_argument("--source", default="asterisk", help="the dev set's source, to compare like with like")
    args = ap.parse_args()
    model = diagnostic_model(args)
    q = model.quantizer
    stages = sorted({min(4, q.n_stages), q.n_stages})

    result = {"weights": args.weights.name, "ema": args.ema}
    for split in ("train", "dev"):
        files = pick(args.data, split, args.source, args.files, args.min_seconds)
        scores = evaluate(model, files, stages)
        result[split] = {n: {"files": len(files), "pesq": round(s["pesq"], 3), "stoi": round(s["stoi"], 3)}
                         for n, s in scores.items()}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
