//! Encoding from an audio file packet by packet and decoding a token stream
//! straight into a WAV give the bytes of the whole-file path (read it all,
//! resample it all, encode, decode, resample, write), across chunk
//! boundaries, for every shipped model and several rates.

mod common;

use codec_core::audio::{read_audio, resample, wav_bytes, AudioReader};
use codec_core::bitstream::TokenReader;
use codec_core::{offline, Decoder, Encoder, ModelPackage, RuntimeOptions};
use common::MODELS;

/// A 44.1 kHz stereo WAV of 12.3 s (several encoder chunks and resampler
/// blocks, a partial one last): a chirp on the left, a tone on the right.
fn long_stereo() -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cursor = std::io::Cursor::new(Vec::new());
    let mut w = hound::WavWriter::new(&mut cursor, spec).expect("wav");
    let n = (12.3 * 44_100.0) as usize;
    for i in 0..n {
        let t = i as f64 / 44_100.0;
        let left = 0.4 * (2.0 * std::f64::consts::PI * (100.0 * t + 150.0 * t * t)).sin();
        let right = 0.2 * (2.0 * std::f64::consts::PI * 440.0 * t).sin();
        w.write_sample((left * 32767.0) as i16).expect("left");
        w.write_sample((right * 32767.0) as i16).expect("right");
    }
    w.finalize().expect("finalize");
    cursor.into_inner()
}

#[test]
fn streamed_encode_and_decode_give_the_whole_file_bytes() {
    let dir = tempfile::tempdir().expect("tmp");
    let long = dir.path().join("long.wav");
    std::fs::write(&long, long_stereo()).expect("write");
    let inputs = [common::repo().join("testdata").join("sample.wav"), long];
    for model in MODELS {
        let p = ModelPackage::open_dir(&common::model_dir(model)).expect("package");
        let stages = p.default_stages();
        let mut encoder = Encoder::new(&p, RuntimeOptions::default(), stages).expect("encoder");
        let mut decoder = Decoder::new(&p, RuntimeOptions::default(), stages).expect("decoder");
        for input in &inputs {
            let audio = read_audio(input).expect("read");
            let pcm = resample(&audio.samples, audio.sample_rate, p.sample_rate()).expect("resample");
            let whole = offline::encode_with(&p, &mut encoder, &pcm, |_| {}).expect("whole encode");
            let mut reader = AudioReader::open(input).expect("open");
            let streamed = offline::encode_audio(&p, &mut encoder, &mut reader, |_| {}).expect("streamed encode");
            assert!(streamed == whole, "{model}, {}: the streamed codes differ", input.display());
            // stdin is read as it comes, not buffered whole.
            let bytes = std::fs::read(input).expect("read");
            let mut piped = AudioReader::from_stream(Box::new(std::io::Cursor::new(bytes)), None).expect("stream");
            let from_pipe = offline::encode_audio(&p, &mut encoder, &mut piped, |_| {}).expect("piped encode");
            assert!(from_pipe == whole, "{model}, {}: the piped codes differ", input.display());

            let tok = whole.to_bytes().expect("tok");
            let pcm = offline::decode_with(&p, &mut decoder, &whole, |_| {}).expect("whole decode");
            for rate in [p.sample_rate(), 44_100, 48_000, 8_000] {
                let want = wav_bytes(&resample(&pcm, p.sample_rate(), rate).expect("resample"), rate).expect("wav");
                let mut got = Vec::new();
                let tokens = TokenReader::new(&tok[..]).expect("header");
                let n = offline::decode_to_wav(&p, &mut decoder, tokens, rate, &mut got, |_| {}).expect("decode");
                assert_eq!(n as usize * 2 + 44, got.len());
                assert!(got == want, "{model}, {}, {rate} Hz: the streamed WAV differs", input.display());
            }
        }
    }
}

#[test]
fn a_damaged_token_stream_is_an_error_at_its_end() {
    let p = ModelPackage::open_dir(&common::model_dir("grvq")).expect("package");
    let audio = read_audio(&common::repo().join("testdata").join("sample.wav")).expect("read");
    let tokens =
        offline::encode_pcm(&p, RuntimeOptions::default(), p.default_stages(), &audio.samples, |_| {}).expect("encode");
    let mut bytes = tokens.to_bytes().expect("tok");
    let n = bytes.len();
    bytes[n - 10] ^= 0x40;
    let mut decoder = Decoder::new(&p, RuntimeOptions::default(), p.default_stages()).expect("decoder");
    let reader = TokenReader::new(&bytes[..]).expect("the header is intact");
    let err = offline::decode_to_wav(&p, &mut decoder, reader, 16_000, Vec::new(), |_| {}).expect_err("damaged");
    assert!(err.to_string().contains("checksum"), "{err}");
    let reader = TokenReader::new(&bytes[..n / 2]).expect("the header is intact");
    let err = offline::decode_to_wav(&p, &mut decoder, reader, 16_000, Vec::new(), |_| {}).expect_err("truncated");
    assert!(err.to_string().contains("truncated"), "{err}");
}

/// A file whose header claims every sample its frames cover (as one written
/// from received packets does) decodes to what its frames make: frames times
/// the hop, less the synthesis delay, which is more than a hop for a package
/// with several synthesis frames a token.
#[test]
fn a_file_claiming_more_than_its_frames_make_gets_what_they_make() {
    let audio = read_audio(&common::repo().join("testdata").join("sample.wav")).expect("read");
    for model in MODELS {
        let p = ModelPackage::open_dir(&common::model_dir(model)).expect("package");
        let stages = p.default_stages();
        let mut tokens =
            offline::encode_pcm(&p, RuntimeOptions::default(), stages, &audio.samples, |_| {}).expect("encode");
        let frames = u64::from(tokens.header.frames);
        tokens.header.original_len = frames * u64::from(tokens.header.hop);
        let made = tokens.header.original_len - p.manifest().decoder_delay_samples() as u64;
        let mut decoder = Decoder::new(&p, RuntimeOptions::default(), stages).expect("decoder");
        let pcm = offline::decode_with(&p, &mut decoder, &tokens, |_| {}).expect("whole decode");
        assert_eq!(pcm.len() as u64, made, "{model}: decode_with");
        let tok = tokens.to_bytes().expect("tok");
        let mut got = Vec::new();
        let reader = TokenReader::new(&tok[..]).expect("header");
        let n = offline::decode_to_wav(&p, &mut decoder, reader, p.sample_rate(), &mut got, |_| {})
            .unwrap_or_else(|e| panic!("{model}: {e}"));
        assert_eq!(n, made, "{model}: decode_to_wav");
        assert!(got == wav_bytes(&pcm, p.sample_rate()).expect("wav"), "{model}: the WAV differs");
    }
}
