//! The batch encoder of corpus tokenization gives the codes of the offline
//! path (`codec encode`) for every signal of a batch, whatever their lengths.

mod common;

use codec_core::{offline, BatchEncoder, ModelPackage, RuntimeOptions};
use common::MODELS;

fn signals() -> Vec<Vec<f32>> {
    let sample =
        codec_core::audio::read_audio(&common::repo().join("testdata").join("sample.wav")).expect("sample").samples;
    // Longer than one network block (250 frames), so signals leave the batch mid-way.
    let long: Vec<f32> = sample.iter().chain(sample.iter()).copied().collect();
    vec![
        sample[..16_123].to_vec(),
        long,
        sample[..320].to_vec(),
        sample[4_000..9_001].to_vec(),
        sample.clone(),
        vec![0.0; 1],
    ]
}

#[test]
fn batch_codes_equal_the_offline_path() {
    let signals = signals();
    let refs: Vec<&[f32]> = signals.iter().map(Vec::as_slice).collect();
    for model in MODELS {
        let p = ModelPackage::open_dir(&common::model_dir(model)).expect("package");
        for stages in [p.quantizer().min_stages(), p.quantizer().stages()] {
            let mut batch = BatchEncoder::new(&p, RuntimeOptions::default(), stages).expect("batch encoder");
            let codes = batch.encode(&refs).expect("batch encode");
            assert_eq!(codes.len(), signals.len());
            for (i, (signal, got)) in signals.iter().zip(&codes).enumerate() {
                let want = offline::encode_pcm(&p, RuntimeOptions::default(), stages, signal, |_| {}).expect("encode");
                assert_eq!(got.len(), want.codes.len(), "{model} signal {i}: frame count");
                let differ = got.iter().zip(&want.codes).filter(|(a, b)| a != b).count();
                assert_eq!(differ, 0, "{model} at {stages} stages, signal {i}: {differ} of {} codes differ", got.len());
            }
            // A batch of one is the same computation.
            let one = batch.encode(&refs[1..2]).expect("one");
            assert_eq!(one[0], codes[1]);
        }
    }
}

#[test]
fn empty_signals_are_refused_and_empty_batches_are_fine() {
    let p = ModelPackage::open_dir(&common::model_dir(MODELS[0])).expect("package");
    let mut batch = BatchEncoder::new(&p, RuntimeOptions::default(), p.quantizer().min_stages()).expect("encoder");
    assert!(batch.encode(&[]).expect("empty batch").is_empty());
    let err = batch.encode(&[&[0.5f32; 400][..], &[][..]]).expect_err("empty signal");
    assert!(err.to_string().contains("empty"), "{err}");
}
