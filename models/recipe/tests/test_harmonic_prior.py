"""--config framed-hp: the absolute phase gated against a harmonic prior from
an F0 the head names, with the fundamental's phase in the decoder's state.

The prior must be the phase a harmonic signal at that F0 really has in the
codec's own framing, stream in pieces as the whole, and start, grown from an
absolute warm start, as that codec; the F0 it is taught must be YIN's.

  cd models/recipe && python -m unittest discover tests
"""

import math
import tempfile
import unittest
from pathlib import Path

import torch
from safetensors.torch import save_file

from codec_model import dsp, pitch
from codec_model.codec import Codec
from codec_model.training import GATE_START, f0_loss, load_warm_start, warmstart_tensors
from tests.streaming import decode_in_pieces

SUB = dsp.HOP // 2


def decoder_naming(f0_hz: float, gate: float = 30.0):
    """A framed-hp decoder whose head names a fixed F0, unit magnitudes and
    (with a wide open gate) the prior's phase alone."""
    dec = Codec("mcrvq", "framed-hp").eval().decoder
    lo, hi = dec.F0_RANGE
    share = math.log(f0_hz / lo) / math.log(hi / lo)
    with torch.no_grad():
        dec.head.weight.zero_()
        dec.head.bias.zero_()
        dec.head.bias[dec.head_rows("gate")] = gate
        dec.head.bias[dec.head_rows("f0")] = math.log(share / (1 - share))
    return dec


def harmonic_signal(f0_hz: float, n: int, offset: int = 0, count: int = 30) -> torch.Tensor:
    t = torch.arange(n, dtype=torch.float64) + offset
    return sum(torch.cos(2 * math.pi * h * f0_hz * t / dsp.RATE) for h in range(1, count + 1)).float()[None] / count


class HarmonicPrior(unittest.TestCase):
    def test_the_head_names_an_f0_and_the_state_carries_one_phase(self):
        dec = Codec("mcrvq", "framed-hp").decoder
        self.assertEqual(dec.head.out_features, dec.frames * (3 * dsp.BINS + 1))
        self.assertEqual(dec.state_size, dec.stack.state_size + 1)

    @torch.no_grad()
    def test_the_prior_is_the_phase_of_a_harmonic_signal(self):
        # 175 Hz sits on every 7th bin (odd ones too) and turns 1.75 times a sub-hop.
        f0, tokens = 175.0, 12
        dec = decoder_naming(f0)
        spec, _ = dec(torch.randn(1, 128, tokens), torch.zeros(1, dec.state_size))
        # Sub-frame j's fundamental phase is (j + 1) steps of 2 pi f0 sub / rate, at window centre (j - 1) * sub.
        want = dsp.stft_sub(harmonic_signal(f0, tokens * dsp.HOP, offset=2 * SUB), 2)
        bins = dsp.BINS

        def angles(s):  # [1, frames * 2 * bins, T] -> [J, bins]
            s = s.reshape(2, 2 * bins, tokens).permute(2, 0, 1).reshape(-1, 2 * bins)
            return torch.atan2(s[:, bins:], s[:, :bins]).double()

        peaks = 7 * torch.arange(1, 31)  # the signal's 30 harmonics
        diff = angles(spec)[4:, peaks] - angles(want)[4:, peaks]
        diff = torch.remainder(diff + math.pi, 2 * math.pi) - math.pi
        self.assertLess(float(diff.abs().max()), 1e-2)
        self.assertTrue(torch.allclose(dec.last_f0, torch.full_like(dec.last_f0, f0), rtol=1e-4))

    @torch.no_grad()
    def test_pieces_decode_as_the_whole(self):
        torch.manual_seed(3)
        dec = Codec("mcrvq", "framed-hp").eval().decoder
        with torch.no_grad():
            dec.head.bias.normal_(0.0, 2.0)
        whole, joined, state = decode_in_pieces(dec, torch.randn(2, 128, 21), (2, 9, 1, 9))
        self.assertLess(float((joined - whole).abs().max()), 1e-3 * float(whole.abs().max()))
        phase = state[:, dec.stack.state_size :]
        self.assertTrue(bool(((phase >= 0) & (phase < 2 * math.pi)).all()))

    def test_grown_from_an_absolute_codec_it_starts_as_that_codec(self):
        torch.manual_seed(4)
        source = Codec("mcrvq", "framed").eval()
        with torch.no_grad():
            source.decoder.head.bias.normal_(0.0, 1.0)
        grown = Codec("mcrvq", "framed-hp").eval()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "w.safetensors"
            tensors = {k: v.detach().clone().contiguous() for k, v in warmstart_tensors(source, None, None).items()}
            save_file(tensors, str(path), metadata={"config": "framed"})
            _, taken, own, _ = load_warm_start(path, grown, None)
        self.assertEqual(taken, own)
        dec = grown.decoder
        self.assertTrue(torch.all(dec.head.bias[dec.head_rows("gate")] == -GATE_START))
        self.assertEqual(float(dec.head.weight[dec.head_rows("f0")].detach().abs().sum()), 0.0)
        with torch.no_grad():
            latent = torch.randn(1, 128, 10)
            want, _ = source.decoder(latent, torch.zeros(1, source.decoder.state_size))
            got, _ = dec(latent, torch.zeros(1, dec.state_size))
        share = 1 / (1 + math.exp(GATE_START))
        w = want.reshape(2, 2, dsp.BINS, 10)
        mag = torch.sqrt(w[:, 0] ** 2 + w[:, 1] ** 2).repeat(1, 2, 1).reshape(want.shape)
        self.assertTrue(torch.all((got - want).abs() <= 2 * share * mag + 1e-6))


class Pitch(unittest.TestCase):
    def test_yin_finds_a_low_voice_and_not_silence(self):
        for f0 in (85.0, 123.0, 210.0):
            x = torch.cat([torch.zeros(1, 8000), harmonic_signal(f0, 16000)], dim=1)
            hz, voiced = pitch.track(x, torch.arange(0, 24000, 800))
            self.assertFalse(bool(voiced[0, :8].any()), "silence counted as voiced")
            self.assertTrue(bool(voiced[0, 12:-2].all()))
            self.assertLess(float((hz[0, 12:-2] / f0 - 1).abs().max()), 0.02)

    def test_the_f0_loss_counts_octaves_on_voiced_sub_frames(self):
        x = torch.cat([torch.zeros(1, 3200), harmonic_signal(150.0, 9600)], dim=1)
        for named, octaves in ((150.0, 0.0), (300.0, 1.0), (75.0, 1.0)):
            dec = decoder_naming(named)
            dec(torch.randn(1, 128, x.shape[1] // dsp.HOP), torch.zeros(1, dec.state_size))
            self.assertAlmostEqual(float(f0_loss(dec, x)), octaves, delta=0.03)


if __name__ == "__main__":
    unittest.main()
