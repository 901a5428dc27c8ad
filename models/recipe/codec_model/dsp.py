"""Causal STFT and inverse STFT: the exact framing the Rust runtime reproduces.

Frame t covers samples [(t - 1) * hop, t * hop + hop) of the input (the signal
is padded on the left with n_fft - hop zeros), so a frame never looks past the
hop it completes. The window is a periodic Hann of length n_fft; the spectrum is
an unnormalised real FFT. Synthesis windows each inverse FFT with the same Hann,
overlap-adds, and divides by the steady-state sum of squared windows. Decoding
frame t completes output samples [(t - 1) * hop, t * hop): one hop behind, so
the algorithmic latency is n_fft samples (hop of framing plus hop of overlap).
With K synthesis frames a token (`istft_sub`), the windows overlap more and the
output lags n_fft - hop / K samples behind the token: 480 at K = 2, so the
algorithmic latency is hop + 480 = 800 samples (50 ms).
"""

import torch

RATE = 16000
N_FFT = 640
HOP = 320
BINS = N_FFT // 2 + 1


def hann(n_fft: int = N_FFT) -> torch.Tensor:
    return torch.hann_window(n_fft, periodic=True, dtype=torch.float32)


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


def istft_sub(spec: torch.Tensor, frames: int, n_fft: int = N_FFT, hop: int = HOP) -> torch.Tensor:
    """spectrum [B, frames * 2 * bins, T] (each token's sub-frames in turn) ->
    audio [B, T * hop - n_fft + hop / frames].

    Token t's sub-frames i = 0 .. frames-1 are windows of n_fft at hop / frames,
    the last one placed where the single-frame framing puts frame t, the others
    earlier: synthesis never reaches past the samples the token saw, at the cost
    of one sub-hop of delay. Output sub-hop c is complete once every window that
    covers it has arrived."""
    bins = n_fft // 2 + 1
    sub = hop // frames
    b, _, t = spec.shape
    spec = spec.reshape(b, frames, 2 * bins, t).permute(0, 2, 3, 1).reshape(b, 2 * bins, t * frames)
    re, im = spec[:, :bins], spec[:, bins:]
    win = hann(n_fft).to(spec.device)
    pieces = (torch.fft.irfft(torch.complex(re, im).transpose(1, 2), n=n_fft, dim=-1) * win)
    pieces = pieces.reshape(b, t * frames, n_fft // sub, sub)  # [B, J, overlap, sub]
    k = n_fft // sub
    j = t * frames
    # Output sub-hop c sums piece q of window c + k - 1 - q, for every q.
    out = sum(pieces[:, k - 1 - q : j - q, q] for q in range(k))
    env = (win ** 2).reshape(k, sub).sum(0)
    return (out / env).reshape(b, -1)


def stft_sub(audio: torch.Tensor, frames: int, n_fft: int = N_FFT, hop: int = HOP) -> torch.Tensor:
    """audio [B, L] -> spectra [B, frames * 2 * bins, L / hop], framed as `istft_sub` places
    them: the analysis that `istft_sub` inverts."""
    sub = hop // frames
    padded = torch.nn.functional.pad(audio, (n_fft - sub, 0))
    spec = torch.fft.rfft(padded.unfold(-1, n_fft, sub) * hann(n_fft).to(audio.device), dim=-1)  # [B, J, bins]
    t = spec.shape[1] // frames
    spec = torch.cat([spec.real, spec.imag], dim=-1)[:, : t * frames]
    return spec.reshape(audio.shape[0], t, frames * 2 * (n_fft // 2 + 1)).transpose(1, 2)


def pad_for_codec(audio: torch.Tensor, hop: int = HOP, delay: int = HOP) -> torch.Tensor:
    """Right-pad to whole frames plus the flush frames that let a synthesis
    lagging `delay` samples complete the last one, as the offline runtime does
    (one frame for the single-frame framing)."""
    n = audio.shape[-1]
    total = -(-(n + delay) // hop) * hop
    return torch.nn.functional.pad(audio, (0, total - n))
