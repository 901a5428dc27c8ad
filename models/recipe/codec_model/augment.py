"""Voices and channels made from the ones we have (issue 31, lever 2).

The training speech holds a few dozen voices, few of them low, and a fifth of
its hours went through one telephone channel. Each crop may be changed the way
another speaker or another microphone would change it:

- its pitch, formants and tempo together, by resampling (speed perturbation,
  as Kaldi's recipes do): read `crop * factor` samples and stretch them to
  `crop`, so a factor below 1 lowers the voice (3 semitones down is 0.84);
  the range leans low, since low voices are what the codec loses most;
- its spectral balance: a first-order tilt and one peaking band of an
  equaliser;
- its band: a steep low-pass between 3.4 and 7.5 kHz, as narrower channels do;
- its noise floor: white noise 35 to 60 dB below the crop's peak.

The reconstruction losses target the changed crop itself, so any natural
change is fair. Every change draws from the sampler's own generator, so a
seeded run draws the same batches.
"""

from fractions import Fraction

import numpy as np
from scipy import signal

RATE = 16000


class Augmenter:
    def __init__(self, rng: np.random.Generator, semitones=(-4.0, 2.0), p_pitch=0.5, p_eq=0.5,
                 p_band=0.15, p_noise=0.2):
        self.rng = rng
        self.semitones = semitones
        self.p_pitch, self.p_eq, self.p_band, self.p_noise = p_pitch, p_eq, p_band, p_noise

    def source_length(self, crop: int) -> tuple[int, Fraction]:
        """How many samples to read for one crop, and the resampling ratio
        (output samples per input sample) that makes them `crop` long."""
        if self.rng.random() >= self.p_pitch:
            return crop, Fraction(1)
        factor = 2.0 ** (self.rng.uniform(*self.semitones) / 12.0)
        # A ratio of small integers keeps resample_poly's filter short.
        ratio = Fraction(1.0 / factor).limit_denominator(24)
        return int(np.ceil(crop / ratio)) + 8, ratio

    def __call__(self, x: np.ndarray, ratio: Fraction, crop: int) -> np.ndarray:
        """x float32 (source_length samples) -> float32 [crop]."""
        if ratio != 1:
            x = signal.resample_poly(x, ratio.numerator, ratio.denominator)
        x = np.asarray(x[:crop], dtype=np.float64)
        if self.rng.random() < self.p_eq:
            x = self.equalise(x)
        if self.rng.random() < self.p_band:
            cutoff = self.rng.uniform(3400.0, 7500.0)
            x = signal.sosfilt(signal.butter(10, cutoff, fs=RATE, output="sos"), x)
        if self.rng.random() < self.p_noise:
            peak = np.abs(x).max() + 1e-6
            x = x + self.rng.standard_normal(len(x)) * peak * 10 ** (-self.rng.uniform(35.0, 60.0) / 20)
        return x.astype(np.float32)

    def equalise(self, x: np.ndarray) -> np.ndarray:
        # Tilt: y[n] = x[n] - a x[n-1], a in [-0.4, 0.6]: from a gentle low
        # boost to a telephone-like high boost; renormalised to the input's RMS.
        a = self.rng.uniform(-0.4, 0.6)
        y = signal.lfilter([1.0, -a], [1.0], x)
        # One peaking band (RBJ cookbook), +-8 dB between 150 Hz and 5 kHz.
        f0 = np.exp(self.rng.uniform(np.log(150.0), np.log(5000.0)))
        gain = self.rng.uniform(-8.0, 8.0)
        q = self.rng.uniform(0.5, 2.5)
        amp = 10 ** (gain / 40)
        w0 = 2 * np.pi * f0 / RATE
        alpha = np.sin(w0) / (2 * q)
        b = [1 + alpha * amp, -2 * np.cos(w0), 1 - alpha * amp]
        den = [1 + alpha / amp, -2 * np.cos(w0), 1 - alpha / amp]
        y = signal.lfilter(b, den, y)
        return y * (np.sqrt(np.mean(x * x)) + 1e-9) / (np.sqrt(np.mean(y * y)) + 1e-9)
