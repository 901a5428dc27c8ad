"""SimVQ codebooks (issue 31, lever 4; --config framed-simvq): grown from an
EMA warm start they begin as its codebooks, a step moves every entry, chosen
or not, and what a checkpoint saves and export reads is the codebook in use.

  cd models/recipe && python -m unittest discover tests
"""

import tempfile
import unittest
from pathlib import Path

import torch
from safetensors.torch import save_file

from codec_model.codec import Codec, load_codec
from codec_model.quantizers import VectorQuantizer, sync_codebooks
from codec_model.training import load_warm_start, warmstart_tensors
from export import compact_weights


def trained_source(x):
    torch.manual_seed(0)
    source = Codec("mcrvq", "framed").train()
    source(x)  # k-means initialises the codebooks
    return source.eval()


def saved(model, tmp):
    path = Path(tmp) / "w.safetensors"
    save_file({k: v.contiguous() for k, v in warmstart_tensors(model, None, None).items()}, str(path))
    return path


class SimVQ(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(1)
        self.x = 0.1 * torch.randn(2, 8000)
        self.source = trained_source(self.x)
        self.dir = tempfile.TemporaryDirectory()
        self.grown = Codec("mcrvq", "framed-simvq")
        load_warm_start(saved(self.source, self.dir.name), self.grown, None)

    def tearDown(self):
        self.dir.cleanup()

    def stages(self, model):
        return list(model.quantizer.rvq.stages)

    def test_only_the_masked_stages_are_simvq(self):
        self.assertEqual([vq.simvq for vq in self.stages(self.grown)], [True] * 3 + [False] * 5)

    def test_grown_from_an_ema_warm_start_it_codes_and_decodes_the_same(self):
        self.grown.eval()
        with torch.no_grad():
            a, codes_a, _ = self.source(self.x, n_stages=4)
            b, codes_b, _ = self.grown(self.x, n_stages=4)
        self.assertTrue(torch.equal(codes_a, codes_b))
        self.assertTrue(torch.allclose(a, b, atol=1e-6))
        for vq in self.stages(self.grown)[:3]:
            self.assertTrue(torch.allclose(vq.codebook(), vq.embed, atol=1e-6))

    def test_a_step_moves_every_entry_of_a_simvq_codebook_and_only_chosen_ones_of_an_ema_one(self):
        model = self.grown.train()
        opt = torch.optim.SGD([p for n, p in model.named_parameters() if n.endswith(".proj")], lr=0.5)
        before = [vq.codebook().detach().clone() for vq in self.stages(model)[:4]]
        maps = [vq.proj.detach().clone() for vq in self.stages(model)[:3]]
        _, codes, commit = model(self.x, n_stages=4)
        commit.backward()
        opt.step()
        sync_codebooks(model.quantizer)
        for i, vq in enumerate(self.stages(model)[:3]):
            # Each entry's move through the map's change (the change is far
            # below float32's step at the entries' own size for most of them).
            move = vq.base @ (vq.proj.detach() - maps[i]).t()
            self.assertEqual(int((move.abs().sum(1) > 0).sum()), vq.size, f"stage {i}")
            self.assertTrue(torch.allclose(vq.embed, vq.base @ vq.proj.detach().t()))
        # Stage 3 keeps its EMA codebook: at most the entries it chose move
        # (or were restarted), never all of them.
        ema_moved = (self.stages(model)[3].embed - before[3]).abs().sum(1) > 0
        self.assertLess(int(ema_moved.sum()), self.stages(model)[3].size)

    def test_the_codebook_loss_teaches_the_map_and_not_the_encoder(self):
        model = self.grown.train()
        vq = self.stages(model)[0]
        x = torch.randn(64, vq.dim, requires_grad=True)
        q, _, loss = vq(x)
        self.assertFalse(q.requires_grad)
        loss.backward()
        self.assertIsNone(x.grad)
        self.assertGreater(float(vq.proj.grad.abs().sum()), 0.0)

    def test_a_saved_simvq_codec_loads_with_the_codebook_it_had(self):
        model = self.grown.train()
        with torch.no_grad():
            for vq in self.stages(model)[:3]:
                vq.proj.mul_(1.5)  # as if trained, and embed not yet written
        sync_codebooks(model.quantizer)
        with tempfile.TemporaryDirectory() as tmp:
            loaded = load_codec(saved(model, tmp), "mcrvq", "framed-simvq")
        for a, b in zip(self.stages(model)[:3], self.stages(loaded)[:3]):
            self.assertTrue(torch.allclose(a.embed, b.embed))
            self.assertTrue(torch.allclose(b.embed, b.codebook(), atol=1e-5))

    def test_a_compact_warm_start_keeps_the_base_and_map_in_float32(self):
        compact = compact_weights(self.grown.state_dict())
        for i in range(3):
            for part in ("embed", "base", "proj"):
                self.assertEqual(compact[f"quantizer.rvq.stages.{i}.{part}"].dtype, torch.float32, part)

    def test_a_fresh_simvq_codebook_starts_from_k_means(self):
        torch.manual_seed(2)
        vq = VectorQuantizer(8, 16, simvq=True).train()
        vq(torch.randn(64, 8))
        self.assertTrue(torch.equal(vq.proj.detach(), torch.eye(8)))
        self.assertTrue(torch.allclose(vq.base, vq.embed))
        self.assertGreater(float(vq.base.abs().sum()), 0.0)


if __name__ == "__main__":
    unittest.main()
