"""--config deep from a small warm start, and framed-deep from a framed one:
the added decoder blocks start as the identity, so the grown codec decodes
exactly as the one it grew from.

  cd models/recipe && python -m unittest discover tests
"""

import tempfile
import unittest
from pathlib import Path

import torch
from safetensors.torch import save_file

from codec_model.codec import Codec
from codec_model.training import load_warm_start, warmstart_tensors


class Grow(unittest.TestCase):
    def test_a_deep_codec_grown_from_a_small_one_decodes_the_same(self):
        self.grows_the_same("small", "deep")

    def test_a_deep_framed_codec_grown_from_a_framed_one_decodes_the_same(self):
        self.grows_the_same("framed", "framed-deep")

    def grows_the_same(self, source, grown):
        torch.manual_seed(0)
        small = Codec("mcrvq", source)
        x = 0.1 * torch.randn(1, 16000)
        small.train()
        small(x)  # k-means initialises the codebooks
        small.eval()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "w.safetensors"
            save_file({k: v.contiguous() for k, v in warmstart_tensors(small, None, None).items()}, str(path))
            deep = Codec("mcrvq", grown)
            _, taken, own, _ = load_warm_start(path, deep, None)
        self.assertLess(taken, own)
        self.assertEqual(len(deep.decoder.stack.layers), len(small.decoder.stack.layers) + 4)
        deep.eval()
        with torch.no_grad():
            a, b = small.roundtrip(x), deep.roundtrip(x)
        self.assertTrue(torch.allclose(a, b, atol=1e-6), float((a - b).abs().max()))
        # The new blocks are not frozen: their layer scale has a gradient.
        deep.train()
        y, _, _ = deep(x)
        y.pow(2).mean().backward()
        self.assertGreater(float(deep.decoder.stack.layers[-1].gamma.grad.abs().sum()), 0.0)

    def test_a_fresh_codec_keeps_its_layer_scale(self):
        deep = Codec("mcrvq", "deep")
        self.assertTrue(all(float(b.gamma.abs().min()) > 0 for b in deep.decoder.stack.layers[1:]))


if __name__ == "__main__":
    unittest.main()
