"""Issue 34's figures for the token watermark, in one go, through the release
binary (`codec encode --watermark`, `codec decode`, `codec detect`):

- quality cost: PESQ-WB, STOI (and DNSMOS OVRL when speechmos is installed)
  of watermarked against plain encoding at the default stages;
- detection rate and 16-bit message accuracy after a plain decode and the
  attacks below (ATTACKS);
- false alarms on clips that were never watermarked: the originals, Opus's
  and Codec2's decodes of them and this codec's plain decodes;
- forgery: watermarked clips tested with another key;
- speed: encoding with and without the watermark, and detection.

Clips are 5 s cut one after another from each set's files joined in id
order. Writes a JSON of every figure and prints a Markdown summary.

    python benches/eval/watermark.py                       # the default run
    python benches/eval/watermark.py --marked 6 --clean 20 # a quick check
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from repo import DEFAULT_CODEC, SR  # noqa: E402
from inputs import default_data  # noqa: E402
from metrics import Dnsmos, pesq_wb, stoi  # noqa: E402

CLIP_S = 5.0
CROP_S = 3.0
SETS = ["dev", "dev2", "dev_en"]
ATTACKS = ["decode", "resample8k", "resample48k", "opus12", "opus24", "mp3_64", "noise20db", "gain+6db", "gain-6db", "crop3s"]
THRESHOLDS = [1e-3, 1e-6]
TIMEOUT_S = 300


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, **kw)


def must(cmd):
    r = run(cmd)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))}: {r.stderr.strip()}")
    return r


def clips_of(data: Path, split: str, count: int) -> list:
    """`count` 5 s clips of one set (0: all), spread evenly over its joined files."""
    rows = [json.loads(l) for l in (data / f"{split}.jsonl").read_text().splitlines() if l.strip()]
    rows.sort(key=lambda r: r["id"])
    joined = []
    for r in rows:
        x, rate = sf.read(data / r["path"], dtype="float32", always_2d=True)
        if rate != SR:
            raise RuntimeError(f"{r['path']}: {rate} Hz, not {SR}")
        joined.append(x.mean(axis=1))
    signal = np.concatenate(joined)
    n = int(CLIP_S * SR)
    all_clips = [signal[i : i + n] for i in range(0, len(signal) - n + 1, n)]
    if count and count < len(all_clips):
        picks = np.linspace(0, len(all_clips) - 1, count).round().astype(int)
        all_clips = [all_clips[i] for i in sorted(set(picks.tolist()))]
    return [(f"{split}-{i}", c) for i, c in enumerate(all_clips)]


def write16(path: Path, x: np.ndarray, rate: int = SR):
    sf.write(path, np.clip(x, -1.0, 1.0), rate, subtype="PCM_16")


def detect(codec, key, path) -> dict:
    r = run([codec, "detect", "--key", key, str(path)])
    if r.returncode not in (0, 1):
        raise RuntimeError(f"detect {path}: {r.stderr.strip()}")
    p = float(re.search(r"false-alarm probability ([0-9.e+-]+)", r.stdout).group(1))
    m = re.search(r"message:\s+([01]+)", r.stdout)
    return {"p": p, "found": r.returncode == 0, "message": m.group(1) if m else None}


def attack(name: str, wav: Path, work: Path, rng) -> Path:
    """The decoded watermarked clip `wav` after `name`; the file `codec detect` reads."""
    x, _ = sf.read(wav, dtype="float32")
    out = work / f"{name}.wav"
    if name == "decode":
        return wav
    if name in ("resample8k", "resample48k"):
        rate = 8000 if name == "resample8k" else 48000
        mid = work / f"{name}-mid.wav"
        must(["sox", str(wav), "-r", str(rate), str(mid)])
        must(["sox", str(mid), "-r", str(SR), str(out)])
    elif name.startswith("opus"):
        ogg = work / f"{name}.opus"
        must(["opusenc", "--quiet", "--bitrate", name[4:], str(wav), str(ogg)])
        must(["opusdec", "--quiet", "--rate", str(SR), str(ogg), str(out)])
    elif name == "mp3_64":
        out = work / "a.mp3"
        must(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), "-b:a", "64k", str(out)])
    elif name == "noise20db":
        power = float(np.mean(x.astype(np.float64) ** 2))
        noise = rng.standard_normal(len(x)) * np.sqrt(power / 10 ** (20 / 10))
        write16(out, x + noise)
    elif name.startswith("gain"):
        write16(out, x * 10 ** (float(name[4:-2]) / 20))
    elif name == "crop3s":
        n = int(CROP_S * SR)
        start = int(rng.integers(0, max(1, len(x) - n)))
        write16(out, x[start : start + n])
    else:
        raise ValueError(name)
    return out


def bits_right(sent, read) -> int:
    if not read or not sent:
        return 0
    return sum(1 for a, b in zip(sent, read) if a == b)


def marked_clip(args, name, clip, seed, dnsmos) -> dict:
    rng = np.random.default_rng(seed)
    message = "".join(rng.choice(["0", "1"], args.message_bits)) or None
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        src = work / "src.wav"
        write16(src, clip)
        extra = ["--watermark-tolerance", str(args.tolerance)] if args.tolerance is not None else []
        extra += ["--message", message] if message else []
        must([args.codec, "encode", "-q", str(src), str(work / "w.tok"), "--watermark", args.key] + extra)
        must([args.codec, "decode", "-q", str(work / "w.tok"), str(work / "w.wav")])
        must([args.codec, "encode", "-q", str(src), str(work / "p.tok")])
        must([args.codec, "decode", "-q", str(work / "p.tok"), str(work / "p.wav")])
        ref, _ = sf.read(src, dtype="float32")
        res = {"clip": name, "message": message, "quality": {}, "attacks": {}}
        for kind in ("p", "w"):
            deg, _ = sf.read(work / f"{kind}.wav", dtype="float32")
            deg = deg[: len(ref)] if len(deg) >= len(ref) else np.pad(deg, (0, len(ref) - len(deg)))
            q = {"pesq_wb": pesq_wb(ref, deg), "stoi": stoi(ref, deg)}
            if dnsmos is not None:
                q["dnsmos_ovrl"] = dnsmos(deg)["ovrl"]
            res["quality"]["plain" if kind == "p" else "marked"] = q
        res["tokens"] = detect(args.codec, args.key, work / "w.tok")
        for a in ATTACKS:
            d = detect(args.codec, args.key, attack(a, work / "w.wav", work, rng))
            d["bits_right"] = bits_right(message, d["message"])
            res["attacks"][a] = d
        res["forgery"] = detect(args.codec, args.other_key, work / "w.wav")
    return res


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call_clip(args, name, clip, seed) -> dict:
    """A live call of a watermarked clip (`codec send --watermark --loss 10`
    to `codec receive -o`) over loopback UDP, in real time; then detection."""
    rng = np.random.default_rng(10_000 + seed)
    message = "".join(rng.choice(["0", "1"], 16))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        src, out = work / "src.wav", work / "received.wav"
        write16(src, clip)
        addr = f"127.0.0.1:{free_port()}"
        receiver = subprocess.Popen([args.codec, "receive", "--listen", addr, "-o", str(out), "-q"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        must([args.codec, "send", "--to", addr, "-i", str(src), "-q", "--loss", str(args.call_loss),
              "--seed", str(seed), "--watermark", args.key, "--message", message])
        receiver.wait(timeout=TIMEOUT_S)
        if receiver.returncode != 0:
            raise RuntimeError(f"receive: {receiver.stderr.read()}")
        d = detect(args.codec, args.key, out)
    d["bits_right"] = bits_right(message, d["message"])
    return {"clip": name, "message": message, "call": d}


def clean_clip(args, name, clip) -> dict:
    """The never-watermarked versions of one clip, each tested with the key."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        src = work / "src.wav"
        write16(src, clip)
        out["original"] = detect(args.codec, args.key, src)
        ogg = work / "o.opus"
        must(["opusenc", "--quiet", "--bitrate", "12", str(src), str(ogg)])
        must(["opusdec", "--quiet", "--rate", str(SR), str(ogg), str(work / "o.wav")])
        out["opus12"] = detect(args.codec, args.key, work / "o.wav")
        raw = work / "s.raw"
        must(["sox", str(src), "-t", "raw", "-e", "signed", "-b", "16", "-r", "8000", str(raw)])
        must(["c2enc", "3200", str(raw), str(work / "c.bit")])
        must(["c2dec", "3200", str(work / "c.bit"), str(work / "c.raw")])
        must(["sox", "-t", "raw", "-e", "signed", "-b", "16", "-r", "8000", "-c", "1", str(work / "c.raw"), "-r", str(SR), str(work / "c.wav")])
        out["codec2_3200"] = detect(args.codec, args.key, work / "c.wav")
        must([args.codec, "encode", "-q", str(src), str(work / "p.tok")])
        must([args.codec, "decode", "-q", str(work / "p.tok"), str(work / "p.wav")])
        out["codec_plain"] = detect(args.codec, args.key, work / "p.wav")
    return {"clip": name, "kinds": out}


