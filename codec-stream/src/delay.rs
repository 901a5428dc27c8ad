//! Finding how far one recording lags another, for delay measurements.
//!
//! A codec at 2 kbps keeps the envelope of speech but not its waveform (the
//! decoded phase is the model's own), so a plain cross-correlation of the
//! samples finds little. The loudness envelopes (RMS over 1 ms) of input and
//! output do line up, and their cross-correlation peaks at the delay.
//! [`envelope_track`] follows a delay that moves during a recording.

/// Envelope resolution: 1 ms.
const ENVELOPE_MS: f64 = 1.0;

/// RMS over windows of `window` samples starting every `step` samples.
fn envelope(samples: &[f32], window: usize, step: usize) -> Vec<f64> {
    let (window, step) = (window.max(1), step.max(1));
    (0..samples.len().saturating_sub(window - 1))
        .step_by(step)
        .map(|at| {
            let w = &samples[at..at + window];
            (w.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>() / window as f64).sqrt()
        })
        .collect()
}

/// Pearson correlation of two equally long series.
fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len()).max(1) as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut xy, mut xx, mut yy) = (0.0, 0.0, 0.0);
    for (p, q) in x.iter().zip(y) {
        let (p, q) = (p - mx, q - my);
        xy += p * q;
        xx += p * p;
        yy += q * q;
    }
    xy / (xx * yy).sqrt().max(1e-18)
}

/// The delay of `delayed` behind `reference` (same rate), searched from 0 to
/// `max_ms`, in milliseconds (1 ms resolution), with the normalised
/// correlation of the envelopes there (1: the same envelope).
pub fn envelope_delay(reference: &[f32], delayed: &[f32], rate: u32, max_ms: f64) -> (f64, f64) {
    let hop = (f64::from(rate) * ENVELOPE_MS / 1000.0).round() as usize;
    let a = envelope(reference, hop, hop);
    let b = envelope(delayed, hop, hop);
    let max_lag = (max_ms / ENVELOPE_MS) as usize;
    let mut best = (0.0, f64::MIN);
    for lag in 0..=max_lag.min(b.len().saturating_sub(1)) {
        let n = a.len().min(b.len() - lag);
        let c = pearson(&a[..n], &b[lag..lag + n]);
        if c > best.1 {
            best = (lag as f64 * ENVELOPE_MS, c);
        }
    }
    best
}

/// Where one piece of the reference was found in the delayed recording.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PieceMatch {
    /// Where the piece starts in the reference.
    pub start_ms: f64,
    /// How far behind it the recording plays it.
    pub delay_ms: f64,
    /// The envelope correlation there (1: the same envelope).
    pub corr: f64,
}

/// Envelope resolution of [`envelope_track`]: coarse enough that a rate
/// change of the drift control (up to 0.5 %, 5 ms a second) barely moves a
/// piece's envelope, fine enough for the syllables of speech.
const TRACK_ENVELOPE_MS: usize = 10;

