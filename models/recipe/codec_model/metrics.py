"""Dev-set figures: PESQ-WB, STOI, and per-codebook use and perplexity."""

import numpy as np


def pesq_wb(ref: np.ndarray, deg: np.ndarray) -> float:
    from pesq import pesq

    try:
        return float(pesq(16000, ref, deg, "wb"))
    except Exception:  # pesq refuses files it finds no speech in
        return float("nan")


def stoi(ref: np.ndarray, deg: np.ndarray) -> float:
    from pystoi import stoi as _stoi

    return float(_stoi(ref, deg, 16000, extended=False))


def codebook_stats(codes: np.ndarray, size: int):
    """codes [codebooks, N] -> per codebook (share of entries used, perplexity)."""
    out = []
    for row in codes:
        counts = np.bincount(row, minlength=size).astype(np.float64)
        p = counts / max(1.0, counts.sum())
        nz = p[p > 0]
        out.append((float((counts > 0).mean()), float(np.exp(-(nz * np.log(nz)).sum()))))
    return out
