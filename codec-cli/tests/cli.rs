//! The `codec` binary end to end: files in, tokens out, audio back, and a
//! clear one-line error (and no output file) for every kind of bad input.

use std::path::Path;
use std::process::Command;

mod common;
use common::{codec, ok, repo, s, sample};

/// Fails with exit code 1 and exactly one line on stderr that contains `needle`.
fn fails(args: &[&str], needle: &str) -> String {
    let out = codec(args);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "codec {args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "codec {args:?} printed more than one line: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.to_lowercase().contains(&needle.to_lowercase()), "codec {args:?}: expected `{needle}` in: {err}");
    err
}

fn read_wav(path: &Path) -> (Vec<f32>, u32) {
    let mut r = hound::WavReader::open(path).expect("wav");
    let spec = r.spec();
    let v = r.samples::<i16>().map(|x| f32::from(x.expect("sample")) / 32768.0).collect();
    (v, spec.sample_rate)
}

#[test]
fn encode_info_decode_round_trip() {
    let dir = tempfile::tempdir().expect("tmp");
    let tok = dir.path().join("out.tok");
    let wav = dir.path().join("out.wav");
    ok(&["encode", s(&sample()), s(&tok)]);
    let info = ok(&["info", s(&tok)]);
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(text.contains("bitrate:") && text.contains("kbps"), "{text}");
    ok(&["decode", s(&tok), s(&wav)]);
    let (out, rate) = read_wav(&wav);
    let (input, in_rate) = read_wav(&sample());
    assert_eq!(rate, in_rate);
    assert_eq!(out.len(), input.len(), "the decoded file keeps the original length");
    assert!(out.iter().any(|&x| x.abs() > 0.01), "the decoded audio is silent");
}

