"""--augment and --bf16: what a crop becomes, and what bfloat16 trunks leave alone.

  cd models/recipe && python -m unittest discover tests
"""

import unittest
from fractions import Fraction

import numpy as np
import torch

from codec_model import dsp
from codec_model.augment import Augmenter
from codec_model.codec import Codec
from train import parse_args

CROP = 32000


def tone(f0: float, n: int) -> np.ndarray:
    t = np.arange(n) / 16000
    return (0.3 * np.sin(2 * np.pi * f0 * t)).astype(np.float32)


def peak_hz(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec) * 16000 / len(x))


class Augment(unittest.TestCase):
    def test_a_crop_keeps_its_length_whatever_is_drawn(self):
        aug = Augmenter(np.random.default_rng(1), p_pitch=1.0, p_eq=1.0, p_band=1.0, p_noise=1.0)
        for _ in range(20):
            length, ratio = aug.source_length(CROP)
            y = aug(tone(200.0, length), ratio, CROP)
            self.assertEqual(y.shape, (CROP,))
            self.assertEqual(y.dtype, np.float32)
            self.assertTrue(np.isfinite(y).all())

    def test_resampling_moves_the_pitch_by_the_ratio(self):
        aug = Augmenter(np.random.default_rng(0), p_eq=0.0, p_band=0.0, p_noise=0.0)
        ratio = Fraction(6, 5)  # read 5 samples for 6: 1.2 times lower
        y = aug(tone(240.0, int(np.ceil(CROP / ratio)) + 8), ratio, CROP)
        self.assertAlmostEqual(peak_hz(y), 200.0, delta=2.0)

    def test_the_drawn_voices_lean_low(self):
        aug = Augmenter(np.random.default_rng(2), p_pitch=1.0)
        ratios = [float(aug.source_length(CROP)[1]) for _ in range(2000)]
        lower = np.mean([r > 1 for r in ratios])  # more output than input: a lower voice
        self.assertGreater(lower, 0.6)
        self.assertLess(max(ratios), 1.27)
        self.assertGreater(min(ratios), 0.88)

    def test_equalising_keeps_the_level(self):
        aug = Augmenter(np.random.default_rng(3))
        x = np.random.default_rng(4).standard_normal(CROP) * 0.1
        y = aug.equalise(x)
        self.assertAlmostEqual(float(np.sqrt(np.mean(y * y))), float(np.sqrt(np.mean(x * x))), places=6)
        self.assertGreater(float(np.abs(y - x).max()), 1e-3)

    def test_the_same_seed_draws_the_same_batch(self):
        def draw(seed):
            aug = Augmenter(np.random.default_rng(seed), p_pitch=1.0, p_eq=1.0, p_band=1.0, p_noise=1.0)
            length, ratio = aug.source_length(CROP)
            return aug(tone(150.0, length), ratio, CROP)

        np.testing.assert_array_equal(draw(7), draw(7))
        self.assertFalse(np.array_equal(draw(7), draw(8)))

    def test_the_flags_parse(self):
        args = parse_args(["--name", "x", "--quantizer", "mcrvq", "--augment", "--bf16"])
        self.assertTrue(args.augment and args.bf16)


class Bf16Trunks(unittest.TestCase):
    def test_evaluation_and_export_stay_in_float32(self):
        torch.manual_seed(0)
        model = Codec("mcrvq", "framed").eval()
        x = torch.randn(1, 6400) * 0.1
        with torch.no_grad():
            plain = model(x, n_stages=4)[0]
            model.encoder.trunk_bf16 = model.decoder.trunk_bf16 = True
            again = model(x, n_stages=4)[0]
        torch.testing.assert_close(plain, again, rtol=0, atol=0)

    def test_training_under_bf16_computes_about_the_same(self):
        torch.manual_seed(0)
        model = Codec("mcrvq", "framed")
        spec = dsp.stft(torch.randn(2, 6400) * 0.1)

        def decode():
            enc_state, dec_state = model.zero_states(2)
            return model.decoder(model.encoder(spec, enc_state)[0], dec_state)[0]

        plain = decode()
        model.encoder.trunk_bf16 = model.decoder.trunk_bf16 = True
        half = decode()
        self.assertEqual(half.dtype, torch.float32)
        rel = float((half - plain).detach().norm() / plain.detach().norm())
        self.assertGreater(rel, 0.0)  # bfloat16 did run
        self.assertLess(rel, 0.05)


if __name__ == "__main__":
    unittest.main()
