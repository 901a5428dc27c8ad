"""Residual vector quantizers of the two seed papers, with EMA codebooks.

- `VectorQuantizer`: one codebook. Nearest codeword by argmin(|c|^2 / 2 - x.c);
  k-means initialisation on the first batch, EMA updates, and dead entries
  restarted from the batch's vectors. With `simvq` (the SimVQ seed) the
  codebook is instead a fixed base through one learned linear map, trained by
  a codebook loss: every entry moves with each step, chosen or not.
- `GRVQ` (HiFi-Codec): the latent is split into channel groups, each with its own
  residual VQ. Codes per frame in the order [g0s0, g1s0, ..., g0s1, g1s1, ...].
- `MCRVQ` (Language-Codec): the first stages each see one channel subset of the
  residual (other channels zero) and their outputs are summed; the remaining
  stages are ordinary residual VQ over the full latent. Trained with quantizer
  dropout so the number of stages can be chosen at encode time.
"""

import torch
from torch import nn


class VectorQuantizer(nn.Module):
    def __init__(self, dim: int, size: int, decay: float = 0.99, dead_threshold: float = 0.1, simvq: bool = False):
        super().__init__()
        self.dim, self.size, self.decay, self.dead_threshold = dim, size, decay, dead_threshold
        self.simvq = simvq
        # `embed` is always the codebook in use: export, the runtime and eval
        # read it; a SimVQ codebook writes it from base and proj each step.
        self.register_buffer("embed", torch.zeros(size, dim))
        self.register_buffer("embed_avg", torch.zeros(size, dim))
        self.register_buffer("cluster_size", torch.zeros(size))
        self.register_buffer("initted", torch.tensor(False))
        if simvq:
            self.register_buffer("base", torch.zeros(size, dim))
            self.proj = nn.Parameter(torch.eye(dim))

    def codebook(self) -> torch.Tensor:
        return self.base @ self.proj.t() if self.simvq else self.embed

    @torch.no_grad()
    def start_simvq(self):
        """A SimVQ codebook that begins as the codebook `embed` holds now."""
        self.base.copy_(self.embed)
        self.proj.copy_(torch.eye(self.dim, device=self.proj.device))

    @torch.no_grad()
    def sync(self):
        if self.simvq:
            self.embed.copy_(self.codebook())

    def nearest(self, x: torch.Tensor) -> torch.Tensor:
        half_norms = 0.5 * (self.embed * self.embed).sum(1)
        return torch.argmin(half_norms[None, :] - x @ self.embed.t(), dim=1)

    @torch.no_grad()
    def _kmeans_init(self, x: torch.Tensor, iters: int = 10):
        idx = torch.randperm(x.shape[0], device=x.device)[: self.size]
        if idx.numel() < self.size:
            idx = torch.randint(0, x.shape[0], (self.size,), device=x.device)
        centers = x[idx].clone()
        for _ in range(iters):
            self.embed.copy_(centers)
            codes = self.nearest(x)
            onehot = nn.functional.one_hot(codes, self.size).type(x.dtype)
            counts = onehot.sum(0)
            sums = onehot.t() @ x
            moved = counts > 0
            centers[moved] = sums[moved] / counts[moved, None]
        self.embed.copy_(centers)
        self.embed_avg.copy_(centers)
        self.cluster_size.fill_(1.0)
        self.initted.fill_(True)
        if self.simvq:
            self.start_simvq()

    @torch.no_grad()
    def _ema_update(self, x: torch.Tensor, codes: torch.Tensor):
        onehot = nn.functional.one_hot(codes, self.size).type(x.dtype)
        self.cluster_size.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
        self.embed_avg.mul_(self.decay).add_(onehot.t() @ x, alpha=1 - self.decay)
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + 1e-5) / (n + self.size * 1e-5) * n
        self.embed.copy_(self.embed_avg / smoothed[:, None])
        dead = self.cluster_size < self.dead_threshold
        if dead.any():
            picks = torch.randint(0, x.shape[0], (int(dead.sum()),), device=x.device)
            self.embed[dead] = x[picks]
            self.embed_avg[dead] = x[picks]
            self.cluster_size[dead] = 1.0

    def forward(self, x: torch.Tensor):
        """x [N, dim] -> (quantized [N, dim], codes [N], codebook loss).

        The quantized vectors carry no gradient; the codebook loss (zero for
        an EMA codebook) is the only path by which a SimVQ map learns."""
        if self.training and not bool(self.initted):
            self._kmeans_init(x.detach())
        if self.simvq and self.training:
            book = self.codebook()
            self.embed.copy_(book.detach())
            codes = self.nearest(x.detach())
            chosen = book[codes]
            return chosen.detach(), codes, nn.functional.mse_loss(chosen, x.detach())
        codes = self.nearest(x.detach())
        quantized = self.embed[codes]
        if self.training and not self.simvq:
            self._ema_update(x.detach(), codes)
        return quantized, codes, x.new_zeros(())


class ResidualStages(nn.Module):
    """Stages applied to a residual; stage i may see only a channel slice of it."""

    def __init__(self, dim: int, size: int, slices, simvq: int = 0):
        super().__init__()
        self.slices = list(slices)  # (start, end) per stage, or None for the whole latent
        self.stages = nn.ModuleList(
            VectorQuantizer(dim, size, simvq=i < simvq) for i in range(len(self.slices))
        )

    def stage_input(self, residual: torch.Tensor, i: int) -> torch.Tensor:
        s = self.slices[i]
        if s is None:
            return residual
        mask = torch.zeros(residual.shape[1], device=residual.device, dtype=residual.dtype)
        mask[s[0] : s[1]] = 1.0
        return residual * mask


