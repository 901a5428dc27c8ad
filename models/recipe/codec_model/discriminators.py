"""Small multi-period and multi-resolution discriminators (HiFi-GAN, Vocos),
narrowed to train on a CPU. Adversarial training is what makes the decoded
phase plausible: reconstruction losses alone leave it free."""

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from .cqt import ConstantQ


# HiFi-GAN's are 32-1024 wide; these train on a CPU.
PERIOD_CHANNELS = (16, 32, 64, 128)


class PeriodDiscriminator(nn.Module):
    kind = "period"

    def __init__(self, period: int, channels=PERIOD_CHANNELS):
        super().__init__()
        self.period = period
        layers, cin = [], 1
        for c in channels:
            layers.append(weight_norm(nn.Conv2d(cin, c, (5, 1), (3, 1), padding=(2, 0))))
            cin = c
        layers.append(weight_norm(nn.Conv2d(cin, cin, (5, 1), 1, padding=(2, 0))))
        self.layers = nn.ModuleList(layers)
        self.post = weight_norm(nn.Conv2d(cin, 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, x):
        b, t = x.shape
        pad = (-t) % self.period
        x = nn.functional.pad(x, (0, pad), mode="reflect").view(b, 1, -1, self.period)
        feats = []
        for layer in self.layers:
            x = nn.functional.leaky_relu(layer(x), 0.1)
            feats.append(x)
        return self.post(x).flatten(1), feats


class ResolutionDiscriminator(nn.Module):
    kind = "resolution"

    def __init__(self, n_fft: int, channels: int = 16):
        super().__init__()
        self.n_fft = n_fft
        self.register_buffer("window", torch.hann_window(n_fft))
        self.layers = nn.ModuleList([
            weight_norm(nn.Conv2d(1, channels, (3, 9), (1, 2), padding=(1, 4))),
            weight_norm(nn.Conv2d(channels, channels, (3, 9), (1, 2), padding=(1, 4))),
            weight_norm(nn.Conv2d(channels, channels, (3, 9), (1, 2), padding=(1, 4))),
            weight_norm(nn.Conv2d(channels, channels, (3, 3), padding=(1, 1))),
        ])
        self.post = weight_norm(nn.Conv2d(channels, 1, (3, 3), padding=(1, 1)))

    def forward(self, x):
        spec = torch.stft(x, self.n_fft, self.n_fft // 4, window=self.window, return_complex=True)
        x = torch.log(spec.abs() + 1e-5).transpose(1, 2).unsqueeze(1)  # [B, 1, T, F]
        feats = []
        for layer in self.layers:
            x = nn.functional.leaky_relu(layer(x), 0.1)
            feats.append(x)
        return self.post(x).flatten(1), feats


class CQTDiscriminator(nn.Module):
    """A sub-band constant-Q critic (MS-SB-CQT, Gu et al. 2024, as BigVGAN v2
    has it): the CQT's real and imaginary parts, each octave through a conv
    of its own first, since a filter that suits 100 Hz does not suit 3 kHz.
    Magnitudes are compressed to |X|^0.3 with the phase kept, so quiet
    valleys between harmonics weigh about as much as the peaks."""

    kind = "cqt"

    def __init__(self, hop: int, bins_per_octave: int, octaves: int = 7, channels: int = 16):
        super().__init__()
        self.cqt = ConstantQ(hop, octaves, bins_per_octave)
        self.bins = bins_per_octave
        self.pre = nn.ModuleList(
            [weight_norm(nn.Conv2d(2, 2, (3, 9), padding=(1, 4))) for _ in range(octaves)]
        )
        layers = [weight_norm(nn.Conv2d(2, channels, (3, 9), (1, 2), padding=(1, 4)))]
        for d in (1, 2, 4):
            layers.append(weight_norm(nn.Conv2d(channels, channels, (3, 9), (1, 2), dilation=(d, 1), padding=(d, 4))))
        layers.append(weight_norm(nn.Conv2d(channels, channels, (3, 3), padding=(1, 1))))
        self.layers = nn.ModuleList(layers)
        self.post = weight_norm(nn.Conv2d(channels, 1, (3, 3), padding=(1, 1)))

    def forward(self, x):
        with torch.autocast(x.device.type, enabled=False):
            z = self.cqt(x)
            z = z * (z.abs() + 1e-5) ** -0.7
            z = torch.stack([z.real, z.imag], 1)  # [B, 2, T, F]
        x = torch.cat([pre(z[..., i * self.bins : (i + 1) * self.bins]) for i, pre in enumerate(self.pre)], dim=-1)
        feats = []
        for layer in self.layers:
            x = nn.functional.leaky_relu(layer(x), 0.1)
            feats.append(x)
        return self.post(x).flatten(1), feats


# (hop, bins per octave) of each CQT critic: BigVGAN v2's bins per octave,
# one 16 ms hop for all three (its finer hops and 32-channel convs cost the
# critics three times as much on a CPU).
CQT_SCALES = ((256, 24), (256, 36), (256, 48))


class Discriminators(nn.Module):
    def __init__(self, periods=(2, 3, 5, 7, 11), resolutions=(256, 512, 1024), period_channels=PERIOD_CHANNELS,
                 cqt_scales=()):
        super().__init__()
        # The CQT critics come last, so a warm start's critics keep their indices.
        self.discs = nn.ModuleList(
            [PeriodDiscriminator(p, tuple(period_channels)) for p in periods]
            + [ResolutionDiscriminator(n) for n in resolutions]
            + [CQTDiscriminator(hop, bins) for hop, bins in cqt_scales]
        )

    def forward(self, x):
        return [d(x) for d in self.discs]


def random_segments(real, fake, samples: int, generator=None):
    """The same random slice of each pair: the discriminators see short
    segments, which keeps their cost on a CPU below the codec's."""
    if real.shape[1] <= samples:
        return real, fake
    start = int(torch.randint(0, real.shape[1] - samples + 1, (1,), generator=generator))
    return real[:, start : start + samples], fake[:, start : start + samples]


def discriminator_loss(real_outs, fake_outs):
    loss = 0.0
    for (r, _), (f, _) in zip(real_outs, fake_outs):
        loss = loss + torch.mean((1 - r) ** 2) + torch.mean(f**2)
    return loss / len(real_outs)


def generator_losses(real_outs, fake_outs):
    """(adversarial, feature matching), each averaged over discriminators."""
    adv, fm = 0.0, 0.0
    for (_, rf), (f, ff) in zip(real_outs, fake_outs):
        adv = adv + torch.mean((1 - f) ** 2)
        fm = fm + sum(torch.mean(torch.abs(a.detach() - b)) for a, b in zip(rf, ff)) / len(rf)
    return adv / len(fake_outs), fm / len(fake_outs)
