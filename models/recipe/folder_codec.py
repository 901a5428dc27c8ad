"""What the folder diagnostics (phase_oracle.py, gate_use.py) share: their
arguments, the folder's inputs and the codec, or one line saying why not."""

import argparse
import sys
from pathlib import Path

from codec_model.codec import load_codec


def folder_and_codec(doc: str, configs, default_config=None):
    """-> (the input files, the codec in eval mode), or None after saying why on stderr."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folder", required=True, type=Path, help="16 kHz input files (*.wav)")
    ap.add_argument("--weights", required=True, type=Path, help="a warm start (.safetensors)")
    ap.add_argument("--quantizer", default="mcrvq", choices=["mcrvq", "grvq"])
    if default_config is None:
        ap.add_argument("--config", required=True, choices=sorted(configs))
    else:
        ap.add_argument("--config", default=default_config, choices=sorted(configs))
    args = ap.parse_args()
    inputs = sorted(args.folder.glob("*.wav"))
    if not inputs:
        print(f"no .wav files under {args.folder}", file=sys.stderr)
        return None
    try:
        return inputs, load_codec(args.weights, args.quantizer, args.config).eval()
    except (OSError, ValueError) as e:
        print(f"{Path(sys.argv[0]).name}: {e}", file=sys.stderr)
        return None
