"""examples/ray_tokenize.py on a local Ray with 2 CPUs against `codec
tokenize`. Skipped where Ray is not installed, unless CODEC_REQUIRE_RAY=1
(scripts/test.sh sets it, having installed Ray)."""

import importlib.util
import os

import numpy as np
import pytest

import speechcodec
from conftest import ROOT, codec, corpus

if os.environ.get("CODEC_REQUIRE_RAY") == "1":
    import ray
else:
    ray = pytest.importorskip("ray")


def load_example():
    spec = importlib.util.spec_from_file_location("ray_tokenize", ROOT / "examples" / "ray_tokenize.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_tokenize_writes_codec_tokenizes_parts(local_ray, tmp_path):
    corpus(tmp_path / "in")
    (tmp_path / "in" / "broken.wav").write_bytes(b"RIFF but not audio" * 4)
    codec("tokenize", tmp_path / "in", tmp_path / "cli", "--part-files", "2", "--jobs", "1", "--quiet")
    failed = load_example().tokenize(tmp_path / "in", tmp_path / "ray", part_files=2, actors=2)
    assert [p.endswith("broken.wav") for p, _ in failed] == [True]
    cli, ours = list(speechcodec.read_parts(tmp_path / "cli")), list(speechcodec.read_parts(tmp_path / "ray"))
    assert [i for i, _ in ours] == [i for i, _ in cli] == ["a", "c", "sub/b"]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(cli, ours))
    # the same parts: their codes files are byte for byte the command's
    for name in ["part-00000.safetensors", "part-00001.safetensors"]:
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes(), name
