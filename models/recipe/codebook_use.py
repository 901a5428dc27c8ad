"""Are a codec's codebooks dead weight, or is the dev sample too small to see them used?

  python codebook_use.py --weights RUNS/mcrvq/warmstart.safetensors --quantizer mcrvq

The training log's "used" counts entries seen in 16 dev files (about 2,000
frames per codebook of 1,024 entries), which understates use. This codes
many more frames, from the training data (every source, evenly spaced) and
from each dev set, and prints per codebook: the share of entries used, the
perplexity, the bits the codes carry (log2 of the perplexity, of 10), and
the share of entries that take under a tenth of their uniform share of the
training frames (rarely chosen: what a restart or SimVQ would put to work).

The bits lost to uneven use bound what SimVQ or k-means restarts can give
at the same rate: a codebook at 9.6 of 10 bits has little to recover.
"""

import json
import math
import sys

import numpy as np
import soundfile as sf
import torch

from codec_model import dsp
from codec_model.data import read_manifest
from fit_gap import diagnostic_args, diagnostic_model
from prepare_data import wav_path


def evenly(entries, limit: int):
    return entries[:: max(1, len(entries) // limit)][:limit]


@torch.no_grad()
def codes_of(model, data, entries, n_stages: int) -> np.ndarray:
    """[codebooks, frames] over the files, each coded whole."""
    out = []
    for e in entries:
        audio, _ = sf.read(wav_path(data, e), dtype="float32")
        x = dsp.pad_for_codec(torch.from_numpy(audio)[None])
        _, codes, _ = model(x, n_stages=n_stages)
        out.append(codes[0].numpy())
    return np.concatenate(out, axis=1)


def describe(codes: np.ndarray, size: int) -> list:
    rows = []
    for row in codes:
        counts = np.bincount(row, minlength=size).astype(np.float64)
        p = counts / counts.sum()
        nz = p[p > 0]
        perplexity = float(np.exp(-(nz * np.log(nz)).sum()))
        rows.append({"used": round(float((counts > 0).mean()), 3),
                     "perplexity": round(perplexity, 1),
                     "bits": round(math.log2(perplexity), 2),
                     "rare": round(float((p < 0.1 / size).mean()), 3)})
    return rows


def main() -> int:
    ap = diagnostic_args(__doc__)
    ap.add_argument("--stages", type=int, help="codebooks to code with (default: all)")
    ap.set_defaults(files=400)
    args = ap.parse_args()
    model = diagnostic_model(args)
    model.eval()
    q = model.quantizer
    n = args.stages or q.n_stages
    sets = {"train": evenly(read_manifest(args.data, "train"), args.files)}
    for split in ("dev", "dev2"):
        if (args.data / f"{split}.jsonl").is_file():
            sets[split] = evenly(read_manifest(args.data, split), args.files)
    result = {"weights": args.weights.name, "ema": args.ema, "stages": n}
    for name, entries in sets.items():
        codes = codes_of(model, args.data, entries, n)
        result[name] = {"files": len(entries), "frames": int(codes.shape[1]), "codebooks": describe(codes, q.size)}
        print(json.dumps({name: result[name]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
