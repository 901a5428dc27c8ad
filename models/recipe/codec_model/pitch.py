"""F0 by YIN (de Cheveigné and Kawahara 2002): the pitch the harmonic decoder
is taught to predict, and the F0 survey of the data.

The cumulative mean normalised difference on 40 ms frames, lags for 60-400
Hz, threshold 0.15: the first dip under the threshold, followed down to its
local minimum, is the period (whole samples, no interpolation)."""

import torch

from .dsp import RATE

FRAME = 640
LAG_MIN, LAG_MAX = RATE // 400, RATE // 60
THRESHOLD = 0.15
QUIET_DB = 35.0


def yin(frames: torch.Tensor):
    """frames [N, FRAME + LAG_MAX] -> (F0 in Hz [N], voiced [N]); F0 is 0 where unvoiced."""
    frames = frames.double()
    size = 1 << (2 * (FRAME + LAG_MAX) - 1).bit_length()
    head = frames[:, :FRAME]
    # d(tau) = sum over the frame of (x[j] - x[j + tau])^2, by FFT correlation.
    corr = torch.fft.irfft(torch.conj(torch.fft.rfft(head, size)) * torch.fft.rfft(frames, size), size)[:, : LAG_MAX + 1]
    sq = torch.cumsum(frames**2, dim=1)
    lags = torch.arange(LAG_MAX + 1, device=frames.device)
    before = torch.cat([torch.zeros(len(frames), 1, dtype=sq.dtype, device=frames.device), sq[:, lags[1:] - 1]], dim=1)
    diff = sq[:, FRAME - 1 : FRAME] + sq[:, lags + FRAME - 1] - before - 2 * corr
    taus = torch.arange(1, LAG_MAX + 1, dtype=sq.dtype, device=frames.device)
    cmnd = diff[:, 1:] * taus / torch.clamp(torch.cumsum(diff[:, 1:], dim=1), min=1e-12)
    cmnd[:, : LAG_MIN - 1] = float("inf")
    below = cmnd < THRESHOLD
    # The first lag under the threshold that is not above the next one: the
    # first dip's local minimum (cmnd falls from where it crosses to there).
    falling = torch.cat([cmnd[:, :-1] <= cmnd[:, 1:], torch.ones(len(frames), 1, dtype=torch.bool, device=frames.device)], dim=1)
    hit = below & falling
    voiced = hit.any(dim=1)
    lag = torch.argmax(hit.int(), dim=1) + 1
    f0 = torch.where(voiced, RATE / lag.double(), torch.zeros_like(lag, dtype=sq.dtype))
    return f0.float(), voiced


def track(audio: torch.Tensor, centres: torch.Tensor):
    """audio [B, L], frame centres [J] in samples -> (F0 [B, J], voiced [B, J]).

    Frames out of the signal read zeros; frames more than QUIET_DB under the
    loudest of their row, or silent, count as unvoiced."""
    b, n = audio.shape
    pad = FRAME // 2
    padded = torch.nn.functional.pad(audio.detach().float(), (pad, pad + LAG_MAX))
    idx = centres.long().to(audio.device)[:, None] + torch.arange(FRAME + LAG_MAX, device=audio.device)[None, :]  # start = centre - pad, in padded
    frames = padded[:, idx]  # [B, J, FRAME + LAG_MAX]
    f0, voiced = yin(frames.reshape(-1, FRAME + LAG_MAX))
    f0, voiced = f0.reshape(b, -1), voiced.reshape(b, -1)
    level = 10 * torch.log10(frames[:, :, :FRAME].double().pow(2).mean(dim=2) + 1e-12)
    loud = (level > level.max(dim=1, keepdim=True).values - QUIET_DB) & (level > -70.0)
    voiced = voiced & loud
    return torch.where(voiced, f0, torch.zeros_like(f0)), voiced
