"""The whole codec: causal STFT, encoder, quantizer, decoder, inverse STFT."""

from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from . import dsp
from .modules import Decoder, Encoder
from .quantizers import make_quantizer

# Architecture presets; the manifest records the one a package was built with.
CONFIGS = {
    "small": dict(dim=192, enc_depth=4, dec_depth=8, latent=128, mult=3, kernel=7),
    # Issue 18's capacity lever: four more decoder blocks. Grown from a small
    # warm start, the new blocks start as the identity (see load_warm_start).
    "deep": dict(dim=192, enc_depth=4, dec_depth=12, latent=128, mult=3, kernel=7),
    # Issue 18's framing lever: two synthesis frames per token at hop 160
    # (75 % overlap, as Vocos and WavTokenizer synthesize), one hop later.
    "framed": dict(dim=192, enc_depth=4, dec_depth=8, latent=128, mult=3, kernel=7, frames=2),
    # Issue 31's harmonics lever: framed, with a head that names each bin's
    # phase advance and a phase carried in the decoder's state.
    "framed-pr": dict(dim=192, enc_depth=4, dec_depth=8, latent=128, mult=3, kernel=7, frames=2, phase="recursive"),
    # Both phases, blended per bin by a gate the head gives (see Decoder).
    "framed-mix": dict(dim=192, enc_depth=4, dec_depth=8, latent=128, mult=3, kernel=7, frames=2, phase="mixed"),
    # The absolute phase and a harmonic prior from an F0 the head names (see Decoder).
    "framed-hp": dict(dim=192, enc_depth=4, dec_depth=8, latent=128, mult=3, kernel=7, frames=2, phase="harmonic"),
    # Issue 31's capacity question at the framed codec: four more decoder
    # blocks, grown from a framed warm start as the identity.
    "framed-deep": dict(dim=192, enc_depth=4, dec_depth=12, latent=128, mult=3, kernel=7, frames=2),
    # Issue 31's codebook lever: framed, its first three stages (mcrvq's
    # masked ones) SimVQ codebooks. The package holds only the codebooks.
    "framed-simvq": dict(dim=192, enc_depth=4, dec_depth=8, latent=128, mult=3, kernel=7, frames=2, simvq=3),
}


class Codec(nn.Module):
    def __init__(self, quantizer: str = "mcrvq", config: str = "small"):
        super().__init__()
        c = CONFIGS[config]
        self.config_name = config
        self.encoder = Encoder(c["dim"], c["enc_depth"], c["latent"], c["mult"], c["kernel"])
        self.frames = c.get("frames", 1)
        self.decoder = Decoder(c["dim"], c["dec_depth"], c["latent"], c["mult"], c["kernel"], frames=self.frames,
                               phase=c.get("phase", "absolute"))
        self.quantizer = make_quantizer(quantizer, c["latent"], c.get("simvq", 0))

    def zero_states(self, batch: int, device=None):
        return (
            torch.zeros(batch, self.encoder.state_size, device=device),
            torch.zeros(batch, self.decoder.state_size, device=device),
        )

    def forward(self, audio: torch.Tensor, n_stages: int = None, dropout: bool = False):
        """audio [B, L], L a multiple of the hop -> (audio [B, L - delay], codes, commitment loss).

        The output is shorter by `delay` samples: the last ones need the next frame.
        """
        enc_state, dec_state = self.zero_states(audio.shape[0], audio.device)
        latent, _ = self.encoder(dsp.stft(audio), enc_state)
        quantized, codes, commit = self.quantizer(latent, n_stages=n_stages, dropout=dropout)
        spec, _ = self.decoder(quantized, dec_state)
        return self.synthesize(spec), codes, commit

    def synthesize(self, spec: torch.Tensor) -> torch.Tensor:
        """The decoder's spectrum [B, C, T] -> audio [B, T * hop - delay]."""
        if self.frames == 1:
            return dsp.istft(spec)
        return dsp.istft_sub(spec, self.frames)

    @property
    def delay(self) -> int:
        """Input samples the output lags at the end: what the last frames still
        wait for (the runtime's Manifest::decoder_delay_samples)."""
        return dsp.N_FFT - dsp.HOP // self.frames

    @torch.no_grad()
    def roundtrip(self, audio: torch.Tensor, n_stages: int = None) -> torch.Tensor:
        """Whole-file encode and decode as the runtime does it: pad, flush, trim."""
        n = audio.shape[-1]
        out, _, _ = self.forward(dsp.pad_for_codec(audio, delay=self.delay), n_stages=n_stages)
        return out[..., :n]


def load_codec(weights: Path, quantizer: str, config: str = "small", ema: bool = False) -> Codec:
    """A codec from a warm start's weights (the moving average's with `ema`),
    without its discriminators."""
    tensors = load_file(str(weights))
    prefix = "ema." if ema else ""
    if ema and not any(k.startswith(prefix) for k in tensors):
        raise ValueError(f"{weights} holds no moving average (ema.* tensors)")
    chosen = {k: v for k, v in tensors.items() if not k.startswith(("disc.", "ema."))}
    chosen |= {k[len(prefix):]: v for k, v in tensors.items() if prefix and k.startswith(prefix)}
    model = Codec(quantizer, config)
    own = model.state_dict()
    wrong = [k for k, v in chosen.items() if k in own and own[k].shape != v.shape]
    if wrong:
        raise ValueError(f"{weights} does not fit a {quantizer}/{config} codec: {wrong[0]} is "
                         f"{tuple(chosen[wrong[0]].shape)}, the codec's {tuple(own[wrong[0]].shape)} (another --config?)")
    missing, unexpected = model.load_state_dict(
        {k: v.float() if v.is_floating_point() else v for k, v in chosen.items()}, strict=False)
    # Older warm starts keep only what inference needs of the codebooks' running statistics.
    missing = [k for k in missing if not k.endswith(("embed_avg", "initted", "cluster_size"))]
    if missing or unexpected:
        raise ValueError(f"{weights} does not fit a {quantizer} codec: missing {missing[:4]}, unexpected {unexpected[:4]}")
    return model
