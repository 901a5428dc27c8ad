"""Train on a borrowed GPU machine for a few minutes (issue 19): run through
gpu_burst.sh, which installs the pack's wheels first. The README's "GPU
burst" section gives the command to paste.

  bash models/recipe/gpu_burst.sh --out $OUT [--minutes 7] [train.py flags]
  bash models/recipe/gpu_burst.sh --out /tmp/burst --smoke      # the same path on a CPU, under 2 minutes

From the pack (pack_data.py): the whole training speech decoded once into
GPU memory, random crops drawn there; the warm start; the dev files. The
same step as train.py --gan (codec_model/training.py), from the warm start's
step, for --minutes of training. Any train.py flag after ours goes to the
training arguments (--lr, --decay-from, --decay-to, --batch, ...), so the
burst continues a CPU run's schedule.

Writes into --out, each file well under 16 MiB:
- warmstart.safetensors: codec and discriminators, as compact_warmstart.py
  writes them (train.py --init-from and export.py take it as it is);
- ema.safetensors: the moving average (ema.* tensors), apart so that both fit;
- dev-start-live.npz, dev-end-live.npz, dev-end-ema.npz: the dev files
  decoded at 3, 4 and 8 stages (int16) by the weights at the start, and by
  the weights and their average at the end;
- figures.json: steps, throughput, codebook use, and PESQ-WB/STOI when pesq
  and pystoi import (they do not on the GPU machine: burst_eval.py scores the
  decodes afterwards on a CPU);
- log.jsonl: losses every 50 steps, as train.py logs them.
"""

import argparse
import copy
import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from codec_model import dsp
from codec_model.codec import Codec
from codec_model.discriminators import Discriminators
from codec_model.losses import ReconstructionLoss
from codec_model.metrics import codebook_stats
from codec_model.pack import load_pack
from codec_model.training import load_ema, load_warm_start, optimizers, train_step, warmstart_tensors
from export import compact_weights
from train import learning_rate, parse_args as train_args

HERE = Path(__file__).resolve().parent
# Saving and the final dev decodes take well under this on the GPU machine.
RESERVE_SECONDS = 60.0
DECODE_SETS = ("start-live", "end-live", "end-ema")
# What the device tool brings back: files of at most 16 MiB.
MAX_RESULT_BYTES = 16 * 2**20


def parse():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="folder for the results (created; $OUT on the GPU machine)")
    ap.add_argument("--pack", type=Path, default=HERE / "pack")
    ap.add_argument("--minutes", type=float, default=7.0, help="training time (the clock starts after loading)")
    ap.add_argument("--limit-minutes", type=float, default=9.5,
                    help="the whole command's limit: training stops early enough to save and evaluate within it")
    ap.add_argument("--batch", type=int, default=64, help="crops per step (train.py's default is 16, for a CPU)")
    ap.add_argument("--no-bf16", action="store_true", help="discriminators in float32 too")
    ap.add_argument("--compile", action="store_true",
                    help="torch.compile the codec and discriminators for the training steps (not measured on a GPU yet)")
    ap.add_argument("--smoke", action="store_true", help="on this CPU: a few steps, 4 dev files, same code path")
    ap.add_argument("--log-every", type=int, default=50)
    ours, rest = ap.parse_known_args()
    if ours.smoke:
        ours.minutes, ours.batch = min(ours.minutes, 0.25), min(ours.batch, 2)
        rest = ["--seconds", "1.0", *rest]
    try:
        with safe_open(str(ours.pack / "init.safetensors"), "pt") as f:
            meta = f.metadata() or {}
    except (OSError, SafetensorError) as e:
        sys.exit(f"gpu_burst.py: no warm start in the pack ({e}): run pack_data.py first")
    # Older warm starts lack the quantizer in their metadata; pack_data.py adds their name.
    quantizer = meta.get("quantizer") or meta.get("name")
    if quantizer not in ("mcrvq", "grvq"):
        sys.exit(f"gpu_burst.py: the pack's warm start names no known quantizer ({quantizer!r})")
    train = train_args(["--name", "burst", "--quantizer", quantizer, "--gan", "--batch", str(ours.batch), *rest])
    return ours, train


def write_file(path: Path, write):
    """Through a temporary file; never over something that is not a regular file."""
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise SystemExit(f"gpu_burst.py: {path} exists and is not a regular file: not replaced")
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def save_npz(path: Path, arrays: dict):
    with open(path, "wb") as f:  # a file object: numpy would add ".npz" to a name
        np.savez_compressed(f, **arrays)