def _dropout_mask(n_items: int, n_stages: int, min_stages: int, device, favoured: int = None) -> torch.Tensor:
    """[n_items, n_stages] of 0/1: half the items keep `favoured` stages (default
    every stage), the rest a uniform count."""
    keep = torch.randint(min_stages, n_stages + 1, (n_items,), device=device)
    half = torch.rand(n_items, device=device) < 0.5
    favoured = n_stages if favoured is None else min(favoured, n_stages)
    keep = torch.where(half, torch.full_like(keep, favoured), keep)
    return (torch.arange(n_stages, device=device)[None, :] < keep[:, None]).float()


class MCRVQ(nn.Module):
    kind = "mcrvq"

    def __init__(self, dim=128, size=1024, stages=8, masked=3, min_stages=3, simvq=0):
        super().__init__()
        bounds = [round(i * dim / masked) for i in range(masked + 1)]
        # 128 channels in thirds: 0-41, 42-84, 85-127 as in Language-Codec.
        bounds = [0, 42, 85, 128] if (dim, masked) == (128, 3) else bounds
        self.masks = [(bounds[i], bounds[i + 1]) for i in range(masked)]
        self.dim, self.size, self.n_stages, self.n_masked, self.min_stages = dim, size, stages, masked, min_stages
        # The stage count the dropout gives half the items: the full count
        # trains the top rate most; the shipped rate's count trains that one.
        self.favoured_stages = None
        self.rvq = ResidualStages(dim, size, self.masks + [None] * (stages - masked), simvq)

    def forward(self, latent: torch.Tensor, n_stages: int = None, dropout: bool = False):
        """latent [B, D, T] -> (quantized [B, D, T], codes [B, stages, T], commitment loss)."""
        b, d, t = latent.shape
        x = latent.transpose(1, 2).reshape(-1, d)
        n_stages = n_stages or self.n_stages
        outs, codes, commit = [], [], 0.0
        residual = x
        masked_sum = torch.zeros_like(x)
        for i, vq in enumerate(self.rvq.stages[:n_stages]):
            inp = self.rvq.stage_input(residual, i)
            q, c, book_loss = vq(inp)
            commit = commit + nn.functional.mse_loss(inp, q) + book_loss
            outs.append(q)
            codes.append(c)
            if i < self.n_masked:
                # The masked stages all read the same residual; their sum is removed at once.
                masked_sum = masked_sum + q
                if i == self.n_masked - 1:
                    residual = residual - masked_sum
            else:
                residual = residual - q
        stacked = torch.stack(outs, 1)  # [N, S, D]
        if dropout and self.training:
            keep = _dropout_mask(b, len(outs), self.min_stages, x.device, self.favoured_stages)
            keep = keep[:, None, :].expand(b, t, -1).reshape(-1, len(outs))
            stacked = stacked * keep[:, :, None]
        q = stacked.sum(1)
        q = x + (q - x).detach()
        codes = torch.stack(codes, 1).reshape(b, t, -1).transpose(1, 2)
        return q.reshape(b, t, d).transpose(1, 2), codes, commit


class GRVQ(nn.Module):
    kind = "grvq"

    def __init__(self, dim=128, size=1024, groups=2, stages=2, simvq=0):
        super().__init__()
        self.dim, self.size, self.groups, self.n_stages, self.min_stages = dim, size, groups, stages, stages
        self.group_dim = dim // groups
        self.rvqs = nn.ModuleList(ResidualStages(self.group_dim, size, [None] * stages, simvq) for _ in range(groups))

    def forward(self, latent: torch.Tensor, n_stages: int = None, dropout: bool = False):
        """latent [B, D, T] -> (quantized, codes [B, stages * groups, T] stage-major, commitment loss)."""
        b, d, t = latent.shape
        x = latent.transpose(1, 2).reshape(-1, d)
        n_stages = n_stages or self.n_stages
        qs, codes, commit = [], [[] for _ in range(n_stages)], 0.0
        for g, rvq in enumerate(self.rvqs):
            residual = x[:, g * self.group_dim : (g + 1) * self.group_dim]
            total = torch.zeros_like(residual)
            for s, vq in enumerate(rvq.stages[:n_stages]):
                q, c, book_loss = vq(residual)
                commit = commit + nn.functional.mse_loss(residual, q) + book_loss
                total = total + q
                residual = residual - q
                codes[s].append(c)
            qs.append(total)
        q = torch.cat(qs, dim=1)
        q = x + (q - x).detach()
        codes = torch.stack([c for stage in codes for c in stage], 1).reshape(b, t, -1).transpose(1, 2)
        return q.reshape(b, t, d).transpose(1, 2), codes, commit


def make_quantizer(kind: str, dim: int, simvq: int = 0):
    """`simvq`: how many of the first stages (of each group, for grvq) are
    SimVQ codebooks; the rest keep EMA updates."""
    if kind == "mcrvq":
        return MCRVQ(dim=dim, simvq=simvq)
    if kind == "grvq":
        return GRVQ(dim=dim, simvq=simvq)
    raise ValueError(f"unknown quantizer {kind}")


def sync_codebooks(quantizer: nn.Module):
    """Writes every SimVQ codebook into `embed` as the map stands now (the
    forward pass writes it before the optimizer's step moves the map)."""
    for module in quantizer.modules():
        if isinstance(module, VectorQuantizer):
            module.sync()


def start_simvq(quantizer: nn.Module, taken) -> int:
    """SimVQ codebooks whose map a warm start lacked begin as the warm start's
    EMA codebooks (base = embed, map = identity); -> how many."""
    n = 0
    for name, module in quantizer.named_modules():
        if isinstance(module, VectorQuantizer) and module.simvq and f"quantizer.{name}.proj" not in taken:
            module.start_simvq()
            n += 1
    return n
