"""train.py --add-split: another manifest's audio joins the training audio;
held-out sets and missing manifests are refused before training starts.

  cd models/recipe && python -m unittest discover tests
"""

import contextlib
import io
import json
import tempfile
import unittest
from pathlib import Path

import numpy as np
import soundfile as sf

from codec_model.data import CropSampler
from train import parse_args


def manifest(data: Path, name: str, ids_seconds):
    (data / "wav").mkdir(exist_ok=True)
    lines = []
    for uid, seconds in ids_seconds:
        sf.write(data / "wav" / f"{uid}.wav", np.full(int(seconds * 16000), 0.1, np.float32), 16000, subtype="PCM_16")
        lines.append(json.dumps({"id": uid, "seconds": seconds}))
    (data / f"{name}.jsonl").write_text("\n".join(lines) + "\n")


class AddSplit(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.data = Path(self.dir.name)
        manifest(self.data, "train", [("aaaaaaaaaaaa", 1.0), ("bbbbbbbbbbbb", 2.0)])
        manifest(self.data, "tierb", [("cccccccccccc", 3.0)])
        manifest(self.data, "dev2", [("dddddddddddd", 1.0)])

    def tearDown(self):
        self.dir.cleanup()

    def args(self, *extra):
        return ["--name", "x", "--quantizer", "mcrvq", "--data", str(self.data), *extra]

    def refused(self, *extra) -> str:
        err = io.StringIO()
        with contextlib.redirect_stderr(err), self.assertRaises(SystemExit):
            parse_args(self.args(*extra))
        return err.getvalue()

    def test_the_added_audio_is_trained_on(self):
        args = parse_args(self.args("--add-split", "tierb"))
        self.assertEqual(args.add_split, ["tierb"])
        alone = CropSampler(self.data, "train", 1600, 0)
        both = CropSampler(self.data, ["train", *args.add_split], 1600, 0)
        # Each file is followed by a 0.1 s gap.
        self.assertAlmostEqual(alone.hours * 3600, 3.2, places=3)
        self.assertAlmostEqual(both.hours * 3600, 6.3, places=3)

    def test_held_out_sets_are_refused(self):
        for name in ("dev", "dev2", "dev_en", "valid"):
            self.assertIn("held-out", self.refused("--add-split", name))

    def test_a_missing_manifest_is_refused(self):
        self.assertIn("no nothing.jsonl", self.refused("--add-split", "nothing"))


if __name__ == "__main__":
    unittest.main()
