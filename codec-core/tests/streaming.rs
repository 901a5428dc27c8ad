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
        assert_eq!(frames as u64, frames_for(pcm_in.len() as u64, p.hop()));
        assert_eq!(codes.len(), frames * per_frame);
        let golden_codes: Vec<u16> = (0..frames)
            .flat_map(|t| (0..per_frame).map(move |j| (t, j)))
            .map(|(t, j)| expected[[j, t]] as u16)
            .collect();
        // ONNX Runtime and PyTorch differ in the last float bits; a near-tie may flip a code.
        let diff = differing(&codes, &golden_codes);
        assert!(diff * 100 <= codes.len(), "{model}: {diff} of {} codes differ from the recipe", codes.len());

        let mut pcm_out = decode_whole(&p, stages, &golden_codes);
        assert_eq!(pcm_out.len(), (frames - 1) * p.hop(), "the decoder is one hop behind");
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
        let mut rest = pcm;
        for size in [1usize, 7, 320, 333, 1000, 5].iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let n = (*size).min(rest.len());
            enc.push(&rest[..n], &mut streamed).expect("push");
            rest = &rest[n..];
        }
        enc.flush(&mut streamed).expect("flush");
        let diff = differing(&whole, &streamed);
        assert!(diff * 200 <= whole.len(), "{model}: {diff} of {} codes differ when streamed", whole.len());

        let offline = decode_whole(&p, stages, &whole);
        let per_frame = p.quantizer().codes_per_frame(stages);
        let mut dec = Decoder::with_block(&p, RuntimeOptions::default(), stages, 2).expect("decoder");
        let mut out = Vec::new();
        let mut frame = 0;
        for n in [1usize, 2, 3].iter().cycle() {
            let total = whole.len() / per_frame;
            if frame >= total {
                break;
            }
            let n = (*n).min(total - frame);
            dec.push(&whole[frame * per_frame..(frame + n) * per_frame], &mut out).expect("push");
            frame += n;
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
