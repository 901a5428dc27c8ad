use ndarray::Array2;

use super::*;

const N_FFT: usize = 640;
const HOP: usize = 320;

/// Deterministic noise in [-1, 1) without a rand dependency.
fn noise(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn dsp_rejects_other_geometries() {
    for (n_fft, hop) in [(512, 320), (0, 0), (640, 0), (641, 320), (320, 320), (480, 160)] {
        assert!(matches!(StftAnalyzer::new(n_fft, hop), Err(DspError::Geometry { .. })));
    }
    for (n_fft, hop) in [(512, 320), (0, 0), (640, 0), (641, 320), (320, 320), (15, 5)] {
        assert!(matches!(StftSynthesizer::new(n_fft, hop), Err(DspError::Geometry { .. })));
    }
    // Synthesis also takes denser framings: four windows over every sample.
    assert!(StftSynthesizer::new(640, 160).is_ok());
    assert!(matches!(stft(&[0.0; 100], N_FFT, HOP), Err(DspError::PartialHop { len: 100, hop: HOP })));
}

#[test]
fn dsp_rejects_wrong_slice_lengths() {
    let mut a = StftAnalyzer::new(N_FFT, HOP).expect("analyzer");
    let mut frame = vec![0.0; a.frame_len()];
    assert!(matches!(a.push(&[0.0; 319], &mut frame), Err(DspError::HopLength { expected: 320, got: 319 })));
    assert!(matches!(a.push(&[0.0; 320], &mut frame[1..]), Err(DspError::OutputLength { .. })));
    let mut s = StftSynthesizer::new(N_FFT, HOP).expect("synth");
    let mut out = vec![0.0; HOP];
    assert!(matches!(s.push(&frame[1..], &mut out), Err(DspError::FrameLength { expected: 642, got: 641 })));
    assert!(matches!(s.push(&frame, &mut out[1..]), Err(DspError::OutputLength { .. })));
    let wide = Array2::<f32>::zeros((3, 641));
    assert!(matches!(istft(wide.view(), N_FFT, HOP), Err(DspError::FrameLength { .. })));
}

#[test]
fn dsp_window_and_envelope() {
    let w = hann(N_FFT);
    assert_eq!(w[0], 0.0);
    assert_eq!(w[HOP], 1.0);
    assert!((w[HOP / 2] - 0.5).abs() < 1e-7);
    let env = ola_envelope(N_FFT, HOP);
    assert_eq!(env.len(), HOP);
    for (i, e) in env.iter().enumerate() {
        assert!((e - (w[i] * w[i] + w[i + HOP] * w[i + HOP])).abs() < 1e-7);
        assert!(*e >= 0.5 - 1e-6, "envelope {e} at {i}");
    }
}

#[test]
fn dsp_streaming_analysis_equals_offline() {
    let x = noise(HOP * 37, 1);
    let offline = stft(&x, N_FFT, HOP).expect("stft");
    assert_eq!(offline.dim(), (37, 642));
    let mut a = StftAnalyzer::new(N_FFT, HOP).expect("analyzer");
    let mut frame = vec![0.0; a.frame_len()];
    for (t, hop) in x.chunks(HOP).enumerate() {
        a.push(hop, &mut frame).expect("push");
        assert_eq!(frame.as_slice(), offline.row(t).as_slice().expect("contiguous"), "frame {t}");
    }
}

#[test]
fn dsp_streaming_synthesis_equals_offline() {
    let frames = Array2::from_shape_vec((23, 642), noise(23 * 642, 2)).expect("shape");
    let offline = istft(frames.view(), N_FFT, HOP).expect("istft");
    assert_eq!(offline.len(), 22 * HOP);
    let mut s = StftSynthesizer::new(N_FFT, HOP).expect("synth");
    let mut out = vec![0.0; HOP];
    let mut streamed = Vec::new();
    for (t, row) in frames.rows().into_iter().enumerate() {
        s.push(row.as_slice().expect("contiguous"), &mut out).expect("push");
        if t > 0 {
            streamed.extend_from_slice(&out);
        }
    }
    assert_eq!(streamed, offline);
}

#[test]
fn dsp_analysis_then_synthesis_reconstructs() {
    let hops = 50;
    let mut x = noise(HOP * hops, 3);
    // One flush hop of zeros: the last signal hop is completed by the frame after it.
    x.resize(x.len() + HOP, 0.0);
    let frames = stft(&x, N_FFT, HOP).expect("stft");
    let y = istft(frames.view(), N_FFT, HOP).expect("istft");
    assert_eq!(y.len(), HOP * hops);
    let err = max_abs_diff(&y, &x[..HOP * hops]);
    println!("perfect reconstruction: max abs error {err:.3e}");
    assert!(err < 1e-5, "reconstruction error {err}");
}

#[test]
fn dsp_odd_hop_reconstructs() {
    // Geometry other than the model's: nothing here may assume 320.
    let (n_fft, hop) = (18, 9);
    let mut x = noise(hop * 20, 4);
    x.resize(x.len() + hop, 0.0);
    let frames = stft(&x, n_fft, hop).expect("stft");
    let y = istft(frames.view(), n_fft, hop).expect("istft");
    assert!(max_abs_diff(&y, &x[..hop * 20]) < 1e-5);
}

#[test]
fn dsp_ignores_imaginary_dc_and_nyquist() {
    let mut frame = noise(642, 5);
    let mut s = StftSynthesizer::new(N_FFT, HOP).expect("synth");
    let (mut a, mut b) = (vec![0.0; HOP], vec![0.0; HOP]);
    s.push(&frame, &mut a).expect("push");
    s.push(&frame, &mut a).expect("push");
    s.reset();
    frame[321] = 7.0;
    frame[641] = -3.0;
    s.push(&frame, &mut b).expect("push");
    s.push(&frame, &mut b).expect("push");
    assert_eq!(a, b);
}

#[test]
fn dsp_reset_equals_fresh() {
    let x = noise(HOP * 6, 6);
    let mut used = StftAnalyzer::new(N_FFT, HOP).expect("analyzer");
    let mut fresh = StftAnalyzer::new(N_FFT, HOP).expect("analyzer");
    let (mut f1, mut f2) = (vec![0.0; 642], vec![0.0; 642]);
    for hop in x.chunks(HOP) {
        used.push(hop, &mut f1).expect("push");
    }
    used.reset();
    let mut su = StftSynthesizer::new(N_FFT, HOP).expect("synth");
    let mut sf = StftSynthesizer::new(N_FFT, HOP).expect("synth");
    let (mut o1, mut o2) = (vec![0.0; HOP], vec![0.0; HOP]);
    su.push(&noise(642, 7), &mut o1).expect("push");
    su.reset();
    for hop in x.chunks(HOP) {
        used.push(hop, &mut f1).expect("push");
        fresh.push(hop, &mut f2).expect("push");
        assert_eq!(f1, f2);
        su.push(&f1, &mut o1).expect("push");
        sf.push(&f2, &mut o2).expect("push");
        assert_eq!(o1, o2);
    }
}

/// Windowed, unnormalised spectra of `x` at every `hop`, frame `j` covering
/// `[(j - k + 1) * hop, (j + 1) * hop)` for `k = n_fft / hop` (the signal
/// padded on the left): the framing of a decoder that synthesizes several
/// frames a token (`dsp.py::istft_sub`).
fn dense_frames(x: &[f32], n_fft: usize, hop: usize) -> Array2<f32> {
    use realfft::RealFftPlanner;
    let mut padded = vec![0.0; n_fft - hop];
    padded.extend_from_slice(x);
    let fft = RealFftPlanner::<f32>::new().plan_fft_forward(n_fft);
    let (w, bins) = (hann(n_fft), n_fft / 2 + 1);
    let count = (padded.len() - n_fft) / hop + 1;
    let mut frames = Array2::zeros((count, 2 * bins));
    let (mut buf, mut spec) = (fft.make_input_vec(), fft.make_output_vec());
    for j in 0..count {
        for ((b, s), w) in buf.iter_mut().zip(&padded[j * hop..j * hop + n_fft]).zip(&w) {
            *b = s * w;
        }
        fft.process(&mut buf, &mut spec).expect("fft");
        for (k, c) in spec.iter().enumerate() {
            frames[[j, k]] = c.re;
            frames[[j, bins + k]] = c.im;
        }
    }
    frames
}

#[test]
fn dsp_fourfold_overlap_reconstructs_and_streams() {
    let (n_fft, hop) = (N_FFT, HOP / 2);
    let x = noise(hop * 41, 8);
    let frames = dense_frames(&x, n_fft, hop);
    let y = istft(frames.view(), n_fft, hop).expect("istft");
    // The first three frames only complete samples before the signal.
    assert_eq!(y.len(), (frames.nrows() - 3) * hop);
    let err = max_abs_diff(&y, &x[..y.len()]);
    assert!(err < 1e-5, "reconstruction error {err}");

    let mut s = StftSynthesizer::new(n_fft, hop).expect("synth");
    assert_eq!(s.overlap(), 4);
    let mut out = vec![0.0; hop];
    let mut streamed = Vec::new();
    for (t, row) in frames.rows().into_iter().enumerate() {
        s.push(row.as_slice().expect("contiguous"), &mut out).expect("push");
        if t >= 3 {
            streamed.extend_from_slice(&out);
        }
    }
    assert_eq!(streamed, y);
}
