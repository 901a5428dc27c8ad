"""Checks of the data preparation's rules: which files become speech of which
language, which set each goes to (no Drascula ever trains), the copy kept of duplicated files, the
noise-floor filter and the manifest reader.

  cd models/recipe && python -m unittest test_prepare_data
"""

import tempfile
import unittest
from pathlib import Path

import numpy as np

import prepare_data as pd

STAMPS = "usr/share/tuxpaint/stamps/animals/birds"
KTUB = "usr/share/ktuberling/sounds"


def classify(rel: str):
    root = Path("/r")
    return pd.classify(root / rel, root)


class Classify(unittest.TestCase):
    def test_tuxpaint_descriptions_only_with_their_language(self):
        self.assertEqual(classify(f"{STAMPS}/owl_desc_el.ogg"), ("tuxpaint", "el", "tuxpaint-el"))
        self.assertEqual(classify(f"{STAMPS}/owl_desc.ogg"), ("tuxpaint", "en", "tuxpaint-en"))
        self.assertEqual(classify(f"{STAMPS}/owl_desc_pt_BR.wav"), ("tuxpaint", "pt", "tuxpaint-pt_BR"))
        self.assertEqual(classify(f"{STAMPS}/owl_desc_da.ogg.ogg"), ("tuxpaint", "da", "tuxpaint-da"))
        self.assertIsNone(classify(f"{STAMPS}/owl.ogg"))  # the stamp's sound effect

    def test_ktuberling_every_container(self):
        self.assertEqual(classify(f"{KTUB}/nn/eye.opus"), ("ktuberling", "nn", "ktuberling-nn"))
        self.assertEqual(classify(f"{KTUB}/sr@latin/eye.ogg"), ("ktuberling", "sr", "ktuberling-sr@latin"))
        self.assertEqual(classify(f"{KTUB}/fr/eye.wav"), ("ktuberling", "fr", "ktuberling-fr"))
        self.assertIsNone(classify(f"{KTUB}/fr/eye.txt"))


    def test_drascula_speech_by_speaker_not_sound_effects(self):
        dr = "usr/share/scummvm/drascula"
        self.assertEqual(classify(f"{dr}/en/D12.ALS"), ("drascula", "en", "drascula-en-D"))
        self.assertEqual(classify(f"{dr}/en/VB5.ALS"), ("drascula", "en", "drascula-en-VB"))
        self.assertEqual(classify(f"{dr}/en/245.ALS"), ("drascula", "en", "drascula-en-hero"))
        self.assertEqual(classify(f"{dr}/it/I3.ALS"), ("drascula", "it", "drascula-it-I"))
        self.assertIsNone(classify(f"{dr}/en/S7.ALS"))  # sound effects
        self.assertIsNone(classify(f"{dr}/en/3.ALS"))  # mostly silence; the engine plays a part
        self.assertIsNone(classify(f"{dr}/en/AN12.ALG"))  # animation, not audio

    def test_small_sources_speech_only(self):
        hw = "usr/share/games/hedgewars/Data/Sounds/voices"
        self.assertEqual(classify(f"{hw}/Default_pl/Hello.ogg"), ("hedgewars", "pl", "hedgewars-Default_pl"))
        self.assertEqual(classify(f"{hw}/Russian_pl/Hello.ogg")[1], "ru")
        self.assertIsNone(classify(f"{hw}/Robot/Hello.ogg"))
        mg = "usr/share/games/megaglest/techs/megapack/commondata/sounds"
        self.assertEqual(classify(f"{mg}/axe_thrower_select5.wav"), ("megaglest", "en", "megaglest-axe_thrower"))
        self.assertIsNone(classify(f"{mg}/swordman_attack3.wav"))
        self.assertIsNone(classify(f"{mg}/cow_select1.wav"))


