"""Train a codec: resumable, checkpointing, logging losses and dev figures.

  python train.py --quantizer mcrvq --name mcrvq
  python train.py --quantizer grvq --name grvq --init-from ../warmstart/mcrvq.safetensors

A run lives in RUNS/NAME (RUNS = $CODEC_RUNS or ~/.cache/codec-runs): ckpt.pt
(everything, to resume), warmstart.safetensors (weights only, to commit), and
log.jsonl. Running the same command again resumes where it stopped.
"""

import argparse
import copy
import json
import math
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from codec_model import dsp
from codec_model.codec import CONFIGS, Codec
from codec_model.data import CropSampler, load_files
from codec_model.discriminators import CQT_SCALES, PERIOD_CHANNELS, Discriminators
from codec_model.losses import ReconstructionLoss
from codec_model.metrics import codebook_stats, pesq_wb, stoi
from codec_model.quantizers import sync_codebooks
from codec_model.training import (CARRIED_META, disc_only_step, load_ema, load_warm_start, optimizers, train_step,
                                  warmstart_tensors)
from prepare_data import DEV_SETS, default_out


# Sets that measure the codec and are never trained on.
HELD_OUT = {"valid", *DEV_SETS}

# Far above the slowest step seen (about 20 s on two shared cores).
MAX_STEP_SECONDS = 120.0

