"""--config framed: two synthesis frames a token at hop 160.

The inverse STFT of densely framed spectra gives the signal back, and a
framed codec grown from a single-frame warm start starts near it: its late
sub-frame is the old frame, its early one the old frame turned to sit half a
hop earlier.

  cd models/recipe && python -m unittest discover tests
"""

import tempfile
import unittest
from pathlib import Path

import torch
from safetensors.torch import save_file

from codec_model import dsp
from codec_model.codec import Codec
from codec_model.training import load_warm_start, warmstart_tensors


class Framed(unittest.TestCase):
    def test_dense_synthesis_reconstructs(self):
        x = torch.randn(2, dsp.HOP * 12)
        y = dsp.istft_sub(dsp.stft_sub(x, 2), 2)
        self.assertEqual(y.shape[-1], 12 * dsp.HOP - dsp.N_FFT + dsp.HOP // 2)
        self.assertLess(float((y - x[:, : y.shape[-1]]).abs().max()), 1e-5)

    def test_one_frame_a_token_is_the_plain_istft(self):
        spec = dsp.stft(torch.randn(1, dsp.HOP * 6))
        self.assertTrue(torch.equal(dsp.istft_sub(spec, 1), dsp.istft(spec)))

    def test_roundtrip_keeps_the_length_and_delay(self):
        codec = Codec("mcrvq", "framed").eval()
        self.assertEqual(codec.delay, dsp.HOP + dsp.HOP // 2)
        for n in (1, 160, 161, 320, 16000 + 123):
            self.assertEqual(codec.roundtrip(0.1 * torch.randn(1, n)).shape[-1], n)

    def test_grown_head_copies_the_frame_and_turns_the_early_one(self):
        torch.manual_seed(0)
        small = Codec("mcrvq", "small")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "w.safetensors"
            save_file({k: v.contiguous() for k, v in warmstart_tensors(small, None, None).items()}, str(path))
            framed = Codec("mcrvq", "framed")
            _, taken, own, _ = load_warm_start(path, framed, None)
        self.assertEqual(taken, own)
        w, b = small.decoder.head.weight, small.decoder.head.bias
        w2, b2 = framed.decoder.head.weight, framed.decoder.head.bias
        rows = 2 * dsp.BINS
        self.assertTrue(torch.equal(w2[:rows], w) and torch.equal(w2[rows:], w))
        self.assertTrue(torch.equal(b2[rows:], b))
        self.assertTrue(torch.equal(b2[: dsp.BINS], b[: dsp.BINS]))
        k = torch.arange(dsp.BINS, dtype=torch.float32)
        turn = b2[dsp.BINS : rows] - b[dsp.BINS :]
        self.assertTrue(torch.allclose(turn, -2 * torch.pi * k * (dsp.HOP // 2) / dsp.N_FFT, atol=1e-4))


if __name__ == "__main__":
    unittest.main()
