"""The README's Python example runs as written (issue 32, item 16), from a
folder holding the repository's testdata/, as from the repository's root."""

import os
import re

import pytest

import speechcodec
from conftest import ROOT


def python_blocks(readme):
    return re.findall(r"```python\n(.*?)```", readme.read_text(), re.S)


def test_the_readme_example_runs(tmp_path, capsys, monkeypatch):
    (block,) = [b for b in python_blocks(ROOT / "README.md") if "read_parts" in b]
    (tmp_path / "testdata").symlink_to(ROOT / "testdata")
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {})
    printed = capsys.readouterr().out.split()
    assert printed[0] == "sample" and printed[1].startswith("("), printed
    assert (tmp_path / "sample.tok").is_file()


def test_a_missing_folder_of_parts_is_named_as_given(tmp_path):
    with pytest.raises(speechcodec.CodecError) as raised:
        speechcodec.read_parts(str(tmp_path / "tokens") + os.sep)
    message = str(raised.value)
    assert "tokens/" in message and "tokens.jsonl" not in message, message
