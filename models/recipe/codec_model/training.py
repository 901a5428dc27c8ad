"""What train.py and gpu_burst.py share: the training step (so a GPU burst
optimises exactly the CPU recipe's losses), loading a warm start, and the
weights a warm start holds."""

import contextlib
import math

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from . import dsp, pitch
from .codec import CONFIGS
from .modules import Decoder
from .quantizers import start_simvq
from .discriminators import discriminator_loss, generator_losses, random_segments

# Warm-start metadata that is carried from run to run unchanged by train.py.
CARRIED_META = ("gpu_seconds",)


def optimizers(model, disc, lr: float):
    """AdamW for the codec and, with --gan, for the discriminators."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.8, 0.99), weight_decay=0.01)
    opt_d = torch.optim.AdamW(disc.parameters(), lr=lr, betas=(0.8, 0.99), weight_decay=0.01) if disc else None
    return opt, opt_d


def load_discriminators(weights: dict, disc, fresh=()) -> int:
    """The warm start's discriminators, one critic at a time: a critic whose
    tensors all match in name and shape is taken whole; one of another width,
    or of a kind named in `fresh`, starts untrained. -> tensors taken."""
    theirs = {k[len("disc."):]: v.float() for k, v in weights.items() if k.startswith("disc.")}
    taken = 0
    for i, critic in enumerate(disc.discs):
        if critic.kind in fresh:
            continue
        prefix = f"discs.{i}."
        own = critic.state_dict()
        part = {k[len(prefix):]: v for k, v in theirs.items() if k.startswith(prefix)}
        if part.keys() == own.keys() and all(part[k].shape == own[k].shape for k in own):
            critic.load_state_dict(part)
            taken += len(part)
    return taken


def load_warm_start(path, model, disc, fresh_discs=()):
    """Weights, discriminators and the step and hours they had reached.

    -> (metadata, tensors taken, tensors the codec has, discriminator tensors taken)."""
    weights = load_file(str(path))
    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    # The adversarial phase must not start against untrained critics unless
    # asked to (see train.py's --disc-warmup).
    n_disc = load_discriminators(weights, disc, fresh_discs) if disc is not None else 0
    weights = {k: v for k, v in weights.items() if not k.startswith("disc.")}
    own = model.state_dict()
    weights = grow_frames(weights, own, model.frames)
    weights = grow_head(weights, model.decoder, source_phase(meta))
    taken = {k: v.to(own[k].dtype) for k, v in weights.items() if k in own and own[k].shape == v.shape}
    # A compact warm start leaves out the EMA sums: rebuild them from the codebooks and counts.
    for k in list(own):
        if k.endswith("embed_avg") and k not in taken and k[:-4] in taken:
            counts = taken.get(k[: -len("embed_avg")] + "cluster_size", torch.ones(own[k].shape[0]))
            taken[k] = taken[k[:-4]] * counts[:, None]
        if k.endswith("initted") and k[: -len("initted")] + "embed" in taken:
            taken[k] = torch.tensor(True)
    model.load_state_dict(taken, strict=False)
    grow_as_identity(model, taken)
    start_simvq(model.quantizer, taken)
    rest_a_new_phase_head(model, meta)
    return meta, len(taken), len(own), n_disc


def rest_a_new_phase_head(model, meta):
    """An absolute phase read as an advance would spin every bin at random:
    a recursive head grown from an absolute one starts at rest."""
    if model.decoder.phase == "recursive" and source_phase(meta) != "recursive":
        model.decoder.rest_phase_advance()


# The gate's logit where a gated head grown from a two-part one starts:
# sigmoid(3) = 0.95 of the phase the warm start had, enough for the other
# path's rows to get gradients from the first step.
GATE_START = 3.0


def source_phase(meta) -> str:
    return CONFIGS.get(meta.get("config"), {}).get("phase", "absolute")


def grow_head(weights: dict, decoder, phase: str) -> dict:
    """A two-part head (log-magnitude and a phase part a bin) as a gated
    head's parts (`Decoder.LAYOUTS`): the parts both have are copied, the
    others start at zero, and the gate leans to the warm start's phase, so
    the codec starts as the one it was grown from."""
    out = dict(weights)
    source = Decoder.LAYOUTS[phase]
    if "gate" not in decoder.parts or len(source) != 2:
        return out
    bins, frames = dsp.BINS, decoder.frames
    for name in ("decoder.head.weight", "decoder.head.bias"):
        v = weights.get(name)
        if v is None or v.shape[0] != frames * 2 * bins:
            continue
        v = v.float().reshape(frames, 2, bins, *v.shape[1:])
        parts = torch.zeros(frames, decoder.width, *v.shape[3:])
        for i, part in enumerate(source):
            if part in decoder.parts:
                at, _ = decoder.parts[part]
                parts[:, at : at + bins] = v[:, i]
        if name.endswith("bias"):
            at, _ = decoder.parts["gate"]
            parts[:, at : at + bins] = -GATE_START if "phase" in source else GATE_START
        out[name] = parts.reshape(frames * decoder.width, *v.shape[3:])
    return out


def grow_as_identity(model, taken):
    """Zeroes the layer scale of every residual block the warm start lacked, so
    a deeper network grown from a shallower one starts as exactly that one
    (the blocks add nothing until training opens them)."""
    if not taken:
        return
    with torch.no_grad():
        for name, module in model.named_modules():
            gamma = getattr(module, "gamma", None)
            if isinstance(gamma, torch.nn.Parameter) and f"{name}.gamma" not in taken:
                gamma.zero_()


def grow_frames(weights: dict, own: dict, frames: int, phase_sign: float = -1.0) -> dict:
    """A single-frame decoder head's weights as a head of `frames` sub-frames a
    token: the last sub-frame sits where the single frame did and takes its
    weights; each earlier one, `d` samples earlier, takes them too with the
    phase of bin k turned by the shift (2 pi k d / n_fft), so a warm start
    synthesizes about what it did before training opens the new framing."""
    out = dict(weights)
    for name in ("decoder.head.weight", "decoder.head.bias"):
        v, mine = weights.get(name), own.get(name)
        if v is None or mine is None or v.shape[0] != 2 * dsp.BINS or mine.shape[0] != frames * v.shape[0]:
            continue
        parts = []
        for i in range(frames):
            part = v.clone().float()
            shift = (frames - 1 - i) * dsp.HOP // frames
            if name.endswith("bias") and shift:
                k = torch.arange(dsp.BINS, dtype=torch.float32)
                part[dsp.BINS:] += phase_sign * 2 * math.pi * k * shift / dsp.N_FFT
            parts.append(part)
        out[name] = torch.cat(parts).to(v.dtype)
    return out


def load_ema(path, ema) -> int:
    """The moving average a warm start carries (ema.* tensors) into `ema`; -> tensors taken."""
    own = dict(ema.named_parameters())
    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    avg = {k[len("ema."):]: v for k, v in load_file(str(path)).items() if k.startswith("ema.")}
    avg = grow_frames(avg, own, ema.frames)
    avg = grow_head(avg, ema.decoder, source_phase(meta))
    with torch.no_grad():
        for k, v in avg.items():
            if k in own and own[k].shape == v.shape:
                own[k].copy_(v)
    rest_a_new_phase_head(ema, meta)
    return len(avg)


def warmstart_tensors(model, disc, ema) -> dict:
    weights = dict(model.state_dict())
    if disc is not None:
        weights |= {"disc." + k: v for k, v in disc.state_dict().items()}
    if ema is not None:
        weights |= {"ema." + k: v for k, v in ema.named_parameters()}
    return weights


def f0_loss(decoder, x):
    """L1 in octaves between the F0 the decoder named for each sub-frame and
    the input's (YIN), over the voiced sub-frames (0 when none is voiced)."""
    f0 = decoder.last_f0  # [B, J]
    sub = dsp.HOP // decoder.frames
    # Sub-frame j's window is centred on sample (j - 1) * sub (dsp.stft_sub).
    centres = (torch.arange(f0.shape[1], device=x.device) - 1).clamp(min=0) * sub
    target, voiced = pitch.track(x, centres)
    err = (torch.log2(f0) - torch.log2(target.clamp(min=1.0))).abs()
    return (err * voiced).sum() / voiced.sum().clamp(min=1)


