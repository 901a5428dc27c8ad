"""How much of a codec's loss is its quantizer's, and how much its networks'.

  python quantizer_gap.py --weights RUNS/mcrvq/warmstart.safetensors --quantizer mcrvq

Scores dev files (PyTorch, PESQ-WB and STOI, as train.py's evaluation) at
every stage count and with the latent handed to the decoder unquantized:
that last row is what the encoder and decoder could give with unlimited
bits. Beside each, the quantization error's share of the latent's energy
(SQNR in dB). If the unquantized row is far above the others, more or better
codebooks pay; if it is close, the networks (their size, losses, training)
are the limit.
"""

import json
import sys

import numpy as np
import torch

from codec_model import dsp
from codec_model.metrics import pesq_wb, stoi
from fit_gap import diagnostic_args, diagnostic_model, pick


@torch.no_grad()
def roundtrip(model, audio: np.ndarray, n_stages):
    """Whole-file encode and decode; `n_stages` None skips the quantizer."""
    x = torch.from_numpy(audio)[None]
    padded = dsp.pad_for_codec(x, delay=model.delay)
    enc_state, dec_state = model.zero_states(1)
    latent, _ = model.encoder(dsp.stft(padded), enc_state)
    if n_stages is None:
        quantized = latent
    else:
        quantized, _, _ = model.quantizer(latent, n_stages=n_stages)
    spec, _ = model.decoder(quantized, dec_state)
    y = model.synthesize(spec)[0, : audio.shape[-1]].numpy()
    error = float((quantized - latent).pow(2).sum())
    return y, float(latent.pow(2).sum()), error


def main() -> int:
    args = diagnostic_args(__doc__).parse_args()
    model = diagnostic_model(args)
    model.eval()
    files = pick(args.data, "dev", "asterisk", args.files, args.min_seconds)
    rows = []
    q = model.quantizer
    # Stage counts below the fewest the training dropout kept were never trained.
    for n in [*range(getattr(q, "min_stages", 1), q.n_stages + 1), None]:
        scores, energy, error = [], 0.0, 0.0
        for _, audio in files:
            y, e, err = roundtrip(model, audio, n)
            scores.append((pesq_wb(audio, y), stoi(audio, y)))
            energy, error = energy + e, error + err
        s = np.array(scores)
        sqnr = 10 * np.log10(energy / error) if error > 0 else float("inf")
        rows.append({"stages": n if n is not None else "unquantized", "files": len(files),
                     "pesq": round(float(np.nanmean(s[:, 0])), 3), "stoi": round(float(np.nanmean(s[:, 1])), 3),
                     "sqnr_db": round(sqnr, 2) if np.isfinite(sqnr) else None})
        print(json.dumps(rows[-1]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