#[test]
fn stdin_and_stdout_work() {
    let dir = tempfile::tempdir().expect("tmp");
    let tok = dir.path().join("a.tok");
    let bytes = std::fs::read(sample()).expect("sample");
    let mut child = Command::new(env!("CARGO_BIN_EXE_codec"))
        .args(["encode", "-", "-", "--quiet"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(&bytes).expect("write");
    }
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    std::fs::write(&tok, &out.stdout).expect("write tok");
    ok(&["info", s(&tok)]);
}

#[test]
fn stages_and_bitrate_choices() {
    let dir = tempfile::tempdir().expect("tmp");
    let tok = dir.path().join("a.tok");
    ok(&["encode", s(&sample()), s(&tok), "--model", "mcrvq", "--stages", "3"]);
    let text = String::from_utf8_lossy(&ok(&["info", s(&tok)]).stdout).to_string();
    assert!(text.contains("1.500 kbps"), "{text}");
    ok(&["encode", s(&sample()), s(&tok), "--model", "mcrvq", "--kbps", "3"]);
    let text = String::from_utf8_lossy(&ok(&["info", s(&tok)]).stdout).to_string();
    assert!(text.contains("3.000 kbps"), "{text}");
    fails(&["encode", s(&sample()), s(&tok), "--model", "mcrvq", "--stages", "9"], "stages");
    fails(&["encode", s(&sample()), s(&tok), "--model", "mcrvq", "--kbps", "1"], "at least");
}

#[test]
fn bad_audio_inputs_fail_cleanly_and_leave_no_output() {
    let dir = tempfile::tempdir().expect("tmp");
    let tok = dir.path().join("out.tok");
    fails(&["encode", "/no/such/file.wav", s(&tok)], "no/such/file.wav");
    let text = dir.path().join("notes.wav");
    std::fs::write(&text, "this is not audio at all, just text\n").expect("write");
    fails(&["encode", s(&text), s(&tok)], "cannot read audio");
    let empty = dir.path().join("empty.wav");
    std::fs::write(&empty, b"").expect("write");
    fails(&["encode", s(&empty), s(&tok)], "cannot read audio");
    let silent = dir.path().join("zero-length.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    hound::WavWriter::create(&silent, spec).expect("wav").finalize().expect("finalize");
    fails(&["encode", s(&silent), s(&tok)], "no samples");
    assert!(!tok.exists(), "a failed encode left an output file");
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 3, "temporary files were left behind");
}

#[test]
fn bad_token_files_fail_cleanly() {
    let dir = tempfile::tempdir().expect("tmp");
    let tok = dir.path().join("good.tok");
    let wav = dir.path().join("out.wav");
    ok(&["encode", s(&sample()), s(&tok), "--model", "grvq"]);
    let good = std::fs::read(&tok).expect("tok");

    let truncated = dir.path().join("truncated.tok");
    std::fs::write(&truncated, &good[..good.len() / 2]).expect("write");
    fails(&["decode", s(&truncated), s(&wav)], "truncated");

    let corrupted = dir.path().join("corrupted.tok");
    let mut bad = good.clone();
    let mid = bad.len() - 10;
    bad[mid] ^= 0x40;
    std::fs::write(&corrupted, &bad).expect("write");
    fails(&["decode", s(&corrupted), s(&wav)], "checksum");

    let garbage = dir.path().join("garbage.tok");
    std::fs::write(&garbage, b"RIFF\0\0\0\0WAVEfmt definitely not tokens").expect("write");
    fails(&["decode", s(&garbage), s(&wav)], "a WAV file, not a token file");

    fails(&["decode", s(&tok), s(&wav), "--model", "mcrvq"], "different model");
    fails(&["decode", "/no/such.tok", s(&wav)], "no/such.tok");
    assert!(!wav.exists(), "a failed decode left an output file");
}

#[test]
fn damaged_model_packages_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let pkg = dir.path().join("pkg");
    std::fs::create_dir(&pkg).expect("mkdir");
    for e in std::fs::read_dir(repo().join("models").join("grvq")).expect("package") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), pkg.join(e.file_name())).expect("copy");
    }
    let tok = dir.path().join("a.tok");
    let enc = pkg.join("encoder.onnx");
    let mut bytes = std::fs::read(&enc).expect("read");
    bytes[1000] ^= 1;
    std::fs::write(&enc, &bytes).expect("write");
    fails(&["encode", s(&sample()), s(&tok), "--model", s(&pkg)], "hash");
    std::fs::remove_file(&enc).expect("rm");
    fails(&["encode", s(&sample()), s(&tok), "--model", s(&pkg)], "missing");
    fails(&["encode", s(&sample()), s(&tok), "--model", "nonexistent-model"], "no model named");
    assert!(!tok.exists());
}

