"""speechcodec's whole-signal calls against the `codec` command on the
shipped sample, and bad input as exceptions."""

import concurrent.futures
import pathlib
import subprocess

import numpy as np
import pytest

import speechcodec
from conftest import SAMPLE, codec_bin, read_wav, sample_int16


def test_encode_equals_codec_encode(model, tmp_path):
    audio, rate = sample_int16()
    tok = tmp_path / "sample.tok"
    subprocess.run([codec_bin(), "encode", SAMPLE, tok, "--quiet"], check=True)
    expected = speechcodec.read_tok(tok)
    codes = model.encode(audio, rate)
    assert codes.dtype == np.uint16 and codes.shape == expected.shape == (codes.shape[0], model.codebooks)
    assert np.array_equal(codes, expected)
    # float input and a [channels, samples] array of two equal channels give the same codes
    as_float = audio.astype(np.float32) / 32768.0
    assert np.array_equal(model.encode(as_float, rate), expected)
    assert np.array_equal(model.encode(np.stack([as_float, as_float]).astype(np.float64), rate), expected)


def test_decode_equals_codec_decode(model, tmp_path):
    tok, wav = tmp_path / "s.tok", tmp_path / "s.wav"
    subprocess.run([codec_bin(), "encode", SAMPLE, tok, "--quiet"], check=True)
    subprocess.run([codec_bin(), "decode", tok, wav, "--quiet"], check=True)
    cli = read_wav(wav)[0].astype(np.float32) / 32768.0
    pcm = model.decode(speechcodec.read_tok(tok))
    assert pcm.dtype == np.float32 and len(pcm) >= len(cli)
    # the CLI writes 16-bit samples: one step of rounding apart at most
    assert np.max(np.abs(pcm[: len(cli)] - cli)) <= 1.01 / 32768


def test_model_facts(model):
    assert model.sample_rate == 16000 and model.frame_rate == 50.0
    low, high, default = model.stages
    assert low <= default <= high


def test_bad_input_raises(model):
    with pytest.raises(TypeError, match="float32, float64 or int16"):
        model.encode(np.zeros(100, dtype=np.int32), 16000)
    with pytest.raises(speechcodec.CodecError, match="empty"):
        model.encode(np.zeros(0, dtype=np.float32), 16000)
    bad = np.zeros(1000, dtype=np.float32)
    bad[10] = np.nan
    with pytest.raises(ValueError, match="sample 10"):
        model.encode(bad, 16000)
    with pytest.raises(speechcodec.CodecError, match="outside a codebook"):
        model.decode(np.full((3, model.codebooks), 65535, dtype=np.uint16))
    with pytest.raises(ValueError, match="codebooks a multiple"):
        model.decode(np.zeros((0, model.codebooks), dtype=np.uint16))
    with pytest.raises(speechcodec.CodecError, match="no model named"):
        speechcodec.Model("no-such-model")


def test_every_public_name_has_a_docstring_and_a_stub():
    package = pathlib.Path(speechcodec.__file__).parent
    stub = (package / "_speechcodec.pyi").read_text()
    assert (package / "py.typed").is_file()
    for name in speechcodec.__all__:
        obj = getattr(speechcodec, name)
        assert obj.__doc__, name
        assert f"def {name}(" in stub or f"class {name}" in stub, f"{name} has no stub"
        if isinstance(obj, type) and name != "CodecError":
            for attr in (a for a in vars(obj) if not a.startswith("_")):
                assert getattr(obj, attr).__doc__, f"{name}.{attr}"
                assert f"def {attr}(" in stub, f"{name}.{attr} has no stub"


def test_threads_share_a_model(model):
    audio, rate = sample_int16()
    low, high, default = model.stages
    stages = [low, default, high] * 3
    serial = {s: model.encode(audio, rate, stages=s) for s in set(stages)}
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(lambda s: model.encode(audio, rate, stages=s), stages))
        pcm = list(pool.map(model.decode, codes))
    for s, c, p in zip(stages, codes, pcm):
        assert np.array_equal(c, serial[s]) and c.shape[1] == s * model.codebooks // default
        assert np.array_equal(p, model.decode(serial[s]))


def test_soundfiles_layout_is_refused_with_the_layout_expected(model):
    """Issue 32, item 12: [samples, channels] (as soundfile reads) is not
    taken for thousands of channels."""
    audio, rate = sample_int16()
    stereo = np.stack([audio, audio])
    with pytest.raises(ValueError, match=r"\[channels, samples\].*audio\.T"):
        model.encode(stereo.T.copy(), rate)
    assert model.encode(stereo, rate).shape == model.encode(audio, rate).shape


def test_decode_trims_to_the_original_length_as_codec_decode_does(model, tmp_path):
    """Issue 32, item 14: one rule for the length of a decode."""
    audio, rate = sample_int16()
    assert rate == model.sample_rate
    tok, wav = tmp_path / "s.tok", tmp_path / "s.wav"
    subprocess.run([codec_bin(), "encode", SAMPLE, tok, "--quiet"], check=True)
    subprocess.run([codec_bin(), "decode", tok, wav, "--quiet"], check=True)
    cli = read_wav(wav)[0].astype(np.float32) / 32768.0
    codes = model.encode(audio, rate)
    pcm = model.decode(codes, original_len=len(audio))
    assert len(pcm) == len(cli) == len(audio)
    assert np.max(np.abs(pcm - cli)) <= 1.01 / 32768
    assert len(model.decode(codes)) == len(codes) * model.hop - model.decoder_delay
    too_long = len(codes) * model.hop + 1
    with pytest.raises(ValueError, match="samples at the model's rate"):
        model.decode(codes, original_len=too_long)
    with pytest.raises(ValueError, match="samples at the model's rate"):
        speechcodec.write_tok(tmp_path / "x.tok", codes, model, original_len=too_long)
    assert not (tmp_path / "x.tok").exists()
