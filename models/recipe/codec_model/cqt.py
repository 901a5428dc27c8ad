"""A constant-Q transform for the CQT critics: every bin as wide, in
semitones, as every other, so the harmonics of a low voice stay resolved far
above the 700 Hz where the mel and STFT views merge them.

One octave of complex kernels is applied to the signal, then to the signal
halved in rate, and so on (the recursive scheme of Schoerkhuber and Klapuri,
2010): an octave lower at half the rate has the same kernels, so seven
octaves cost about twice the top one."""

import math

import torch
from torch import nn

SAMPLE_RATE = 16000
# Top octave 3.2-6.4 kHz: its highest bin stays clear of the Nyquist rate, and
# halving keeps the next octave's whole band below the new one.
TOP_OCTAVE_HZ = 3200.0
HALVING_TAPS = 63


def _octave_kernels(bins_per_octave: int, rate: float, low_hz: float) -> torch.Tensor:
    """[2 * bins, 1, taps]: real then imaginary Hann-windowed complex
    exponentials, each Q periods long, each normalised to unit gain."""
    q = 1.0 / (2 ** (1.0 / bins_per_octave) - 1)
    freqs = [low_hz * 2 ** (k / bins_per_octave) for k in range(bins_per_octave)]
    taps = int(math.ceil(q * rate / freqs[0])) | 1
    real, imag = torch.zeros(bins_per_octave, taps), torch.zeros(bins_per_octave, taps)
    for k, f in enumerate(freqs):
        n = int(math.ceil(q * rate / f)) | 1
        t = torch.arange(n, dtype=torch.float64) - n // 2
        w = torch.hann_window(n + 2, periodic=False, dtype=torch.float64)[1:-1]
        w = w / w.sum()
        at = (taps - n) // 2
        real[k, at : at + n] = (w * torch.cos(2 * math.pi * f * t / rate)).float()
        imag[k, at : at + n] = (w * torch.sin(2 * math.pi * f * t / rate)).float()
    return torch.cat([real, imag]).unsqueeze(1)


def _halving_filter() -> torch.Tensor:
    """A windowed-sinc low-pass at a quarter of the rate, for halving it."""
    n = torch.arange(HALVING_TAPS, dtype=torch.float64) - HALVING_TAPS // 2
    h = 0.5 * torch.sinc(0.5 * n) * torch.kaiser_window(HALVING_TAPS, periodic=False, beta=8.0, dtype=torch.float64)
    return (h / h.sum()).float().view(1, 1, -1)


class ConstantQ(nn.Module):
    """x [B, T] at 16 kHz -> complex CQT [B, frames, octaves * bins], lowest
    bin first (TOP_OCTAVE_HZ / 2 ** (octaves - 1) Hz), one frame per `hop`
    samples. The rate is halved octaves - 1 times, so `hop` must be a
    multiple of 2 ** (octaves - 1)."""

    def __init__(self, hop: int, octaves: int = 7, bins_per_octave: int = 24):
        super().__init__()
        if octaves < 1 or bins_per_octave < 1:
            raise ValueError("a CQT needs at least one octave of one bin")
        if hop % (1 << (octaves - 1)):
            raise ValueError(f"hop {hop} is not a multiple of 2 ** {octaves - 1}")
        self.hop, self.octaves, self.bins = hop, octaves, bins_per_octave
        self.register_buffer("kernels", _octave_kernels(bins_per_octave, SAMPLE_RATE, TOP_OCTAVE_HZ), persistent=False)
        self.register_buffer("halve", _halving_filter(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = -(-x.shape[-1] // self.hop)
        sig, stride, octaves = x.float().unsqueeze(1), self.hop, []
        taps = self.kernels.shape[-1]
        for i in range(self.octaves):
            if i:
                sig = nn.functional.conv1d(sig, self.halve, stride=2, padding=HALVING_TAPS // 2)
                stride //= 2
            y = nn.functional.conv1d(sig, self.kernels, stride=stride, padding=taps // 2)[..., :frames]
            if y.shape[-1] < frames:
                y = nn.functional.pad(y, (0, frames - y.shape[-1]))
            octaves.append(torch.complex(y[:, : self.bins], y[:, self.bins :]))
        return torch.cat(octaves[::-1], dim=1).transpose(1, 2)

    def centre_hz(self) -> torch.Tensor:
        """The centre frequency of every bin, in the forward's order."""
        low = TOP_OCTAVE_HZ / 2 ** (self.octaves - 1)
        return low * 2 ** (torch.arange(self.octaves * self.bins, dtype=torch.float64) / self.bins)
