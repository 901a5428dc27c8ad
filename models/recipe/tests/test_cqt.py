"""The constant-Q transform and the sub-band CQT critics (issue 31, lever 3):
a tone lands in its own bin, harmonics 100 Hz apart stay apart at 1.5 kHz,
and the critics train under bfloat16 (test_fresh_critics: a warm start
without them gives them untrained).

  cd models/recipe && python -m unittest discover tests
"""

import contextlib
import io
import math
import unittest

import torch

from codec_model.cqt import ConstantQ
from codec_model.discriminators import CQT_SCALES, Discriminators, discriminator_loss
from codec_model.training import critic_autocast
from train import parse_args

BASE = ["--name", "x", "--quantizer", "mcrvq", "--gan"]
SECOND = torch.arange(16000) / 16000


def steady_spectrum(cqt, x):
    """Mean CQT magnitude over the frames clear of the edges."""
    z = cqt(x[None])[0].abs()
    edge = z.shape[0] // 4
    return z[edge:-edge].mean(0)


class ConstantQTransform(unittest.TestCase):
    def test_a_tone_peaks_in_its_own_bin(self):
        cqt = ConstantQ(128, octaves=7, bins_per_octave=24)
        hz = cqt.centre_hz()
        for f in (90.0, 250.0, 1000.0, 2900.0, 5500.0):
            m = steady_spectrum(cqt, torch.sin(2 * math.pi * f * SECOND))
            k = int(m.argmax())
            # Within half a bin (a 24th of an octave) of the tone.
            self.assertLess(abs(math.log2(float(hz[k]) / f)), 0.5 / 24, f"{f} Hz peaked at {float(hz[k]):.1f} Hz")
            self.assertGreater(float(m.max()), 0.35)  # a unit sine: 0.5 at its bin's centre

    def test_harmonics_100_hz_apart_stay_resolved_at_1500_hz(self):
        # What the mel and STFT views of the losses and critics merge.
        cqt = ConstantQ(256, octaves=7, bins_per_octave=48)
        hz = cqt.centre_hz()
        m = steady_spectrum(cqt, torch.sin(2 * math.pi * 1500 * SECOND) + torch.sin(2 * math.pi * 1600 * SECOND))
        between = (hz > 1530) & (hz < 1570)
        self.assertLess(float(m[between].max()), 0.25 * float(m.max()))

    def test_bins_run_low_to_high_and_frames_follow_the_hop(self):
        cqt = ConstantQ(256, octaves=7, bins_per_octave=36)
        z = cqt(torch.zeros(3, 8000))
        self.assertEqual(tuple(z.shape), (3, 32, 7 * 36))
        self.assertTrue(bool((cqt.centre_hz().diff() > 0).all()))

    def test_a_hop_the_octaves_cannot_share_is_refused(self):
        with self.assertRaises(ValueError):
            ConstantQ(100, octaves=7)


class CQTCritics(unittest.TestCase):
    def test_a_critic_step_under_bfloat16_reaches_the_cqt_critics(self):
        torch.manual_seed(1)
        disc = Discriminators(cqt_scales=CQT_SCALES)
        real, fake = 0.1 * torch.randn(2, 8000), 0.1 * torch.randn(2, 8000)
        with critic_autocast(real, True):
            loss = discriminator_loss(disc(real), disc(fake))
        loss.backward()
        self.assertTrue(torch.isfinite(loss))
        for critic in disc.discs:
            if critic.kind == "cqt":
                grads = [p.grad for p in critic.parameters()]
                self.assertTrue(all(g is not None and torch.isfinite(g).all() for g in grads))
                self.assertGreater(sum(float(g.abs().sum()) for g in grads), 0.0)

    def test_the_flag_is_off_unless_asked_and_needs_gan(self):
        self.assertFalse(parse_args(BASE).cqt_discs)
        self.assertTrue(parse_args(BASE + ["--cqt-discs"]).cqt_discs)
        with contextlib.redirect_stderr(io.StringIO()), self.assertRaises(SystemExit):
            parse_args(["--name", "x", "--quantizer", "mcrvq", "--cqt-discs"])  # critics need --gan


if __name__ == "__main__":
    unittest.main()
