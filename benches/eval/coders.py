"""The coders under test and how one file goes through each: the shipped
packages through the Rust `codec` binary (the path a user's audio takes),
Opus through opusenc/opusdec and Codec2 through c2enc/c2dec. Each leaves a
16 kHz WAV to score and the encoded file whose bytes give the real bitrate."""

import json
import math
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from repo import MODELS_DIR, SR
from inputs import AUDIO_EXTS, RUN_TIMEOUT_S

OPUS_KBPS = (6, 8, 12)
CODEC2_MODES = (3200, 1600)
CODEC2_SR = 8000
# c2dec's output trails its input by about 20 ms (measured on the dev set: STOI
# peaks there). It is removed, as opusdec removes Opus's pre-skip, so that
# STOI and the mel distance, which compare sample by sample, score the sound
# and not the delay.
CODEC2_DELAY = 320
TOOLS = {"opus": (("opusenc", "opusdec"), "apt-get install opus-tools"),
         "codec2": (("c2enc", "c2dec"), "apt-get install codec2")}


class CoderError(RuntimeError):
    pass


def all_packages() -> list:
    return sorted(p.parent.name for p in MODELS_DIR.glob("*/manifest.json"))


def default_model() -> "str | None":
    path = MODELS_DIR / "DEFAULT"
    return path.read_text().strip() if path.is_file() else None


def read_manifest(name: str) -> dict:
    return json.loads((MODELS_DIR / name / "manifest.json").read_text())


def package_rates(name: str, stages=None) -> list:
    """One rate per stage count the package supports (or those of `stages` it supports)."""
    m = read_manifest(name)
    q = m["quantizer"]
    bits = int(math.ceil(math.log2(q["codebook_size"])))
    frame_rate = m["sample_rate"] / m["hop"]
    supported = range(q.get("min_stages", q["stages"]), q["stages"] + 1)
    default = q.get("default_stages", q["stages"]) if name == default_model() else None
    return [
        {
            "key": f"{name}@{s}",
            "kind": "codec",
            "model": name,
            "stages": s,
            "default": s == default,
            "groups": q.get("groups", 1),
            "codebook_size": q["codebook_size"],
            "kbps": q.get("groups", 1) * s * bits * frame_rate / 1000.0,
        }
        for s in supported
        if stages is None or s in stages
    ]


def baseline_rates(names) -> list:
    rates = []
    if "opus" in names:
        rates += [{"key": f"opus@{k}", "kind": "opus", "kbps": k} for k in OPUS_KBPS]
    if "codec2" in names:
        rates += [{"key": f"codec2@{m}", "kind": "codec2", "mode": m, "kbps": m / 1000.0} for m in CODEC2_MODES]
    return rates


def given_rate(folder: Path) -> dict:
    """Files decoded elsewhere (by the Python package, say): each input's counterpart is the
    file at the same relative path under `folder`, with the same or any audio suffix."""
    return {"key": "decoded", "kind": "given", "dir": str(folder), "kbps": float("nan")}


def find_decoded(rate: dict, item_id: str) -> Path:
    base = Path(rate["dir"]) / item_id
    for candidate in [base] + [base.with_suffix(ext) for ext in sorted(AUDIO_EXTS)]:
        if candidate.is_file():
            return candidate
    raise CoderError(f"no decoded file {Path(item_id).with_suffix('.*')} under {rate['dir']}")


def missing_tools(names) -> list:
    """'opusenc (apt-get install opus-tools)' for each tool of `names` not on PATH."""
    out = []
    for n in names:
        tools, hint = TOOLS[n]
        out += [f"{t} ({hint})" for t in tools if shutil.which(t) is None]
    return out


def label(rate: dict) -> str:
    if rate["kind"] == "codec":
        groups = f" x {rate['groups']} groups" if rate.get("groups", 1) > 1 else ""
        return f"{rate['model']}, {rate['stages']} stages{groups}" + (" (default)" if rate.get("default") else "")
    if rate["kind"] == "opus":
        return f"Opus {rate['kbps']:g}k"
    if rate["kind"] == "given":
        return f"decoded files ({Path(rate['dir']).name})"
    return f"Codec2 {rate['mode']}"


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


def _run_pair(enc: list, dec: list) -> "tuple[float, float]":
    t_enc, err = run_tool(enc)
    if err is not None:
        raise CoderError(err)
    t_dec, err = run_tool(dec)
    if err is not None:
        raise CoderError(err)
    return t_enc, t_dec


def run(rate: dict, ref: np.ndarray, ref_wav: str, tmp: Path, codec: str) -> dict:
    """Encodes and decodes one file: {coded, out_wav, encode_s, decode_s}; CoderError on failure."""
    stem = tmp / rate["key"].replace("@", "_")
    out_wav = stem.with_suffix(".out.wav")
    if rate["kind"] == "codec":
        pkg = str(MODELS_DIR / rate["model"])
        coded = stem.with_suffix(".tok")
        t_enc, t_dec = _run_pair(
            [codec, "encode", ref_wav, str(coded), "--model", pkg, "--stages", str(rate["stages"]), "--quiet"],
            [codec, "decode", str(coded), str(out_wav), "--model", pkg, "--quiet"])
    elif rate["kind"] == "opus":
        coded = stem.with_suffix(".opus")
        t_enc, t_dec = _run_pair(
            ["opusenc", "--quiet", "--bitrate", str(rate["kbps"]), "--framesize", "20", ref_wav, str(coded)],
            ["opusdec", "--quiet", "--rate", str(SR), str(coded), str(out_wav)])
    else:
        # Codec2 is narrowband: 8 kHz in and out, so the band above 4 kHz is lost, as it is for its users.
        raw_in, raw_out = stem.with_suffix(".in.raw"), stem.with_suffix(".out.raw")
        coded = stem.with_suffix(".c2")  # with this suffix c2enc writes its mode header: counted in the bytes
        down = resample_poly(ref, CODEC2_SR, SR)
        (np.clip(down, -1.0, 1.0) * 32767).round().astype("<i2").tofile(raw_in)
        t_enc, t_dec = _run_pair(["c2enc", str(rate["mode"]), str(raw_in), str(coded)],
                                 ["c2dec", str(rate["mode"]), str(coded), str(raw_out)])
        decoded = np.fromfile(raw_out, dtype="<i2").astype(np.float32) / 32768.0
        up = resample_poly(decoded, SR, CODEC2_SR)[CODEC2_DELAY:]
        sf.write(out_wav, np.clip(up, -1.0, 1.0), SR, subtype="PCM_16")
    return {"coded": coded, "out_wav": out_wav, "encode_s": t_enc, "decode_s": t_dec}
