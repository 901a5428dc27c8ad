"""Write a run's weights as the compact warm start committed beside a package,
without exporting a new package: for training that went on after the export.

  python compact_warmstart.py --name mcrvq   # RUNS/mcrvq/warmstart.safetensors -> warmstart/mcrvq.safetensors
"""

import argparse
import sys
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import load_file, save_file

from export import compact_weights
from train import default_runs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", required=True)
    ap.add_argument("--runs", type=Path, default=default_runs())
    args = ap.parse_args()
    src = args.runs / args.name / "warmstart.safetensors"
    weights = load_file(str(src))
    with safe_open(str(src), "pt") as f:
        meta = f.metadata() or {}
    # Discriminators and the moving average of the weights go in half precision.
    extra = {k: v.half().contiguous() for k, v in weights.items() if k.startswith(("disc.", "ema."))}
    codec = {k: v for k, v in weights.items() if k not in extra}
    out = Path(__file__).resolve().parent / "warmstart" / f"{args.name}.safetensors"
    save_file(compact_weights(codec) | extra, str(out), metadata=meta)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) at step {meta.get('step', '?')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
