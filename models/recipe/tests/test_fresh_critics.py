"""Wider or fresh period discriminators on a warm start (issue 31, lever 3):
the critics that match are taken, the others start untrained, and a
discriminator-only warm-up leaves the codec, codebooks included, as it was.

  cd models/recipe && python -m unittest discover tests
"""

import contextlib
import io
import tempfile
import unittest
from pathlib import Path
from types import SimpleNamespace

import torch
from safetensors.torch import save_file

from codec_model.codec import Codec
from codec_model.discriminators import CQT_SCALES, PERIOD_CHANNELS, Discriminators
from codec_model.training import disc_only_step, load_warm_start, optimizers, warmstart_tensors
from train import parse_args

BASE = ["--name", "x", "--quantizer", "mcrvq", "--gan"]


def kinds_equal(a, b, kind):
    """Whether every critic of `kind` has the same tensors in a and b."""
    pairs = [(x, y) for x, y in zip(a.discs, b.discs) if x.kind == kind]
    return all(torch.equal(p, q) for x, y in pairs for p, q in zip(x.state_dict().values(), y.state_dict().values()))


class FreshCritics(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)
        self.model, self.trained = Codec("mcrvq", "small"), Discriminators()
        with torch.no_grad():
            for p in self.trained.parameters():
                p.add_(0.5)  # unlike any fresh critic
        self.dir = tempfile.TemporaryDirectory()
        self.path = Path(self.dir.name) / "w.safetensors"
        weights = {k: v.contiguous() for k, v in warmstart_tensors(self.model, self.trained, None).items()}
        save_file(weights, str(self.path), metadata={"step": "7"})

    def tearDown(self):
        self.dir.cleanup()

    def test_same_width_takes_every_critic(self):
        disc = Discriminators()
        _, _, _, n = load_warm_start(self.path, Codec("mcrvq", "small"), disc)
        self.assertEqual(n, len(self.trained.state_dict()))
        self.assertTrue(kinds_equal(disc, self.trained, "period") and kinds_equal(disc, self.trained, "resolution"))

    def test_wider_period_critics_start_fresh_and_the_others_are_taken(self):
        disc = Discriminators(period_channels=(32, 64, 128, 256))
        untrained = [p.detach().clone() for c in disc.discs if c.kind == "period" for p in c.parameters()]
        _, _, _, n = load_warm_start(self.path, Codec("mcrvq", "small"), disc)
        self.assertTrue(kinds_equal(disc, self.trained, "resolution"))
        after = [p for c in disc.discs if c.kind == "period" for p in c.parameters()]
        self.assertTrue(all(torch.equal(a, b) for a, b in zip(untrained, after)))
        resolution = sum(len(c.state_dict()) for c in disc.discs if c.kind == "resolution")
        self.assertEqual(n, resolution)

    def test_cqt_critics_a_warm_start_lacks_start_untrained_and_the_others_are_taken(self):
        disc = Discriminators(cqt_scales=CQT_SCALES)
        fresh = [p.detach().clone() for c in disc.discs if c.kind == "cqt" for p in c.parameters()]
        _, _, _, n = load_warm_start(self.path, Codec("mcrvq", "small"), disc)
        self.assertEqual(n, len(self.trained.state_dict()))
        self.assertTrue(kinds_equal(disc, self.trained, "period") and kinds_equal(disc, self.trained, "resolution"))
        after = [p for c in disc.discs if c.kind == "cqt" for p in c.parameters()]
        self.assertEqual(len(after), len(fresh))
        self.assertTrue(all(torch.equal(a, b) for a, b in zip(fresh, after)))

    def test_fresh_period_critics_on_request(self):
        disc = Discriminators()
        load_warm_start(self.path, Codec("mcrvq", "small"), disc, fresh_discs=("period",))
        self.assertTrue(kinds_equal(disc, self.trained, "resolution"))
        self.assertFalse(kinds_equal(disc, self.trained, "period"))

    def test_a_warm_up_step_trains_the_critics_and_holds_the_codec(self):
        disc = Discriminators()
        _, opt_d = optimizers(self.model, disc, 1e-3)
        self.model.train()
        x = 0.1 * torch.randn(2, 16000)
        self.model(x, dropout=True)  # the codebooks' k-means start, as a run's first step gives
        codec_before = {k: v.clone() for k, v in self.model.state_dict().items()}
        disc_before = [p.detach().clone() for p in disc.parameters()]
        args = SimpleNamespace(gan_seconds=0.25)
        loss = disc_only_step(self.model, disc, opt_d, x, args)
        self.assertTrue(torch.isfinite(loss))
        self.assertTrue(self.model.training)
        for k, v in self.model.state_dict().items():
            self.assertTrue(torch.equal(v, codec_before[k]), k)
        self.assertFalse(all(torch.equal(a, b) for a, b in zip(disc_before, disc.parameters())))

    def test_arguments(self):
        self.assertEqual(parse_args(BASE).period_channels, PERIOD_CHANNELS)
        self.assertEqual(parse_args(BASE + ["--period-channels", "32,64,128,256"]).period_channels, (32, 64, 128, 256))
        for bad in (["--period-channels", "32,x"], ["--period-channels", "0,64"], ["--disc-warmup", "-1"]):
            with contextlib.redirect_stderr(io.StringIO()), self.assertRaises(SystemExit):
                parse_args(BASE + bad)


if __name__ == "__main__":
    unittest.main()
