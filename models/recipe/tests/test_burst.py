"""The burst's crops are CropSampler's: the same length and the same level rule.

  cd models/recipe && python -m unittest discover tests
"""

import unittest

import numpy as np
import torch

from gpu_burst import Crops


def crops(amplitude: int, seed: int = 1) -> torch.Tensor:
    rng = np.random.default_rng(0)
    audio = np.clip(rng.standard_normal(16000 * 20) * amplitude / 4, -amplitude, amplitude).astype(np.int16)
    audio[::1000] = amplitude  # every crop holds the same peak
    return Crops(audio, 16000, torch.device("cpu"), seed=seed).batch(256)


class BurstCrops(unittest.TestCase):
    def test_loud_crops_peak_uniformly_between_minus_18_and_minus_half_dbfs(self):
        x = crops(16000)
        self.assertEqual(tuple(x.shape), (256, 16000))
        db = 20 * torch.log10(x.abs().amax(dim=1))
        self.assertTrue(bool(((db > -18.01) & (db < -0.49)).all()))
        self.assertLess(float(db.min()), -15.0)
        self.assertGreater(float(db.max()), -3.5)

    def test_quiet_crops_are_boosted_20_db_at_most(self):
        x = crops(100)  # -50 dBFS: every target level needs more than 20 dB
        peak = x.abs().amax(dim=1)
        self.assertTrue(torch.allclose(peak, torch.full_like(peak, 10 * 100 / 32768), rtol=1e-4))

    def test_the_same_seed_draws_the_same_crops(self):
        self.assertTrue(torch.equal(crops(16000), crops(16000)))
        self.assertFalse(torch.equal(crops(16000), crops(16000, seed=2)))


if __name__ == "__main__":
    unittest.main()
