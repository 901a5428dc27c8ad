"""Export a trained codec as a model package, check it, and write golden vectors.

  python export.py --weights RUNS/mcrvq/warmstart.safetensors --quantizer mcrvq --name mcrvq

writes models/NAME/ (manifest.json, encoder.onnx, decoder.onnx,
codebooks.safetensors) and testdata/golden/NAME.safetensors, then checks that
ONNX Runtime equals PyTorch and that frame-by-frame equals whole-file, each to
the tolerance printed. The package's manifest is the runtime's only source of
facts about the model.
"""

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import soundfile as sf
import torch
from safetensors import safe_open
from safetensors.numpy import save_file as save_np
from safetensors.torch import load_file, save_file as save_torch

from codec_model import dsp
from codec_model.codec import CONFIGS, Codec

REPO = Path(__file__).resolve().parents[2]
FORMAT_VERSION = 1
# ONNX Runtime and PyTorch agree to this on whole files (float32, different kernels).
ORT_TOLERANCE = 1e-3
STREAM_TOLERANCE = 1e-3
GOLDEN_SAMPLE = "testdata/sample.wav"


class EncoderGraph(torch.nn.Module):
    def __init__(self, codec):
        super().__init__()
        self.encoder = codec.encoder

    def forward(self, spec, state):
        return self.encoder(spec, state)


class DecoderGraph(torch.nn.Module):
    def __init__(self, codec):
        super().__init__()
        self.decoder = codec.decoder

    def forward(self, latent, state):
        return self.decoder(latent, state)


def export_graph(module, inputs, names_in, names_out, path: Path):
    axes = {names_in[0]: {0: "batch", 2: "frames"}, names_in[1]: {0: "batch"},
            names_out[0]: {0: "batch", 2: "frames"}, names_out[1]: {0: "batch"}}
    torch.onnx.export(module, inputs, str(path), input_names=names_in, output_names=names_out,
                      dynamic_axes=axes, opset_version=17, dynamo=False)


def compact_weights(state):
    """Network weights in float16, codebooks, their counts and SimVQ's base and
    map in float32 (the codebook is their product); the EMA sums are left out
    (train.py rebuilds them from the codebooks)."""
    out = {}
    for k, v in state.items():
        if k.endswith("embed_avg") or k.endswith("initted"):
            continue
        keep = k.endswith(("embed", "cluster_size", ".base", ".proj"))
        out[k] = (v if keep else v.half()).contiguous()
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def codebook_tensors(codec):
    q = codec.quantizer
    out = {}
    if q.kind == "mcrvq":
        for s, vq in enumerate(q.rvq.stages):
            out[f"group0.stage{s}"] = vq.embed.numpy().astype(np.float32)
    else:
        for g, rvq in enumerate(q.rvqs):
            for s, vq in enumerate(rvq.stages):
                out[f"group{g}.stage{s}"] = vq.embed.numpy().astype(np.float32)
    return out


def quantizer_manifest(codec):
    q = codec.quantizer
    if q.kind == "mcrvq":
        # Shipped for 2 kbps: four stages of 10 bits at 50 frames a second.
        return {"kind": "mcrvq", "groups": 1, "stages": q.n_stages, "codebook_size": q.size,
                "min_stages": q.min_stages, "default_stages": 4, "masked_stages": [list(m) for m in q.masks],
                "code_order": "stage-major"}
    return {"kind": "grvq", "groups": q.groups, "stages": q.n_stages, "codebook_size": q.size,
            "min_stages": q.min_stages, "default_stages": q.n_stages, "masked_stages": [],
            "code_order": "stage-major"}


def run_ort(path: Path, x: np.ndarray, state: np.ndarray):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    return sess.run(None, {names[0]: x, names[1]: state})


def stream_ort(path: Path, x: np.ndarray, state_size: int, chunks=(1, 2, 3)):
    """Feed x frame-chunk by chunk (cycling through the sizes), carrying the state."""
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    state = np.zeros((1, state_size), np.float32)
    outs, t, i = [], 0, 0
    while t < x.shape[2]:
        n = chunks[i % len(chunks)]
        y, state = sess.run(None, {names[0]: x[:, :, t : t + n], names[1]: state})
        outs.append(y)
        t, i = t + n, i + 1
    return np.concatenate(outs, axis=2)


