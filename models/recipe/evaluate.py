"""Quality of the shipped model packages on the dev set, measured end to end
through the Rust `codec` binary (the same path a user's audio takes).

For every package in models/ (or those named with --models) and every stage
count it supports (mcrvq: 3..8, grvq: 2), each file is run through
`codec encode --stages N` then `codec decode` in a temporary folder, and
compared with the input:

  PESQ-WB      ITU-T P.862.2 (`pesq`); a file PESQ refuses (it finds no
               utterance) is left out of the mean and counted in `pesq_skipped`
  STOI         classic STOI (`pystoi`); skipped, and counted, for an input with no
               speech (loudest 20 ms frame below -60 dBFS)
  mel distance L1 between log-mel spectrograms (80 mels, n_fft 1024, hop 256,
               periodic Hann, centred reflect-padded frames, ln(max(mel, 1e-5)));
               the same figure as the training loss's 1024-point term
  DNSMOS       OVRL / SIG / BAK of the decoded audio (no reference needed), from
               the ONNX model shipped inside the `speechmos` package, run here with
               onnxruntime (speechmos itself is not imported: it needs librosa, and
               only its P.808 model does). Left out when speechmos is not installed,
               or with --no-dnsmos. A "reference" row gives the input's own DNSMOS.
  kbps         the code rate, codebooks * bits * rate / hop
  file kbps    the real rate: the .tok file's bytes (header and CRC included) * 8
               over the audio's length, summed over the files (the JSON also has the
               mean of the per-file rates, where short files pay more for the header)
  codebooks    per codebook, the share of its entries used and the perplexity of
               its codes over all the evaluated files (read from the .tok files)

The decoded audio's lag against the input is recorded too (cross-correlation
of the log energy envelopes, 20 ms windows every 2.5 ms, up to +-100 ms): it
should be about 0, since STOI and the mel distance compare the signals sample
by sample; a note is printed when the median is 80 samples or more.

With --baselines, Opus at 6, 8 and 12 kbps (20 ms frames) runs on the same
files: `opusenc --bitrate K --framesize 20` then `opusdec --rate 16000`; its
file kbps counts the whole .opus (Ogg) file.

The dev set is asterisk Russian speech (519 files; an unseen language and
unseen voices). --files N takes N files evenly spaced over the sorted ids
(deterministic; 0 takes all of them).

Usage (from anywhere; paths default relative to the repository):

  cargo build --release -p codec-cli
  python models/recipe/evaluate.py                       # all packages, 80 dev files
  python models/recipe/evaluate.py --files 8 --baselines # quick check, with Opus
  python models/recipe/evaluate.py --models mcrvq --files 0 --jobs 4 --out dev.json
  python models/recipe/evaluate.py --update-manifests    # write "quality" into each manifest.json
  python models/recipe/evaluate.py --folder ~/my-speech --models grvq

Options: --codec PATH (default target/release/codec), --data DIR (default
$CODEC_DATA or ~/.cache/codec-data), --models NAME..., --files N, --folder DIR,
--baselines, --no-dnsmos (DNSMOS is most of the run time: about 4 times
faster without it), --jobs N (files in parallel, default 2), --out FILE.json,
--update-manifests (dev set only; the manifest's sha256 list covers the other
files, so editing manifest.json leaves the package valid).

The JSON (--out) holds one row per codec and rate (the table's figures, plus
the skipped counts, lag, and encode/decode real-time factors), the per-codebook
tables for every rate, the failures, and every file's figures.

Exit status: 0 when every file was evaluated, 1 when some encode/decode runs
failed (each is reported with its file), 2 on a usage error.
"""

import argparse
import concurrent.futures as cf
import datetime
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import correlate, resample_poly

from codec_model.metrics import codebook_stats, pesq_wb, stoi
from codec_model.tokfile import TokFileError, read_tok
from prepare_data import default_out

REPO = Path(__file__).resolve().parents[2]
MODELS_DIR = REPO / "models"
SR = 16000
OPUS_KBPS = (6, 8, 12)
AUDIO_EXTS = {".wav", ".flac", ".ogg", ".oga", ".mp3", ".opus", ".m4a", ".aac", ".webm"}
MAX_LAG = 1600
LAG_STEP = 40
LAG_NOTE = 80
RUN_TIMEOUT_S = 600
SILENT_DBFS = -60.0  # an input whose loudest 20 ms frame is quieter has no speech: STOI skipped


