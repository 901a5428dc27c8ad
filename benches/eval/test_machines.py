"""Checks of what machines hear (machines.py) on files with known answers:
the same file twice gives similarity 1 and no recognition error, a file the
codec decoded stays close, another voice scores lower, and a file too short
or silent gets n/a rather than 0. They need the evaluation's requirements
(resemblyzer, pocketsphinx, torch), not the network:

  cd benches/eval && python -m unittest test_machines
"""

import math
import shutil
import tempfile
import unittest
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

import repo
import machines

SAMPLE = repo.REPO / "testdata" / "sample.wav"
# sample.wav through the default model at 2 kbps (scripts/make-samples.sh).
DECODED = repo.REPO / "docs" / "samples" / "codec-2kbps.wav"


def read(path: Path) -> np.ndarray:
    audio, rate = sf.read(path, dtype="float32")
    assert rate == repo.SR
    return audio


def other_voice(x: np.ndarray) -> np.ndarray:
    """The same words played 1.25 times slower: pitch and formants lower, another voice to the encoder."""
    return resample_poly(x, 5, 4).astype(np.float32)


class EditDistance(unittest.TestCase):
    def test_known_distances(self):
        self.assertEqual(machines.edit_distance(list("abc"), list("abc")), 0)
        self.assertEqual(machines.edit_distance(list("abc"), list("ac")), 1)  # a deletion
        self.assertEqual(machines.edit_distance(list("abc"), list("abxc")), 1)  # an insertion
        self.assertEqual(machines.edit_distance(list("abc"), list("axc")), 1)  # a substitution
        self.assertEqual(machines.edit_distance([], list("ab")), 2)
        self.assertEqual(machines.edit_distance(list("kitten"), list("sitting")), 3)

    def test_error_rate_pools_the_files_and_leaves_out_na(self):
        files = [{"words_edits": 1, "words_ref": 4}, {"words_edits": 0, "words_ref": 6},
                 {"words_edits": math.nan, "words_ref": 3}, {"words_edits": math.nan, "words_ref": 0}]
        rate, left_out = machines.error_rate(files, "words")
        self.assertAlmostEqual(rate, 0.1)
        self.assertEqual(left_out, 2)
        rate, left_out = machines.error_rate(files[2:], "words")
        self.assertTrue(math.isnan(rate))


class Verification(unittest.TestCase):
    def test_share_of_utterances_closer_to_their_own_input(self):
        a, b, c = np.eye(3, dtype=np.float32)
        pairs = [("x", a, 0.9 * a + 0.1 * b),  # closest to its own input: counted right
                 ("y", b, 0.2 * b + 0.8 * a),  # closer to speaker x's input: wrong
                 ("y", c, c)]  # right
        share, counted = machines.verification(pairs)
        self.assertEqual(counted, 3)
        self.assertAlmostEqual(share, 2 / 3)

    def test_one_speaker_is_na(self):
        a, b = np.eye(2, dtype=np.float32)
        share, counted = machines.verification([("x", a, a), ("x", b, b)])
        self.assertTrue(math.isnan(share))
        self.assertEqual(counted, 0)

    def test_missing_embeddings_are_not_counted(self):
        a, b = np.eye(2, dtype=np.float32)
        share, counted = machines.verification([("x", a, None), ("y", b, b), ("z", None, a)])
        self.assertEqual(counted, 1)
        self.assertEqual(share, 1.0)


