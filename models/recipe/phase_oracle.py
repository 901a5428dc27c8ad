"""Is it the magnitudes or the phase that loses the harmonics? (issue 31)

Resynthesises each input through the codec's own framing (640-sample Hann
windows, two a token, `dsp.istft_sub`) with magnitudes and phases taken from
different places, and measures what harmonics survive (`harmonics.py`'s band
prominence):

- the input's magnitude and phase: the framing alone (should keep them all);
- the input's magnitude, a random phase per frame: what a head that guesses
  phase without memory does at worst;
- the input's magnitude, every bin running at its centre frequency: the
  recursive head at rest (`--config framed-pr` before training);
- the codec's magnitude with the input's phase, and the input's magnitude
  with the codec's phase (PyTorch, 4 stages, from a warm start's weights).

  python phase_oracle.py --folder LOW --weights warmstart/mcrvq-framed.safetensors
"""

import math
import sys

import numpy as np
import torch

import harmonics
from codec_model import dsp
from codec_model.codec import CONFIGS
from folder_codec import folder_and_codec


def polar(spec: torch.Tensor, frames: int):
    """[B, frames * 2 * bins, T] -> magnitude and phase [B, bins, T * frames], sub-frames in time order."""
    b, _, t = spec.shape
    s = spec.reshape(b, frames, 2 * dsp.BINS, t).permute(0, 2, 3, 1).reshape(b, 2 * dsp.BINS, t * frames)
    re, im = s[:, : dsp.BINS], s[:, dsp.BINS :]
    return torch.sqrt(re * re + im * im), torch.atan2(im, re)


def rect(mag: torch.Tensor, phase: torch.Tensor, frames: int) -> torch.Tensor:
    b, _, j = mag.shape
    s = torch.cat([mag * torch.cos(phase), mag * torch.sin(phase)], dim=1)
    return s.reshape(b, 2 * dsp.BINS, j // frames, frames).permute(0, 3, 1, 2).reshape(b, -1, j // frames)


def variants(x: np.ndarray, codec, generator) -> dict:
    frames = codec.frames
    audio = dsp.pad_for_codec(torch.from_numpy(x)[None], delay=codec.delay)
    mag, phase = polar(dsp.stft_sub(audio, frames), frames)
    with torch.no_grad():
        enc_state, dec_state = codec.zero_states(1)
        latent, _ = codec.encoder(dsp.stft(audio), enc_state)
        quantized, _, _ = codec.quantizer(latent, n_stages=4)
        decoded, _ = codec.decoder(quantized, dec_state)
    dmag, dphase = polar(decoded, frames)
    sub = dsp.HOP // frames
    k = torch.arange(dsp.BINS, dtype=torch.float64)[:, None]
    j = torch.arange(mag.shape[2], dtype=torch.float64)[None, :]
    centre = torch.remainder(2 * math.pi * k * sub / dsp.N_FFT * j, 2 * math.pi).float()[None]
    noise = (torch.rand(mag.shape, generator=generator) * 2 * math.pi)
    out = {
        "input magnitude, input phase": (mag, phase),
        "input magnitude, random phase": (mag, noise),
        "input magnitude, bin-centre phase": (mag, centre),
        "codec magnitude, input phase": (dmag, phase),
        "input magnitude, codec phase": (mag, dphase),
        "codec magnitude, codec phase": (dmag, dphase),
    }
    n = len(x)
    return {name: codec.synthesize(rect(m, p, frames))[0, :n].numpy() for name, (m, p) in out.items()}


def main() -> int:
    found = folder_and_codec(__doc__, CONFIGS, "framed")
    if found is None:
        return 2
    inputs, codec = found
    generator = torch.Generator().manual_seed(0)
    tables = {}
    for path in inputs:
        x = harmonics.read(path)
        for name, y in variants(x, codec, generator).items():
            tables.setdefault(name, []).append(harmonics.measure(x, y))
    header = " | ".join(f"{a}-{b} Hz" for a, b in harmonics.BANDS)
    print(f"band harmonic prominence, dB, mean over the input's voiced frames ({len(inputs)} files)")
    print(f"| resynthesis | {header} |")
    print("|---|" + "---|" * len(harmonics.BANDS))
    first = True
    for name, rows in tables.items():
        means = np.nanmean(np.concatenate([r for r in rows if len(r)]), axis=0)
        if first:
            print("| input | " + " | ".join(f"{v:.2f}" for v in means[:, 0]) + " |")
            first = False
        print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in means[:, 1]) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
