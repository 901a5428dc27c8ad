//! Every format the CLI promises decodes to the right mono signal, and bad
//! input gives its own error rather than a panic.
//!
//! The files in `testdata/formats/` are cuts of `testdata/sample.wav` made with
//! ffmpeg (see the README there), so each should match the corresponding span
//! of the original once resampled to 16 kHz and aligned.

use std::path::{Path, PathBuf};

use codec_core::audio::{read_audio, read_audio_from, resample, wav_bytes, AudioError, AudioReader};

const HOP: usize = 320; // one codec frame at 16 kHz

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("testdata")
}

/// `testdata/sample.wav` read independently of the code under test.
fn original() -> Vec<f32> {
    let mut reader = hound::WavReader::open(testdata().join("sample.wav")).expect("sample.wav");
    assert_eq!(reader.spec().sample_rate, 16_000);
    reader.samples::<i16>().map(|s| f32::from(s.expect("sample")) / 32768.0).collect()
}

/// Normalised cross-correlation of `y` against `x` at lag `lag` (y[i + lag] ~ x[i]).
fn correlation(x: &[f32], y: &[f32], lag: isize) -> f64 {
    let (mut xy, mut xx, mut yy) = (0.0f64, 0.0f64, 0.0f64);
    for (i, &a) in x.iter().enumerate() {
        let j = i as isize + lag;
        if j < 0 || j as usize >= y.len() {
            continue;
        }
        let b = y[j as usize];
        xy += f64::from(a) * f64::from(b);
        xx += f64::from(a) * f64::from(a);
        yy += f64::from(b) * f64::from(b);
    }
    xy / (xx * yy).sqrt().max(1e-30)
}

struct Case {
    file: &'static str,
    rate: u32,
    /// Span of `sample.wav` (16 kHz samples) the file was cut from.
    start: usize,
    len: usize,
    /// Largest lag searched, in 16 kHz samples: lossy codecs may shift a little.
    max_lag: isize,
}

const CASES: [Case; 7] = [
    Case { file: "sample-44k-stereo.flac", rate: 44_100, start: 16_000, len: 16_000, max_lag: 16 },
    Case { file: "sample.mp3", rate: 22_050, start: 16_000, len: 16_000, max_lag: 1600 },
    Case { file: "sample.ogg", rate: 24_000, start: 16_000, len: 16_000, max_lag: 160 },
    Case { file: "sample-48k-24bit.wav", rate: 48_000, start: 16_000, len: 2400, max_lag: 16 },
    Case { file: "sample-f32.wav", rate: 16_000, start: 16_000, len: 8000, max_lag: 16 },
    Case { file: "sample-s32.wav", rate: 16_000, start: 16_000, len: 4800, max_lag: 16 },
    Case { file: "sample-u8.wav", rate: 16_000, start: 16_000, len: 8000, max_lag: 16 },
];

