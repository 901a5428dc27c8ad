"""--disc-every: the steps between discriminator steps leave the discriminators
alone and train on the reconstruction losses only.

  cd models/recipe && python -m unittest discover tests
"""

import contextlib
import io
import unittest
from types import SimpleNamespace

import torch

from codec_model.codec import Codec
from codec_model.discriminators import Discriminators
from codec_model.losses import ReconstructionLoss
from codec_model.training import optimizers, train_step
from train import parse_args

BASE = ["--name", "x", "--quantizer", "mcrvq", "--gan"]


class DiscEvery(unittest.TestCase):
    def test_every_step_by_default_and_zero_refused(self):
        self.assertEqual(parse_args(BASE).disc_every, 1)
        self.assertEqual(parse_args(BASE + ["--disc-every", "3"]).disc_every, 3)
        with contextlib.redirect_stderr(io.StringIO()), self.assertRaises(SystemExit):
            parse_args(BASE + ["--disc-every", "0"])

    def test_a_step_without_discriminators_leaves_them_unchanged(self):
        torch.manual_seed(0)
        model, disc = Codec("mcrvq", "small"), Discriminators()
        opt, opt_d = optimizers(model, disc, 1e-3)
        args = SimpleNamespace(w_mel=1.0, w_complex=0.0, w_commit=0.25, w_adv=1 / 45, w_fm=2 / 45, gan_seconds=0.25)
        x = 0.1 * torch.randn(2, 16000)
        before = [p.detach().clone() for p in disc.parameters()]
        figures = train_step(model, None, opt, opt_d, ReconstructionLoss(), x, args)
        self.assertNotIn("adv", figures)
        self.assertTrue(all(torch.equal(a, b) for a, b in zip(before, disc.parameters())))
        figures = train_step(model, disc, opt, opt_d, ReconstructionLoss(), x, args)
        self.assertIn("adv", figures)
        self.assertFalse(all(torch.equal(a, b) for a, b in zip(before, disc.parameters())))


if __name__ == "__main__":
    unittest.main()
