"""The linear-frequency log-magnitude loss (train.py --w-linear): it must see
harmonics turned into noise of the same band and power, which is what the
decoder does to a low voice above about 700 Hz."""

import math
import os
import sys
import unittest

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from codec_model.losses import ReconstructionLoss  # noqa: E402


def harmonics_and_their_smear(f0: float = 100.0, lo: float = 2000.0, hi: float = 4000.0):
    torch.manual_seed(0)
    t = torch.arange(32000) / 16000
    floor = torch.randn(32000) * 1e-4  # the same quiet floor under both
    x = sum(torch.sin(2 * math.pi * k * f0 * t + k) for k in range(int(lo / f0), int(hi / f0) + 1)) * 0.02
    spectrum = torch.fft.rfft(torch.randn(32000))
    freqs = torch.fft.rfftfreq(32000, 1 / 16000)
    spectrum[(freqs < lo) | (freqs > hi)] = 0
    noise = torch.fft.irfft(spectrum, 32000)
    noise = noise / noise.std() * x.std()
    return (x + floor)[None], (noise + floor)[None]


class LinearLossTest(unittest.TestCase):
    def test_identical_signals_cost_nothing(self):
        x, _ = harmonics_and_their_smear()
        self.assertEqual(ReconstructionLoss().linear(x, x).item(), 0.0)

    def test_smeared_harmonics_cost_more_than_a_level_error(self):
        loss = ReconstructionLoss()
        x, smeared = harmonics_and_their_smear()
        smear = loss.linear(x, smeared).item()
        level = loss.linear(x, x * 1.41).item()  # 3 dB louder
        self.assertGreater(smear, 3 * level)
        # Why the term exists: the mel loss charges this smear less than it
        # charges the 3 dB level error.
        self.assertLess(loss.mel(x, smeared).item(), loss.mel(x, x * 1.41).item())

    def test_gradients_reach_the_output(self):
        x, smeared = harmonics_and_their_smear()
        y = smeared.clone().requires_grad_(True)
        ReconstructionLoss().linear(y, x).backward()
        self.assertTrue(torch.isfinite(y.grad).all())
        self.assertGreater(y.grad.abs().sum().item(), 0.0)


if __name__ == "__main__":
    unittest.main()
