"""--config framed-mix: a gate blends an absolute and a carried phase per bin.

Grown from either kind of warm start it must start as that codec (the gate
leaning to the phase the warm start had, the other path at rest), and a
stream decoded in pieces must equal the whole.

  cd models/recipe && python -m unittest discover tests
"""

import copy
import math
import tempfile
import unittest
from pathlib import Path

import torch
from safetensors.torch import save_file

from codec_model import dsp
from codec_model.codec import Codec
from codec_model.training import GATE_START, load_ema, load_warm_start, warmstart_tensors
from tests.streaming import decode_in_pieces


def save_warm_start(model, path, config, ema=None):
    tensors = {k: v.detach().clone().contiguous() for k, v in warmstart_tensors(model, None, ema).items()}
    save_file(tensors, str(path), metadata={"config": config, "step": "7"})


def grown(config):
    """A `config` codec with a trained-looking head, and a mixed codec grown from it."""
    torch.manual_seed(0)
    source = Codec("mcrvq", config).eval()
    with torch.no_grad():
        source.decoder.head.bias.normal_(0.0, 1.0)
    mixed = Codec("mcrvq", "framed-mix").eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w.safetensors"
        save_warm_start(source, path, config)
        _, taken, own, _ = load_warm_start(path, mixed, None)
    return source, mixed, taken, own


class MixedPhase(unittest.TestCase):
    def test_the_head_has_four_parts_and_the_state_a_phase(self):
        dec = Codec("mcrvq", "framed-mix").decoder
        self.assertEqual(dec.head.out_features, dec.frames * 4 * dsp.BINS)
        self.assertEqual(dec.state_size, dec.stack.state_size + dsp.BINS)

    @torch.no_grad()
    def test_pieces_decode_as_the_whole(self):
        torch.manual_seed(1)
        dec = Codec("mcrvq", "framed-mix").eval().decoder
        whole, joined, state = decode_in_pieces(dec, torch.randn(2, 128, 19), (3, 1, 8, 7))
        self.assertLess(float((joined - whole).abs().max()), 1e-3 * float(whole.abs().max()))
        phase = state[:, dec.stack.state_size :]
        self.assertGreaterEqual(float(phase.min()), 0.0)
        self.assertLess(float(phase.max()), 2 * math.pi)

    @torch.no_grad()
    def test_grown_from_an_absolute_codec_it_starts_as_that_codec(self):
        source, mixed, taken, own = grown("framed")
        self.assertEqual(taken, own)
        dec = mixed.decoder
        self.assertTrue(torch.equal(dec.head.bias[dec.head_rows("phase")], source.decoder.head.bias[source.decoder.head_rows("phase")]))
        self.assertEqual(float(dec.head.weight[dec.head_rows("advance")].abs().sum()), 0.0)
        self.assertTrue(torch.all(dec.head.bias[dec.head_rows("gate")] == -GATE_START))
        latent = torch.randn(1, 128, 12)
        want, _ = source.decoder(latent, torch.zeros(1, source.decoder.state_size))
        got, _ = dec(latent, torch.zeros(1, dec.state_size))
        # Only the nearly shut gate's share may differ: at most twice it, of each bin's magnitude.
        bins = dsp.BINS
        w = want.reshape(2, 2, bins, 12)
        mag = torch.sqrt(w[:, 0] ** 2 + w[:, 1] ** 2).repeat(1, 2, 1).reshape(want.shape)
        share = 1 / (1 + math.exp(GATE_START))
        self.assertTrue(torch.all((got - want).abs() <= 2 * share * mag + 1e-6))
        self.assertGreater(float((got - want).abs().max()), 0.0)

    @torch.no_grad()
    def test_grown_from_a_carried_phase_codec_it_starts_as_that_codec(self):
        source, mixed, taken, own = grown("framed-pr")
        self.assertEqual(taken, own)
        dec = mixed.decoder
        self.assertTrue(torch.equal(dec.head.weight[dec.head_rows("advance")], source.decoder.head.weight[source.decoder.head_rows("advance")]))
        self.assertEqual(float(dec.head.bias[dec.head_rows("phase")].abs().sum()), 0.0)
        self.assertTrue(torch.all(dec.head.bias[dec.head_rows("gate")] == GATE_START))
        latent = torch.randn(1, 128, 12)
        want, _ = source.decoder(latent, torch.zeros(1, source.decoder.state_size))
        got, _ = dec(latent, torch.zeros(1, dec.state_size))
        self.assertLess(float((got - want).abs().max()), 0.1 * float(want.abs().max()))

    @torch.no_grad()
    def test_the_gate_turns_the_phase_and_keeps_the_magnitude(self):
        torch.manual_seed(6)
        dec = Codec("mcrvq", "framed-mix").eval().decoder
        with torch.no_grad():
            dec.head.weight.zero_()
            dec.head.bias.normal_(0.0, 2.0)
            dec.head.bias[dec.head_rows("gate")] = 0.0  # an even blend of unrelated phases
        spec, _ = dec(torch.randn(1, 128, 9), torch.zeros(1, dec.state_size))
        s = spec.reshape(2, 2, dsp.BINS, 9)
        got = torch.sqrt(s[:, 0] ** 2 + s[:, 1] ** 2)
        want = torch.exp(dec.head.bias[dec.head_rows("mag")].reshape(2, dsp.BINS, 1)).expand_as(got)
        # Unnormalised, an even blend of unrelated phases keeps 2 / pi of the
        # level on average; renormalised, only where they nearly cancel is it short.
        self.assertGreater(float((got / want).mean()), 0.9)
        self.assertTrue(torch.all(got <= want * 1.0001))

    def test_its_moving_average_is_grown_the_same_way(self):
        torch.manual_seed(2)
        source = Codec("mcrvq", "framed")
        ema = copy.deepcopy(Codec("mcrvq", "framed-mix"))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "w.safetensors"
            save_warm_start(source, path, "framed", ema=copy.deepcopy(source))
            self.assertGreater(load_ema(path, ema), 0)
        dec = ema.decoder
        self.assertTrue(torch.equal(dec.head.weight[dec.head_rows("mag")], source.decoder.head.weight[source.decoder.head_rows("mag")]))
        self.assertTrue(torch.all(dec.head.bias[dec.head_rows("gate")] == -GATE_START))


if __name__ == "__main__":
    unittest.main()
