"""The PyTorch reference for the network benchmarks: the same networks, the
same 5 s sample, on one CPU thread, offline (the whole signal in one call)
and streaming (one frame a call, the state carried), as `cargo bench
--bench codec` measures them through ONNX Runtime.

  python benches/speed/torch_reference.py [--repeats 10]

The weights are the warm starts (models/recipe/warmstarts.py brings them out
of git history on first use) in the architecture each package's manifest
names (`architecture.config`): the shipped packages' cost, whatever their step.
Needs the recipe's requirements (torch); prints a markdown table.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "models" / "recipe"))

import soundfile as sf  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from codec_model import dsp  # noqa: E402
from codec_model.codec import Codec  # noqa: E402
from warmstarts import fetch  # noqa: E402


def load(name: str) -> Codec:
    manifest = json.loads((REPO / "models" / name / "manifest.json").read_text())
    codec = Codec(name, manifest.get("architecture", {}).get("config", "small"))
    weights = load_file(str(fetch(name)))
    codec.load_state_dict({k: v for k, v in weights.items() if not k.startswith("disc.")}, strict=False)
    return codec.eval()


def median_ms(fn, repeats: int) -> float:
    fn()  # the first run allocates and picks kernels
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


@torch.no_grad()
def measure(name: str, audio: torch.Tensor, stages: int, repeats: int) -> dict:
    codec = load(name)
    x = dsp.pad_for_codec(audio[None], delay=codec.delay)
    enc_state, dec_state = codec.zero_states(1)
    spec = dsp.stft(x)
    latent, _ = codec.encoder(spec, enc_state)
    quantized, _, _ = codec.quantizer(latent, n_stages=stages)
    frames = spec.shape[-1]

    def encode():
        lat, _ = codec.encoder(dsp.stft(x), enc_state)
        codec.quantizer(lat, n_stages=stages)

    def decode():
        out, _ = codec.decoder(quantized, dec_state)
        codec.synthesize(out)

    def stream_encode():
        state = enc_state
        for t in range(frames):
            lat, state = codec.encoder(spec[..., t : t + 1], state)
            codec.quantizer(lat, n_stages=stages)

    def stream_decode():
        state = dec_state
        for t in range(frames):
            _, state = codec.decoder(quantized[..., t : t + 1], state)

    return {
        "offline encode": median_ms(encode, repeats),
        "offline decode": median_ms(decode, repeats),
        "streaming encode": median_ms(stream_encode, max(3, repeats // 3)),
        "streaming decode": median_ms(stream_decode, max(3, repeats // 3)),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(1)
    audio, rate = sf.read(REPO / "testdata" / "sample.wav", dtype="float32")
    assert rate == 16000
    seconds = len(audio) / rate
    print(f"PyTorch {torch.__version__}, one thread, {seconds:.2f} s of speech (median of {args.repeats} runs)\n")
    print("| model | step | time | realtime factor |")
    print("|---|---|---|---|")
    for name, stages in [("grvq", 2), ("mcrvq", 4)]:
        for what, ms in measure(name, torch.from_numpy(audio), stages, args.repeats).items():
            print(f"| {name} | {what} | {ms:.1f} ms | {seconds * 1000 / ms:.0f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
