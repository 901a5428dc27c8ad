"""harmonics.py, the band harmonic prominence: a harmonic voice scores high in
every band, the same voice's harmonics replaced by noise score low, and a
voice compared with itself keeps all of its prominence."""

import math
import os
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import harmonics  # noqa: E402


def voice(f0: float = 110.0, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * harmonics.RATE)) / harmonics.RATE
    return sum(np.sin(2 * math.pi * k * f0 * t + k) / k for k in range(1, int(5000 / f0))) * 0.1


class HarmonicsTest(unittest.TestCase):
    def test_a_voice_keeps_its_prominence_against_itself(self):
        x = voice()
        table = harmonics.measure(x, x)
        self.assertGreater(len(table), 10)
        np.testing.assert_allclose(table[..., 0], table[..., 1])
        self.assertTrue((np.nanmean(table[..., 0], axis=0) > 15).all(), np.nanmean(table[..., 0], axis=0))

    def test_harmonics_turned_to_noise_lose_it_in_every_band(self):
        x = voice()
        noise = np.random.default_rng(0).standard_normal(len(x)) * x.std()
        means = np.nanmean(harmonics.measure(x, noise), axis=0)
        self.assertTrue((means[:, 1] < means[:, 0] - 8).all(), means)

    def test_the_lag_of_a_delayed_output_is_found(self):
        x = voice()
        delayed = np.concatenate([np.zeros(480), x])
        self.assertEqual(len(harmonics.aligned(x, delayed)), len(x))


if __name__ == "__main__":
    unittest.main()
