"""Issue 32, items 8-10: endless files, FIFOs and absurd thread counts given
to Python are refused at once, never read until memory runs out or waited on
for a writer that never comes."""

import os
import resource
import subprocess
import sys

import pytest

import speechcodec
from conftest import codec, corpus


def run_isolated(call):
    """Runs `call` (Python source, with `speechcodec` imported) in a fresh
    interpreter held to 2 GiB of address space and two minutes: a read
    without end fails there rather than taking the machine, and a wait
    without end is cut short. Returns what it printed: "raised NAME: MESSAGE"."""
    code = (
        "import speechcodec\n"
        "try:\n"
        f"    {call}\n"
        "    print('returned')\n"
        "except Exception as e:\n"
        "    print(f'raised {type(e).__name__}: {e}')\n"
    )

    def cap_memory():
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, preexec_fn=cap_memory
    )
    assert done.returncode == 0, f"{call}: exit {done.returncode}: {done.stderr}"
    return done.stdout.strip()


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


def test_read_tok_refuses_devices_and_fifos(fifo):
    for path in ["/dev/zero", fifo]:
        said = run_isolated(f"speechcodec.read_tok({str(path)!r})")
        assert said.startswith("raised CodecError") and "not a regular file" in said, said


def test_read_tok_checks_the_magic_first(tmp_path):
    # A large regular file of zeros (a hole on disk): refused by its first bytes.
    path = tmp_path / "zeros.tok"
    with open(path, "wb") as f:
        f.truncate(3 << 30)
    said = run_isolated(f"speechcodec.read_tok({str(path)!r})")
    assert said.startswith("raised CodecError") and "not a token file" in said, said


def test_list_inputs_refuses_devices_and_fifos(fifo):
    for path in ["/dev/zero", fifo]:
        said = run_isolated(f"speechcodec.list_inputs({str(path)!r})")
        assert said.startswith("raised CodecError") and "not a regular file" in said, said


def test_read_parts_refuses_an_index_that_is_a_device(tmp_path):
    corpus(tmp_path / "in")
    out = tmp_path / "out"
    codec("tokenize", tmp_path / "in", out, "--quiet", "--jobs", "1")
    index = out / "part-00000.jsonl"
    index.unlink()
    index.symlink_to("/dev/zero")
    said = run_isolated(f"next(iter(speechcodec.read_parts({str(index)!r})))")
    assert said.startswith("raised CodecError") and "not a regular file" in said, said


def test_thread_counts_over_the_limit_are_refused(model):
    with pytest.raises(ValueError, match="256"):
        speechcodec.Model(threads=257)
    with pytest.raises(ValueError, match="threads"):
        speechcodec.Model(threads=100_000)
    assert speechcodec.Model(threads=2).name == model.name
