"""The warm starts live in git history, not in the working tree.

  python warmstarts.py get [NAME ...]   # into warmstart/NAME.safetensors (all by default)
  python warmstarts.py add NAME         # commit warmstart/NAME.safetensors, index it, untrack it

Each one is about 20 MB, and the working tree that travels to a borrowed GPU
machine must leave room for training data (issue 19). `warmstarts.json` holds,
per name, the commit of main that added the file, its sha256, size and the
step it had reached; `get` copies the blob out of that commit into the
ignored folder `warmstart/`, checks its sha256, and leaves a newer local file
alone. A shallow clone fetches the one commit it lacks from `origin`.
"""

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from safetensors import safe_open

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
INDEX = HERE / "warmstarts.json"
FOLDER = HERE / "warmstart"
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
COMMIT = re.compile(r"^[0-9a-f]{40}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1 << 20


class WarmStartError(Exception):
    pass


def repo_path(name: str) -> str:
    """Where the file sat in the commit: a name-derived path, never one read from the index."""
    return f"models/recipe/warmstart/{name}.safetensors"


def local_path(name: str) -> Path:
    return FOLDER / f"{name}.safetensors"


def git(*args, check=True, **kw):
    return subprocess.run(["git", "-C", str(ROOT), *args], check=check, **kw)


def read_index() -> dict:
    index = json.loads(INDEX.read_text())
    for name, e in index.items():
        if not NAME.match(name) or not COMMIT.match(str(e.get("commit"))) or not SHA256.match(str(e.get("sha256"))):
            raise WarmStartError(f"{INDEX.name}: entry {name!r} needs a plain name, a 40-hex commit and a 64-hex sha256")
    return index


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def get(name: str, entry: dict) -> Path:
    """warmstart/NAME.safetensors as the index records it (fetched when missing)."""
    out = local_path(name)
    if out.is_symlink() or (out.exists() and not out.is_file()):
        raise WarmStartError(f"{out} exists and is not a regular file: not replaced")
    if out.exists():
        if sha256(out) != entry["sha256"]:
            print(f"{name}: kept {out} (differs from the indexed step {entry.get('step')}: a newer local warm start?)")
        return out
    spec = f"{entry['commit']}:{repo_path(name)}"
    if git("cat-file", "-e", spec, check=False, capture_output=True).returncode != 0:
        shallow = git("rev-parse", "--is-shallow-repository", capture_output=True, text=True).stdout.strip()
        if shallow != "true" or git("fetch", "--quiet", "--depth=1", "origin", entry["commit"], check=False).returncode:
            raise WarmStartError(f"{name}: commit {entry['commit'][:12]} is not in this clone and could not be fetched")
    FOLDER.mkdir(exist_ok=True)
    tmp = out.with_suffix(".safetensors.tmp")
    with open(tmp, "wb") as f:
        git("cat-file", "blob", spec, stdout=f)
    if sha256(tmp) != entry["sha256"]:
        tmp.unlink()
        raise WarmStartError(f"{name}: the blob in {entry['commit'][:12]} does not match the indexed sha256")
    os.replace(tmp, out)
    print(f"{name}: {out} (step {entry.get('step')}, {entry['bytes'] / 1e6:.1f} MB)")
    return out


def fetch(name: str) -> Path:
    """For other scripts: the path of a warm start, brought out of history if need be."""
    index = read_index()
    if name not in index:
        raise WarmStartError(f"no warm start named {name!r} in {INDEX.name}")
    return get(name, index[name])


def add(name: str) -> None:
    """Two commits: one with the file (main's history keeps it), one that indexes it and untracks it."""
    src = local_path(name)
    if not src.is_file() or src.is_symlink():
        raise WarmStartError(f"{src} is not a regular file")
    with safe_open(str(src), "pt") as f:
        meta = f.metadata() or {}
    if git("diff", "--cached", "--quiet", check=False).returncode != 0:
        raise WarmStartError("something is staged already: commit or unstage it first (add makes its own two commits)")
    path = repo_path(name)
    git("add", "--force", path)
    git("commit", "--quiet", "-m", f"{name} warm start at step {meta.get('step', '?')} (kept in history; see warmstarts.json)")
    commit = git("rev-parse", "HEAD", capture_output=True, text=True).stdout.strip()
    index = read_index()
    index[name] = {"commit": commit, "sha256": sha256(src), "bytes": src.stat().st_size,
                   "step": int(meta["step"]) if "step" in meta else None,
                   "hours": round(float(meta["trained_seconds"]) / 3600, 2) if "trained_seconds" in meta else None}
    INDEX.write_text(json.dumps(index, indent=2) + "\n")
    git("rm", "--quiet", "--cached", path)
    git("add", str(INDEX))
    git("commit", "--quiet", "-m", f"warmstarts.json: {name} at {commit[:12]}; the file leaves the working tree")
    print(f"{name}: indexed at {commit}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("get", help="bring warm starts out of history into warmstart/")
    g.add_argument("names", nargs="*")
    a = sub.add_parser("add", help="commit a new warm start into history and index it")
    a.add_argument("name")
    args = ap.parse_args()
    try:
        if args.cmd == "add":
            if not NAME.match(args.name):
                raise WarmStartError(f"{args.name!r}: a warm start's name is lower-case letters, digits, '-' and '_'")
            add(args.name)
            return 0
        index = read_index()
        for name in args.names or sorted(index):
            if name not in index:
                raise WarmStartError(f"no warm start named {name!r} in {INDEX.name}")
            get(name, index[name])
    except (WarmStartError, subprocess.CalledProcessError, OSError, ValueError) as e:
        print(f"warmstarts.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
