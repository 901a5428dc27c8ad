"""Streaming Encoder and Decoder against the whole-signal calls."""

import numpy as np
import pytest

import speechcodec
from conftest import sample_int16


def pieces(signal, sizes):
    """`signal` cut in pieces of the sizes given, in turn."""
    at, i = 0, 0
    while at < len(signal):
        yield signal[at : at + sizes[i % len(sizes)]]
        at += sizes[i % len(sizes)]
        i += 1


def stream_encode(encoder, signal, sizes):
    return np.concatenate([encoder.push(p) for p in pieces(signal, sizes)] + [encoder.flush()])


def differing(a, b):
    assert a.shape == b.shape
    return int(np.count_nonzero(a != b))


def test_a_stream_pushed_at_once_is_encode(model):
    audio, rate = sample_int16()
    encoder = speechcodec.Encoder(model)
    codes = np.concatenate([encoder.push(audio), encoder.flush()])
    assert codes.dtype == np.uint16 and encoder.codebooks == model.codebooks
    assert np.array_equal(codes, model.encode(audio, rate))


def test_small_pieces_equal_encode_but_for_rounding(model):
    audio, rate = sample_int16()
    whole = model.encode(audio, rate)
    codes = stream_encode(speechcodec.Encoder(model), audio, [1, 319, 320, 1000, 4447])
    # One network call a frame rounds differently from 250 a call, now and
    # then tipping a code to its neighbour: codec-core's streaming test allows the same.
    assert differing(codes, whole) * 200 <= whole.size
    # at another rate, converted on the way as encode converts the whole signal
    low = audio[::2]
    whole = model.encode(low, rate // 2)
    codes = stream_encode(speechcodec.Encoder(model, sample_rate=rate // 2), low, [777, 3000])
    assert differing(codes, whole) * 200 <= whole.size


def test_flush_and_reset_start_a_new_stream(model):
    audio, rate = sample_int16()
    encoder = speechcodec.Encoder(model)
    first = np.concatenate([encoder.push(audio), encoder.flush()])
    second = np.concatenate([encoder.push(audio), encoder.flush()])
    assert np.array_equal(first, second), "flush makes ready for the next stream"
    encoder.push(audio[:5000])
    encoder.reset()
    assert encoder.frames == 0
    assert np.array_equal(np.concatenate([encoder.push(audio), encoder.flush()]), first)


def test_decoder_stream_equals_decode(model):
    audio, rate = sample_int16()
    codes = model.encode(audio, rate)
    decoder = speechcodec.Decoder(model)
    pcm = np.concatenate([decoder.push(codes[i : i + 7]) for i in range(0, len(codes), 7)] + [decoder.flush()])
    whole = model.decode(codes)
    assert pcm.dtype == np.float32 and len(pcm) == len(whole) == len(codes) * model.hop - model.decoder_delay
    assert model.hop <= model.decoder_delay < 2 * model.hop
    assert np.max(np.abs(pcm - whole)) < 1e-4
    # after flush, a new stream; a lost frame is a hop of audio
    first = decoder.push(codes[:10])
    n = 10 * model.hop - model.decoder_delay
    assert len(first) == n and np.max(np.abs(first - whole[:n])) < 1e-4
    assert len(decoder.conceal()) == model.hop
    decoder.reset()
    assert decoder.frames == 0 and np.array_equal(decoder.push(codes[:10]), first)


def test_streaming_bad_input_raises(model):
    encoder = speechcodec.Encoder(model)
    with pytest.raises(speechcodec.CodecError, match="empty"):
        encoder.flush()
    with pytest.raises(TypeError, match="float32, float64 or int16"):
        encoder.push(np.zeros(10, dtype=np.uint8))
    bad = np.zeros(400, dtype=np.float64)
    bad[3] = np.inf
    with pytest.raises(ValueError, match="sample 3"):
        encoder.push(bad)
    decoder = speechcodec.Decoder(model)
    with pytest.raises(speechcodec.CodecError, match="outside a codebook"):
        decoder.push(np.full((2, model.codebooks), -1, dtype=np.int64))
    with pytest.raises(speechcodec.CodecError, match="codebooks"):
        decoder.push(np.zeros((2, model.codebooks * 2), dtype=np.uint16))
    with pytest.raises(TypeError, match="2-D numpy array"):
        decoder.push(np.zeros(8, dtype=np.uint16))
    with pytest.raises(speechcodec.CodecError):
        speechcodec.Encoder(model, stages=99)
    # still usable after the errors
    assert decoder.push(np.zeros((2, model.codebooks), dtype=np.uint16)).shape == (2 * model.hop - model.decoder_delay,)
