"""How clearly decoded speech keeps its pitch harmonics, band by band, beside
the input: the diagnostic for "the decoder smears the harmonics above about
700 Hz" (issue 31).

For every voiced frame (64 ms, Hann) of the input, the log-magnitude
spectrum of a band is detrended and its ripple measured: harmonics F0 apart
make a ripple of period F0 across the bins, noise does not. The figure is
the prominence (dB) of that ripple's peak, at the input's own F0, over the
median of the ripple spectrum: a band cepstral peak prominence. Output and
input are measured on the same frames, so the ratio says what share of the
input's harmonic contrast survived.

  python harmonics.py --folder LOW --models mcrvq ab2-lin    # decodes through the codec binary
  python harmonics.py --folder LOW --decoded DIR             # files already decoded (same names)
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 16000
FRAME = 1024  # 64 ms: several harmonics a band even at 70 Hz, 15.6 Hz bins
HOP = 256
BANDS = [(100, 700), (700, 1500), (1500, 3000), (3000, 5000)]
F0_RANGE = (60.0, 400.0)


def frames(x: np.ndarray) -> np.ndarray:
    n = 1 + max(0, (len(x) - FRAME) // HOP)
    idx = np.arange(FRAME)[None, :] + HOP * np.arange(n)[:, None]
    return x[idx] * np.hanning(FRAME)[None, :] if len(x) >= FRAME else np.zeros((0, FRAME))


def f0_of(frame: np.ndarray) -> float:
    """Autocorrelation pitch of one frame; 0 when it is not clearly voiced."""
    ac = np.fft.irfft(np.abs(np.fft.rfft(frame, 2 * FRAME)) ** 2)[:FRAME]
    if ac[0] <= 0:
        return 0.0
    lo, hi = int(RATE / F0_RANGE[1]), int(RATE / F0_RANGE[0])
    lag = lo + int(np.argmax(ac[lo:hi]))
    return RATE / lag if ac[lag] / ac[0] > 0.5 else 0.0


def band_prominence(frame: np.ndarray, f0: float, band) -> float:
    spec = 20 * np.log10(np.abs(np.fft.rfft(frame)) + 1e-6)
    k0, k1 = int(band[0] * FRAME / RATE), int(band[1] * FRAME / RATE)
    seg = spec[k0:k1]
    bins = np.arange(len(seg))
    seg = seg - np.polyval(np.polyfit(bins, seg, 2), bins)
    ripple = np.abs(np.fft.rfft(seg * np.hanning(len(seg)), 8 * len(seg)))
    cycles = np.fft.rfftfreq(8 * len(seg))  # cycles a bin
    period = f0 * FRAME / RATE  # bins between harmonics
    near = np.abs(cycles - 1.0 / period) <= 0.15 / period
    if not near.any():
        return float("nan")
    return float(20 * np.log10(ripple[near].max() / (np.median(ripple[1:]) + 1e-9)))


def measure(ref: np.ndarray, out: np.ndarray) -> np.ndarray:
    """[frames, bands, 2]: prominence of input and output on the input's voiced frames."""
    n = min(len(ref), len(out))
    fr, fo = frames(ref[:n]), frames(out[:n])
    energy = (fr**2).sum(1)
    rows = []
    for a, b, e in zip(fr, fo, energy):
        if e < 1e-3 * energy.max():
            continue
        f0 = f0_of(a)
        if f0 == 0.0:
            continue
        rows.append([[band_prominence(a, f0, band), band_prominence(b, f0, band)] for band in BANDS])
    return np.array(rows).reshape(-1, len(BANDS), 2)


def aligned(ref: np.ndarray, out: np.ndarray) -> np.ndarray:
    """The output shifted by the lag (0-200 ms) that best matches the input."""
    n = min(len(ref), len(out))
    c = np.fft.irfft(np.fft.rfft(out[:n], 2 * n) * np.conj(np.fft.rfft(ref[:n], 2 * n)))
    lag = int(np.argmax(c[: int(0.2 * RATE)]))
    return out[lag:]


def read(path: Path) -> np.ndarray:
    x, rate = sf.read(str(path), dtype="float32", always_2d=True)
    if rate != RATE:
        raise SystemExit(f"{path}: {rate} Hz; this diagnostic takes {RATE} Hz files")
    return x.mean(1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folder", required=True, type=Path, help="16 kHz input files (*.wav)")
    ap.add_argument("--models", nargs="*", default=[], help="packages to decode through the codec binary")
    ap.add_argument("--decoded", type=Path, help="a folder already decoded, same file names")
    ap.add_argument("--codec", default=str(Path(__file__).resolve().parents[2] / "target/release/codec"))
    args = ap.parse_args()
    inputs = sorted(args.folder.glob("*.wav"))
    if not inputs:
        print(f"no .wav files under {args.folder}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        sources = {}
        for model in args.models:
            out = Path(tmp) / model
            out.mkdir()
            for path in inputs:
                subprocess.run([args.codec, "roundtrip", "-q", "-m", model, str(path), str(out / path.name)], check=True)
            sources[model] = out
        if args.decoded:
            sources[args.decoded.name] = args.decoded
        header = " | ".join(f"{a}-{b} Hz" for a, b in BANDS)
        print(f"band harmonic prominence, dB, mean over the input's voiced frames ({len(inputs)} files)")
        print(f"| coder | {header} |")
        print("|---|" + "---|" * len(BANDS))
        reference = None
        for name, folder in sources.items():
            rows = [measure(read(p), aligned(read(p), read(folder / p.name))) for p in inputs]
            table = np.concatenate([r for r in rows if len(r)])
            means = np.nanmean(table, axis=0)  # [bands, 2]
            if reference is None:
                reference = means[:, 0]
                print("| input | " + " | ".join(f"{v:.2f}" for v in reference) + " |")
            print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in means[:, 1]) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
