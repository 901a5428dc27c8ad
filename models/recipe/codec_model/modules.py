"""Causal frame-rate networks with explicit streaming state.

Every temporal layer is a causal convolution whose state is the last k - 1
frames of its input. A network's state is one flat tensor [B, S]: the
concatenation of its layers' states, so the ONNX graph has a single state
input and output. Called from the zero state on a whole file, a network equals
the same network fed frame by frame while carrying the state.
"""

import math

import torch
from torch import nn

from . import dsp


class CausalConv(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, groups: int = 1):
        super().__init__()
        self.cin, self.kernel = cin, kernel
        self.conv = nn.Conv1d(cin, cout, kernel, groups=groups)

    @property
    def state_size(self) -> int:
        return self.cin * (self.kernel - 1)

    def forward(self, x: torch.Tensor, state: torch.Tensor):
        """x [B, C, T], state [B, C * (k - 1)] -> (y [B, C', T], next state)."""
        if self.kernel == 1:
            return self.conv(x), state
        past = state.reshape(x.shape[0], self.cin, self.kernel - 1)
        full = torch.cat([past, x], dim=2)
        next_state = full[:, :, full.shape[2] - (self.kernel - 1) :].reshape(x.shape[0], -1)
        return self.conv(full), next_state


class ConvNeXtBlock(nn.Module):
    def __init__(self, dim: int, mult: int, kernel: int, layer_scale: float):
        super().__init__()
        self.dwconv = CausalConv(dim, dim, kernel, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pw1 = nn.Linear(dim, dim * mult)
        self.pw2 = nn.Linear(dim * mult, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    @property
    def state_size(self) -> int:
        return self.dwconv.state_size

    def forward(self, x, state):
        h, state = self.dwconv(x, state)
        h = self.norm(h.transpose(1, 2))
        h = self.pw2(nn.functional.gelu(self.pw1(h)))
        return x + (self.gamma * h).transpose(1, 2), state


def run_trunk(module: nn.Module, x: torch.Tensor, state: torch.Tensor):
    """A network's ConvNeXt trunk (`module.stack`), under bfloat16 autocast when training asks for it
    (`trunk_bf16`): on CPUs with AVX-512 BF16 that makes a step markedly
    cheaper, and what the trunks compute is unchanged within what PESQ
    resolves. The STFT features, the head and everything after stay in
    float32 (the head's log-magnitude and phase lose 3 % to bfloat16's 8-bit
    mantissa); evaluation and export (no gradients) run in float32 only."""
    if not (getattr(module, "trunk_bf16", False) and torch.is_grad_enabled()):
        return module.stack(x, state)
    with torch.autocast(x.device.type, dtype=torch.bfloat16):
        y, next_state = module.stack(x, state)
    return y.float(), next_state.float()


class Stack(nn.Module):
    """Layers applied in order, each taking its slice of the flat state."""

    def __init__(self, layers):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    @property
    def state_size(self) -> int:
        return sum(layer.state_size for layer in self.layers)

    def forward(self, x, state):
        out, start = [], 0
        for layer in self.layers:
            n = layer.state_size
            x, s = layer(x, state[:, start : start + n])
            out.append(s)
            start += n
        return x, torch.cat(out, dim=1)


def spectral_features(spec: torch.Tensor) -> torch.Tensor:
    """STFT frames [B, 2F, T] -> log power and the magnitude-compressed complex spectrum."""
    bins = spec.shape[1] // 2
    re, im = spec[:, :bins], spec[:, bins:]
    power = re * re + im * im
    scale = torch.pow(power + 1e-8, -0.35)  # |X|^0.3 e^{i phase}
    return torch.cat([torch.log(power + 1e-6), re * scale, im * scale], dim=1)


class Encoder(nn.Module):
    """STFT frames [B, 2F, T] -> latent [B, D, T]."""

    def __init__(self, dim=192, depth=4, latent=128, mult=3, kernel=7, embed_kernel=3):
        super().__init__()
        bins = dsp.BINS
        embed = CausalConv(3 * bins, dim, embed_kernel)
        self.stack = Stack([embed] + [ConvNeXtBlock(dim, mult, kernel, 1.0 / depth) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.proj = nn.Linear(dim, latent)

    @property
    def state_size(self) -> int:
        return self.stack.state_size

    def forward(self, spec, state):
        x, state = run_trunk(self, spectral_features(spec), state)
        return self.proj(self.norm(x.transpose(1, 2))).transpose(1, 2), state


class Decoder(nn.Module):
    """Latent [B, D, T] -> STFT frames [B, 2F, T] (Vocos-style magnitude and phase head).

    phase="absolute" reads each frame's phase straight from the head, as Vocos
    does. phase="recursive" reads the head as each bin's phase advance over the
    previous sub-frame, less the advance of the bin's centre frequency, and
    carries the last phase in the state: a harmonic then keeps its phase from
    frame to frame because the network names its frequency, where an absolute
    phase must be guessed anew each frame from latents that do not carry it
    (the instantaneous-frequency spectra of GANSynth, made causal).

    phase="mixed" has both: each bin's phase is a blend, by a gate the head
    gives per bin and sub-frame, of a unit phasor at the absolute phase and
    one at the carried phase, renormalised to unit length. Grown from an
    absolute warm start with the gate nearly shut it starts as that codec,
    and opens the carried path only where it lowers the losses (a voiced
    harmonic), keeping the absolute one for onsets and noise, where a
    free-running phase has nothing to keep.

    phase="harmonic" gates between the absolute phase and a harmonic prior:
    the head also names the F0 of each sub-frame, the state carries the
    fundamental's phase, and bin k takes the phase of its nearest harmonic h,
    h times the fundamental's at the window's centre (less pi k, the centre's
    offset from the window's start). One number a sub-frame then keeps every
    harmonic in step with the others and with the frame before, as the sine
    excitation of a source-filter vocoder does. The F0 is taught by its own
    loss against the input's (`last_f0`); the losses' gradients do not reach
    it through the phase, which a small F0 change turns by many radians."""

    # What the head gives each sub-frame, in order: a part is a row a bin, or one row.
    LAYOUTS = {
        "absolute": ("mag", "phase"),
        "recursive": ("mag", "advance"),
        "mixed": ("mag", "phase", "advance", "gate"),
        "harmonic": ("mag", "phase", "gate", "f0"),
    }
    F0_RANGE = (50.0, 500.0)  # Hz, what the F0 part's sigmoid spans (log scale)
    BLEND_EPS = 1e-3  # bounds the gradient where the two phasors cancel

    def __init__(self, dim=192, depth=8, latent=128, mult=3, kernel=7, embed_kernel=3, frames=1, phase="absolute"):
        super().__init__()
        if phase not in self.LAYOUTS:
            raise ValueError(f"phase must be one of {sorted(self.LAYOUTS)}, not {phase!r}")
        self.frames, self.phase = frames, phase
        self.parts = {}
        at = 0
        for name in self.LAYOUTS[phase]:
            size = 1 if name == "f0" else dsp.BINS
            self.parts[name] = (at, size)
            at += size
        self.width = at
        embed = CausalConv(latent, dim, embed_kernel)
        self.stack = Stack([embed] + [ConvNeXtBlock(dim, mult, kernel, 1.0 / depth) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, frames * self.width)
        # Each bin centre's advance over one sub-hop, wrapped to (-pi, pi] so the running sums stay small.
        sub = dsp.HOP // frames
        turns = (torch.arange(dsp.BINS, dtype=torch.float64) * sub % dsp.N_FFT) / dsp.N_FFT
        turns = torch.where(turns > 0.5, turns - 1.0, turns)
        self.register_buffer("advance", (2 * math.pi * turns).float().reshape(1, dsp.BINS, 1), persistent=False)
        k = torch.arange(dsp.BINS, dtype=torch.float32)
        self.register_buffer("bin_hz", k * dsp.RATE / dsp.N_FFT, persistent=False)
        self.register_buffer("centre_offset", math.pi * (k % 2), persistent=False)  # -pi k, wrapped
        self.last_f0 = None

    @property
    def state_size(self) -> int:
        return self.stack.state_size + {"absolute": 0, "harmonic": 1}.get(self.phase, dsp.BINS)

    def head_rows(self, part: str) -> torch.Tensor:
        """The head's rows of one part (`LAYOUTS`), over all sub-frames."""
        at, size = self.parts[part]
        return (torch.arange(self.frames)[:, None] * self.width + at + torch.arange(size)[None, :]).reshape(-1)

    def rest_phase_advance(self):
        """Zero the head's advance rows: every bin then runs at its centre
        frequency, the recursive head's neutral start from an absolute one."""
        rows = self.head_rows("advance")
        with torch.no_grad():
            self.head.weight[rows] = 0.0
            self.head.bias[rows] = 0.0

    def forward(self, latent, state):
        n = self.stack.state_size
        x, trunk_state = run_trunk(self, latent, state[:, :n])
        h = self.head(self.norm(x.transpose(1, 2))).transpose(1, 2)
        b, _, t = h.shape
        h = h.reshape(b, self.frames, self.width, t)

        def part(name):
            at, size = self.parts[name]
            return h[:, :, at : at + size]

        mag = torch.exp(torch.clamp(part("mag"), max=math.log(1000.0)))
        if self.phase == "absolute":
            re, im = torch.cos(part("phase")), torch.sin(part("phase"))
        else:
            if self.phase == "harmonic":
                other, last = self._harmonic_phase(part("f0"), state[:, n:])
            else:
                other, last = self._carry(part("advance"), state[:, n:])
            trunk_state = torch.cat([trunk_state, last], dim=1)
            re, im = torch.cos(other), torch.sin(other)
            if "gate" in self.parts:
                # A blend of two unit phasors is shorter than either unless they
                # agree; renormalised, the gate turns the phase and leaves the
                # magnitude to the magnitude part. Unnormalised, the mel loss
                # charged every opening of the gate as lost level, and the gates
                # of both heads closed (0.05 to 0.01-0.02 in 800 steps).
                gate = torch.sigmoid(part("gate"))
                re = gate * re + (1 - gate) * torch.cos(part("phase"))
                im = gate * im + (1 - gate) * torch.sin(part("phase"))
                norm = torch.rsqrt(re * re + im * im + self.BLEND_EPS)
                re, im = re * norm, im * norm
        spec = torch.cat([mag * re, mag * im], dim=2)
        return spec.reshape(b, self.frames * 2 * dsp.BINS, t), trunk_state

    def _time_order(self, x):
        """[B, frames, C, T] -> [B, C, T * frames]: token t's sub-frame i is step t * frames + i."""
        b, _, c, t = x.shape
        return x.permute(0, 2, 3, 1).reshape(b, c, t * self.frames)

    def _token_order(self, x):
        b, c, j = x.shape
        return x.reshape(b, c, j // self.frames, self.frames).permute(0, 3, 1, 2)

    @staticmethod
    def _wrap(phase):
        return phase - 2 * math.pi * torch.floor(phase / (2 * math.pi))

    def _carry(self, steps, start):
        """Advances [B, frames, F, T] from the phase `start` [B, F] -> the
        phase of every sub-frame [B, frames, F, T] and the last one, wrapped."""
        run = start.unsqueeze(2) + torch.cumsum(self._time_order(steps) + self.advance, dim=2)
        return self._token_order(run), self._wrap(run[:, :, -1])

    def _harmonic_phase(self, logit, start):
        """The F0 part [B, frames, 1, T] and the fundamental's phase `start`
        [B, 1] -> each bin's nearest harmonic's phase [B, frames, F, T] and the
        fundamental's last phase, wrapped. Sets `last_f0` [B, T * frames] (Hz)."""
        lo, hi = self.F0_RANGE
        f0 = lo * torch.exp(math.log(hi / lo) * torch.sigmoid(self._time_order(logit)))  # [B, 1, J]
        self.last_f0 = f0[:, 0]
        sub = dsp.HOP // self.frames
        run = start.unsqueeze(2) + torch.cumsum(f0.detach() * (2 * math.pi * sub / dsp.RATE), dim=2)
        fundamental = self._wrap(run)  # [B, 1, J]
        harmonic = torch.round(self.bin_hz.reshape(1, -1, 1) / f0.detach())  # [B, F, J]
        phase = harmonic * fundamental + self.centre_offset.reshape(1, -1, 1)
        return self._token_order(phase), fundamental[:, :, -1]
