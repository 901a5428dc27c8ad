use std::f64::consts::PI;

use super::*;

/// A chirp sampled at `rate`: its analytic form is the ideal resampling at any
/// rate, and unlike a pure tone it correlates with itself at one lag only.
fn chirp(rate: u32, secs: f64, f0: f64, f1: f64) -> Vec<f32> {
    let n = (secs * f64::from(rate)).round() as usize;
    let k = (f1 - f0) / secs;
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            (0.5 * (2.0 * PI * (f0 * t + 0.5 * k * t * t)).sin()) as f32
        })
        .collect()
}

fn sine(rate: u32, len: usize, freq: f64, amp: f64) -> Vec<f32> {
    (0..len).map(|i| (amp * (2.0 * PI * freq * i as f64 / f64::from(rate)).sin()) as f32).collect()
}

/// Max abs difference over the middle, skipping `edge` samples at each end
/// (where the signal starts abruptly and the filter rings).
fn mid_error(a: &[f32], b: &[f32], edge: usize) -> f32 {
    let n = a.len().min(b.len());
    a[edge..n - edge].iter().zip(&b[edge..n - edge]).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// The lag (in `-max..=max`) maximising the cross-correlation of `a` against `b`.
fn best_lag(a: &[f32], b: &[f32], max: isize) -> isize {
    let score = |lag: isize| -> f64 {
        (0..a.len() as isize)
            .filter_map(|i| {
                let j = i + lag;
                (j >= 0 && (j as usize) < b.len()).then(|| f64::from(a[i as usize]) * f64::from(b[j as usize]))
            })
            .sum()
    };
    (-max..=max).max_by(|x, y| score(*x).total_cmp(&score(*y))).unwrap_or(0)
}

#[test]
fn audio_resample_sine_44k_to_16k() {
    let x = sine(44_100, 44_100, 1000.0, 0.8);
    let y = resample(&x, 44_100, 16_000).expect("resample");
    assert_eq!(y.len(), 16_000);
    let ideal = sine(16_000, 16_000, 1000.0, 0.8);
    let err = mid_error(&y, &ideal, 800);
    println!("1 kHz sine 44.1k -> 16k: max error {err:.2e} away from the ends");
    assert!(err < 1e-4, "error {err}");
    // A tone correlates at every period (16 samples): search within half of one.
    assert_eq!(best_lag(&ideal, &y, 7), 0);
}

#[test]
fn audio_resample_is_aligned() {
    for (from, to) in
        [(44_100, 16_000), (48_000, 16_000), (22_050, 16_000), (8_000, 16_000), (16_000, 44_100), (11_025, 16_000)]
    {
        let top = 0.45 * f64::from(from.min(to));
        let x = chirp(from, 1.0, 50.0, top * 0.9);
        let y = resample(&x, from, to).expect("resample");
        let ideal = chirp(to, 1.0, 50.0, top * 0.9);
        assert_eq!(y.len(), ideal.len(), "{from} -> {to}");
        let lag = best_lag(&ideal, &y, 40);
        let err = mid_error(&y, &ideal, to as usize / 20);
        println!("{from} -> {to}: lag {lag}, max error {err:.2e} away from the ends");
        assert_eq!(lag, 0, "{from} -> {to}");
        assert!(err < 1e-3, "{from} -> {to}: error {err}");
    }
}

#[test]
fn audio_resample_round_trip_16k_48k() {
    let len = 16_000;
    let mut x = vec![0.0f32; len];
    for (f, a) in [(200.0, 0.2), (1234.5, 0.2), (3000.0, 0.15), (5000.0, 0.15), (6500.0, 0.1)] {
        for (v, s) in x.iter_mut().zip(sine(16_000, len, f, a)) {
            *v += s;
        }
    }
    let up = resample(&x, 16_000, 48_000).expect("up");
    assert_eq!(up.len(), 3 * len);
    let back = resample(&up, 48_000, 16_000).expect("down");
    assert_eq!(back.len(), len);
    let err = mid_error(&back, &x, 800);
    println!("16k -> 48k -> 16k: max error {err:.2e} (peak 0.8) away from the ends");
    assert!(err < 1e-4, "round trip error {err}");
}

#[test]
fn audio_resample_lengths_and_identity() {
    let x = sine(16_000, 1234, 440.0, 0.5);
    assert_eq!(resample(&x, 16_000, 16_000).expect("same"), x);
    assert!(resample(&[], 44_100, 16_000).expect("empty").is_empty());
    for (len, from, to, want) in [
        (1, 44_100, 16_000, 0),
        (2, 44_100, 16_000, 1),
        (441, 44_100, 16_000, 160),
        (1000, 16_000, 48_000, 3000),
        (7, 48_000, 16_000, 2),
    ] {
        assert_eq!(resample(&vec![0.1; len], from, to).expect("resample").len(), want, "{len} at {from} -> {to}");
    }
    assert!(matches!(resample(&x, 0, 16_000), Err(AudioError::BadSampleRate { rate: 0, .. })));
    assert!(matches!(resample(&x, 16_000, 10_000_000), Err(AudioError::BadSampleRate { rate: 10_000_000, .. })));
}

#[test]
fn audio_stream_resampler_chunks_and_delay() {
    let r = StreamResampler::new(48_000, 16_000, 960).expect("new");
    assert_eq!((r.input_chunk(), r.output_chunk()), (960, 320));
    assert_eq!(r.delay(), 160);
    let r = StreamResampler::new(44_100, 16_000, 441).expect("new");
    assert_eq!((r.input_chunk(), r.output_chunk()), (882, 320));
    let r = StreamResampler::new(16_000, 16_000, 320).expect("new");
    assert_eq!((r.input_chunk(), r.output_chunk(), r.delay()), (320, 320, 0));
    let mut r = StreamResampler::new(48_000, 16_000, 10).expect("new");
    // Even periods of 3 input samples, and at least the minimum filter length.
    assert!(r.input_chunk() >= 256 && r.input_chunk() / 6 * 6 == r.input_chunk());
    let mut out = vec![0.0; r.output_chunk()];
    assert!(matches!(r.process(&[0.0; 5], &mut out), Err(AudioError::ChunkLength { got: 5, .. })));
    let input = vec![0.0; r.input_chunk()];
    assert!(matches!(r.process(&input, &mut out[1..]), Err(AudioError::OutputLength { .. })));
    assert!(matches!(StreamResampler::new(48_000, 16_000, usize::MAX), Err(AudioError::ChunkTooLarge { .. })));
}

#[test]
fn audio_stream_resampler_is_aligned_after_delay() {
    let (from, to) = (44_100, 16_000);
    let x = chirp(from, 1.0, 50.0, 6000.0);
    let ideal = chirp(to, 1.0, 50.0, 6000.0);
    let mut r = StreamResampler::new(from, to, 441).expect("new");
    let mut out = vec![0.0; r.output_chunk()];
    let mut y = Vec::new();
    let mut padded = x.clone();
    padded.resize(x.len().div_ceil(r.input_chunk()) * r.input_chunk() + r.input_chunk(), 0.0);
    for chunk in padded.chunks(r.input_chunk()) {
        r.process(chunk, &mut out).expect("process");
        y.extend_from_slice(&out);
    }
    let y = &y[r.delay()..];
    assert_eq!(best_lag(&ideal, y, 40), 0);
    let err = mid_error(&y[..ideal.len()], &ideal, 800);
    println!("stream 44.1k -> 16k: max error {err:.2e} away from the ends");
    assert!(err < 1e-4, "error {err}");
}

#[test]
fn audio_stream_resampler_reset_equals_fresh() {
    let mut used = StreamResampler::new(48_000, 16_000, 480).expect("new");
    let mut fresh = StreamResampler::new(48_000, 16_000, 480).expect("new");
    let x = chirp(48_000, 0.1, 100.0, 5000.0);
    let (mut a, mut b) = (vec![0.0; used.output_chunk()], vec![0.0; used.output_chunk()]);
    for chunk in x.chunks_exact(used.input_chunk()) {
        used.process(chunk, &mut a).expect("process");
    }
    used.reset();
    for chunk in x.chunks_exact(used.input_chunk()) {
        used.process(chunk, &mut a).expect("process");
        fresh.process(chunk, &mut b).expect("process");
        assert_eq!(a, b);
    }
}

#[test]
fn audio_wav_clips_and_rounds() {
    let samples = [0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 1.4e-5, 1.6e-5, f32::NAN, f32::INFINITY, f32::NEG_INFINITY];
    let bytes = wav_bytes(&samples, 16_000).expect("wav");
    let mut reader = hound::WavReader::new(std::io::Cursor::new(bytes)).expect("read back");
    assert_eq!(reader.spec().sample_rate, 16_000);
    assert_eq!(reader.spec().bits_per_sample, 16);
    let got: Vec<i16> = reader.samples::<i16>().map(|s| s.expect("sample")).collect();
    assert_eq!(got, [0, 32767, -32768, 32767, -32768, 16384, -16384, 0, 1, 0, 32767, -32768]);
    assert!(matches!(wav_bytes(&samples, 0), Err(AudioError::BadSampleRate { rate: 0, .. })));
}

#[test]
fn audio_wav_file_round_trip_is_lossless() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("out.wav");
    let pcm: Vec<i16> = (0..4000).map(|i| ((i * 7919) % 65536 - 32768) as i16).collect();
    let x: Vec<f32> = pcm.iter().map(|&s| f32::from(s) / 32768.0).collect();
    write_wav(&path, &x, 22_050).expect("write");
    let audio = read_audio(&path).expect("read");
    assert_eq!(audio.sample_rate, 22_050);
    assert_eq!(audio.samples, x);
    // Overwriting goes through a temporary file that does not survive.
    write_wav(&path, &x[..100], 22_050).expect("overwrite");
    assert_eq!(read_audio(&path).expect("read").samples.len(), 100);
    let names: Vec<_> = std::fs::read_dir(dir.path()).expect("ls").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(names, ["out.wav"]);
}