# ---------------------------------------------------------------- log-mel distance

MEL_N_FFT, MEL_HOP, MEL_N = 1024, 256, 80
_MEL_CACHE = {}


def mel_filters(n_fft: int = MEL_N_FFT, n_mels: int = MEL_N, sr: int = SR) -> np.ndarray:
    """The training loss's mel filters, [n_mels, bins], as float64."""
    key = (n_fft, n_mels, sr)
    if key not in _MEL_CACHE:
        from codec_model.losses import mel_filters as torch_mel_filters

        _MEL_CACHE[key] = torch_mel_filters(n_fft, n_mels, sr).double().numpy()
    return _MEL_CACHE[key]


def log_mel(x: np.ndarray, n_fft: int = MEL_N_FFT, hop: int = MEL_HOP, n_mels: int = MEL_N) -> np.ndarray:
    """ln(max(mel magnitude, 1e-5)), [n_mels, frames]; frames as torch.stft(center=True)."""
    x = np.asarray(x, dtype=np.float64)
    pad = n_fft // 2
    x = np.pad(x, pad, mode="reflect" if len(x) > pad else "constant")
    frames = 1 + (len(x) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    mag = np.abs(np.fft.rfft(x[idx] * window, axis=1)).T  # [bins, frames]
    return np.log(np.maximum(mel_filters(n_fft, n_mels) @ mag, 1e-5))


def mel_distance(ref: np.ndarray, deg: np.ndarray) -> float:
    return float(np.mean(np.abs(log_mel(ref) - log_mel(deg))))


def _envelope(x: np.ndarray, win: int, step: int) -> np.ndarray:
    """Log RMS over `win` samples every `step` samples, mean removed."""
    n = 1 + max(0, len(x) - win) // step
    idx = np.arange(win)[None, :] + step * np.arange(n)[:, None]
    e = np.log(np.sqrt(np.mean(np.pad(x, (0, max(0, win - len(x))))[idx] ** 2, axis=1)) + 1e-4)
    return e - e.mean()


def estimate_lag(ref: np.ndarray, deg: np.ndarray, max_lag: int = MAX_LAG, win: int = 320, step: int = LAG_STEP) -> int:
    """Samples by which `deg` trails `ref` (positive: late), to `step` samples, from the
    cross-correlation of their log energy envelopes (the waveforms' own cross-correlation
    is meaningless for a codec that does not keep the phase)."""
    er, ed = _envelope(ref, win, step), _envelope(deg, win, step)
    if np.ptp(er) < 1e-6 or np.ptp(ed) < 1e-6:  # silence: no lag to find
        return 0
    c = correlate(ed, er, mode="full", method="fft")
    zero = len(er) - 1
    reach = max_lag // step
    lo, hi = max(0, zero - reach), min(len(c), zero + reach + 1)
    return int(np.argmax(c[lo:hi]) + lo - zero) * step


# ---------------------------------------------------------------- DNSMOS (optional)

class Dnsmos:
    """DNSMOS P.835 (SIG, BAK, OVRL) from the `sig_bak_ovr.onnx` that the speechmos
    package ships; the segmenting and the polynomial mapping follow speechmos.dnsmos."""

    INPUT_SECONDS = 9.01

    def __init__(self, model_path: Path):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    @staticmethod
    def find() -> "Path | None":
        spec = importlib.util.find_spec("speechmos")
        if spec is None or not spec.submodule_search_locations:
            return None
        path = Path(list(spec.submodule_search_locations)[0]) / "dnsmos_models" / "sig_bak_ovr.onnx"
        return path if path.is_file() else None

    def __call__(self, audio: np.ndarray) -> dict:
        audio = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
        need = int(self.INPUT_SECONDS * SR)
        if not np.any(audio):
            return {"ovrl": float("nan"), "sig": float("nan"), "bak": float("nan")}
        while len(audio) < need:
            audio = np.concatenate([audio, audio])
        hops = int(np.floor(len(audio) / SR) - self.INPUT_SECONDS) + 1
        segs = [audio[i * SR : i * SR + need] for i in range(max(1, hops))]
        batch = np.stack([s for s in segs if len(s) == need])
        raw = self.session.run(None, {self.input: batch})[0]  # [segments, (sig, bak, ovr)]
        sig = np.polyval([-0.08397278, 1.22083953, 0.0052439], raw[:, 0])
        bak = np.polyval([-0.13166888, 1.60915514, -0.39604546], raw[:, 1])
        ovr = np.polyval([-0.06766283, 1.11546468, 0.04602535], raw[:, 2])
        return {"ovrl": float(np.mean(ovr)), "sig": float(np.mean(sig)), "bak": float(np.mean(bak))}


# ---------------------------------------------------------------- inputs

def read_manifest(path: Path) -> dict:
    return json.loads(path.read_text())


def package_rates(name: str) -> list:
    m = read_manifest(MODELS_DIR / name / "manifest.json")
    q = m["quantizer"]
    bits = int(math.ceil(math.log2(q["codebook_size"])))
    frame_rate = m["sample_rate"] / m["hop"]
    lo = q.get("min_stages", q["stages"])
    return [
        {
            "key": f"{name}@{s}",
            "kind": "codec",
            "model": name,
            "stages": s,
            "groups": q.get("groups", 1),
            "codebook_size": q["codebook_size"],
            "kbps": q.get("groups", 1) * s * bits * frame_rate / 1000.0,
        }
        for s in range(lo, q["stages"] + 1)
    ]


def all_packages() -> list:
    return sorted(p.parent.name for p in MODELS_DIR.glob("*/manifest.json"))


def spaced_subset(items: list, n: int) -> list:
    """n items evenly spaced over `items` (already sorted), first and last included."""
    if n <= 0 or n >= len(items):
        return list(items)
    picks = sorted(set(np.linspace(0, len(items) - 1, n).round().astype(int).tolist()))
    return [items[i] for i in picks]


def dev_files(data: Path, n: int) -> list:
    manifest = data / "dev.jsonl"
    if not manifest.is_file():
        sys.exit(f"error: {manifest} not found: run prepare_data.py first, or pass --data / --folder")
    rows = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    rows.sort(key=lambda r: r["id"])
    return [{"id": r["id"], "path": str(data / r["path"])} for r in spaced_subset(rows, n)]


def folder_files(folder: Path, n: int) -> list:
    paths = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTS)
    if not paths:
        sys.exit(f"error: no audio files ({', '.join(sorted(AUDIO_EXTS))}) under {folder}")
    return [{"id": str(p.relative_to(folder)), "path": str(p)} for p in spaced_subset(paths, n)]


