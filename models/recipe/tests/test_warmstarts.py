"""The warm-start index points at blobs main's history holds, and get() checks what it writes.

  cd models/recipe && python -m unittest discover tests
"""

import json
import subprocess
import tempfile
import unittest
from pathlib import Path
from unittest import mock

import warmstarts


class WarmStarts(unittest.TestCase):
    def test_every_indexed_blob_is_in_history_with_its_size(self):
        for name, e in warmstarts.read_index().items():
            spec = f"{e['commit']}:{warmstarts.repo_path(name)}"
            size = subprocess.run(["git", "-C", str(warmstarts.ROOT), "cat-file", "-s", spec],
                                  capture_output=True, text=True)
            self.assertEqual(size.returncode, 0, f"{name}: {spec} is not in this clone's history")
            self.assertEqual(int(size.stdout), e["bytes"], name)

    def test_get_writes_the_indexed_bytes_and_refuses_a_wrong_sha(self):
        entry = warmstarts.read_index()["grvq"]
        with tempfile.TemporaryDirectory() as tmp, mock.patch.object(warmstarts, "FOLDER", Path(tmp)):
            path = warmstarts.get("grvq", entry)
            self.assertEqual(warmstarts.sha256(path), entry["sha256"])
            path.unlink()
            with self.assertRaises(warmstarts.WarmStartError):
                warmstarts.get("grvq", entry | {"sha256": "0" * 64})
            self.assertEqual(list(Path(tmp).iterdir()), [], "a blob that fails its check is not left behind")

    def test_get_never_replaces_what_is_not_a_regular_file(self):
        entry = warmstarts.read_index()["grvq"]
        with tempfile.TemporaryDirectory() as tmp, mock.patch.object(warmstarts, "FOLDER", Path(tmp)):
            (Path(tmp) / "grvq.safetensors").mkdir()
            with self.assertRaises(warmstarts.WarmStartError):
                warmstarts.get("grvq", entry)

    def test_index_refuses_names_that_could_be_paths(self):
        with tempfile.TemporaryDirectory() as tmp:
            index = Path(tmp) / "warmstarts.json"
            index.write_text(json.dumps({"../x": {"commit": "0" * 40, "sha256": "0" * 64, "bytes": 1}}))
            with mock.patch.object(warmstarts, "INDEX", index), self.assertRaises(warmstarts.WarmStartError):
                warmstarts.read_index()


if __name__ == "__main__":
    unittest.main()
