"""PESQ-WB and STOI of the README's listening samples against their originals
(the figures of its "How it sounds" tables). Run after scripts/make-samples.sh.

  python score_samples.py
"""

import sys
from pathlib import Path

import soundfile as sf

from codec_model.metrics import pesq_wb, stoi

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "docs" / "samples"
# original, and the prefix of its decodes' names (as scripts/make-samples.sh writes them)
ORIGINALS = ((REPO / "testdata" / "sample.wav", ""), (SAMPLES / "low-voice.wav", "low-voice-"))
DECODES = ("codec-1.5kbps", "codec-2kbps", "codec-4kbps", "opus-6kbps", "opus-8kbps")


def main() -> int:
    print("| original | decode | PESQ-WB | STOI |")
    print("|---|---|---|---|")
    for original, prefix in ORIGINALS:
        ref, _ = sf.read(original, dtype="float32")
        for name in DECODES:
            path = SAMPLES / f"{prefix}{name}.wav"
            if not path.is_file():
                print(f"{path} missing: run scripts/make-samples.sh first", file=sys.stderr)
                return 1
            deg, _ = sf.read(path, dtype="float32")
            n = min(len(ref), len(deg))
            print(f"| {original.name} | {path.name} | {pesq_wb(ref[:n], deg[:n]):.2f} | {stoi(ref[:n], deg[:n]):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