#[test]
fn roundtrip_prints_bitrate_and_speed() {
    let dir = tempfile::tempdir().expect("tmp");
    let wav = dir.path().join("rt.wav");
    let out = ok(&["roundtrip", s(&sample()), s(&wav)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("kbps") && err.contains("realtime"), "{err}");
    assert!(wav.exists());
}

/// A WAV file with the given header fields and `data` as its samples.
fn wav_bytes(format: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
    let align = channels.max(1) * bits.div_ceil(8).max(1);
    let mut fmt = Vec::new();
    for v in [format, channels] {
        fmt.extend_from_slice(&v.to_le_bytes());
    }
    fmt.extend_from_slice(&rate.to_le_bytes());
    fmt.extend_from_slice(&(rate * u32::from(align)).to_le_bytes());
    fmt.extend_from_slice(&align.to_le_bytes());
    fmt.extend_from_slice(&bits.to_le_bytes());
    let mut body = b"WAVEfmt ".to_vec();
    body.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
    body.extend_from_slice(&fmt);
    body.extend_from_slice(b"data");
    body.extend_from_slice(&(data.len() as u32).to_le_bytes());
    body.extend_from_slice(data);
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

#[test]
fn malformed_wav_headers_fail_cleanly() {
    let dir = tempfile::tempdir().expect("tmp");
    let tok = dir.path().join("out.tok");
    let cases = [
        ("bits7", wav_bytes(1, 1, 16000, 7, &[0x10; 1600]), "bits per sample"),
        ("bits64", wav_bytes(1, 1, 16000, 64, &[0; 3200]), "bits per sample"),
        ("format99", wav_bytes(99, 1, 16000, 16, &[0; 3200]), "unsupported"),
        ("channels0", wav_bytes(1, 0, 16000, 16, &[0; 3200]), "channel"),
        ("rate0", wav_bytes(1, 1, 0, 16, &[0; 3200]), "malformed"),
    ];
    for (name, bytes, needle) in cases {
        let path = dir.path().join(format!("{name}.wav"));
        std::fs::write(&path, bytes).expect("write");
        let err = fails(&["encode", s(&path), s(&tok)], needle);
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
    assert!(!tok.exists());
}

#[test]
fn every_input_format_round_trips() {
    let dir = tempfile::tempdir().expect("tmp");
    let formats = repo().join("testdata").join("formats");
    let mut seen = 0;
    for entry in std::fs::read_dir(&formats).expect("formats") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            continue;
        }
        let name = path.file_name().expect("name").to_string_lossy().to_string();
        let tok = dir.path().join(format!("{name}.tok"));
        let wav = dir.path().join(format!("{name}.wav"));
        ok(&["encode", s(&path), s(&tok)]);
        ok(&["decode", s(&tok), s(&wav)]);
        let (out, rate) = read_wav(&wav);
        assert_eq!(rate, 16000, "{name}: decoded at the model's rate by default");
        assert!(out.len() > 1600, "{name}: {} samples", out.len());
        let wav48 = dir.path().join(format!("{name}.48k.wav"));
        ok(&["decode", s(&tok), s(&wav48), "--rate", "48000"]);
        let (out48, rate48) = read_wav(&wav48);
        assert_eq!(rate48, 48000);
        assert!((out48.len() as i64 - 3 * out.len() as i64).abs() <= 3, "{name}: --rate keeps the duration");
        seen += 1;
    }
    assert!(seen >= 5, "only {seen} format files");
}

#[test]
fn a_missing_onnx_runtime_is_explained() {
    let dir = tempfile::tempdir().expect("tmp");
    let tok = dir.path().join("a.tok");
    let out = Command::new(env!("CARGO_BIN_EXE_codec"))
        .args(["encode", s(&sample()), s(&tok)])
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so.1.31.1")
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("ONNX Runtime library not found") && err.contains("ORT_DYLIB_PATH"), "{err}");
    assert!(!tok.exists());
}

#[test]
fn help_explains_every_option() {
    for cmd in ["encode", "decode", "info", "roundtrip", "models"] {
        let out = ok(&[cmd, "--help"]);
        let text = String::from_utf8_lossy(&out.stdout);
        for line in text.lines().filter(|l| l.trim_start().starts_with("--")) {
            let described = line.trim_start().split_once("  ").is_some_and(|(_, d)| !d.trim().is_empty());
            assert!(described, "`codec {cmd} --help`: option without a description: {line}");
        }
    }
    let text = String::from_utf8_lossy(&ok(&["encode", "--help"]).stdout).to_string();
    assert!(text.contains("[default: default]") && text.contains("[default: cpu]"), "{text}");
}

#[test]
fn an_unavailable_gpu_falls_back_to_the_cpu_with_a_notice() {
    let dir = tempfile::tempdir().expect("tmp");
    let tok = dir.path().join("a.tok");
    for device in ["cuda", "tensorrt"] {
        let out = ok(&["encode", s(&sample()), s(&tok), "--device", device]);
        let err = String::from_utf8_lossy(&out.stderr);
        // The CPU build of ONNX Runtime has no GPU providers; a GPU build on a GPU machine prints no notice.
        if err.contains("notice:") {
            assert!(err.contains(device) && err.contains("running on the CPU"), "{err}");
        }
        assert!(tok.exists());
    }
    // A usage error is clap's: exit status 2 and a hint to --help.
    let out = codec(&["encode", s(&sample()), s(&tok), "--device", "tpu"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown device `tpu`"));
}
