"""--config framed-pr: a head that names each bin's phase advance.

The phase it carries must make a stream decoded in pieces equal the whole,
stay wrapped however long the stream, and start, from an absolute-phase warm
start, with every bin running at its centre frequency.

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
from codec_model.training import load_ema, load_warm_start, warmstart_tensors
from tests.streaming import decode_in_pieces


def save_warm_start(model, path, config):
    tensors = {k: v.contiguous() for k, v in warmstart_tensors(model, None, None).items()}
    save_file(tensors, str(path), metadata={"config": config, "step": "7"})


class RecursivePhase(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)
        self.codec = Codec("mcrvq", "framed-pr").eval()
        self.dec = self.codec.decoder

    def test_the_state_carries_the_phase(self):
        self.assertEqual(self.dec.state_size, self.dec.stack.state_size + dsp.BINS)
        self.assertEqual(Codec("mcrvq", "framed").decoder.state_size, self.dec.stack.state_size)

    @torch.no_grad()
    def test_pieces_decode_as_the_whole(self):
        whole, joined, _ = decode_in_pieces(self.dec, torch.randn(2, 128, 23), (1, 5, 2, 7, 8))
        self.assertLess(float((joined - whole).abs().max()), 1e-3 * float(whole.abs().max()))

    @torch.no_grad()
    def test_the_carried_phase_stays_wrapped(self):
        with torch.no_grad():
            self.dec.head.bias.add_(3.0)  # every bin advances by much more than a turn a step
        _, state = self.dec(torch.randn(1, 128, 400), torch.zeros(1, self.dec.state_size))
        phase = state[:, self.dec.stack.state_size :]
        self.assertGreaterEqual(float(phase.min()), 0.0)
        self.assertLess(float(phase.max()), 2 * math.pi)

    @torch.no_grad()
    def test_at_rest_every_bin_runs_at_its_centre_frequency(self):
        self.dec.rest_phase_advance()
        spec, _ = self.dec(torch.randn(1, 128, 6), torch.zeros(1, self.dec.state_size))
        bins, sub = dsp.BINS, dsp.HOP // self.dec.frames
        # [1, frames * 2 * bins, T] -> sub-frames in time order [J, bins]
        s = spec.reshape(self.dec.frames, 2 * bins, 6).permute(2, 0, 1).reshape(-1, 2 * bins)
        angle = torch.atan2(s[:, bins:], s[:, :bins]).double()
        step = torch.remainder(angle[1:] - angle[:-1], 2 * math.pi)
        k = torch.arange(bins, dtype=torch.float64)
        want = torch.remainder(2 * math.pi * k * sub / dsp.N_FFT, 2 * math.pi).expand_as(step)
        diff = torch.remainder(step - want + math.pi, 2 * math.pi) - math.pi
        self.assertLess(float(diff.abs().max()), 1e-3)

    def test_a_warm_start_with_absolute_phase_starts_at_rest(self):
        absolute = Codec("mcrvq", "framed")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "w.safetensors"
            save_warm_start(absolute, path, "framed")
            _, taken, own, _ = load_warm_start(path, self.codec, None)
        self.assertEqual(taken, own)
        head, old = self.dec.head, absolute.decoder.head
        rows = torch.arange(head.out_features).reshape(2, 2, dsp.BINS)
        phase_rows, mag_rows = rows[:, 1].reshape(-1), rows[:, 0].reshape(-1)
        self.assertEqual(float(head.weight[phase_rows].detach().abs().sum() + head.bias[phase_rows].detach().abs().sum()), 0.0)
        self.assertTrue(torch.equal(head.weight[mag_rows], old.weight[mag_rows]))

    def test_its_moving_average_starts_at_rest_too(self):
        absolute = Codec("mcrvq", "framed")
        tensors = warmstart_tensors(absolute, None, copy.deepcopy(absolute))
        ema = copy.deepcopy(self.codec)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "w.safetensors"
            save_file({k: v.detach().clone().contiguous() for k, v in tensors.items()}, str(path), metadata={"config": "framed"})
            self.assertGreater(load_ema(path, ema), 0)
        rows = torch.arange(ema.decoder.head.out_features).reshape(2, 2, dsp.BINS)[:, 1].reshape(-1)
        self.assertEqual(float(ema.decoder.head.weight[rows].detach().abs().sum()), 0.0)

    def test_a_recursive_warm_start_keeps_its_phase_head(self):
        trained = Codec("mcrvq", "framed-pr")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "w.safetensors"
            save_warm_start(trained, path, "framed-pr")
            load_warm_start(path, self.codec, None)
        self.assertTrue(torch.equal(self.dec.head.weight, trained.decoder.head.weight))


if __name__ == "__main__":
    unittest.main()
