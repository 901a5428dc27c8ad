"""What is measured on a decoded file against its input: PESQ-WB, STOI, the
log-mel distance, DNSMOS P.835 and the lag (see README.md for each); what
machines hear is in machines.py."""

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import correlate

from repo import SR
from codec_model.metrics import pesq_wb, stoi

MAX_LAG = 1600
LAG_STEP = 40
SILENT_DBFS = -60.0  # an input whose loudest 20 ms frame is quieter has no speech: STOI skipped

MEL_N_FFT, MEL_HOP, MEL_N = 1024, 256, 80
_MEL_CACHE = {}


def mel_filters(n_fft: int = MEL_N_FFT, n_mels: int = MEL_N, sr: int = SR) -> np.ndarray:
    """The training loss's mel filters, [n_mels, bins], so that the distance is the loss's figure."""
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


def loudest_dbfs(x: np.ndarray, frame: int = 320) -> float:
    """Level of the loudest 20 ms frame, dB full scale."""
    n = max(1, len(x) // frame)
    rms = np.sqrt(np.mean(np.pad(x, (0, n * frame - len(x)) if len(x) < n * frame else (0, 0))[: n * frame]
                          .reshape(n, frame).astype(np.float64) ** 2, axis=1))
    return float(20 * np.log10(rms.max() + 1e-12))


class Dnsmos:
    """DNSMOS P.835 (SIG, BAK, OVRL) from the `sig_bak_ovr.onnx` that the speechmos
    package ships, run with onnxruntime directly: speechmos itself needs librosa, and
    only for its P.808 model. The segmenting and the polynomial mapping follow
    speechmos.dnsmos."""

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
        # One window a call: the figures are the same as in one batch, and the memory stays
        # bounded (a batch of a long file's windows took gigabytes).
        raw = np.concatenate([self.session.run(None, {self.input: s[None]})[0] for s in segs if len(s) == need])
        sig = np.polyval([-0.08397278, 1.22083953, 0.0052439], raw[:, 0])
        bak = np.polyval([-0.13166888, 1.60915514, -0.39604546], raw[:, 1])
        ovr = np.polyval([-0.06766283, 1.11546468, 0.04602535], raw[:, 2])
        return {"ovrl": float(np.mean(ovr)), "sig": float(np.mean(sig)), "bak": float(np.mean(bak))}


def measure(ref: np.ndarray, out_wav: Path, dnsmos, listener=None) -> dict:
    """Every figure of one decoded file; the output is cut or padded to the input's length.
    `listener(deg)` adds what machines hear (machines.listen)."""
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
        res["stoi"] = float("nan")  # a reference with no speech: pystoi's figure means nothing
    res["mel_distance"] = mel_distance(ref, deg)
    if dnsmos is not None:
        for k, v in dnsmos(deg).items():
            res[f"dnsmos_{k}"] = v
    if listener is not None:
        res.update(listener(deg))
    return res
