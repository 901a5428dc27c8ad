"""phase_oracle.py: its resynthesis through the codec's framing must give the
input back when both halves are the input's, so that what the other variants
lose is the phase's or the magnitude's doing and not the framing's.

  cd models/recipe && python -m unittest discover tests
"""

import unittest

import numpy as np
import torch

import harmonics
from codec_model.codec import Codec
from phase_oracle import variants


class PhaseOracle(unittest.TestCase):
    def test_the_input_halves_give_the_input_back_and_random_phase_does_not(self):
        t = np.arange(16000) / 16000
        x = sum(np.sin(2 * np.pi * 110 * h * t) / h for h in range(1, 30)).astype(np.float32) * 0.1
        out = variants(x, Codec("mcrvq", "framed").eval(), torch.Generator().manual_seed(0))
        same = out["input magnitude, input phase"]
        self.assertEqual(len(same), len(x))
        self.assertLess(float(np.abs(same - x).max()), 1e-4)
        kept = np.nanmean(harmonics.measure(x, same), axis=0)
        lost = np.nanmean(harmonics.measure(x, out["input magnitude, random phase"]), axis=0)
        # Its harmonics reach 3.2 kHz: the bands from 100 Hz to 3 kHz hold them.
        self.assertTrue(np.all(lost[:3, 1] < kept[:3, 1] - 6.0), (kept, lost))


if __name__ == "__main__":
    unittest.main()
