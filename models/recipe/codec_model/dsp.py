"""Causal STFT and inverse STFT: the exact framing the Rust runtime reproduces.

Frame t covers samples [(t - 1) * hop, t * hop + hop) of the input (the signal
is padded on the left with n_fft - hop zeros), so a frame never looks past the
hop it completes. The window is a periodic Hann of length n_fft; the spectrum is
an unnormalised real FFT. Synthesis windows each inverse FFT with the same Hann,
overlap-adds, and divides by the steady-state sum of squared windows. Decoding
frame t completes output samples [(t - 1) * hop, t * hop): one hop behind, so
the algorithmic latency is n_fft samples (hop of framing plus hop of overlap).
"""

import torch

N_FFT = 640
HOP = 320
BINS = N_FFT // 2 + 1


def hann(n_fft: int = N_FFT) -> torch.Tensor:
    return torch.hann_window(n_fft, periodic=True, dtype=torch.float32)


def frame_count(num_samples: int, hop: int = HOP) -> int:
    """Frames needed so every input sample is covered and decoded (one flush frame)."""
    return -(-num_samples // hop) + 1


def stft(audio: torch.Tensor, n_fft: int = N_FFT, hop: int = HOP) -> torch.Tensor:
    """audio [B, L] with L a multiple of hop -> spectrum [B, 2 * bins, L / hop] (real rows, then imaginary)."""
    assert audio.shape[-1] % hop == 0, "pad the signal to a multiple of hop first"
    padded = torch.nn.functional.pad(audio, (n_fft - hop, 0))
    frames = padded.unfold(-1, n_fft, hop)  # [B, T, n_fft]
    spec = torch.fft.rfft(frames * hann(n_fft).to(audio.device), dim=-1)  # [B, T, bins]
    return torch.cat([spec.real, spec.imag], dim=-1).transpose(1, 2)


def ola_envelope(n_fft: int = N_FFT, hop: int = HOP) -> torch.Tensor:
    w2 = hann(n_fft) ** 2
    return w2.reshape(n_fft // hop, hop).sum(0)  # [hop]


def istft(spec: torch.Tensor, n_fft: int = N_FFT, hop: int = HOP) -> torch.Tensor:
    """spectrum [B, 2 * bins, T] -> audio [B, (T - 1) * hop]: the samples the T frames complete."""
    assert n_fft == 2 * hop, "the overlap-add below assumes 50% overlap"
    bins = n_fft // 2 + 1
    re, im = spec[:, :bins], spec[:, bins:]
    frames = torch.fft.irfft(torch.complex(re, im).transpose(1, 2), n=n_fft, dim=-1)
    frames = frames * hann(n_fft).to(spec.device)  # [B, T, n_fft]
    # Output hop j (covering [j * hop, (j + 1) * hop)) is the tail of frame j plus the head of frame j + 1.
    out = frames[:, :-1, hop:] + frames[:, 1:, :hop]
    out = out / ola_envelope(n_fft, hop).to(spec.device)
    return out.reshape(spec.shape[0], -1)


def pad_for_codec(audio: torch.Tensor, hop: int = HOP) -> torch.Tensor:
    """Right-pad to whole frames plus the flush frame, as the offline runtime does."""
    n = audio.shape[-1]
    total = frame_count(n, hop) * hop
    return torch.nn.functional.pad(audio, (0, total - n))
