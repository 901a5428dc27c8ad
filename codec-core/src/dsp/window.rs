//! The analysis/synthesis window and the overlap-add normaliser.

/// Periodic Hann window of length `n_fft`, `w[n] = 0.5 - 0.5 cos(2 pi n / n_fft)`.
///
/// Periodic (not symmetric) because that is `torch.hann_window`'s default and
/// what the model was trained with; it is also what makes the squared windows
/// of 50%-overlapping frames sum to a smooth, nonzero envelope. Computed in f64
/// so the f32 values are the correctly rounded ones.
pub fn hann(n_fft: usize) -> Vec<f32> {
    (0..n_fft)
        .map(|n| {
            let phase = 2.0 * std::f64::consts::PI * n as f64 / n_fft as f64;
            (0.5 - 0.5 * phase.cos()) as f32
        })
        .collect()
}

/// Steady-state sum of the squared windows covering each sample of a hop:
/// `env[i] = sum_k w[i + k * hop]^2`, i.e. `w[i]^2 + w[i + hop]^2` at 50% overlap.
/// `hop` must divide `n_fft`.
///
/// Synthesis windows each frame a second time, so every output sample has been
/// weighted by the squares of the windows covering it; dividing by this undoes
/// that weighting. For a periodic Hann at 50% overlap it is at least 0.5, so it
/// never divides by zero.
pub fn ola_envelope(n_fft: usize, hop: usize) -> Vec<f32> {
    let mut env = vec![0.0f32; hop];
    if hop == 0 {
        return env;
    }
    for frame in hann(n_fft).chunks(hop) {
        for (e, w) in env.iter_mut().zip(frame) {
            *e += w * w;
        }
    }
    env
}