#[test]
fn audio_wav_write_failure_leaves_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-dir").join("out.wav");
    assert!(matches!(write_wav(&missing, &[0.0; 10], 16_000), Err(AudioError::Output(_))));
    let target = dir.path().join("taken");
    std::fs::create_dir(&target).expect("mkdir");
    std::fs::write(target.join("keep"), b"x").expect("fill");
    assert!(matches!(write_wav(&target, &[0.0; 10], 16_000), Err(AudioError::Output(_))));
    // A refused rate is refused before the output is created.
    let out = dir.path().join("out.wav");
    assert!(matches!(write_wav(&out, &[0.0; 10], 1), Err(AudioError::BadSampleRate { rate: 1, .. })));
    let names: Vec<_> = std::fs::read_dir(dir.path()).expect("ls").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(names, ["taken"]);
}

/// The header hound writes, against which ours is checked byte for byte:
/// files written before the streaming writer must not change.
fn hound_wav(samples: &[f32], rate: u32) -> Vec<u8> {
    let spec =
        hound::WavSpec { channels: 1, sample_rate: rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut cursor = std::io::Cursor::new(Vec::new());
    let mut wav = hound::WavWriter::new(&mut cursor, spec).expect("hound");
    for &x in samples {
        wav.write_sample((x * 32768.0).round().clamp(-32768.0, 32767.0) as i16).expect("sample");
    }
    wav.finalize().expect("finalize");
    cursor.into_inner()
}

#[test]
fn audio_wav_writer_streams_the_bytes_hound_writes() {
    for (len, rate) in [(0, 16_000), (1, 8_000), (20_001, 44_100), (3 * 8192 + 5, 384_000)] {
        let x = chirp(16_000, len as f64 / 16_000.0, 50.0, 5000.0);
        let x = &x[..len.min(x.len())];
        let want = hound_wav(x, rate);
        assert_eq!(wav_bytes(x, rate).expect("wav"), want, "{len} samples at {rate} Hz");
        let mut w = WavWriter::new(Vec::new(), rate, x.len() as u64).expect("writer");
        for piece in x.chunks(777) {
            w.write(piece).expect("piece");
        }
        assert_eq!(w.remaining(), 0);
        assert_eq!(w.finish().expect("finish"), want, "{len} samples at {rate} Hz, in pieces");
    }
    let mut w = WavWriter::new(Vec::new(), 16_000, 10).expect("writer");
    w.write(&[0.0; 6]).expect("six");
    assert!(matches!(w.write(&[0.0; 5]), Err(AudioError::WavLength { declared: 10, written: 11 })));
    assert!(matches!(w.finish(), Err(AudioError::WavLength { declared: 10, written: 6 })));
    let too_long = MAX_WAV_SAMPLES as u64 + 1;
    assert!(matches!(WavWriter::new(Vec::new(), 16_000, too_long), Err(AudioError::WavTooLong { .. })));
}

#[test]
fn audio_rates_outside_4k_to_384k_are_refused_everywhere() {
    for rate in [MIN_SAMPLE_RATE, 16_000, MAX_SAMPLE_RATE] {
        assert!(check_rate(rate).is_ok(), "{rate}");
        assert!(Resampler::new(rate, 16_000).is_ok(), "{rate}");
    }
    for rate in [0, 1, MIN_SAMPLE_RATE - 1, MAX_SAMPLE_RATE + 1, 768_000, u32::MAX] {
        let refused =
            |r: Result<(), AudioError>| matches!(r, Err(AudioError::BadSampleRate { rate: got, .. }) if got == rate);
        assert!(refused(check_rate(rate)), "{rate}");
        assert!(refused(Resampler::new(rate, 16_000).map(drop)), "{rate}");
        assert!(refused(Resampler::new(16_000, rate).map(drop)), "{rate}");
        assert!(refused(wav_bytes(&[0.0], rate).map(drop)), "{rate}");
        // A 46-byte WAV claiming this rate: refused when opened, before any decoding or resampling.
        let header = hound_wav(&[0.25], 16_000);
        let mut bytes = header.clone();
        bytes[24..28].copy_from_slice(&rate.to_le_bytes());
        bytes[28..32].copy_from_slice(&rate.wrapping_mul(2).to_le_bytes());
        let err = read_audio_from(&bytes[..], Some("wav")).expect_err("refused");
        assert!(refused(Err(err)) || rate == 0, "{rate}");
    }
    let err = check_rate(1).expect_err("1 Hz");
    assert_eq!(err.to_string(), "a sample rate of 1 Hz is not supported (only 4000 to 384000 Hz)");
}

#[test]
fn audio_resampler_in_pieces_equals_whole() {
    for (from, to) in [(44_100, 16_000), (16_000, 48_000), (48_000, 16_000), (16_000, 16_000), (8_000, 16_000)] {
        let mut r = Resampler::new(from, to).expect("new");
        for seconds in [0.0, 0.01, 0.3, 1.7] {
            let x = chirp(from, seconds, 50.0, 0.4 * f64::from(from.min(to)));
            let whole = r.process(&x).expect("whole");
            assert_eq!(whole.len() as u64, r.output_len(x.len() as u64));
            for piece in [1, 7, 1000, 4096, 100_003] {
                let mut out = Vec::new();
                for chunk in x.chunks(piece) {
                    r.push(chunk, &mut out).expect("push");
                }
                r.finish(&mut out).expect("finish");
                assert!(out == whole, "{from} -> {to}, {seconds} s in pieces of {piece}");
            }
        }
    }
}

#[test]
fn audio_read_from_stream_and_caps() {
    let bytes = wav_bytes(&[0.25; 100], 8000).expect("wav");
    let audio = read_audio_from(&bytes[..], Some("wav")).expect("decode");
    assert_eq!((audio.samples.len(), audio.sample_rate), (100, 8000));
    assert_eq!(audio.samples[0], 0.25);
    assert!(matches!(read_audio_from(&[][..], None), Err(AudioError::EmptyInput)));
    assert_eq!(read::read_capped(&[1u8, 2, 3][..], 3).expect("read"), Some(vec![1, 2, 3]));
    assert_eq!(read::read_capped(&[1u8, 2, 3][..], 2).expect("read"), None);
}
