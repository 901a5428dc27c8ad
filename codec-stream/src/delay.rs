//! Finding how far one recording lags another, for delay measurements.
//!
//! A codec at 2 kbps keeps the envelope of speech but not its waveform (the
//! decoded phase is the model's own), so a plain cross-correlation of the
//! samples finds little. The loudness envelopes (RMS over 1 ms) of input and
//! output do line up, and their cross-correlation peaks at the delay.

/// Envelope resolution: 1 ms.
const ENVELOPE_MS: f64 = 1.0;

/// RMS over consecutive windows of `hop` samples.
fn envelope(samples: &[f32], hop: usize) -> Vec<f64> {
    let hop = hop.max(1);
    samples
        .chunks_exact(hop)
        .map(|c| (c.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>() / hop as f64).sqrt())
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
    let a = envelope(reference, hop);
    let b = envelope(delayed, hop);
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
}