def load_reference(path: str, tmp: Path):
    """The input as 16 kHz mono float, and a 16-bit WAV of exactly that to feed the coders."""
    try:
        info = sf.info(path)
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
    except Exception:
        info = None
    if info is not None and rate == SR and audio.shape[1] == 1 and info.format == "WAV" and info.subtype == "PCM_16":
        return audio[:, 0], path
    wav = tmp / "reference.wav"
    if info is None:  # a format libsndfile cannot read: let ffmpeg decode it
        p = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", path, "-ac", "1", "-ar", str(SR),
                            "-c:a", "pcm_s16le", str(wav)], capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        if p.returncode != 0:
            raise RuntimeError("ffmpeg: " + " | ".join(p.stderr.strip().splitlines()[-2:]))
        audio, _ = sf.read(wav, dtype="float32")
        return audio, str(wav)
    mono = audio.mean(axis=1)
    if rate != SR:
        g = math.gcd(SR, rate)
        mono = resample_poly(mono, SR // g, rate // g).astype(np.float32)
    sf.write(wav, np.clip(mono, -1.0, 1.0), SR, subtype="PCM_16")
    audio, _ = sf.read(wav, dtype="float32")  # the 16-bit signal the coders see
    return audio, str(wav)


# ---------------------------------------------------------------- one file

def run_tool(cmd: list) -> "tuple[float, str | None]":
    """Runs a command; (seconds, None) on success, (seconds, error text) on failure."""
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return time.perf_counter() - t0, f"`{Path(cmd[0]).name} {cmd[1]}` timed out after {RUN_TIMEOUT_S} s"
    except OSError as e:
        return time.perf_counter() - t0, f"`{cmd[0]}` could not run: {e}"
    elapsed = time.perf_counter() - t0
    if p.returncode != 0:
        tail = (p.stderr or p.stdout or "").strip().splitlines()[-3:]
        return elapsed, f"`{Path(cmd[0]).name} {cmd[1] if len(cmd) > 1 else ''}` exited {p.returncode}: " + " | ".join(tail)
    return elapsed, None


def loudest_dbfs(x: np.ndarray, frame: int = 320) -> float:
    """Level of the loudest 20 ms frame, dB full scale."""
    n = max(1, len(x) // frame)
    rms = np.sqrt(np.mean(np.pad(x, (0, n * frame - len(x)) if len(x) < n * frame else (0, 0))[: n * frame]
                          .reshape(n, frame).astype(np.float64) ** 2, axis=1))
    return float(20 * np.log10(rms.max() + 1e-12))


def measure(ref: np.ndarray, out_wav: Path, dnsmos) -> dict:
    deg, rate = sf.read(out_wav, dtype="float32", always_2d=True)
    deg = deg.mean(axis=1)
    if rate != SR:
        raise RuntimeError(f"decoded audio is at {rate} Hz, not {SR}")
    res = {"out_len": int(len(deg)), "len_diff": int(len(deg) - len(ref))}
    deg = deg[: len(ref)] if len(deg) >= len(ref) else np.pad(deg, (0, len(ref) - len(deg)))
    res["lag"] = estimate_lag(ref, deg)
    res["pesq_wb"] = pesq_wb(ref, deg)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res["stoi"] = stoi(ref, deg)
        except Exception:
            res["stoi"] = float("nan")
    if any("Not enough STFT frames" in str(w.message) for w in caught) or loudest_dbfs(ref) < SILENT_DBFS:
        res["stoi"] = float("nan")  # a reference with no speech: pystoi's figure means nothing, skipped
    res["mel_distance"] = mel_distance(ref, deg)
    if dnsmos is not None:
        for k, v in dnsmos(deg).items():
            res[f"dnsmos_{k}"] = v
    return res


_DNSMOS = None


def _worker_init(dnsmos_path):
    global _DNSMOS
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _DNSMOS = Dnsmos(Path(dnsmos_path)) if dnsmos_path else None


def evaluate_file(item: dict, rates: list, codec: str) -> dict:
    """Every rate on one file: metrics per rate, the codes of each codec rate, or errors."""
    out = {"id": item["id"], "results": {}, "codes": {}, "errors": []}
    with tempfile.TemporaryDirectory(prefix="codec-eval-") as tmpdir:
        tmp = Path(tmpdir)
        try:
            ref, ref_wav = load_reference(item["path"], tmp)
        except Exception as e:
            out["errors"].append({"file": item["id"], "key": "*", "error": f"cannot read the input: {e}"})
            return out
        if len(ref) == 0:
            out["errors"].append({"file": item["id"], "key": "*", "error": "the input is empty"})
            return out
        seconds = len(ref) / SR
        out["seconds"] = seconds
        if _DNSMOS is not None:
            out["reference"] = {f"dnsmos_{k}": v for k, v in _DNSMOS(ref).items()}
        for rate in rates:
            key = rate["key"]
            stem = tmp / key.replace("@", "_")
            out_wav = stem.with_suffix(".out.wav")
            if rate["kind"] == "codec":
                pkg = str(MODELS_DIR / rate["model"])
                coded = stem.with_suffix(".tok")
                enc = [codec, "encode", ref_wav, str(coded), "--model", pkg, "--stages", str(rate["stages"]), "--quiet"]
                dec = [codec, "decode", str(coded), str(out_wav), "--model", pkg, "--quiet"]
            else:
                coded = stem.with_suffix(".opus")
                enc = ["opusenc", "--quiet", "--bitrate", str(rate["kbps"]), "--framesize", "20", ref_wav, str(coded)]
                dec = ["opusdec", "--quiet", "--rate", str(SR), str(coded), str(out_wav)]
            t_enc, err = run_tool(enc)
            t_dec = 0.0
            if err is None:
                t_dec, err = run_tool(dec)
            if err is not None:
                out["errors"].append({"file": item["id"], "key": key, "error": err})
                continue
            try:
                res = {"encode_s": t_enc, "decode_s": t_dec, "bytes": coded.stat().st_size}
                res["file_kbps"] = res["bytes"] * 8 / seconds / 1000.0
                if rate["kind"] == "codec":
                    tok = read_tok(coded)
                    if tok.stages != rate["stages"] or tok.model_name != rate["model"]:
                        raise RuntimeError(f"the .tok holds {tok.model_name} with {tok.stages} stages")
                    res["code_kbps"] = tok.code_bitrate / 1000.0
                    res["tok_seconds"] = tok.seconds
                    out["codes"][key] = tok.by_codebook()
                res.update(measure(ref, out_wav, _DNSMOS))
            except (TokFileError, RuntimeError, OSError, ValueError) as e:
                out["errors"].append({"file": item["id"], "key": key, "error": f"{type(e).__name__}: {e}"})
                continue
            out["results"][key] = res
    return out


# ---------------------------------------------------------------- summary

METRICS = ["pesq_wb", "stoi", "mel_distance", "dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak"]


def nanmean(values) -> float:
    v = np.asarray([x for x in values if x is not None and not math.isnan(x)], dtype=np.float64)
    return float(v.mean()) if len(v) else float("nan")


def summarise(rate: dict, files: list) -> dict:
    got = [(f, f["results"][rate["key"]]) for f in files if rate["key"] in f["results"]]
    row = {k: rate[k] for k in ("key", "kind", "model", "stages", "kbps") if k in rate}
    row["files"] = len(got)
    row["failed"] = sum(1 for f in files for e in f["errors"] if e["key"] in (rate["key"], "*"))
    if not got:
        return row
    total_s = sum(f["seconds"] for f, _ in got)
    row["seconds"] = total_s
    row["file_kbps"] = sum(r["bytes"] for _, r in got) * 8 / total_s / 1000.0
    row["file_kbps_mean"] = nanmean(r["file_kbps"] for _, r in got)
    if rate["kind"] == "codec":
        row["code_kbps"] = got[0][1]["code_kbps"]
    for m in METRICS:
        if m in got[0][1]:
            row[m] = nanmean(r[m] for _, r in got)
    row["pesq_skipped"] = sum(1 for _, r in got if math.isnan(r["pesq_wb"]))
    row["stoi_skipped"] = sum(1 for _, r in got if math.isnan(r["stoi"]))
    lags = [r["lag"] for _, r in got]
    row["lag_median"] = float(np.median(lags))
    row["lag_off"] = sum(1 for x in lags if abs(x) >= LAG_NOTE)  # files off by 5 ms or more
    row["len_mismatch"] = sum(1 for _, r in got if r["len_diff"] != 0)
    row["encode_rtf"] = sum(r["encode_s"] for _, r in got) / total_s
    row["decode_rtf"] = sum(r["decode_s"] for _, r in got) / total_s
    return row


def codebook_table(rate: dict, files: list):
    chunks = [f["codes"][rate["key"]] for f in files if rate["key"] in f["codes"]]
    if not chunks:
        return None
    codes = np.concatenate(chunks, axis=1)
    stats = codebook_stats(codes.astype(np.int64), rate["codebook_size"])
    g = rate["groups"]
    return [
        {"codebook": j, "stage": j // g, "group": j % g, "used": used, "perplexity": ppl, "codes": int(codes.shape[1])}
        for j, (used, ppl) in enumerate(stats)
    ]


def fmt(x, digits=3) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def print_table(rows: list, reference: dict, with_dnsmos: bool) -> None:
    head = ["codec", "kbps", "file kbps", "PESQ-WB", "STOI", "mel dist"]
    if with_dnsmos:
        head += ["DNSMOS OVRL", "SIG", "BAK"]
    head += ["files", "skipped PESQ/STOI", "failed"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for r in rows:
        name = f"{r['model']} {r['stages']} st" if r["kind"] == "codec" else f"opus {r['kbps']:g}k"
        cells = [name, f"{r['kbps']:.2f}", fmt(r.get("file_kbps"), 2), fmt(r.get("pesq_wb")), fmt(r.get("stoi")),
                 fmt(r.get("mel_distance"))]
        if with_dnsmos:
            cells += [fmt(r.get("dnsmos_ovrl"), 2), fmt(r.get("dnsmos_sig"), 2), fmt(r.get("dnsmos_bak"), 2)]
        cells += [str(r["files"]), f"{r.get('pesq_skipped', 0)}/{r.get('stoi_skipped', 0)}", str(r["failed"])]
        print("| " + " | ".join(cells) + " |")
    if with_dnsmos and reference:
        cells = ["reference (input)", "-", "-", "-", "-", "-", fmt(reference.get("dnsmos_ovrl"), 2),
                 fmt(reference.get("dnsmos_sig"), 2), fmt(reference.get("dnsmos_bak"), 2),
                 str(reference.get("files", 0)), "-", "-"]
        print("| " + " | ".join(cells) + " |")


def print_codebooks(key: str, table: list, size: int) -> None:
    print(f"\n{key}: per codebook, over {table[0]['codes']} frames (perplexity of at most {size})")
    print("| codebook | stage | group | entries used | perplexity |")
    print("|---|---|---|---|---|")
    for c in table:
        print(f"| {c['codebook']} | {c['stage']} | {c['group']} | {100 * c['used']:.1f}% | {c['perplexity']:.1f} |")


def rounded(x, digits=4):
    if isinstance(x, float):
        return None if math.isnan(x) else round(x, digits)
    if isinstance(x, dict):
        return {k: rounded(v, digits) for k, v in x.items()}
    if isinstance(x, list):
        return [rounded(v, digits) for v in x]
    return x


def update_manifest(model: str, rows: list, tables: dict, files: list, source: str, date: str) -> Path:
    path = MODELS_DIR / model / "manifest.json"
    manifest = read_manifest(path)
    keep = ["kbps", "file_kbps", "pesq_wb", "stoi", "mel_distance", "dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak",
            "pesq_skipped", "stoi_skipped", "files"]
    by_stages = {str(r["stages"]): {k: r[k] for k in keep if k in r} for r in rows if r.get("model") == model}
    top = max((r for r in rows if r.get("model") == model), key=lambda r: r["stages"])
    table = tables.get(top["key"]) or []
    manifest["quality"] = rounded({
        "set": source,
        "files": len(files),
        "seconds": sum(f.get("seconds", 0.0) for f in files),
        "measured": date,
        "by": "models/recipe/evaluate.py, through the Rust codec binary",
        "weights_sha256": {k: v[:16] for k, v in sorted(manifest.get("files", {}).items())},
        "by_stages": by_stages,
        "codebooks_at_max_stages": {
            "stages": top["stages"],
            "used": [c["used"] for c in table],
            "perplexity": [c["perplexity"] for c in table],
        },
    })
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path


# ---------------------------------------------------------------- main

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--codec", type=Path, default=REPO / "target" / "release" / "codec", help="the codec binary")
    ap.add_argument("--data", type=Path, default=None, help="data folder holding dev.jsonl (default: %s)" % default_out())
    ap.add_argument("--models", nargs="+", default=None, help="package names (default: every models/*/manifest.json)")
    ap.add_argument("--files", type=int, default=80, help="dev files, evenly spaced over the sorted ids; 0: all")
    ap.add_argument("--folder", type=Path, default=None, help="evaluate the audio files under this folder instead")
    ap.add_argument("--baselines", action="store_true", help="also Opus at 6, 8, 12 kbps, 20 ms frames")
    ap.add_argument("--no-dnsmos", action="store_true", help="skip DNSMOS (most of the run time)")
    ap.add_argument("--jobs", type=int, default=2, help="files evaluated in parallel")
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    ap.add_argument("--update-manifests", action="store_true", help='write the figures into each manifest.json as "quality"')
    args = ap.parse_args(argv)

    if args.update_manifests and args.folder is not None:
        ap.error("--update-manifests records dev-set figures: it cannot be used with --folder")
    models = args.models if args.models is not None else all_packages()
    known = all_packages()
    unknown = [m for m in models if m not in known]
    if unknown:
        ap.error(f"unknown model(s) {', '.join(unknown)}; packages in {MODELS_DIR}: {', '.join(known) or 'none'}")
    codec = args.codec.expanduser().resolve()
    if models and not os.access(codec, os.X_OK):
        ap.error(f"{codec} is not an executable: build it with `cargo build --release -p codec-cli` or pass --codec")
    if args.baselines:
        missing = [t for t in ("opusenc", "opusdec") if shutil.which(t) is None]
        if missing:
            ap.error(f"--baselines needs {' and '.join(missing)} (apt-get install opus-tools)")

    rates = [r for m in models for r in package_rates(m)]
    if args.baselines:
        rates += [{"key": f"opus@{k}", "kind": "opus", "kbps": k} for k in OPUS_KBPS]
    if not rates:
        ap.error("nothing to evaluate")

    if args.folder is not None:
        items = folder_files(args.folder.expanduser(), args.files)
        source = f"folder {args.folder}"
    else:
        data = (args.data or default_out()).expanduser()
        items = dev_files(data, args.files)
        total = sum(1 for line in (data / "dev.jsonl").read_text().splitlines() if line.strip())
        source = f"dev set (asterisk Russian, unseen language and voices): {len(items)} of {total} files, evenly spaced over the sorted ids"

    dnsmos_path = None if args.no_dnsmos else Dnsmos.find()
    print(f"{len(items)} files x {len(rates)} rates ({', '.join(r['key'] for r in rates)}), {args.jobs} jobs", flush=True)
    print("DNSMOS: " + (f"on ({dnsmos_path})" if dnsmos_path else
                        "off (--no-dnsmos)" if args.no_dnsmos else "off (pip install speechmos to add it)"), flush=True)

    started = time.perf_counter()
    results = []
    jobs = max(1, args.jobs)
    if jobs == 1:
        _worker_init(str(dnsmos_path) if dnsmos_path else None)
        for i, item in enumerate(items):
            results.append(evaluate_file(item, rates, str(codec)))
            print(f"  {i + 1}/{len(items)} {item['id']}", file=sys.stderr, flush=True)
    else:
        with cf.ProcessPoolExecutor(jobs, initializer=_worker_init, initargs=(str(dnsmos_path) if dnsmos_path else None,)) as pool:
            futures = {pool.submit(evaluate_file, item, rates, str(codec)): item for item in items}
            for i, fut in enumerate(cf.as_completed(futures)):
                item = futures[fut]
                try:
                    results.append(fut.result())
                except Exception as e:  # a worker crash: report the file, keep going
                    results.append({"id": item["id"], "results": {}, "codes": {},
                                    "errors": [{"file": item["id"], "key": "*", "error": f"{type(e).__name__}: {e}"}]})
                print(f"  {i + 1}/{len(items)} {item['id']}", file=sys.stderr, flush=True)
    wall = time.perf_counter() - started
    order = {item["id"]: i for i, item in enumerate(items)}
    results.sort(key=lambda f: order[f["id"]])

    rows = [summarise(r, results) for r in rates]
    tables = {r["key"]: codebook_table(r, results) for r in rates if r["kind"] == "codec"}
    reference = {}
    if dnsmos_path:
        refs = [f["reference"] for f in results if "reference" in f]
        reference = {k: nanmean(x[k] for x in refs) for k in ("dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak")}
        reference["files"] = len(refs)
    errors = [e for f in results for e in f["errors"]]
    evaluated = [f for f in results if "seconds" in f]
    audio_s = sum(f["seconds"] for f in evaluated)

    print()
    print(f"## {source}")
    print(f"{len(evaluated)} files, {audio_s:.1f} s of audio; {wall:.1f} s wall with {jobs} jobs "
          f"({wall / max(1, len(items)):.2f} s per file for {len(rates)} rates)\n")
    print_table(rows, reference, dnsmos_path is not None)
    for m in models:
        mine = [r for r in rates if r.get("model") == m]
        top = max(mine, key=lambda r: r["stages"])
        if tables.get(top["key"]):
            print_codebooks(top["key"], tables[top["key"]], top["codebook_size"])
    for r in rows:
        if abs(r.get("lag_median", 0)) >= LAG_NOTE or r.get("len_mismatch"):
            print(f"\nnote: {r['key']}: decoded audio lags the input by {r['lag_median']:g} samples (median; "
                  f"{r['lag_off']} files off by {LAG_NOTE} or more), length differs on {r['len_mismatch']} files")
    if errors:
        print(f"\n{len(errors)} failures:")
        for e in errors:
            print(f"  {e['file']} [{e['key']}]: {e['error']}")

    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if args.out:
        per_file = [
            {"id": f["id"], "seconds": f.get("seconds"), **({"reference": f["reference"]} if "reference" in f else {}),
             "results": f["results"]}
            for f in results
        ]
        report = {
            "date": date,
            "source": source,
            "codec": str(codec),
            "dnsmos": str(dnsmos_path) if dnsmos_path else None,
            "files": [item["id"] for item in items],
            "seconds": audio_s,
            "wall_seconds": wall,
            "jobs": jobs,
            "rows": rows,
            "reference": reference,
            "codebooks": tables,
            "failures": errors,
            "per_file": per_file,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rounded(report), indent=2) + "\n")
        print(f"\nwrote {args.out}")
    if args.update_manifests:
        for m in models:
            print(f"updated {update_manifest(m, rows, tables, evaluated, source, date)}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
