"""Reconstruction losses: multi-resolution log-mel L1 for the envelope, and a
multi-resolution compressed complex-STFT term that ties the output's phase to
the input's (magnitude losses alone leave the phase free, which PESQ punishes),
and a log-magnitude term on linear frequencies for the harmonics: above 1 to
2 kHz (by resolution) a mel band is wider than the spacing of a low voice's harmonics, so the
mel loss cannot tell them from noise there."""

import math

import torch

SAMPLE_RATE = 16000
MEL_RESOLUTIONS = [(256, 64, 40), (512, 128, 64), (1024, 256, 80), (2048, 512, 128)]
COMPLEX_RESOLUTIONS = [(320, 80), (640, 160), (1280, 320)]
# 1024 and 2048 points: 15.6 and 7.8 Hz bins, several a harmonic even at 70 Hz.
LINEAR_RESOLUTIONS = [(1024, 256), (2048, 512)]


def mel_filters(n_fft: int, n_mels: int, sr: int = SAMPLE_RATE) -> torch.Tensor:
    def hz_to_mel(f):
        return 2595.0 * math.log10(1.0 + f / 700.0)

    mels = torch.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2), n_mels + 2)
    hz = 700.0 * (10 ** (mels / 2595.0) - 1.0)
    freqs = torch.linspace(0, sr / 2, n_fft // 2 + 1)
    lower, center, upper = hz[:-2, None], hz[1:-1, None], hz[2:, None]
    up = (freqs[None] - lower) / (center - lower)
    down = (upper - freqs[None]) / (upper - center)
    return torch.clamp(torch.minimum(up, down), min=0.0)  # [n_mels, bins]


class ReconstructionLoss(torch.nn.Module):
    def __init__(self):
        super().__init__()
        for i, (n_fft, _, n_mels) in enumerate(MEL_RESOLUTIONS):
            self.register_buffer(f"mel{i}", mel_filters(n_fft, n_mels))
            self.register_buffer(f"win{i}", torch.hann_window(n_fft))
        for i, (n_fft, _) in enumerate(COMPLEX_RESOLUTIONS):
            self.register_buffer(f"cwin{i}", torch.hann_window(n_fft))
        for i, (n_fft, _) in enumerate(LINEAR_RESOLUTIONS):
            self.register_buffer(f"lwin{i}", torch.hann_window(n_fft))

    def mel(self, x, y):
        total = 0.0
        for i, (n_fft, hop, _) in enumerate(MEL_RESOLUTIONS):
            win, fb = getattr(self, f"win{i}"), getattr(self, f"mel{i}")
            sx = torch.stft(x, n_fft, hop, window=win, return_complex=True).abs()
            sy = torch.stft(y, n_fft, hop, window=win, return_complex=True).abs()
            mx = torch.log(torch.clamp(fb @ sx, min=1e-5))
            my = torch.log(torch.clamp(fb @ sy, min=1e-5))
            total = total + torch.nn.functional.l1_loss(mx, my)
        return total / len(MEL_RESOLUTIONS)

    def complex(self, x, y, power: float = 0.3):
        total = 0.0
        for i, (n_fft, hop) in enumerate(COMPLEX_RESOLUTIONS):
            win = getattr(self, f"cwin{i}")
            sx = torch.stft(x, n_fft, hop, window=win, return_complex=True)
            sy = torch.stft(y, n_fft, hop, window=win, return_complex=True)
            cx = sx * torch.pow(sx.abs() + 1e-7, power - 1)
            cy = sy * torch.pow(sy.abs() + 1e-7, power - 1)
            total = total + (cx - cy).abs().pow(2).mean()
        return total / len(COMPLEX_RESOLUTIONS)

    def linear(self, x, y):
        """L1 of log magnitudes on linear frequencies: the peaks and the valleys
        between harmonics weigh the same at every frequency. The floor (-80 dB
        under full scale) keeps silence's noise from dominating."""
        total = 0.0
        for i, (n_fft, hop) in enumerate(LINEAR_RESOLUTIONS):
            win = getattr(self, f"lwin{i}")
            sx = torch.stft(x, n_fft, hop, window=win, return_complex=True).abs()
            sy = torch.stft(y, n_fft, hop, window=win, return_complex=True).abs()
            floor = 1e-4 * win.sum()
            total = total + (torch.log(sx + floor) - torch.log(sy + floor)).abs().mean()
        return total / len(LINEAR_RESOLUTIONS)
