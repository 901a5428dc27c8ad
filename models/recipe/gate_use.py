"""How a gated decoder head (--config framed-mix or framed-hp) uses its gate:
the mean gate, band by band, on the input's voiced and unvoiced sub-frames,
and, for framed-hp, how far the F0 it names is from the input's (YIN).

A gate near 0 keeps the absolute phase, near 1 the carried phase or the
harmonic prior. Runs the codec in PyTorch at 4 stages (as shipped).

  python gate_use.py --folder LOW --weights RUN/warmstart.safetensors --config framed-hp
"""

import sys

import numpy as np
import torch

import harmonics
from codec_model import dsp, pitch
from codec_model.codec import CONFIGS
from folder_codec import folder_and_codec

BANDS = harmonics.BANDS


@torch.no_grad()
def measure(codec, x: np.ndarray):
    """-> (gate [J, bins], voiced [J], named F0 [J] or None, YIN F0 [J])."""
    dec = codec.decoder
    seen = {}
    hook = dec.head.register_forward_hook(lambda _m, _i, out: seen.__setitem__("h", out))
    audio = dsp.pad_for_codec(torch.from_numpy(x)[None], delay=codec.delay)
    dec.last_f0 = None
    codec(audio, n_stages=4)
    hook.remove()
    h = seen["h"][0]  # [T, frames * width]
    t = h.shape[0]
    at, size = dec.parts["gate"]
    gate = torch.sigmoid(h.reshape(t, dec.frames, dec.width)[:, :, at : at + size]).reshape(t * dec.frames, size)
    sub = dsp.HOP // dec.frames
    centres = (torch.arange(t * dec.frames) - 1).clamp(min=0) * sub
    yin, voiced = pitch.track(audio, centres)
    named = dec.last_f0[0] if dec.last_f0 is not None else None
    return gate, voiced[0], named, yin[0]


def main() -> int:
    found = folder_and_codec(__doc__, sorted(c for c, v in CONFIGS.items() if v.get("phase") in ("mixed", "harmonic")))
    if found is None:
        return 2
    inputs, codec = found
    hz = torch.arange(dsp.BINS) * dsp.RATE / dsp.N_FFT
    sums = {True: np.zeros(len(BANDS)), False: np.zeros(len(BANDS))}
    counts = {True: 0, False: 0}
    errors = []
    for path in inputs:
        gate, voiced, named, yin = measure(codec, harmonics.read(path))
        for v in (True, False):
            rows = gate[voiced == v]
            counts[v] += len(rows)
            for i, (lo, hi) in enumerate(BANDS):
                sums[v][i] += float(rows[:, (hz >= lo) & (hz < hi)].mean(dim=1).sum()) if len(rows) else 0.0
        if named is not None and voiced.any():
            errors.append((torch.log2(named[voiced]) - torch.log2(yin[voiced])).abs().numpy())
    header = " | ".join(f"{a}-{b} Hz" for a, b in BANDS)
    print(f"mean gate (0 absolute phase, 1 the other), {len(inputs)} files, 4 stages")
    print(f"| sub-frames | count | {header} |")
    print("|---|---|" + "---|" * len(BANDS))
    for v in (True, False):
        means = sums[v] / max(counts[v], 1)
        print(f"| {'voiced' if v else 'unvoiced'} | {counts[v]} | " + " | ".join(f"{m:.3f}" for m in means) + " |")
    if errors:
        e = np.concatenate(errors)
        print(f"named F0 against YIN on voiced sub-frames: median {np.median(e) * 12:.2f} semitones, "
              f"within a semitone {np.mean(e < 1 / 12) * 100:.1f} %, an octave or more off {np.mean(e >= 1) * 100:.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
