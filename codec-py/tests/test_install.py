"""The installed package is self-contained: it finds its own ONNX Runtime
and models from any folder, the environment points it elsewhere, and no
path of the checkout it was built in is compiled in."""

import os
import pathlib
import shutil
import subprocess
import sys

import speechcodec
from conftest import ROOT

PACKAGE = pathlib.Path(speechcodec.__file__).resolve().parent


def python(code, cwd, **env):
    """Runs `code` in a fresh interpreter in `cwd` with the codec's variables
    unset, then set as given; returns (exit status, output)."""
    clean = {k: v for k, v in os.environ.items() if k not in ("CODEC_MODELS", "ORT_DYLIB_PATH")}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env={**clean, **env}, capture_output=True, text=True, timeout=300
    )
    return done.returncode, done.stdout + done.stderr


def test_it_runs_from_any_folder_on_its_own_copies(tmp_path):
    assert not PACKAGE.is_relative_to(ROOT), f"the tests must run against an installed wheel, not {PACKAGE}"
    assert (PACKAGE / "_data" / "lib" / "libonnxruntime.so.1.31.1").is_file()
    default = (PACKAGE / "_data" / "models" / "DEFAULT").read_text().strip()
    code = "import numpy, speechcodec; m = speechcodec.Model(); print(m.name, m.encode(numpy.zeros(8000, 'f4'), 16000).shape)"
    status, out = python(code, tmp_path)
    assert status == 0, out
    assert out.split()[0] == default


def test_the_environment_points_elsewhere(tmp_path):
    models = tmp_path / "models"
    shutil.copytree(PACKAGE / "_data" / "models" / "grvq", models / "mine")
    status, out = python("import speechcodec; print(speechcodec.Model('mine').name)", tmp_path)
    assert status != 0 and "CodecError" in out and "mine" in out, out
    status, out = python("import speechcodec; print(speechcodec.Model('mine').name)", tmp_path, CODEC_MODELS=str(models))
    assert status == 0, out
    missing = tmp_path / "no-such-libonnxruntime.so"
    status, out = python("import speechcodec; speechcodec.Model()", tmp_path, ORT_DYLIB_PATH=str(missing))
    assert status != 0 and "CodecError" in out and str(missing) in out, out


def test_no_path_of_the_build_machine_is_compiled_in():
    extension = next(PACKAGE.glob("_speechcodec*.so")).read_bytes()
    cargo_home = os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo"))
    for path in (str(ROOT), cargo_home):
        assert path.encode() not in extension, f"{path} is in the extension"