class Crops:
    """CropSampler's crops and levels, drawn on the device from the decoded pack."""

    def __init__(self, audio: np.ndarray, crop: int, device, seed: int):
        self.audio = torch.from_numpy(audio).to(device)
        self.crop, self.device = crop, device
        self.offsets = torch.arange(crop, device=device)
        self.gen = torch.Generator(device=device)
        self.gen.manual_seed(seed)

    def batch(self, size: int) -> torch.Tensor:
        starts = torch.randint(0, len(self.audio) - self.crop, (size, 1), device=self.device, generator=self.gen)
        x = self.audio[starts + self.offsets].float() / 32768.0
        # As CropSampler.batch: peaks between -18 and -0.5 dBFS, quiet crops boosted at most 20 dB.
        peak = x.abs().amax(dim=1, keepdim=True) + 1e-6
        level = torch.empty((size, 1), device=self.device).uniform_(-18.0, -0.5, generator=self.gen)
        return x * torch.clamp(10 ** (level / 20) / peak, max=10.0)


def stage_counts(model) -> list:
    q = model.quantizer
    return sorted({q.min_stages, min(4, q.n_stages), q.n_stages}) if q.kind == "mcrvq" else [q.n_stages]


@torch.no_grad()
def decode_dev(model, dev, device, tag: str, decodes: dict) -> dict:
    """Decodes (int16, into `decodes`) and codebook use at each stage count, as train.py's evaluate."""
    model.eval()
    result = {}
    for n in stage_counts(model):
        all_codes = []
        for uid, audio in dev:
            x = torch.from_numpy(audio)[None].to(device)
            y = model.roundtrip(x, n_stages=n)[0].float().cpu().numpy()
            decodes[f"{tag}.{n}.{uid}"] = np.clip(np.round(y * 32768.0), -32768, 32767).astype(np.int16)
            _, codes, _ = model(dsp.pad_for_codec(x), n_stages=n)
            all_codes.append(codes[0].cpu().numpy())
        stats = codebook_stats(np.concatenate(all_codes, axis=1), model.quantizer.size)
        result[str(n)] = {"used": [round(u, 3) for u, _ in stats], "perplexity": [round(p, 1) for _, p in stats]}
    model.train()
    return result


def score(figures: dict, decodes: dict, dev) -> bool:
    """PESQ-WB and STOI of every decoded set into figures[phase][which][n]; False when pesq/pystoi are missing."""
    try:
        from codec_model.metrics import pesq_wb, stoi
        import pesq  # noqa: F401
        import pystoi  # noqa: F401
    except ImportError:
        return False
    refs = dict(dev)
    sets = {}
    for key, pcm in decodes.items():
        tag, n, uid = key.rsplit(".", 2)
        y = pcm.astype(np.float32) / 32768.0
        sets.setdefault((tag, n), []).append((pesq_wb(refs[uid], y), stoi(refs[uid], y)))
    for (tag, n), s in sets.items():
        phase, which = tag.split("-")
        s = np.array(s)
        figures[phase][which][n] |= {"pesq": round(float(np.nanmean(s[:, 0])), 4), "stoi": round(float(np.nanmean(s[:, 1])), 4)}
    return True