#[test]
fn audio_formats_decode_to_the_original() {
    let original = original();
    for case in &CASES {
        let path = testdata().join("formats").join(case.file);
        let audio = read_audio(&path).unwrap_or_else(|e| panic!("{}: {e}", case.file));
        assert_eq!(audio.sample_rate, case.rate, "{}", case.file);
        assert_eq!(audio.skipped_packets, 0, "{}", case.file);
        assert!(audio.samples.iter().all(|s| (-1.0..=1.0).contains(s)), "{}", case.file);
        // Mono: one sample per frame, so the duration is right only if channels were mixed.
        let expected = case.len as f64 / 16_000.0;
        let frame = HOP as f64 / 16_000.0;
        assert!(
            (audio.duration_secs() - expected).abs() <= frame,
            "{}: {:.4} s, expected {expected} s",
            case.file,
            audio.duration_secs()
        );
        let y = resample(&audio.samples, audio.sample_rate, 16_000).expect("resample");
        let x = &original[case.start..case.start + case.len];
        let (lag, corr) = (-case.max_lag..=case.max_lag)
            .map(|lag| (lag, correlation(x, &y, lag)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .expect("lags");
        println!(
            "{}: {} Hz, {:.4} s, best lag {lag}, correlation {corr:.4}",
            case.file,
            audio.sample_rate,
            audio.duration_secs()
        );
        assert!(corr > 0.9, "{}: correlation {corr} at lag {lag}", case.file);
        if !case.file.ends_with(".mp3") {
            assert!(lag.abs() <= 1, "{}: lag {lag}", case.file);
        }
    }
}

#[test]
fn audio_formats_decode_from_a_stream() {
    for case in &CASES {
        let path = testdata().join("formats").join(case.file);
        let from_file = read_audio(&path).expect("file");
        let bytes = std::fs::read(&path).expect("bytes");
        // Without the extension hint as well: the probe goes by content.
        for hint in [path.extension().and_then(|e| e.to_str()), None] {
            let from_stream = read_audio_from(&bytes[..], hint).expect("stream");
            assert_eq!(from_stream, from_file, "{}", case.file);
        }
    }
}

/// A pipe cannot seek, so the reader cannot look for the end of an Ogg
/// stream before it decodes: the padding of the last packet must go all the same.
#[test]
fn audio_formats_decode_the_same_from_a_pipe() {
    for case in &CASES {
        let path = testdata().join("formats").join(case.file);
        let from_file = read_audio(&path).expect("file").samples;
        let bytes = std::fs::read(&path).expect("bytes");
        let mut reader = AudioReader::from_stream(Box::new(std::io::Cursor::new(bytes)), None).expect("pipe");
        let mut from_pipe = Vec::new();
        while reader.read_packet(&mut from_pipe).expect("packet") {}
        assert_eq!(from_pipe.len(), from_file.len(), "{}", case.file);
        assert!(from_pipe == from_file, "{}", case.file);
    }
    // 1.0 s at 24 kHz, as the last page's granule position says.
    let ogg = read_audio(&testdata().join("formats").join("sample.ogg")).expect("ogg");
    assert_eq!(ogg.samples.len(), 24_000);
}

#[test]
fn audio_bad_input_missing_file() {
    let path = testdata().join("formats").join("no-such-file.wav");
    match read_audio(&path) {
        Err(AudioError::NotFound { path: p }) => assert_eq!(p, path),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[test]
fn audio_bad_input_empty_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("empty.wav");
    std::fs::write(&path, b"").expect("write");
    assert!(matches!(read_audio(&path), Err(AudioError::EmptyInput)), "{:?}", read_audio(&path));
}

#[test]
fn audio_bad_input_text_named_wav() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("notes.wav");
    std::fs::write(&path, "This is not audio, just some text.\n".repeat(50)).expect("write");
    let result = read_audio(&path);
    assert!(matches!(result, Err(AudioError::UnknownFormat { .. })), "{result:?}");
}

#[test]
fn audio_bad_input_header_only_wav() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cut.wav");
    let bytes = std::fs::read(testdata().join("sample.wav")).expect("sample");
    // Everything up to and including the data chunk's header (ffmpeg adds a LIST chunk first).
    let data = bytes.windows(4).position(|w| w == b"data").expect("data chunk") + 8;
    std::fs::write(&path, &bytes[..data]).expect("write");
    let result = read_audio(&path);
    assert!(matches!(result, Err(AudioError::Truncated { declared_frames }) if declared_frames > 0), "{result:?}");
    // Cut inside the header: the fmt chunk claims bytes that are not there.
    std::fs::write(&path, &bytes[..20]).expect("write");
    let result = read_audio(&path);
    assert!(matches!(result, Err(AudioError::Malformed { .. })), "{result:?}");
}

#[test]
fn audio_bad_input_wav_without_samples() {
    let bytes = wav_bytes(&[], 16_000).expect("wav");
    let result = read_audio_from(&bytes[..], Some("wav"));
    assert!(matches!(result, Err(AudioError::Empty)), "{result:?}");
}

#[test]
fn audio_bad_input_directory() {
    let result = read_audio(&testdata());
    assert!(matches!(result, Err(AudioError::Io { .. })), "{result:?}");
}

#[test]
fn audio_bad_input_truncated_file_keeps_what_is_there() {
    let bytes = std::fs::read(testdata().join("sample.wav")).expect("sample");
    let data = bytes.windows(4).position(|w| w == b"data").expect("data chunk") + 8;
    let audio = read_audio_from(&bytes[..data + 2 * 1000 + 1], Some("wav")).expect("partial");
    assert!(audio.samples.len() <= 1000, "{}", audio.samples.len());
}

/// Deterministic byte noise without a rand dependency.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn audio_bad_input_never_panics() {
    let mut rng = 0x1234_5678_9abc_def1u64;
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for case in &CASES {
        let good = std::fs::read(testdata().join("formats").join(case.file)).expect("file");
        let mut inputs: Vec<Vec<u8>> = Vec::new();
        // Truncations, including inside every header.
        for cut in (1..good.len().min(400)).step_by(7).chain((400..good.len()).step_by(good.len() / 16 + 1)) {
            inputs.push(good[..cut].to_vec());
        }
        // Corrupted bytes scattered through the file, and a run of garbage after the header.
        for _ in 0..24 {
            let mut bad = good.clone();
            for _ in 0..1 + xorshift(&mut rng) % 40 {
                let at = (xorshift(&mut rng) % bad.len() as u64) as usize;
                bad[at] = xorshift(&mut rng) as u8;
            }
            inputs.push(bad);
        }
        let mut garbage = good[..good.len().min(64)].to_vec();
        garbage.extend((0..4096).map(|_| xorshift(&mut rng) as u8));
        inputs.push(garbage);
        for input in inputs {
            let ext = Path::new(case.file).extension().and_then(|e| e.to_str());
            let outcome = match read_audio_from(&input[..], ext) {
                Ok(audio) if audio.skipped_packets > 0 => "ok, packets skipped".to_owned(),
                Ok(_) => "ok".to_owned(),
                Err(e) => format!("{e:?}").split([' ', '{', '(']).next().unwrap_or("?").to_owned(),
            };
            *outcomes.entry(outcome).or_default() += 1;
        }
    }
    println!("outcomes on damaged input: {outcomes:?}");
    // The fixed seed corrupts some packets without breaking their streams: those are skipped.
    assert!(outcomes.contains_key("ok, packets skipped"), "{outcomes:?}");
}
