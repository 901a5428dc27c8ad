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
import torch

from codec_model import dsp
from codec_model.data import load_files
from codec_model.metrics import codebook_stats
from fit_gap import diagnostic_args, diagnostic_model


@torch.no_grad()
def codes_of(model, files, n_stages: int) -> np.ndarray:
    """[codebooks, frames] over the files, each coded whole."""
    out = []
    for _, audio in files:
        _, codes, _ = model(dsp.pad_for_codec(torch.from_numpy(audio)[None]), n_stages=n_stages)
        out.append(codes[0].numpy())
    return np.concatenate(out, axis=1)


def describe(codes: np.ndarray, size: int) -> list:
    rows = []
    for row, (used, perplexity) in zip(codes, codebook_stats(codes, size)):
        share = np.bincount(row, minlength=size) / row.size
        rows.append({"used": round(used, 3), "perplexity": round(perplexity, 1),
                     "bits": round(math.log2(perplexity), 2),
                     "rare": round(float((share < 0.1 / size).mean()), 3)})
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
    splits = ["train"] + [s for s in ("dev", "dev2") if (args.data / f"{s}.jsonl").is_file()]
    for split in splits:
        files = load_files(args.data, split, args.files)
        codes = codes_of(model, files, n)
        row = {"files": len(files), "frames": int(codes.shape[1]), "codebooks": describe(codes, q.size)}
        print(json.dumps({split: row}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