def main() -> int:
    began = time.time()
    ours, args = parse()
    out: Path = ours.out
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        sys.exit(f"gpu_burst.py: {out} is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device("cuda" if torch.cuda.is_available() and not ours.smoke else "cpu")
    torch.manual_seed(args.seed)
    if device.type == "cuda":
        # The codec stays in float32 storage; TF32 only rounds the inputs of its matrix products.
        torch.set_float32_matmul_precision("high")
    else:
        torch.set_num_threads(min(2, os.cpu_count() or 1))
    log = open(out / "log.jsonl", "a")

    def emit(record):
        record["time"] = round(time.time(), 1)
        log.write(json.dumps(record) + "\n")
        log.flush()
        print(json.dumps(record), flush=True)

    audio, dev, index, differ = load_pack(ours.pack, threads=os.cpu_count() or 2)
    if ours.smoke:
        dev = dev[:4]
    if differ:
        emit({"event": "warning", "chunks_decoding_differently": differ})
    model = Codec(args.quantizer, args.config)
    disc = Discriminators()
    meta, taken, own, n_disc = load_warm_start(ours.pack / "init.safetensors", model, disc)
    step = int(meta.get("step", 0))
    model.to(device)
    disc.to(device)
    loss_fn = ReconstructionLoss().to(device)
    opt, opt_d = optimizers(model, disc, args.lr)
    ema = copy.deepcopy(model)
    n_ema = load_ema(ours.pack / "init.safetensors", ema)
    ema.requires_grad_(False)
    ema_params, live_params = list(ema.parameters()), list(model.parameters())
    crops = Crops(audio, int(args.seconds * 16000) // dsp.HOP * dsp.HOP, device, args.seed + step)
    emit({"event": "start", "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
          "torch": torch.__version__, "step": step, "tensors": taken, "of": own, "disc_tensors": n_disc,
          "ema_tensors": n_ema, "train_hours": round(len(audio) / 16000 / 3600, 3), "dev_files": len(dev),
          "load_seconds": round(time.time() - began, 1), "bf16_disc": not ours.no_bf16, "compile": ours.compile,
          "args": vars(args) | {"data": None, "runs": None, "init_from": str(ours.pack / "init.safetensors")}})

    decodes = {}
    figures = {"start": {"live": decode_dev(model, dev, device, "start-live", decodes)}}
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))

    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # training shapes never change
    first_step, steps, sums, counts = step, 0, {}, {}
    started = window = time.time()
    deadline = min(started + 60 * ours.minutes, began + 60 * ours.limit_minutes - RESERVE_SECONDS)
    # Compiled wrappers share the modules' parameters; evaluation and saving use the modules.
    step_model, step_disc = (torch.compile(model), torch.compile(disc)) if ours.compile else (model, disc)
    model.train()
    while not stop["now"] and time.time() < deadline and step < args.max_steps:
        lr = learning_rate(args, step, first_step)
        for o in (opt, opt_d):
            for g in o.param_groups:
                g["lr"] = lr
        # --disc-every as on the CPU, so that a burst continues the recipe it was given.
        burst_disc = step_disc if step % args.disc_every == 0 else None
        figs = train_step(step_model, burst_disc, opt, opt_d, loss_fn, crops.batch(args.batch), args, bf16_disc=not ours.no_bf16)
        with torch.no_grad():
            torch._foreach_lerp_(ema_params, live_params, 1.0 - args.ema)
            for k, v in figs.items():
                sums[k] = sums[k] + v.detach() if k in sums else v.detach().clone()
                counts[k] = counts.get(k, 0) + 1
        step += 1
        steps += 1
        if steps % ours.log_every == 0:
            now = time.time()
            emit({"step": step, "lr": lr, **{k: round(float(v) / counts[k], 4) for k, v in sums.items()},
                  "steps_per_s": round(ours.log_every / (now - window), 2)})
            window, sums, counts = now, {}, {}
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.backends.cudnn.benchmark = False
    seconds = time.time() - started
    gpu_seconds = float(meta.get("gpu_seconds", 0)) + (seconds if device.type == "cuda" else 0.0)

    # The weights first: if the command is cut short after this, they come back.
    for b, live in zip(ema.buffers(), model.buffers()):
        b.copy_(live)
    tensors = {k: v.detach().cpu() for k, v in warmstart_tensors(model, disc, ema).items()}
    average = {k: v.half().contiguous() for k, v in tensors.items() if k.startswith("ema.")}
    disc_t = {k: v.half().contiguous() for k, v in tensors.items() if k.startswith("disc.")}
    codec = {k: v for k, v in tensors.items() if k not in average and k not in disc_t}
    new_meta = {k: str(v) for k, v in meta.items()} | {
        "step": str(step), "gpu_seconds": str(round(gpu_seconds, 1)), "quantizer": args.quantizer, "config": args.config}
    write_file(out / "warmstart.safetensors", lambda p: save_file(compact_weights(codec) | disc_t, str(p), metadata=new_meta))
    write_file(out / "ema.safetensors", lambda p: save_file(average, str(p), metadata=new_meta))
    emit({"event": "saved", "step": step, "steps": steps, "train_seconds": round(seconds, 1)})

    figures["end"] = {"live": decode_dev(model, dev, device, "end-live", decodes),
                      "ema": decode_dev(ema, dev, device, "end-ema", decodes)}
    # One file per set of weights: 16 dev files of up to 20 s at three stage counts stay under 16 MiB.
    for tag in DECODE_SETS:
        part = {k: v for k, v in decodes.items() if k.startswith(tag + ".")}
        write_file(out / f"dev-{tag}.npz", lambda p, part=part: save_npz(p, part))
    scored = score(figures, decodes, dev)
    summary = {"from_step": first_step, "to_step": step, "steps": steps, "batch": args.batch,
               "crop_seconds": args.seconds, "train_seconds": round(seconds, 1),
               "steps_per_s": round(steps / max(seconds, 1e-9), 2),
               "audio_seconds_per_s": round(steps * args.batch * args.seconds / max(seconds, 1e-9), 1),
               "gpu_seconds_total": round(gpu_seconds, 1), "device": str(device),
               "dev_files": [uid for uid, _ in dev], "scored": scored,
               "wall_seconds": round(time.time() - began, 1), **figures}
    write_file(out / "figures.json", lambda p: p.write_text(json.dumps(summary, indent=1) + "\n"))
    too_big = [p.name for p in out.iterdir() if p.stat().st_size >= MAX_RESULT_BYTES]
    if too_big:
        emit({"event": "warning", "over_16_mib": too_big})
    emit({"event": "done", **{k: summary[k] for k in ("steps", "steps_per_s", "audio_seconds_per_s", "wall_seconds", "scored")}})
    if scored:
        for phase, sets in figures.items():
            for which, per_n in sets.items():
                print(f"{phase:5s} {which:4s} " + "  ".join(
                    f"{n} stages: PESQ {f['pesq']:.3f} STOI {f['stoi']:.3f}" for n, f in per_n.items()))
    else:
        print("pesq/pystoi are not here: score the decodes on a CPU with models/recipe/burst_eval.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