def speed(args, clips) -> dict:
    """Encode speed with and without the watermark (one thread), and detection speed."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        long = np.concatenate([c for _, c in clips])[: int(args.speed_seconds * SR)]
        src = work / "long.wav"
        write16(src, long)
        seconds = len(long) / SR
        res = {"seconds": seconds}
        for kind, extra in (("plain", []), ("marked", ["--watermark", args.key])):
            times = []
            for _ in range(2):
                r = must([args.codec, "encode", str(src), str(work / "x.tok"), "--threads", "1"] + extra)
                times.append(float(re.search(r"in ([0-9.]+) s\s*$", r.stderr.strip()).group(1)))
            res[f"encode_{kind}_x_realtime"] = seconds / min(times)
        t = time.monotonic()
        r = run([args.codec, "detect", "--key", args.key, str(src)])
        res["detect_audio_x_realtime"] = seconds / (time.monotonic() - t)
        t = time.monotonic()
        run([args.codec, "detect", "--key", args.key, str(work / "x.tok")])
        res["detect_tokens_x_realtime"] = seconds / (time.monotonic() - t)
    return res


def rate_row(name, ds, sent) -> str:
    rates = [sum(d["p"] <= t for d in ds) / len(ds) for t in THRESHOLDS]
    # A clip where nothing was found or read counts half its bits right (chance).
    acc = np.mean([d["bits_right"] / len(m) if d["message"] else 0.5 for d, m in zip(ds, sent) if m] or [float("nan")])
    exact = np.mean([d["message"] == m for d, m in zip(ds, sent)])
    return f"| {name} | " + " | ".join(f"{x:.1%}" for x in rates) + f" | {acc:.1%} | {exact:.1%} |"


def summarize(marked, clean, spd, args, calls) -> str:
    lines = []
    n = len(marked)
    if marked:
        metrics = marked[0]["quality"]["plain"].keys()
        q = {k: {m: float(np.nanmean([r["quality"][k][m] for r in marked])) for m in metrics} for k in ("plain", "marked")}
        lines.append(f"Quality ({n} clips of 5 s, default stages): " + "; ".join(
            f"{m}: plain {q['plain'][m]:.3f}, watermarked {q['marked'][m]:.3f} ({q['marked'][m] - q['plain'][m]:+.3f})"
            for m in metrics))
        lines.append("")
    lines.append("| condition | " + " | ".join(f"detected at p<={t:g}" for t in THRESHOLDS)
                 + f" | bit accuracy ({args.message_bits} bits, all clips) | message exact |")
    lines.append("|---|" + "---|" * (len(THRESHOLDS) + 2))
    sent = [r["message"] for r in marked]
    if marked:
        tokens = [r["tokens"] | {"bits_right": bits_right(r["message"], r["tokens"]["message"])} for r in marked]
        lines.append(rate_row(f"tokens, no decode ({n} clips)", tokens, sent))
        for a in ATTACKS:
            lines.append(rate_row(a, [r["attacks"][a] for r in marked], sent))
    if calls:
        lines.append(rate_row(f"live call, {args.call_loss:g} % loss ({len(calls)} clips)", [c["call"] for c in calls],
                              [c["message"] for c in calls]))
    lines.append("")
    if marked:
        forged = [r["forgery"]["p"] for r in marked]
        lines.append(f"Forgery (watermarked with another key, {n} clips): " + ", ".join(
            f"{sum(p <= t for p in forged)} found at p<={t:g}" for t in THRESHOLDS))
    if clean:
        kinds = list(clean[0]["kinds"])
        allp = [c["kinds"][k]["p"] for c in clean for k in kinds]
        parts = [f"{k}: " + ", ".join(f"{sum(c['kinds'][k]['p'] <= t for c in clean)}/{len(clean)} at p<={t:g}"
                                      for t in THRESHOLDS) for k in kinds]
        lines.append(f"False alarms on {len(allp)} never-watermarked clips: " + ", ".join(
            f"{sum(p <= t for p in allp)} at p<={t:g}" for t in THRESHOLDS) + " (" + "; ".join(parts) + ")")
        lines.append(f"Smallest false-alarm probability among them: {min(allp):.2e}")
    if spd:
        lines.append(
            f"Speed ({spd['seconds']:.0f} s of audio, one thread): encode {spd['encode_plain_x_realtime']:.0f}x realtime plain, "
            f"{spd['encode_marked_x_realtime']:.0f}x with the watermark; detect {spd['detect_audio_x_realtime']:.0f}x realtime "
            f"from audio ({spd['seconds'] / spd['detect_audio_x_realtime']:.1f} s, so about "
            f"{3600 / spd['detect_audio_x_realtime'] / 60:.1f} min an hour), {spd['detect_tokens_x_realtime']:.0f}x from its .tok")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--codec", default=str(DEFAULT_CODEC))
    ap.add_argument("--data", type=Path, default=default_data())
    ap.add_argument("--marked", type=int, default=40, help="watermarked clips a set (-1: none, 0: all)")
    ap.add_argument("--clean", type=int, default=84, help="never-watermarked clips a set, each tested 4 ways (-1: none, 0: all)")
    ap.add_argument("--calls", type=int, default=4, help="live calls a set, in real time, one at a time")
    ap.add_argument("--call-loss", type=float, default=10.0, help="packet loss of the calls, percent")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--speed-seconds", type=float, default=300.0)
    ap.add_argument("--no-dnsmos", action="store_true")
    ap.add_argument("--message-bits", type=int, default=16, choices=range(0, 33), metavar="0-32",
                    help="bits of the random message of each watermarked clip (0: none)")
    ap.add_argument("--tolerance", type=float, help="the embedding's tolerance (default: the codec's)")
    ap.add_argument("--json", type=Path, default=Path("watermark-results.json"))
    args = ap.parse_args()
    tmpkeys = tempfile.TemporaryDirectory()
    for name in ("key", "other_key"):
        path = Path(tmpkeys.name) / f"{name}.key"
        path.write_text(__import__("base64").b64encode(os.urandom(32)).decode() + "\n")
        path.chmod(0o600)
        setattr(args, name, str(path))
    dnsmos = None
    if not args.no_dnsmos and Dnsmos.find() is not None:
        dnsmos = Dnsmos(Dnsmos.find())
    started = time.monotonic()
    marked_in, clean_in, calls_in, speed_in = [], [], [], []
    for s in SETS:
        if not (args.data / f"{s}.jsonl").is_file():
            print(f"note: {s}.jsonl not found; left out", file=sys.stderr)
            continue
        marked_in += clips_of(args.data, s, args.marked) if args.marked >= 0 else []
        clean_in += clips_of(args.data, s, args.clean) if args.clean >= 0 else []
        calls_in += clips_of(args.data, s, args.calls) if args.calls > 0 else []
        speed_in += clips_of(args.data, s, 30)
    with ThreadPoolExecutor(args.jobs) as pool:
        marked = list(pool.map(lambda ic: marked_clip(args, ic[1][0], ic[1][1], ic[0], dnsmos), enumerate(marked_in)))
        clean = list(pool.map(lambda c: clean_clip(args, c[0], c[1]), clean_in))
    # One call at a time: they run in real time and share the machine's cores.
    calls = [call_clip(args, name, clip, i) for i, (name, clip) in enumerate(calls_in)]
    spd = speed(args, speed_in) if args.speed_seconds > 0 else None
    summary = summarize(marked, clean, spd, args, calls)
    args.json.write_text(json.dumps({"marked": marked, "clean": clean, "calls": calls, "speed": spd,
                                     "command": " ".join(["python benches/eval/watermark.py", *sys.argv[1:]]), "minutes": (time.monotonic() - started) / 60}, indent=1))
    print(summary)
    print(f"\n({(time.monotonic() - started) / 60:.1f} min; every figure in {args.json})")


if __name__ == "__main__":
    main()
