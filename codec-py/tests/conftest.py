"""Shared by the tests: the `codec` binary they compare with (CODEC_BIN, or
the release build in CARGO_TARGET_DIR or this tree's target folder), the
shipped sample and one model for the session."""

import os
import pathlib
import subprocess
import wave

import numpy as np
import pytest

import speechcodec

ROOT = pathlib.Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "testdata" / "sample.wav"


def codec_bin():
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    path = pathlib.Path(os.environ.get("CODEC_BIN", target / "release" / "codec"))
    assert path.is_file(), f"no codec binary at {path}: build it (cargo build --release) or set CODEC_BIN"
    return path


def codec(*args):
    """Runs the `codec` command; its stderr in the failure message."""
    done = subprocess.run([codec_bin(), *map(str, args)], capture_output=True, text=True)
    assert done.returncode == 0, f"codec {' '.join(map(str, args))}: {done.stderr}"
    return done


def read_wav(path):
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2"), w.getframerate()


def write_wav(path, samples, rate):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(samples, dtype="<i2").tobytes())


def sample_int16():
    return read_wav(SAMPLE)


def corpus(folder):
    """Three files: the sample, its first two seconds in a subfolder, and the sample at 8 kHz."""
    audio, rate = sample_int16()
    (folder / "sub").mkdir(parents=True)
    write_wav(folder / "a.wav", audio, rate)
    write_wav(folder / "sub" / "b.wav", audio[: 2 * rate], rate)
    write_wav(folder / "c.wav", audio[::2], rate // 2)
    return {"a": (audio, rate), "sub/b": (audio[: 2 * rate], rate), "c": (audio[::2], rate // 2)}


@pytest.fixture(scope="session")
def model():
    return speechcodec.Model()