def default_runs() -> Path:
    env = os.environ.get("CODEC_RUNS")
    return Path(env) if env else Path.home() / ".cache" / "codec-runs"


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", required=True, help="run name (folder under the runs folder)")
    ap.add_argument("--quantizer", choices=["mcrvq", "grvq"], required=True)
    ap.add_argument("--config", default="small", choices=sorted(CONFIGS),
                    help="network size (codec_model/codec.py); deep grown from a small warm start starts as it")
    ap.add_argument("--data", type=Path, default=default_out())
    ap.add_argument("--runs", type=Path, default=default_runs())
    ap.add_argument("--init-from", type=Path, help="warm-start weights (safetensors); ignored when resuming")
    ap.add_argument("--init-step", type=int, help="step and hours to count from, for a warm start that does not record them")
    ap.add_argument("--init-hours", type=float)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--lr", type=float, default=8e-4)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--decay-from", type=int, help="step at which the learning rate starts a cosine decay")
    ap.add_argument("--decay-to", type=int, help="step at which the decay reaches --lr-final (held after)")
    ap.add_argument("--lr-final", type=float, default=8e-5)
    ap.add_argument("--w-mel", type=float, default=1.0)
    ap.add_argument("--w-complex", type=float, default=1.0)
    ap.add_argument("--w-commit", type=float, default=0.25)
    ap.add_argument("--w-linear", type=float, default=0.0,
                    help="weight of a log-magnitude L1 on linear frequencies (1024 and 2048 points), which sees "
                         "the harmonics that mel bands above about 1 kHz merge (0: off)")
    ap.add_argument("--w-f0", type=float, default=0.5,
                    help="weight of the F0 loss (octaves, L1) of a decoder that names its F0 (--config framed-hp)")
    ap.add_argument("--gan", action="store_true", help="adversarial training with MPD and MRD discriminators")
    ap.add_argument("--w-adv", type=float, default=1.0 / 45, help="Vocos weights: mel 45, adversarial 1, features 2")
    ap.add_argument("--w-fm", type=float, default=2.0 / 45)
    ap.add_argument("--gan-seconds", type=float, default=0.5, help="segment the discriminators see")
    ap.add_argument("--period-channels", default=",".join(map(str, PERIOD_CHANNELS)),
                    help="with --gan, the widths of each period discriminator's layers (HiFi-GAN: 32,128,512,1024); "
                         "a warm start's critics of another width are not taken, and start untrained")
    ap.add_argument("--fresh-period-discs", action="store_true",
                    help="with --gan, start the period discriminators untrained even where the warm start has them")
    ap.add_argument("--cqt-discs", action="store_true",
                    help="with --gan, add three sub-band constant-Q critics (MS-SB-CQT), whose bins resolve a low "
                         "voice's harmonics up to a few kHz; a warm start without them starts them untrained "
                         "(pair with --disc-warmup)")
    ap.add_argument("--disc-warmup", type=int, default=0,
                    help="with --gan and a warm start, first train the discriminators alone for this many steps "
                         "(the codec held; not counted as steps, but counted in the hours)")
    ap.add_argument("--disc-every", type=int, default=1,
                    help="with --gan, run the discriminators (their update and the adversarial and feature "
                         "losses) on every K-th step only; the steps between train on the reconstruction losses, "
                         "at about half the cost")
    ap.add_argument("--favour-stages", type=int,
                    help="mcrvq: the stage count half the items keep under quantizer dropout (default: all; "
                         "the rest keep a uniform count), to train the rate that ships most")
    ap.add_argument("--augment", action="store_true",
                    help="change each crop as another voice or microphone would: pitch and tempo by resampling "
                         "(leaning low), a tilt and a peaking band, a band limit, a noise floor (codec_model/augment.py)")
    ap.add_argument("--bf16", action="store_true",
                    help="run the encoder and decoder trunks under bfloat16 autocast (STFT, head, losses and "
                         "evaluation stay in float32); the discriminators too with --gan")
    ap.add_argument("--ema", type=float, default=0.999,
                    help="decay of a moving average of the codec's weights, evaluated beside them and exportable (0: none)")
    ap.add_argument("--add-split", action="append", default=[], metavar="NAME",
                    help="train on NAME.jsonl of --data too (repeatable), such as tierb from "
                         "`prepare_data.py --only tierb`; never a held-out set")
    ap.add_argument("--max-steps", type=int, default=10**9)
    ap.add_argument("--max-minutes", type=float, default=1e9, help="stop (with a checkpoint) after this long")
    ap.add_argument("--ckpt-minutes", type=float, default=5.0)
    ap.add_argument("--eval-every", type=int, default=1000)
    ap.add_argument("--eval-files", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if (args.decay_from is None) != (args.decay_to is None):
        ap.error("--decay-from and --decay-to go together")
    if args.decay_from is not None and args.decay_to <= args.decay_from:
        ap.error("--decay-to must come after --decay-from")
    if args.disc_every < 1:
        ap.error("--disc-every must be at least 1")
    try:
        args.period_channels = tuple(int(c) for c in args.period_channels.split(","))
    except ValueError:
        ap.error("--period-channels takes widths separated by commas, such as 32,64,128,256")
    if not args.period_channels or not all(1 <= c <= 2048 for c in args.period_channels):
        ap.error("--period-channels: each width from 1 to 2048")
    if args.cqt_discs and not args.gan:
        ap.error("--cqt-discs adds critics: it needs --gan")
    if args.disc_warmup < 0:
        ap.error("--disc-warmup cannot be negative")
    if args.favour_stages is not None and (args.quantizer != "mcrvq" or not 3 <= args.favour_stages <= 8):
        ap.error("--favour-stages is for mcrvq, from its fewest trained stages (3) to all (8)")
    for name in args.add_split:
        if name in HELD_OUT or name == "train":
            ap.error(f"--add-split {name}: {'a held-out set' if name in HELD_OUT else 'already trained on'}")
        if not (args.data / f"{name}.jsonl").is_file():
            ap.error(f"--add-split {name}: no {name}.jsonl in {args.data} (tierb: python prepare_data.py --only tierb)")
    return args


def warm_up_discriminators(args, model, disc, opt_d, sampler, stop, emit) -> float:
    """--disc-warmup: the critics alone, at the run's peak rate; -> seconds spent."""
    for g in opt_d.param_groups:
        g["lr"] = args.lr
    began = window = time.time()
    total = 0.0
    for i in range(1, args.disc_warmup + 1):
        if stop["now"]:
            break
        loss = disc_only_step(model, disc, opt_d, torch.from_numpy(sampler.batch(args.batch)), args, bf16_disc=args.bf16)
        total += float(loss.detach())
        if i % 50 == 0 or i == args.disc_warmup:
            emit({"event": "disc-warmup", "done": i, "of": args.disc_warmup, "disc": round(total / (i % 50 or 50), 4),
                  "seconds": round(time.time() - window, 1)})
            total, window = 0.0, time.time()
    return min(time.time() - began, MAX_STEP_SECONDS * args.disc_warmup)


def learning_rate(args, step: int, first_step: int) -> float:
    """Linear warm-up of a fresh optimiser, then constant, then an optional
    cosine decay over absolute steps, so resuming mid-decay lands where it left."""
    lr = args.lr * min(1.0, (step - first_step + 1) / args.warmup)
    if args.decay_from is None or step < args.decay_from:
        return lr
    span = max(1, args.decay_to - args.decay_from)
    t = min(1.0, (step - args.decay_from) / span)
    return min(lr, args.lr_final + (args.lr - args.lr_final) * 0.5 * (1 + math.cos(math.pi * t)))


def save_atomic(obj, path: Path, weights_only: bool = False, metadata=None):
    tmp = path.with_suffix(path.suffix + ".tmp")
    if weights_only:
        save_file({k: v.contiguous() for k, v in obj.items()}, str(tmp), metadata=metadata)
    else:
        torch.save(obj, tmp)
    os.replace(tmp, path)


def speaker_encoder(threads: int):
    """benches/eval's speaker encoder (resemblyzer), when it is installed, so
    that the dev curve shows who the decoded speech sounds like (the figure
    that followed recognition best, benches/eval/README.md); else None."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benches" / "eval"))
    import machines

    if machines.missing(speaker=True, recognition=False):
        return None
    encoder = machines.SpeakerEncoder()
    torch.set_num_threads(threads)  # the encoder sets one thread for itself
    return encoder


@torch.no_grad()
def evaluate(model: Codec, dev, stage_counts, speaker=None, references=None):
    """PESQ-WB, STOI and codebook use of each stage count on the dev files;
    with a speaker encoder and the files' own embeddings (`references`), the
    mean speaker similarity of decoded and input too."""
    model.eval()
    result = {}
    for n in stage_counts:
        scores, all_codes, sims = [], [], []
        for i, (_, audio) in enumerate(dev):
            x = torch.from_numpy(audio)[None]
            y = model.roundtrip(x, n_stages=n)[0].numpy()
            scores.append((pesq_wb(audio, y), stoi(audio, y)))
            if speaker is not None and references[i] is not None:
                from machines import cosine  # on the path once speaker_encoder made `speaker`

                emb = speaker(y)
                if emb is not None:
                    sims.append(cosine(emb, references[i]))
            _, codes, _ = model(dsp.pad_for_codec(x), n_stages=n)
            all_codes.append(codes[0].numpy())
        s = np.array(scores)
        codes = np.concatenate(all_codes, axis=1)
        stats = codebook_stats(codes, model.quantizer.size)
        result[str(n)] = {
            "pesq": float(np.nanmean(s[:, 0])),
            "stoi": float(np.nanmean(s[:, 1])),
            "used": [round(u, 3) for u, _ in stats],
            "perplexity": [round(p, 1) for _, p in stats],
        }
        if sims:
            result[str(n)]["speaker_sim"] = round(float(np.mean(sims)), 4)
    model.train()
    return result


def main() -> int:
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    run = args.runs / args.name
    run.mkdir(parents=True, exist_ok=True)
    log = open(run / "log.jsonl", "a")

    def emit(record):
        record["time"] = round(time.time(), 1)
        log.write(json.dumps(record) + "\n")
        log.flush()
        print(json.dumps(record), flush=True)

    model = Codec(args.quantizer, args.config)
    model.quantizer.favoured_stages = args.favour_stages
    model.encoder.trunk_bf16 = model.decoder.trunk_bf16 = args.bf16
    loss_fn = ReconstructionLoss()
    disc = Discriminators(period_channels=args.period_channels,
                          cqt_scales=CQT_SCALES if args.cqt_discs else ()) if args.gan else None
    opt, opt_d = optimizers(model, disc, args.lr)
    step, trained_seconds, resumed, carried = 0, 0.0, False, {}
    ckpt_path = run / "ckpt.pt"
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, weights_only=False)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["opt"])
        if disc is not None and "disc" in ckpt:
            disc.load_state_dict(ckpt["disc"])
            opt_d.load_state_dict(ckpt["opt_d"])
        step, trained_seconds = ckpt["step"], ckpt["trained_seconds"]
        carried = ckpt.get("carried", {})
        torch.set_rng_state(ckpt["torch_rng"])
        resumed = True
        emit({"event": "resume", "step": step})
    elif args.init_from:
        # A warm start carries the step and hours it had reached, so a run's
        # count goes on across machines.
        fresh = ("period",) if args.fresh_period_discs else ()
        meta, taken, own, n_disc = load_warm_start(args.init_from, model, disc, fresh)
        step = args.init_step if args.init_step is not None else int(meta.get("step", 0))
        trained_seconds = 3600 * args.init_hours if args.init_hours is not None else float(meta.get("trained_seconds", 0))
        carried = {k: meta[k] for k in CARRIED_META if k in meta}
        if disc is not None:
            emit({"event": "init-disc", "tensors": n_disc})
        emit({"event": "init", "from": args.init_from.name, "tensors": taken, "of": own, "step": step})

    # The moving average starts from the weights just loaded unless the
    # checkpoint or warm start carries its own.
    ema = copy.deepcopy(model) if args.ema > 0 else None
    if ema is not None:
        if resumed and "ema" in ckpt:
            ema.load_state_dict(ckpt["ema"])
        elif not resumed and args.init_from:
            emit({"event": "init-ema", "tensors": load_ema(args.init_from, ema)})
        ema.requires_grad_(False)
        ema_params, live_params = list(ema.parameters()), list(model.parameters())

    def sync_ema_buffers():
        # Codebooks are buffers that follow their own EMA: the averaged model
        # uses the live ones.
        for b, live in zip(ema.buffers(), model.buffers()):
            b.copy_(live)

    params = sum(p.numel() for p in model.parameters())
    sampler = CropSampler(args.data, ["train", *args.add_split], int(args.seconds * 16000) // dsp.HOP * dsp.HOP, args.seed + step,
                          augment=args.augment)
    # Both dev sets: asterisk Russian shares the training data's channel, the
    # full-band held-out voice (dev2) does not; the gap between them is watched.
    devs = {"dev": load_files(args.data, "dev", args.eval_files)}
    if (args.data / "dev2.jsonl").is_file():  # absent from data prepared before it existed
        devs["dev2"] = load_files(args.data, "dev2", args.eval_files)
    speaker = speaker_encoder(args.threads)
    references = {name: [speaker(audio) for _, audio in files] if speaker else None for name, files in devs.items()}
    emit({"event": "start", "params": params, "train_hours": round(sampler.hours, 2), "args": vars(args) | {"data": str(args.data), "runs": str(args.runs), "init_from": str(args.init_from)}})
    q = model.quantizer
    stage_counts = sorted({q.min_stages, min(4, q.n_stages), q.n_stages}) if q.kind == "mcrvq" else [q.n_stages]

    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))

    def checkpoint():
        sync_codebooks(model.quantizer)
        state = {"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                 "trained_seconds": trained_seconds, "torch_rng": torch.get_rng_state(),
                 "quantizer": args.quantizer, "config": args.config, "carried": carried}
        if disc is not None:
            state["disc"], state["opt_d"] = disc.state_dict(), opt_d.state_dict()
        if ema is not None:
            sync_ema_buffers()
            state["ema"] = ema.state_dict()
        save_atomic(state, ckpt_path)
        meta = {"step": str(step), "trained_seconds": str(round(trained_seconds, 1)),
                "quantizer": args.quantizer, "config": args.config} | carried
        save_atomic(warmstart_tensors(model, disc, ema), run / "warmstart.safetensors", weights_only=True, metadata=meta)
        emit({"event": "checkpoint", "step": step, "hours": round(trained_seconds / 3600, 3)})

    # Warm up only a fresh optimiser (a new run or a warm start); a resumed one keeps its moments.
    first_step = 0 if resumed else step
    started = time.time()
    last_ckpt = tick = window = time.time()
    sums, counts, count = {}, {}, 0
    model.train()
    if disc is not None and not resumed and args.init_from and args.disc_warmup:
        trained_seconds += warm_up_discriminators(args, model, disc, opt_d, sampler, stop, emit)
        tick = time.time()
    while step < args.max_steps and not stop["now"]:
        if (time.time() - started) / 60 > args.max_minutes:
            break
        lr = learning_rate(args, step, first_step)
        for o in (opt, opt_d):
            for g in (o.param_groups if o else []):
                g["lr"] = lr
        step_disc = disc if step % args.disc_every == 0 else None
        figures = train_step(model, step_disc, opt, opt_d, loss_fn, torch.from_numpy(sampler.batch(args.batch)), args,
                             bf16_disc=args.bf16)
        if ema is not None:
            with torch.no_grad():
                torch._foreach_lerp_(ema_params, live_params, 1.0 - args.ema)
        step += 1
        now = time.time()
        # A step's time counts up to a limit: a run stopped for a while (SIGSTOP,
        # a suspended machine) was not training.
        trained_seconds += min(now - tick, MAX_STEP_SECONDS)
        tick = now
        # Averaged over the steps that had them: with --disc-every not all do.
        for k, v in figures.items():
            sums[k] = sums.get(k, 0.0) + float(v.detach())
            counts[k] = counts.get(k, 0) + 1
        count += 1
        if step % 50 == 0:
            emit({"step": step, "lr": lr, **{k: round(v / counts[k], 4) for k, v in sums.items()},
                  "steps_per_s": round(count / (now - window), 2)})
            window = now
            sums, counts, count = {}, {}, 0
        if step % args.eval_every == 0:
            record = {"event": "eval", "step": step}
            if ema is not None:
                sync_ema_buffers()
            for name, files in devs.items():
                record[name] = evaluate(model, files, stage_counts, speaker, references[name])
                if ema is not None:
                    record[name + "_ema"] = evaluate(ema, files, stage_counts, speaker, references[name])
            emit(record)
        if (time.time() - last_ckpt) / 60 > args.ckpt_minutes:
            checkpoint()
            last_ckpt = time.time()
    checkpoint()
    emit({"event": "stop", "step": step})
    return 0


if __name__ == "__main__":
    sys.exit(main())
