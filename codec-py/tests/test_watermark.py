"""The token watermark from Python (issue 34): `Model.encode(..., watermark=)`
makes the codes `codec encode --watermark` makes, and `Model.detect_watermark`
finds it in the decoded audio, with its message, and not in plain audio or
with another key."""

import numpy as np
import pytest

import speechcodec
from conftest import SAMPLE, codec, sample_int16

KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
OTHER_KEY = "HxwdHhsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA="
MESSAGE = "1011001110001111"


def key_file(folder, name, text, mode=0o600):
    path = folder / name
    path.write_text(text + "\n")
    path.chmod(mode)
    return path


def test_encode_with_a_watermark_equals_codec_encode_and_is_found(model, tmp_path):
    key = key_file(tmp_path, "wm.key", KEY)
    audio, rate = sample_int16()
    tok = tmp_path / "m.tok"
    codec("encode", SAMPLE, tok, "--quiet", "--watermark", key, "--message", MESSAGE)
    codes = model.encode(audio, rate, watermark=key, message=MESSAGE)
    assert np.array_equal(codes, speechcodec.read_tok(tok))
    plain = model.encode(audio, rate)
    assert not np.array_equal(codes, plain)
    # The pooled encoder went back plain.
    assert np.array_equal(model.encode(audio, rate), plain)
    decoded = model.decode(codes)
    found = model.detect_watermark(decoded, model.sample_rate, key)
    assert found["found"] and found["false_alarm"] < 1e-6, found
    assert found["seconds"], found
    zero = model.decode(model.encode(audio, rate, watermark=key))
    assert model.detect_watermark(zero, model.sample_rate, key)["message"] is None
    for audio_in, k in [(model.decode(plain), key), (decoded, key_file(tmp_path, "o.key", OTHER_KEY))]:
        r = model.detect_watermark(audio_in, model.sample_rate, k)
        assert not r["found"] and r["message"] is None and r["seconds"] == [], r


def test_bad_keys_and_messages_are_value_errors_without_the_key(model, tmp_path):
    audio, rate = sample_int16()
    good = key_file(tmp_path, "good.key", KEY)
    cases = [
        (key_file(tmp_path, "open.key", KEY, 0o644), "readable by others"),
        (key_file(tmp_path, "short.key", "c2VjcmV0"), "6 bytes"),
        (key_file(tmp_path, "bad.key", "not base64!"), "not base64"),
        (tmp_path / "missing.key", "missing.key"),
    ]
    for path, needle in cases:
        for call in (lambda: model.encode(audio, rate, watermark=path),
                     lambda: model.detect_watermark(audio, rate, path)):
            with pytest.raises(ValueError, match=needle) as e:
                call()
            assert KEY not in str(e.value) and "c2VjcmV0" not in str(e.value)
    for bad in ["102", "", "1" * 33]:
        with pytest.raises(ValueError, match="0 and 1"):
            model.encode(audio, rate, watermark=good, message=bad)
    with pytest.raises(ValueError, match="needs watermark"):
        model.encode(audio, rate, message="1")
    with pytest.raises(ValueError, match="threshold"):
        model.detect_watermark(audio, rate, good, threshold=2.0)
