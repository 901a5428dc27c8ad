"""Token files and corpus parts from Python against `codec encode`,
`codec tokenize` and `codec detokenize`."""

import numpy as np
import pytest

import speechcodec
from conftest import SAMPLE, codec, corpus, read_wav, sample_int16


def test_write_tok_writes_codec_encodes_bytes(model, tmp_path):
    audio, rate = sample_int16()
    codec("encode", SAMPLE, tmp_path / "cli.tok", "--quiet")
    codes = model.encode(audio, rate)
    speechcodec.write_tok(tmp_path / "py.tok", codes, model, original_len=len(audio))
    assert (tmp_path / "py.tok").read_bytes() == (tmp_path / "cli.tok").read_bytes()
    # what it writes by default decodes with the CLI to what decode gives
    speechcodec.write_tok(tmp_path / "d.tok", codes.astype(np.int64), model)
    assert np.array_equal(speechcodec.read_tok(tmp_path / "d.tok"), codes)
    codec("decode", tmp_path / "d.tok", tmp_path / "d.wav", "--quiet")
    cli = read_wav(tmp_path / "d.wav")[0].astype(np.float32) / 32768
    assert len(cli) == len(codes) * model.hop - model.decoder_delay
    assert np.max(np.abs(model.decode(codes) - cli)) <= 1.01 / 32768


def test_bad_token_files_raise(model, tmp_path):
    with pytest.raises(speechcodec.CodecError, match="cannot read"):
        speechcodec.read_tok(tmp_path / "missing.tok")
    (tmp_path / "junk.tok").write_bytes(b"not a token file at all" * 10)
    with pytest.raises(speechcodec.CodecError, match="junk.tok"):
        speechcodec.read_tok(tmp_path / "junk.tok")
    with pytest.raises(speechcodec.CodecError, match="outside a codebook"):
        speechcodec.write_tok(tmp_path / "x.tok", np.full((2, model.codebooks), 5000, np.uint16), model)
    with pytest.raises(speechcodec.CodecError, match="directory"):
        speechcodec.write_tok(tmp_path, np.zeros((2, model.codebooks), np.uint16), model)
    assert not (tmp_path / "x.tok").exists()


def test_read_parts_gives_codec_tokenizes_codes(model, tmp_path):
    files = corpus(tmp_path / "in")
    codec("tokenize", tmp_path / "in", tmp_path / "out", "--part-files", "2", "--jobs", "1", "--quiet")
    got = list(speechcodec.read_parts(tmp_path / "out"))
    assert [i for i, _ in got] == ["a", "c", "sub/b"], "in part order, each once"
    for id, codes in got:
        audio, rate = files[id]
        assert np.array_equal(codes, model.encode(audio, rate)), id
    one = list(speechcodec.read_parts(tmp_path / "out" / "part-00001.jsonl"))
    assert [i for i, _ in one] == ["sub/b"]
    with pytest.raises(speechcodec.CodecError, match="no token parts"):
        speechcodec.read_parts(tmp_path / "in")


def test_a_part_written_from_python_is_detokenized(model, tmp_path):
    audio, rate = sample_int16()
    entries = [("x/long", model.encode(audio, rate)), ("short", model.encode(audio[:8000], rate))]
    speechcodec.write_part(tmp_path / "parts", "part-00000", model, entries)
    back = list(speechcodec.read_parts(tmp_path / "parts"))
    assert [i for i, _ in back] == ["x/long", "short"]
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(back, entries))
    codec("detokenize", tmp_path / "parts", tmp_path / "wav")
    for id, codes in entries:
        cli = read_wav(tmp_path / "wav" / (id.replace("/", "__") + ".wav"))[0].astype(np.float32) / 32768
        pcm = model.decode(codes)
        assert len(cli) == len(pcm) and np.max(np.abs(pcm - cli)) <= 1.01 / 32768, id


def test_bad_parts_raise(model, tmp_path):
    codes = np.zeros((3, model.codebooks), np.uint16)
    with pytest.raises(ValueError, match="plain name"):
        speechcodec.write_part(tmp_path, "../escape", model, [("a", codes)])
    with pytest.raises(ValueError, match="no entries"):
        speechcodec.write_part(tmp_path, "p", model, [])
    with pytest.raises(speechcodec.CodecError, match="entry `b` has"):
        speechcodec.write_part(tmp_path, "p", model, [("a", codes), ("b", codes[:, :3])])
    with pytest.raises(speechcodec.CodecError, match="outside a codebook"):
        speechcodec.write_part(tmp_path, "p", model, [("a", codes + 60000)])
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "p.jsonl").write_text('{"id": "a", "path": "", "offset": 0, "frames": 99}\n')
    (tmp_path / "p.safetensors").write_bytes(b"\xff" * 64)
    with pytest.raises(speechcodec.CodecError, match="p.safetensors"):
        list(speechcodec.read_parts(tmp_path))