class Splits(unittest.TestCase):
    def split(self, source, lang):
        return pd.split_of({"source": source, "lang": lang, "id": "0123456789ab"})

    def test_russian_only_in_dev(self):
        self.assertEqual(self.split("asterisk", "ru"), "dev")
        for source in ("tuxpaint", "ktuberling", "klettres"):
            self.assertEqual(self.split(source, "ru"), "excluded")

    def test_greek_only_in_dev2(self):
        self.assertEqual(self.split("tuxpaint", "el"), "dev2")
        self.assertEqual(self.split("ktuberling", "el"), "excluded")

    def test_drascula_never_trains(self):
        # The English dub is the English held-out set; any other dub of the same game is excluded.
        self.assertEqual(self.split("drascula", "en"), "dev_en")
        for lang in ("es", "it", "fr", "de", "bg"):
            self.assertEqual(self.split("drascula", lang), "excluded")
        for rel in ("usr/share/scummvm/drascula/en/D1.ALS", "usr/share/scummvm/drascula/es/12.ALS",
                    "usr/share/scummvm/drascula/it/VB3.ALS"):
            source, lang, _ = classify(rel)
            self.assertNotIn(pd.split_of({"source": source, "lang": lang, "id": pd.stable_id(rel)}),
                             ("train", "valid"), rel)

    def test_other_languages_train(self):
        self.assertIn(self.split("tuxpaint", "bg"), ("train", "valid"))


class Dedupe(unittest.TestCase):
    def test_a_held_out_copy_wins_and_takes_its_twins_out_of_training(self):
        with tempfile.TemporaryDirectory() as d:
            root = Path(d)
            files = {f"{STAMPS}/a_desc_bg.ogg": b"same", f"{STAMPS}/a_desc_ru.ogg": b"same",
                     f"{STAMPS}/b_desc_el.ogg": b"twin", f"{STAMPS}/b_desc_fr.ogg": b"twin",
                     f"{STAMPS}/c_desc_fr.ogg": b"own"}
            for rel, data in files.items():
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_bytes(data)
            items = [(root / rel, pd.classify(root / rel, root)) for rel in sorted(files)]
            kept, dropped = pd.dedupe(items, root)
            names = sorted(p.name for p, _ in kept)
            self.assertEqual(names, ["a_desc_ru.ogg", "b_desc_el.ogg", "c_desc_fr.ogg"])
            self.assertEqual(len(dropped), 2)


class NoiseFloor(unittest.TestCase):
    def clip(self, noise_dbfs: float) -> np.ndarray:
        rng = np.random.default_rng(0)
        t = np.arange(pd.SAMPLE_RATE) / pd.SAMPLE_RATE
        speech = 0.3 * np.sin(2 * np.pi * 220 * t) * (np.abs(t - 0.5) < 0.3)
        return (speech + 10 ** (noise_dbfs / 20) * rng.standard_normal(len(t))).astype(np.float32)

    def test_clean_passes_noisy_fails(self):
        clean, clean_floor = pd.snr_db(self.clip(-70))
        noisy, _ = pd.snr_db(self.clip(-25))
        self.assertGreater(clean, pd.MIN_SNR_DB)
        self.assertLess(noisy, pd.MIN_SNR_DB)
        self.assertAlmostEqual(clean_floor, -70, delta=2)

    def test_rumble_below_100_hz_is_not_noise(self):
        x = self.clip(-90)
        t = np.arange(len(x)) / pd.SAMPLE_RATE
        snr, _ = pd.snr_db(x + (0.05 * np.sin(2 * np.pi * 30 * t)).astype(np.float32))
        self.assertGreater(snr, pd.MIN_SNR_DB)


class WavPath(unittest.TestCase):
    def test_path_comes_from_a_checked_id(self):
        data = Path("/data")
        self.assertEqual(pd.wav_path(data, {"id": "0123456789ab", "path": "/etc/passwd"}),
                         data / "wav" / "0123456789ab.wav")
        for bad in ("../../etc/pw", "0123456789AB", "0123", None, 7):
            with self.assertRaises(ValueError):
                pd.wav_path(data, {"id": bad})


if __name__ == "__main__":
    unittest.main()
