//! The Rust STFT and inverse STFT reproduce the training recipe's
//! (`models/recipe/codec_model/dsp.py`) on the golden vectors.
//!
//! Tolerance: max |rust - golden| <= 1e-4 * max(1, max |golden|), i.e. relative
//! to the signal's peak for spectra (peaks ~40) and absolute for PCM (peaks < 1).

mod common;

use codec_core::dsp::{istft, stft, StftAnalyzer, StftSynthesizer};
use common::{max_abs_diff, synthesis_frames, Golden, MODELS};

const N_FFT: usize = 640;
const HOP: usize = 320;

fn tolerance(golden: &[f32]) -> f32 {
    1e-4 * golden.iter().fold(1.0f32, |m, v| m.max(v.abs()))
}

/// Samples a package's synthesis lags: one hop, or less than two for a
/// package that synthesizes several frames a token.
fn synthesis_delay(model: &str) -> usize {
    N_FFT - HOP / synthesis_frames(model)
}

/// `pcm_in` right-padded with zeros to the golden frame count, as `dsp.py::pad_for_codec`.
fn padded_input(golden: &Golden, frames: usize, delay: usize) -> Vec<f32> {
    let mut pcm = golden.f32("pcm_in").iter().copied().collect::<Vec<_>>();
    assert_eq!(frames, (pcm.len() + delay).div_ceil(HOP), "golden frame count");
    pcm.resize(frames * HOP, 0.0);
    pcm
}

#[test]
fn dsp_stft_matches_golden() {
    for model in MODELS {
        let golden = Golden::load(model);
        let expected = golden.frames("stft"); // [T, 642]
        let pcm = padded_input(&golden, expected.nrows(), synthesis_delay(model));
        let got = stft(&pcm, N_FFT, HOP).expect("stft");
        assert_eq!(got.dim(), expected.dim());
        let expected = expected.iter().copied().collect::<Vec<_>>();
        let got = got.iter().copied().collect::<Vec<_>>();
        let (err, tol) = (max_abs_diff(&got, &expected), tolerance(&expected));
        println!("{model}: stft max abs error {err:.3e} (tolerance {tol:.3e})");
        assert!(err <= tol, "{model}: stft error {err} > {tol}");

        // Hop by hop through the streaming analyzer gives the same frames.
        let mut analyzer = StftAnalyzer::new(N_FFT, HOP).expect("analyzer");
        let mut frame = vec![0.0; analyzer.frame_len()];
        for (t, hop) in pcm.chunks(HOP).enumerate() {
            analyzer.push(hop, &mut frame).expect("push");
            assert_eq!(frame[..], got[t * frame.len()..(t + 1) * frame.len()], "{model}: frame {t}");
        }
    }
}

#[test]
fn dsp_istft_matches_golden() {
    for model in MODELS {
        let golden = Golden::load(model);
        // [T, frames * 642]: each token's synthesis frames in turn, as [T * frames, 642].
        let tokens = golden.frames("decoder_spec");
        let frames = synthesis_frames(model);
        let (sub_hop, width) = (HOP / frames, tokens.ncols() / frames);
        assert_eq!(width, N_FFT + 2, "{model}: decoder spectrum width");
        let rows = tokens.nrows() * frames;
        let spec = tokens.into_shape_with_order((rows, width)).expect("sub-frames");
        let expected = golden.f32("pcm_out").iter().copied().collect::<Vec<_>>();
        let mut got = istft(spec.view(), N_FFT, sub_hop).expect("istft");
        let lead = N_FFT / sub_hop - 1;
        assert_eq!(got.len(), (spec.nrows() - lead) * sub_hop);
        got.truncate(expected.len());
        let (err, tol) = (max_abs_diff(&got, &expected), tolerance(&expected));
        println!("{model}: istft max abs error {err:.3e} (tolerance {tol:.3e})");
        assert!(err <= tol, "{model}: istft error {err} > {tol}");

        // The streaming synthesizer: the first hops it emits are padding, the rest is the output.
        let mut synth = StftSynthesizer::new(N_FFT, sub_hop).expect("synth");
        let mut hop = vec![0.0; sub_hop];
        let mut streamed = Vec::new();
        for (t, row) in spec.rows().into_iter().enumerate() {
            synth.push(row.as_slice().expect("standard layout"), &mut hop).expect("push");
            if t >= lead {
                streamed.extend_from_slice(&hop);
            }
        }
        streamed.truncate(expected.len());
        assert_eq!(streamed, got, "{model}: streaming differs from offline");
    }
}
