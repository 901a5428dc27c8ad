//! The streaming Encoder and Decoder through real packages: they reproduce the
//! recipe's golden vectors, streaming in small pieces equals the offline path,
//! and reset() equals a fresh object.

mod common;

use codec_core::{frames_for, Decoder, Encoder, ModelPackage, RuntimeOptions};
use common::{max_abs_diff, Golden, MODELS};

fn package(model: &str) -> ModelPackage {
    ModelPackage::open_dir(&common::model_dir(model)).expect("package")
}

fn sample_pcm() -> Vec<f32> {
    codec_core::audio::read_audio(&common::repo().join("testdata").join("sample.wav")).expect("sample").samples
}

fn encode_whole(p: &ModelPackage, stages: usize, pcm: &[f32]) -> Vec<u16> {
    let mut enc = Encoder::new(p, RuntimeOptions::default(), stages).expect("encoder");
    let mut codes = Vec::new();
    enc.push(pcm, &mut codes).expect("push");
    enc.flush(&mut codes).expect("flush");
    codes
}

fn decode_whole(p: &ModelPackage, stages: usize, codes: &[u16]) -> Vec<f32> {
    let mut dec = Decoder::new(p, RuntimeOptions::default(), stages).expect("decoder");
    let mut pcm = Vec::new();
    dec.push(codes, &mut pcm).expect("push");
    pcm
}

/// `0..total` cut into consecutive ranges whose lengths cycle through `sizes`.
fn pieces(total: usize, sizes: &[usize]) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
    let mut start = 0;
    sizes.iter().cycle().map_while(move |&size| {
        (start < total).then(|| {
            let range = start..(start + size).min(total);
            start = range.end;
            range
        })
    })
}

fn differing(a: &[u16], b: &[u16]) -> usize {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).filter(|(x, y)| x != y).count()
}

#[test]
fn rust_path_reproduces_the_recipe() {
    for model in MODELS {
        let p = package(model);
        let golden = Golden::load(model);
        let pcm_in = golden.f32("pcm_in").into_raw_vec_and_offset().0;
        let expected = golden.i32("codes");
        let (per_frame, frames) = (expected.shape()[0], expected.shape()[1]);
        let stages = p.quantizer().stages();
        let codes = encode_whole(&p, stages, &pcm_in);
        assert_eq!(frames as u64, frames_for(&p, pcm_in.len() as u64));
        assert_eq!(codes.len(), frames * per_frame);
        let golden_codes: Vec<u16> = (0..frames)
            .flat_map(|t| (0..per_frame).map(move |j| (t, j)))
            .map(|(t, j)| expected[[j, t]] as u16)
            .collect();
        // ONNX Runtime and PyTorch differ in the last float bits; a near-tie may flip a code.
        let diff = differing(&codes, &golden_codes);
        assert!(diff * 100 <= codes.len(), "{model}: {diff} of {} codes differ from the recipe", codes.len());

        let mut pcm_out = decode_whole(&p, stages, &golden_codes);
        let delay = p.manifest().decoder_delay_samples();
        assert_eq!(pcm_out.len(), frames * p.hop() - delay, "the decoder lags by its synthesis delay");
        pcm_out.truncate(pcm_in.len());
        let expected_out = golden.f32("pcm_out").into_raw_vec_and_offset().0;
        let err = max_abs_diff(&pcm_out, &expected_out);
        assert!(err < 1e-3, "{model}: decoded PCM differs from the recipe by {err}");
    }
}

#[test]
fn streaming_in_small_pieces_equals_offline() {
    let pcm = &sample_pcm()[..16000];
    for model in MODELS {
        let p = package(model);
        let stages = p.quantizer().min_stages();
        let whole = encode_whole(&p, stages, pcm);

        // Uneven pieces, one network call per hop or less.
        let mut enc = Encoder::with_block(&p, RuntimeOptions::default(), stages, 1).expect("encoder");
        let mut streamed = Vec::new();
        for range in pieces(pcm.len(), &[1, 7, 320, 333, 1000, 5]) {
            enc.push(&pcm[range], &mut streamed).expect("push");
        }
        enc.flush(&mut streamed).expect("flush");
        let diff = differing(&whole, &streamed);
        assert!(diff * 200 <= whole.len(), "{model}: {diff} of {} codes differ when streamed", whole.len());

        let offline = decode_whole(&p, stages, &whole);
        let per_frame = p.quantizer().codes_per_frame(stages);
        let mut dec = Decoder::with_block(&p, RuntimeOptions::default(), stages, 2).expect("decoder");
        let mut out = Vec::new();
        for frames in pieces(whole.len() / per_frame, &[1, 2, 3]) {
            dec.push(&whole[frames.start * per_frame..frames.end * per_frame], &mut out).expect("push");
        }
        let err = max_abs_diff(&offline, &out);
        assert!(err < 1e-4, "{model}: streamed decode differs from offline by {err}");
    }
}

#[test]
fn reset_equals_a_fresh_object() {
    let pcm = &sample_pcm()[..8000];
    for model in MODELS {
        let p = package(model);
        let stages = p.quantizer().stages();
        let mut enc = Encoder::new(&p, RuntimeOptions::default(), stages).expect("encoder");
        let mut first = Vec::new();
        enc.push(pcm, &mut first).expect("push");
        enc.flush(&mut first).expect("flush");
        enc.reset();
        let mut second = Vec::new();
        enc.push(pcm, &mut second).expect("push");
        enc.flush(&mut second).expect("flush");
        assert_eq!(first, second, "{model}: encoder reset");

        let mut dec = Decoder::new(&p, RuntimeOptions::default(), stages).expect("decoder");
        let mut a = Vec::new();
        dec.push(&first, &mut a).expect("push");
        dec.reset();
        let mut b = Vec::new();
        dec.push(&first, &mut b).expect("push");
        assert_eq!(a, b, "{model}: decoder reset");
    }
}

#[test]
fn partial_frames_and_bad_stage_counts_are_refused() {
    let p = package("mcrvq");
    assert!(Encoder::new(&p, RuntimeOptions::default(), 2).is_err());
    assert!(Decoder::new(&p, RuntimeOptions::default(), 9).is_err());
    let mut dec = Decoder::new(&p, RuntimeOptions::default(), 4).expect("decoder");
    let mut out = Vec::new();
    assert!(dec.push(&[1, 2, 3], &mut out).is_err());
    assert!(dec.push(&[1, 2, 3, 4096], &mut out).is_err(), "a code outside the codebook");
}
