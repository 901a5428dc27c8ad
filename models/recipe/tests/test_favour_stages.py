"""--favour-stages: quantizer dropout gives half the items the favoured stage
count instead of every stage, so the rate that ships trains most.

  cd models/recipe && python -m unittest discover tests
"""

import contextlib
import io
import unittest

import torch

from codec_model.quantizers import _dropout_mask
from train import parse_args

BASE = ["--name", "x", "--quantizer", "mcrvq"]


def kept(favoured):
    torch.manual_seed(0)
    mask = _dropout_mask(20000, 8, 3, "cpu", favoured)
    counts = mask.sum(1).long()
    # Every row keeps a prefix of the stages.
    expect = (torch.arange(8)[None, :] < counts[:, None]).float()
    assert torch.equal(mask, expect)
    return torch.bincount(counts, minlength=9).float() / len(counts)


class FavourStages(unittest.TestCase):
    def test_by_default_half_the_items_keep_every_stage(self):
        share = kept(None)
        self.assertAlmostEqual(float(share[8]), 0.5 + 0.5 / 6, delta=0.02)
        self.assertAlmostEqual(float(share[4]), 0.5 / 6, delta=0.02)
        self.assertEqual(float(share[:3].sum()), 0.0)

    def test_favoured_count_takes_the_half_instead(self):
        share = kept(4)
        self.assertAlmostEqual(float(share[4]), 0.5 + 0.5 / 6, delta=0.02)
        self.assertAlmostEqual(float(share[8]), 0.5 / 6, delta=0.02)

    def test_the_flag_is_for_mcrvq_stage_counts_only(self):
        self.assertIsNone(parse_args(BASE).favour_stages)
        self.assertEqual(parse_args(BASE + ["--favour-stages", "4"]).favour_stages, 4)
        for bad in (BASE + ["--favour-stages", "2"], ["--name", "x", "--quantizer", "grvq", "--favour-stages", "4"]):
            with contextlib.redirect_stderr(io.StringIO()), self.assertRaises(SystemExit):
                parse_args(bad)


if __name__ == "__main__":
    unittest.main()