def max_err(a, b) -> float:
    return float(np.abs(np.asarray(a) - np.asarray(b)).max())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, required=True, help="warmstart.safetensors of a run")
    ap.add_argument("--quantizer", choices=["mcrvq", "grvq"], required=True)
    ap.add_argument("--config", default="small", choices=sorted(CONFIGS))
    ap.add_argument("--name", required=True, help="package name: writes models/NAME")
    ap.add_argument("--training", type=Path, help="JSON with the training facts to record")
    ap.add_argument("--ema", action="store_true",
                    help="export the moving average of the weights (the run's ema.* tensors) instead of the last ones")
    ap.add_argument("--warmstart", action="store_true",
                    help="also write models/recipe/warmstart/NAME.safetensors, the compact weights to go on from")
    args = ap.parse_args()

    codec = Codec(args.quantizer, args.config)
    weights = load_file(str(args.weights))
    with safe_open(str(args.weights), "pt") as f:
        meta = f.metadata() or {}
    disc = {k: v for k, v in weights.items() if k.startswith("disc.")}
    average = {k: v for k, v in weights.items() if k.startswith("ema.")}
    live = {k: v for k, v in weights.items() if k not in disc and k not in average}
    if args.ema:
        if not average:
            sys.exit(f"{args.weights} holds no moving average (ema.* tensors): export without --ema")
        live |= {k[len("ema."):]: v for k, v in average.items()}
    missing, unexpected = codec.load_state_dict(live, strict=False)
    # A compact warm start lacks only the EMA sums, which inference does not use.
    missing = [k for k in missing if not k.endswith(("embed_avg", "initted"))]
    if missing or unexpected:
        sys.exit(f"weights do not fit the {args.quantizer}/{args.config} codec: missing {missing}, unexpected {unexpected}")
    codec.eval()
    out = REPO / "models" / args.name
    out.mkdir(parents=True, exist_ok=True)

    enc_state, dec_state = codec.zero_states(1)
    example_spec = dsp.stft(torch.randn(1, dsp.HOP * 8) * 0.1)
    with torch.no_grad():
        export_graph(EncoderGraph(codec), (example_spec, enc_state), ["spec", "state"], ["latent", "next_state"], out / "encoder.onnx")
        example_latent, _ = codec.encoder(example_spec, enc_state)
        export_graph(DecoderGraph(codec), (example_latent, dec_state), ["latent", "state"], ["spec", "next_state"], out / "decoder.onnx")
    tables = {k: np.ascontiguousarray(v) for k, v in codebook_tensors(codec).items()}
    save_np(tables, str(out / "codebooks.safetensors"))

    # Checks and golden vectors on the shipped sample, cut to a length that is not whole frames.
    audio, rate = sf.read(REPO / GOLDEN_SAMPLE, dtype="float32")
    assert rate == 16000, "the golden sample must be 16 kHz"
    pcm_in = audio[: 16000 + 123]
    x = dsp.pad_for_codec(torch.from_numpy(pcm_in)[None], delay=codec.delay)
    with torch.no_grad():
        spec = dsp.stft(x)
        latent, _ = codec.encoder(spec, enc_state)
        quantized, codes, _ = codec.quantizer(latent)
        dec_spec, _ = codec.decoder(quantized, dec_state)
        pcm_out = codec.synthesize(dec_spec)[0, : len(pcm_in)]

    o_latent, _ = run_ort(out / "encoder.onnx", spec.numpy(), enc_state.numpy())
    o_spec, _ = run_ort(out / "decoder.onnx", quantized.numpy(), dec_state.numpy())
    s_latent = stream_ort(out / "encoder.onnx", spec.numpy(), codec.encoder.state_size)
    s_spec = stream_ort(out / "decoder.onnx", quantized.numpy(), codec.decoder.state_size)
    checks = {
        "encoder_ort_vs_torch": max_err(o_latent, latent),
        "decoder_ort_vs_torch": max_err(o_spec, dec_spec) / max(1.0, float(dec_spec.abs().max())),
        "encoder_stream_vs_whole": max_err(s_latent, o_latent),
        "decoder_stream_vs_whole": max_err(s_spec, o_spec) / max(1.0, float(np.abs(o_spec).max())),
    }
    limits = {"encoder_ort_vs_torch": ORT_TOLERANCE, "decoder_ort_vs_torch": ORT_TOLERANCE,
              "encoder_stream_vs_whole": STREAM_TOLERANCE, "decoder_stream_vs_whole": STREAM_TOLERANCE}
    failed = False
    for k, v in checks.items():
        ok = v <= limits[k]
        failed |= not ok
        print(f"{k}: max error {v:.2e} (limit {limits[k]:.0e}) {'ok' if ok else 'FAILED'}")

    golden = {
        "pcm_in": pcm_in.astype(np.float32),
        "stft": spec[0].numpy(),
        "latent": latent[0].numpy(),
        "codes": codes[0].numpy().astype(np.int32),
        "quantized": quantized[0].numpy(),
        "decoder_spec": dec_spec[0].numpy(),
        "pcm_out": pcm_out.numpy(),
    }
    golden_dir = REPO / "testdata" / "golden"
    golden_dir.mkdir(parents=True, exist_ok=True)
    # safetensors writes the raw buffer: strided views (transposes) must be made contiguous first.
    golden = {k: np.ascontiguousarray(v) for k, v in golden.items()}
    save_np(golden, str(golden_dir / f"{args.name}.safetensors"))

    c = CONFIGS[args.config]
    files = ["encoder.onnx", "decoder.onnx", "codebooks.safetensors"]
    manifest = {
        "format": "codec-model",
        "format_version": FORMAT_VERSION,
        "name": args.name,
        "sample_rate": 16000,
        "hop": dsp.HOP,
        "latent_dim": c["latent"],
        "encoder": {"file": "encoder.onnx", "input": "stft", "inputs": ["spec", "state"],
                    "outputs": ["latent", "next_state"], "state_size": codec.encoder.state_size},
        "decoder": {"file": "decoder.onnx", "output": "stft", "inputs": ["latent", "state"],
                    "outputs": ["spec", "next_state"], "state_size": codec.decoder.state_size},
        "stft": {"n_fft": dsp.N_FFT, "hop": dsp.HOP, "window": "hann-periodic", "framing": "causal",
                 "layout": "real-then-imag",
                 # Left out at one, so a runtime before the field reads the same manifest.
                 **({"synthesis_frames": codec.frames} if codec.frames > 1 else {})},
        "quantizer": {**quantizer_manifest(codec), "file": "codebooks.safetensors"},
        # A sample waits for its hop to fill, then for the synthesis delay.
        "streaming": {"causal": True, "algorithmic_latency_samples": dsp.HOP + codec.delay,
                      "decoder_delay_frames": -(-codec.delay // dsp.HOP)},
        "architecture": {"config": args.config, **c,
                         "parameters": sum(p.numel() for p in codec.parameters())},
        "checks": {k: float(f"{v:.3e}") for k, v in checks.items()},
        "files": {f: sha256(out / f) for f in files},
    }
    old = out / "manifest.json"
    if old.exists():
        prev = json.loads(old.read_text())
        prev = prev if isinstance(prev, dict) else {}
        if "training" in prev:
            manifest["training"] = prev["training"]
        # Quality figures describe the weights they were measured on: kept only
        # for the same files (re-exporting the same weights), dropped otherwise.
        # The old manifest may be anyone's: a figure of the wrong shape is dropped, not trusted.
        for key in ("quality", "quality_dev2"):
            figures = prev.get(key)
            measured = figures.get("weights_sha256") if isinstance(figures, dict) else None
            if isinstance(measured, dict) and measured and all(
                isinstance(h, str) and h and manifest["files"].get(f, "").startswith(h) for f, h in measured.items()
            ):
                manifest[key] = figures
    if args.training:
        manifest["training"] = json.loads(args.training.read_text())
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    if args.warmstart:
        ws = Path(__file__).resolve().parent / "warmstart" / f"{args.name}.safetensors"
        ws.parent.mkdir(exist_ok=True)
        # The warm start goes on from the last weights, not the average, so
        # that the run resumes where it was.
        own = codec.state_dict()
        state = own | {k: v for k, v in weights.items() if k in own}
        compact = compact_weights(state) | {k: v.half().contiguous() for k, v in (disc | average).items()}
        save_torch(compact, str(ws), metadata=meta)
        print(f"wrote {ws} ({ws.stat().st_size / 1e6:.1f} MB)")
    sizes = sum((out / f).stat().st_size for f in files)
    print(f"wrote {out} ({sizes / 1e6:.1f} MB) and {golden_dir / (args.name + '.safetensors')}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