def critic_autocast(x: torch.Tensor, bf16: bool):
    return torch.autocast(x.device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def update_discriminators(disc, opt_d, real, fake, amp):
    """One step of the critics; -> (their loss, their outputs on the real segment)."""
    with amp:
        real_outs = disc(real)
        d_loss = discriminator_loss(real_outs, disc(fake.detach()))
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    torch.nn.utils.clip_grad_norm_(disc.parameters(), 1.0)
    opt_d.step()
    return d_loss, real_outs


def disc_only_step(model, disc, opt_d, x, args, bf16_disc: bool = False) -> torch.Tensor:
    """A step that trains the critics alone, the codec held: fresh critics
    first learn what the warm start's decodes get wrong, so their first
    gradients to the codec are not noise. -> the critics' loss."""
    # In eval mode, so that the codebooks' moving averages hold too; the
    # stage count varies by batch as quantizer dropout varies it by item.
    q = model.quantizer
    stages = q.favoured_stages or q.n_stages
    if torch.rand(()) < 0.5:
        stages = int(torch.randint(q.min_stages, q.n_stages + 1, ()))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        y, _, _ = model(x, n_stages=stages)
    model.train(was_training)
    real, fake = random_segments(x[:, : y.shape[1]], y, int(args.gan_seconds * 16000))
    return update_discriminators(disc, opt_d, real, fake, critic_autocast(x, bf16_disc))[0]


def train_step(model, disc, opt, opt_d, loss_fn, x, args, bf16_disc: bool = False) -> dict:
    """One update of the codec (and of the discriminators with --gan); -> the
    step's figures as tensors, so that a GPU caller need not wait for them.

    bf16_disc runs the discriminators under bfloat16 autocast (their outputs
    only feed losses); the codec stays in float32, since its head's
    log-magnitude and phase would lose 3 % to bfloat16's 8-bit mantissa."""
    y, _, commit = model(x, dropout=True)
    target = x[:, : y.shape[1]]
    mel = loss_fn.mel(y, target)
    cplx = loss_fn.complex(y, target) if args.w_complex > 0 else torch.zeros((), device=x.device)
    loss = args.w_mel * mel + args.w_complex * cplx + args.w_commit * commit
    extra = {}
    if model.decoder.last_f0 is not None:
        extra["f0"] = f0_loss(model.decoder, x)
        loss = loss + getattr(args, "w_f0", 0.0) * extra["f0"]
    w_linear = getattr(args, "w_linear", 0.0)
    if w_linear > 0:
        extra["linear"] = loss_fn.linear(y, target)
        loss = loss + w_linear * extra["linear"]
    if disc is not None:
        amp = critic_autocast(x, bf16_disc)
        real, fake = random_segments(target, y, int(args.gan_seconds * 16000))
        d_loss, real_outs = update_discriminators(disc, opt_d, real, fake, amp)
        # The real segment's features are targets only: reuse them.
        targets = [(r.detach(), [f.detach() for f in feats]) for r, feats in real_outs]
        with amp:
            adv, fm = generator_losses(targets, disc(fake))
        loss = loss + args.w_adv * adv + args.w_fm * fm
        extra |= {"disc": d_loss, "adv": adv, "fm": fm}
    opt.zero_grad(set_to_none=True)
    loss.backward()
    grad = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return {"loss": loss, "mel": mel, "complex": cplx, "commit": commit, "grad": grad, **extra}
