"""After a GPU burst, on a CPU: score its dev decodes with PESQ-WB and STOI
(the GPU machine has neither) and join its two weight files into one warm
start.

  python burst_eval.py RESULTS --out DIR [--pack models/recipe/pack]

RESULTS is the folder the burst wrote ($OUT, fetched back: read-only is
fine). Writes DIR/warmstart.safetensors (codec, discriminators and moving
average: what train.py --init-from, export.py [--ema] and
compact_warmstart.py take) and DIR/figures.json (the burst's figures with
PESQ and STOI filled in), and prints the dev table.
"""

import argparse
import json
import sys
import zipfile
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from codec_model.pack import MAX_DEV_SAMPLES, PackError, load_dev
from gpu_burst import DECODE_SETS, score, write_file

HERE = Path(__file__).resolve().parent
# A member holds one decoded dev file (int16) and the npy header.
MAX_MEMBER_BYTES = 2 * MAX_DEV_SAMPLES + 1024


def read_decodes(path: Path) -> dict:
    """The int16 decodes of an npz, every member's size checked before it is read."""
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            if info.file_size > MAX_MEMBER_BYTES:
                raise PackError(f"{path.name}: {info.filename} is {info.file_size} bytes, more than a dev file")
    with np.load(path, allow_pickle=False) as npz:
        out = {k: npz[k] for k in npz.files}
    for k, v in out.items():
        if v.dtype != np.int16 or v.ndim != 1:
            raise PackError(f"{path.name}: {k} is not int16 audio")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--pack", type=Path, default=HERE / "pack")
    args = ap.parse_args()
    try:
        figures = json.loads((args.results / "figures.json").read_text())
        decodes = {}
        for tag in DECODE_SETS:
            decodes |= read_decodes(args.results / f"dev-{tag}.npz")
        dev = load_dev(args.pack)
    except (OSError, ValueError, PackError, zipfile.BadZipFile) as e:
        sys.exit(f"burst_eval.py: {e}")
    if [uid for uid, _ in dev][: len(figures["dev_files"])] != figures["dev_files"]:
        sys.exit("burst_eval.py: the pack's dev files are not the ones the burst decoded: another pack?")
    if not score(figures, decodes, dev):
        sys.exit("burst_eval.py: needs pesq and pystoi (pip install -r models/recipe/requirements.txt)")
    figures["scored"] = True

    ws, avg = args.results / "warmstart.safetensors", args.results / "ema.safetensors"
    with safe_open(str(ws), "pt") as f:
        meta = f.metadata() or {}
    weights = load_file(str(ws)) | load_file(str(avg))
    if args.out.is_symlink() or (args.out.exists() and not args.out.is_dir()):
        sys.exit(f"burst_eval.py: {args.out} is not a folder")
    args.out.mkdir(parents=True, exist_ok=True)
    write_file(args.out / "warmstart.safetensors", lambda p: save_file(weights, str(p), metadata=meta))
    write_file(args.out / "figures.json", lambda p: p.write_text(json.dumps(figures, indent=1) + "\n"))
    print(f"steps {figures['from_step']}-{figures['to_step']} ({figures['steps']} at batch {figures['batch']}, "
          f"{figures['steps_per_s']} steps/s, {figures['train_seconds']} s on {figures['device']})")
    for phase in ("start", "end"):
        for which, per_n in figures[phase].items():
            print(f"{phase:5s} {which:4s} " + "  ".join(
                f"{n} stages: PESQ {f['pesq']:.3f} STOI {f['stoi']:.3f}" for n, f in per_n.items()))
    print(f"wrote {args.out / 'warmstart.safetensors'} (step {meta.get('step')}) and {args.out / 'figures.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
