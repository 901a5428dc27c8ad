"""gate_use.py reads the gate of the decoder's own head, sub-frame by
sub-frame, and the F0 it names beside YIN's.

  cd models/recipe && python -m unittest discover tests
"""

import math
import unittest

import torch

import gate_use
from codec_model import dsp
from codec_model.codec import Codec


class GateUse(unittest.TestCase):
    def test_it_reads_the_gate_and_the_named_f0_of_each_sub_frame(self):
        torch.manual_seed(5)
        codec = Codec("mcrvq", "framed-hp").eval()
        dec = codec.decoder
        with torch.no_grad():
            dec.head.weight[dec.head_rows("gate")] = 0.0
            dec.head.bias[dec.head_rows("gate")] = torch.linspace(-2.0, 2.0, dsp.BINS).repeat(dec.frames)
        t = torch.arange(16000, dtype=torch.float64)
        x = (0.3 * torch.sin(2 * math.pi * 140.0 * t / dsp.RATE)).float().numpy()
        gate, voiced, named, yin = gate_use.measure(codec, x)
        self.assertEqual(gate.shape, (len(voiced), dsp.BINS))
        self.assertTrue(torch.allclose(gate, torch.sigmoid(torch.linspace(-2.0, 2.0, dsp.BINS)).expand_as(gate), atol=1e-5))
        self.assertEqual(named.shape, yin.shape)
        self.assertGreater(float(voiced.float().mean()), 0.8)
        self.assertLess(float((yin[voiced] / 140.0 - 1).abs().max()), 0.02)


if __name__ == "__main__":
    unittest.main()