/// The delay piece by piece, for a recording whose delay moves along the way
/// (a jitter buffer that grew, a moment the device played silence, the drift
/// control playing a little fast or slow): one slip shifts everything after
/// it, which a single lag over the whole file reads as a poor match. Each
/// `piece_ms` of `reference` that carries sound (not the near-silent pieces,
/// whose envelope is noise) is looked for within `spread_ms` of `around_ms`,
/// in 1 ms steps, on envelopes of 10 ms windows.
pub fn envelope_track(
    reference: &[f32],
    delayed: &[f32],
    rate: u32,
    piece_ms: f64,
    around_ms: f64,
    spread_ms: f64,
) -> Vec<PieceMatch> {
    let ms = (f64::from(rate) / 1000.0).round() as usize;
    let window = ms * TRACK_ENVELOPE_MS;
    let a = envelope(reference, window, window);
    // The recording's envelope at every millisecond: lags finer than the
    // window, since a fraction of a window off already lowers the match.
    let b = envelope(delayed, window, ms);
    let piece = ((piece_ms as usize) / TRACK_ENVELOPE_MS).max(2);
    let mean = a.iter().sum::<f64>() / a.len().max(1) as f64;
    let lo = (around_ms - spread_ms).max(0.0).round() as usize;
    let hi = (around_ms + spread_ms).max(0.0).round() as usize;
    let mut gathered = Vec::with_capacity(piece);
    a.chunks_exact(piece)
        .enumerate()
        .filter(|(_, p)| p.iter().sum::<f64>() / piece as f64 > 0.25 * mean)
        .filter_map(|(i, p)| {
            let start_ms = i * piece * TRACK_ENVELOPE_MS;
            let mut best: Option<(usize, f64)> = None;
            for lag in lo..=hi {
                let first = start_ms + lag;
                if first + (piece - 1) * TRACK_ENVELOPE_MS >= b.len() {
                    break;
                }
                gathered.clear();
                gathered.extend((0..piece).map(|k| b[first + k * TRACK_ENVELOPE_MS]));
                let c = pearson(p, &gathered);
                if best.is_none_or(|(_, bc)| c > bc) {
                    best = Some((lag, c));
                }
            }
            let (lag, corr) = best?;
            Some(PieceMatch { start_ms: start_ms as f64, delay_ms: lag as f64, corr })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_delay_of_a_noise_burst_train_with_another_waveform() {
        let rate = 16_000;
        let mut rng = crate::netsim::Rng::new(3);
        let mut reference = vec![0.0f32; rate as usize * 2];
        let mut delayed = vec![0.0f32; rate as usize * 2];
        let delay = 16 * 37; // 37 ms
        let mut t = 800;
        while t + delay + 400 < reference.len() {
            for i in 0..320 {
                // The same envelope, independent waveforms: as a codec's output.
                reference[t + i] = (rng.next_f64() as f32 - 0.5) * 0.5;
                delayed[t + delay + i] = (rng.next_f64() as f32 - 0.5) * 0.5;
            }
            t += 2000 + (rng.next_u64() % 3000) as usize;
        }
        let (ms, corr) = envelope_delay(&reference, &delayed, rate, 200.0);
        assert_eq!(ms, 37.0);
        assert!(corr > 0.8, "{corr}");
    }

    /// Bursts of noise every 0.1-0.3 s in `len` samples, and independent
    /// noise with the same envelope `delay(t)` samples later, `t` being
    /// where a burst starts.
    fn bursts(seed: u64, len: usize, delay: impl Fn(usize) -> usize) -> (Vec<f32>, Vec<f32>) {
        let mut rng = crate::netsim::Rng::new(seed);
        let (mut reference, mut delayed) = (vec![0.0f32; len], vec![0.0f32; len]);
        let mut t = 800;
        while t + delay(t) + 400 < len {
            let d = delay(t);
            for i in 0..320 {
                reference[t + i] = (rng.next_f64() as f32 - 0.5) * 0.5;
                delayed[t + d + i] = (rng.next_f64() as f32 - 0.5) * 0.5;
            }
            t += 1600 + (rng.next_u64() % 3200) as usize;
        }
        (reference, delayed)
    }

    #[test]
    fn follows_a_delay_that_slips_once_where_one_lag_cannot() {
        let rate = 16_000;
        // 37 ms for the first 2 s, then 40 ms of silence slipped in: 77 ms.
        let (reference, delayed) = bursts(5, rate as usize * 4, |t| if t < 32_000 { 16 * 37 } else { 16 * 77 });
        let (_, whole) = envelope_delay(&reference, &delayed, rate, 200.0);
        let track = envelope_track(&reference, &delayed, rate, 500.0, 60.0, 50.0);
        // The last half second would reach past the end of the delayed copy.
        assert_eq!(track.len(), 7, "{track:?}");
        for m in &track {
            let want = if m.start_ms < 2000.0 { 37.0 } else { 77.0 };
            assert_eq!(m.delay_ms, want, "{m:?}");
            assert!(m.corr > 0.8, "{m:?}");
        }
        assert!(whole < 0.7, "one lag matched the slipped copy: {whole}");
    }

    #[test]
    fn another_recording_matches_no_piece() {
        let rate = 16_000;
        let (reference, _) = bursts(5, rate as usize * 4, |_| 0);
        let (_, other) = bursts(9, rate as usize * 4, |_| 0);
        let track = envelope_track(&reference, &other, rate, 1000.0, 100.0, 100.0);
        assert_eq!(track.len(), 4, "{track:?}");
        assert!(track.iter().all(|m| m.corr < 0.6), "{track:?}");
    }
}