class Listeners(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.speaker = machines.SpeakerEncoder()
        cls.recogniser = machines.Recogniser(words=True, phones=True)
        cls.x = read(SAMPLE)
        cls.ref = machines.heard(cls.x, cls.speaker, cls.recogniser)

    def test_the_same_file_twice_scores_one_and_no_error(self):
        self.recogniser.words(other_voice(self.x))  # another file between: no state may carry over
        got = machines.listen(self.ref, self.x.copy(), self.speaker, self.recogniser)
        self.assertAlmostEqual(got["speaker_sim"], 1.0, places=5)
        self.assertGreater(got["words_ref"], 0)
        self.assertGreater(got["phones_ref"], 0)
        self.assertEqual(got["words_edits"], 0)
        self.assertEqual(got["phones_edits"], 0)

    def test_decoded_stays_close_another_voice_scores_lower(self):
        decoded = machines.listen(self.ref, read(DECODED), self.speaker, self.recogniser)
        other = machines.listen(self.ref, other_voice(self.x), self.speaker, self.recogniser)
        self.assertLess(decoded["speaker_sim"], 1.0)
        self.assertGreater(decoded["speaker_sim"], 0.8)
        self.assertLess(other["speaker_sim"], decoded["speaker_sim"] - 0.1)
        self.assertGreater(other["phones_edits"], 0)

    def test_too_short_or_silent_is_na_not_zero(self):
        for name, deg in (("short", self.x[: int(0.2 * repo.SR)]), ("silent", np.zeros_like(self.x)),
                          ("empty", np.zeros(0, dtype=np.float32))):
            got = machines.listen(self.ref, deg, self.speaker, self.recogniser)
            self.assertIsNone(got["embedding"], name)
            self.assertTrue(math.isnan(got["speaker_sim"]), name)
            self.assertTrue(math.isnan(got["words_edits"]), name)
            self.assertTrue(math.isnan(got["phones_edits"]), name)
        silent_ref = machines.heard(np.zeros_like(self.x), self.speaker, self.recogniser)
        got = machines.listen(silent_ref, self.x, self.speaker, self.recogniser)
        self.assertTrue(math.isnan(got["speaker_sim"]))
        self.assertTrue(math.isnan(got["phones_edits"]))
        self.assertEqual(got["phones_ref"], 0)


@unittest.skipUnless(shutil.which("opusenc") and shutil.which("opusdec"), "needs opus-tools")
class BadInput(unittest.TestCase):
    """A folder of bad files: each is reported by name or gets n/a; nothing stops the run."""

    def test_bad_files_are_reported_and_skipped(self):
        import coders
        import evaluation

        rates = coders.baseline_rates(["opus"])[-1:]
        with tempfile.TemporaryDirectory() as d:
            folder = Path(d)
            (folder / "broken.wav").write_bytes(b"RIFF\0\0\0\0WAVEnot audio")
            sf.write(folder / "silent.wav", np.zeros(repo.SR, dtype=np.float32), repo.SR, subtype="PCM_16")
            sf.write(folder / "short.wav", read(SAMPLE)[:1600], repo.SR, subtype="PCM_16")
            sf.write(folder / "empty.wav", np.zeros(0, dtype=np.float32), repo.SR, subtype="PCM_16")
            items = [{"id": p.name, "path": str(p), "speaker": "."} for p in sorted(folder.iterdir())]
            listen = evaluation.listeners(speaker=True, words=True, phones=True)
            results, _ = evaluation.evaluate_all(items, rates, "codec-not-needed", None, 1, listen)
        by_id = {f["id"]: f for f in results}
        self.assertEqual([e["file"] for e in by_id["broken.wav"]["errors"]], ["broken.wav"])
        self.assertEqual([e["file"] for e in by_id["empty.wav"]["errors"]], ["empty.wav"])
        for name in ("silent.wav", "short.wav"):
            res = by_id[name]["results"][rates[0]["key"]]
            self.assertTrue(math.isnan(res["speaker_sim"]), name)
            self.assertTrue(math.isnan(res["phones_edits"]), name)
        row = evaluation.summarise(rates[0], results)
        self.assertEqual(row["failed"], 2)
        self.assertTrue(math.isnan(row["speaker_sim"]))
        self.assertTrue(math.isnan(row["per"]))
        self.assertEqual(row["per_skipped"], 2)


class DecodedFolder(unittest.TestCase):
    """run.py --folder REF --decoded DEC: files decoded elsewhere, matched by relative path."""

    def test_pairs_by_name_and_reports_the_missing_and_mismatched(self):
        import coders
        import evaluation

        x = read(SAMPLE)
        with tempfile.TemporaryDirectory() as d:
            ref, dec = Path(d) / "ref", Path(d) / "dec"
            (ref / "a").mkdir(parents=True)
            (dec / "a").mkdir(parents=True)
            for name in ("same", "codec", "missing", "cut"):
                sf.write(ref / "a" / f"{name}.wav", x, repo.SR, subtype="PCM_16")
            sf.write(dec / "a" / "same.wav", x, repo.SR, subtype="PCM_16")
            # Another suffix and rate: matched by name, resampled to 16 kHz.
            sf.write(dec / "a" / "codec.flac", resample_poly(read(DECODED), 3, 1), 48000)
            sf.write(dec / "a" / "cut.wav", x[: len(x) // 2], repo.SR, subtype="PCM_16")
            items = [{"id": str(p.relative_to(ref)), "path": str(p), "speaker": "a"} for p in sorted(ref.rglob("*.wav"))]
            rate = coders.given_rate(dec)
            listen = evaluation.listeners(speaker=True, words=False, phones=True)
            results, _ = evaluation.evaluate_all(items, [rate], "", None, 1, listen)
        by_id = {Path(f["id"]).stem: f for f in results}
        self.assertAlmostEqual(by_id["same"]["results"]["decoded"]["speaker_sim"], 1.0, places=5)
        self.assertEqual(by_id["same"]["results"]["decoded"]["phones_edits"], 0)
        self.assertGreater(by_id["codec"]["results"]["decoded"]["speaker_sim"], 0.8)
        self.assertGreater(by_id["codec"]["results"]["decoded"]["pesq_wb"], 1.3)
        for name, why in (("missing", "no decoded file"), ("cut", "not its decoding")):
            self.assertEqual(by_id[name]["results"], {})
            self.assertEqual(len(by_id[name]["errors"]), 1)
            self.assertIn(why, by_id[name]["errors"][0]["error"])
        row = evaluation.summarise(rate, results)
        self.assertEqual((row["files"], row["failed"]), (2, 2))
        self.assertNotIn("file_kbps", row)


if __name__ == "__main__":
    unittest.main()
