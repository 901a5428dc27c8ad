"""A pack decodes to what was packed, and a pack.json that lies is refused before anything is read.

  cd models/recipe && python -m unittest discover tests
"""

import json
import tempfile
import unittest
from pathlib import Path

import numpy as np
import soundfile as sf

import pack_data
from codec_model.pack import FORMAT, GAP, VERSION, PackError, chunk_name, dev_name, load_pack, pcm_sha256, to_int16

IDS = ["0123456789ab", "abcdef012345", "00aa00aa00aa"]


def speechlike(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    tone = np.sin(2 * np.pi * (150 + 50 * np.sin(2 * np.pi * 3 * t)) * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))
    return (8000 * tone + 300 * rng.standard_normal(len(t))).astype(np.int16)


class Pack(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        root = Path(self.tmp.name)
        self.data, self.pack = root / "data", root / "pack"
        (self.data / "wav").mkdir(parents=True)
        self.pack.mkdir()
        entries = []
        for i, uid in enumerate(IDS):
            sf.write(self.data / "wav" / f"{uid}.wav", speechlike(1.0 + i * 0.3, i), 16000, subtype="PCM_16")
            entries.append({"id": uid, "seconds": 1.0 + i * 0.3})
        samples, sha, offsets = pack_data.encode_chunk((self.data, entries, self.pack / chunk_name(0), 0.955))
        self.offsets = offsets
        dev = speechlike(0.7, 9)
        sf.write(self.pack / dev_name("devfile"), dev, 16000, subtype="PCM_16", format="FLAC")
        self.index = {"format": FORMAT, "version": VERSION, "chunks": [{"samples": samples, "pcm_sha256": sha, "files": offsets}],
                      "dev": [{"id": "devfile", "samples": len(dev), "pcm_sha256": pcm_sha256(dev)}]}
        self.write_index(self.index)

    def tearDown(self):
        self.tmp.cleanup()

    def write_index(self, index):
        (self.pack / "pack.json").write_text(json.dumps(index))

    def test_round_trip(self):
        audio, dev, _, differ = load_pack(self.pack, threads=2)
        self.assertEqual(differ, [])
        self.assertEqual(len(audio), sum(n for _, _, n in self.offsets) + GAP * len(IDS))
        self.assertEqual(dev[0][0], "devfile")
        self.assertTrue(np.array_equal(np.round(dev[0][1] * 32768).astype(np.int16), speechlike(0.7, 9)), "dev is lossless")
        # The gaps are where the offsets say: the files line up with the originals.
        for uid, start, n in self.offsets:
            ref, _ = sf.read(self.data / "wav" / f"{uid}.wav", dtype="int16")
            err = audio[start : start + n].astype(float) - ref
            self.assertLess(np.sqrt(np.mean(err**2)) / np.sqrt(np.mean(ref.astype(float) ** 2)), 0.5, uid)

    def test_decoded_overshoot_clips_instead_of_wrapping_round(self):
        # Decoded Opus of real speech peaking at 0 dBFS reaches +-2 (3,150 samples of the first
        # 15 minutes packed); libsndfile's own int16 conversion wraps those round to the other sign.
        out = to_int16(np.array([2.05, -1.85, 1.0, -1.0, 0.5, -0.5], dtype=np.float32))
        self.assertEqual(out.tolist(), [32767, -32768, 32767, -32768, 16384, -16384])

    def test_the_loader_converts_the_decoded_floats_itself(self):
        audio, _, _, _ = load_pack(self.pack, threads=1)
        decoded, _ = sf.read(self.pack / chunk_name(0), dtype="float32")
        self.assertTrue(np.array_equal(audio, to_int16(decoded)))

    def test_a_length_that_disagrees_with_the_file_is_refused(self):
        self.index["chunks"][0]["samples"] += 1
        self.write_index(self.index)
        with self.assertRaises(PackError):
            load_pack(self.pack, threads=1)

    def test_a_huge_length_is_refused_before_decoding(self):
        self.index["chunks"][0]["samples"] = 10**12
        self.write_index(self.index)
        with self.assertRaisesRegex(PackError, "out of bounds"):
            load_pack(self.pack, threads=1)

    def test_a_dev_file_that_changed_is_refused(self):
        self.index["dev"][0]["pcm_sha256"] = "0" * 64
        self.write_index(self.index)
        with self.assertRaises(PackError):
            load_pack(self.pack, threads=1)

    def test_a_dev_id_that_is_a_path_is_refused(self):
        self.index["dev"][0]["id"] = "../../etc/passwd"
        self.write_index(self.index)
        with self.assertRaises(PackError):
            load_pack(self.pack, threads=1)

    def test_selection_is_deterministic_and_long_enough(self):
        entries = [{"id": f"{i:012x}", "seconds": 1.0 + (i % 7)} for i in range(400)]
        a = pack_data.select(entries, 0.25)
        self.assertEqual(a, pack_data.select(list(reversed(entries)), 0.25))
        self.assertGreaterEqual(sum(e["seconds"] for e in a), 900)
        with self.assertRaises(ValueError):
            pack_data.select(entries, 10.0)


if __name__ == "__main__":
    unittest.main()
