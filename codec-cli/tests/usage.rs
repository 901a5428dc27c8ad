//! What a new user runs into: a pipe closed early, the wrong kind of file,
//! binary output on a terminal, and options that mean less than they say.

use std::process::{Command, Output, Stdio};

mod common;
use common::{codec, ok, repo, s, sample};

/// Exit status 1 and one line on stderr containing `needle`; returns the line.
fn fails(args: &[&str], needle: &str) -> String {
    let out = codec(args);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "codec {args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "codec {args:?} printed more than one line: {err}");
    assert!(err.contains(needle), "codec {args:?}: expected `{needle}` in: {err}");
    err
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `codec args` with stdout a pipe whose reader is already gone, as after
/// `| head -1` has read its line: every write to stdout fails with EPIPE.
fn into_closed_pipe(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    Command::new(env!("CARGO_BIN_EXE_codec"))
        .args(args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run codec")
}

#[test]
fn a_closed_pipe_ends_every_command_quietly() {
    let dir = tempfile::tempdir().expect("tmp");
    let tok = dir.path().join("a.tok");
    ok(&["encode", s(&sample()), s(&tok), "-q"]);
    let corpus = dir.path().join("corpus");
    std::fs::create_dir(&corpus).expect("mkdir");
    std::fs::copy(sample(), corpus.join("a.wav")).expect("copy");
    let parts = dir.path().join("parts");
    ok(&["tokenize", s(&corpus), s(&parts), "-q"]);
    let wav = sample();
    let commands: [&[&str]; 5] =
        [&["models"], &["info", s(&tok)], &["stats", s(&parts)], &["encode", s(&wav), "-"], &["decode", s(&tok), "-"]];
    for args in commands {
        let out = into_closed_pipe(args);
        let err = stderr(&out);
        assert!(out.status.success(), "codec {args:?}: {:?}: {err}", out.status);
        assert!(err.is_empty(), "codec {args:?} printed: {err}");
    }
}

#[test]
fn a_file_that_is_not_tokens_is_named_for_what_it_is() {
    let dir = tempfile::tempdir().expect("tmp");
    let wav = dir.path().join("o.wav");
    let err = fails(&["decode", s(&sample()), s(&wav)], "a WAV file, not a token file: did you mean `codec encode`?");
    assert!(!err.contains("magic"), "{err}");
    let flac = repo().join("testdata/formats");
    let flac = std::fs::read_dir(flac)
        .expect("formats")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "flac"))
        .expect("a FLAC file in testdata/formats");
    fails(&["info", s(&flac)], "a FLAC file, not a token file");
    let jsonl = dir.path().join("part-00000.jsonl");
    std::fs::write(&jsonl, "{\"id\": \"a.wav\", \"frames\": 150}\n").expect("write");
    fails(&["info", s(&jsonl)], "`codec detokenize`");
    let junk = dir.path().join("junk.tok");
    std::fs::write(&junk, [0x00, 0x1f, 0x80, 0xfe, 0, 0, 0, 0, 0, 0]).expect("write");
    fails(&["info", s(&junk)], "it starts with bytes 00 1f 80 fe");
    assert!(!wav.exists());
}

/// A pseudo-terminal: the reading side, and the terminal a child writes to.
fn pty() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    // SAFETY: plain libc calls on a descriptor this function owns; the
    // name buffer is as long as the call is told.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(master >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
        assert_eq!(libc::grantpt(master), 0, "grantpt");
        assert_eq!(libc::unlockpt(master), 0, "unlockpt");
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(master, name.as_mut_ptr(), name.len()), 0, "ptsname_r");
        let path = std::ffi::CStr::from_ptr(name.as_ptr()).to_str().expect("pty name").to_owned();
        let terminal =
            std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NOCTTY).open(path).expect("open the terminal");
        (std::fs::File::from_raw_fd(master), terminal)
    }
}

#[test]
fn binary_output_is_not_written_to_a_terminal() {
    let dir = tempfile::tempdir().expect("tmp");
    let tok = dir.path().join("a.tok");
    ok(&["encode", s(&sample()), s(&tok), "-q"]);
    let wav = sample();
    let commands: [&[&str]; 3] = [&["encode", s(&wav), "-"], &["decode", s(&tok), "-"], &["roundtrip", s(&wav), "-"]];
    for args in commands {
        let (_master, terminal) = pty();
        let out = Command::new(env!("CARGO_BIN_EXE_codec"))
            .args(args)
            .stdout(terminal)
            .stderr(Stdio::piped())
            .output()
            .expect("run codec");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "codec {args:?}: {err}");
        assert!(err.starts_with("error: not writing") && err.contains("terminal"), "{err}");
    }
}

#[test]
fn a_bitrate_the_model_cannot_give_is_said_so() {
    let dir = tempfile::tempdir().expect("tmp");
    let tok = dir.path().join("a.tok");
    let out = ok(&["encode", s(&sample()), s(&tok), "--model", "mcrvq", "--kbps", "100", "-q"]);
    let err = stderr(&out);
    assert!(err.starts_with("notice: --kbps 100") && err.contains("using 4.00 kbps (8 stages)"), "{err}");
    let out = ok(&["encode", s(&sample()), s(&tok), "--model", "grvq", "--kbps", "4", "-q"]);
    let err = stderr(&out);
    assert!(err.contains("notice:") && err.contains("using 2.00 kbps"), "{err}");
    // What the model offers exactly is taken without a word.
    let out = ok(&["encode", s(&sample()), s(&tok), "--model", "mcrvq", "--kbps", "3", "-q"]);
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    fails(
        &["encode", s(&sample()), s(&tok), "--model", "grvq", "--stages", "3"],
        "model `grvq` has a fixed 2 stages per group (4 codes a frame, 2.00 kbps)",
    );
    fails(
        &["encode", s(&sample()), s(&tok), "--model", "mcrvq", "--stages", "9"],
        "has 3 to 8 stages (1.50 to 4.00 kbps)",
    );
}

#[test]
fn option_mistakes_are_explained() {
    let dir = tempfile::tempdir().expect("tmp");
    let tok = dir.path().join("a.tok");
    // `gpu` would have to pick cuda or tensorrt silently.
    let out = codec(&["encode", s(&sample()), s(&tok), "--device", "gpu"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("say cuda or tensorrt"), "{}", stderr(&out));
    fails(&["receive", "--listen", "99999"], "port 99999 is out of range");
    fails(&["receive", "--listen", "127.0.0.1:70000"], "port 70000 is out of range");
    fails(&["send", "--to", "localhost:123456", "-i", s(&sample())], "port 123456 is out of range");
    assert!(!tok.exists());
}

#[test]
fn roundtrip_takes_the_options_of_decode() {
    let dir = tempfile::tempdir().expect("tmp");
    let wav = dir.path().join("rt.wav");
    let out = ok(&["roundtrip", s(&sample()), s(&wav), "--rate", "8000", "-q"]);
    assert!(stderr(&out).is_empty(), "-q printed: {}", stderr(&out));
    assert_eq!(hound::WavReader::open(&wav).expect("wav").spec().sample_rate, 8000);
    // The old name still works, unlisted.
    ok(&["roundtrip", s(&sample()), s(&wav), "--out-rate", "24000", "--quiet"]);
    assert_eq!(hound::WavReader::open(&wav).expect("wav").spec().sample_rate, 24000);
    let help = String::from_utf8_lossy(&ok(&["roundtrip", "--help"]).stdout).into_owned();
    assert!(help.contains("--rate <RATE>") && !help.contains("--out-rate"), "{help}");
}

#[test]
fn help_and_info_say_what_is_true() {
    let help = String::from_utf8_lossy(&ok(&["receive", "--help"]).stdout).into_owned();
    for absent in ["--input", "--kbps"] {
        assert!(!help.contains(absent), "`codec receive --help` lists {absent}:\n{help}");
    }
    assert!(help.contains("--stages"), "{help}");
    let help = String::from_utf8_lossy(&ok(&["--help"]).stdout).into_owned();
    assert!(help.contains("1.5-4 kbps") && !help.contains(" 2 kbps"), "{help}");

    let dir = tempfile::tempdir().expect("tmp");
    let tok = dir.path().join("a.tok");
    ok(&["encode", s(&sample()), s(&tok), "--model", "mcrvq", "-q"]);
    let info = String::from_utf8_lossy(&ok(&["info", s(&tok)]).stdout).into_owned();
    assert!(info.contains("(1 group x "), "{info}");
    ok(&["encode", s(&sample()), s(&tok), "--model", "grvq", "-q"]);
    let info = String::from_utf8_lossy(&ok(&["info", s(&tok)]).stdout).into_owned();
    assert!(info.contains("(2 groups x 2 stages)"), "{info}");
}

/// Issue 32, item 14: `decode` (and `roundtrip`) write WAV only, so an
/// output named for another format is refused before anything is written.
#[test]
fn an_output_named_for_a_format_not_written_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let tok = dir.path().join("a.tok");
    ok(&["encode", s(&sample()), s(&tok), "-q"]);
    let mp3 = dir.path().join("out.mp3");
    fails(&["decode", s(&tok), s(&mp3)], "WAV only");
    let flac = dir.path().join("out.FLAC");
    fails(&["roundtrip", s(&sample()), s(&flac)], "WAV only");
    assert!(!mp3.exists() && !flac.exists());
    ok(&["decode", s(&tok), "/dev/null", "-q"]);
}

/// Issue 32, item 20: each command lists the options that mean something to
/// it and says what they do; counts read as English; `info` says which rate
/// the tokens decode to and that the input's own is not recorded.
#[test]
fn help_texts_say_what_options_do() {
    let help = String::from_utf8_lossy(&ok(&["sdp", "--help"]).stdout).into_owned();
    for absent in ["--device", "--threads"] {
        assert!(!help.contains(absent), "`codec sdp --help` lists {absent}:\n{help}");
    }
    assert!(help.contains("--model"), "{help}");
    for command in ["decode", "encode", "detokenize", "tokenize"] {
        let help = String::from_utf8_lossy(&ok(&[command, "--help"]).stdout).into_owned();
        assert!(help.contains("falls back to cpu with a notice"), "`codec {command} --help`:\n{help}");
    }
    let help = String::from_utf8_lossy(&ok(&["detokenize", "--help"]).stdout).into_owned();
    assert!(help.contains("written `__`"), "{help}");
    let models = String::from_utf8_lossy(&ok(&["models"]).stdout).into_owned();
    assert!(!models.contains("(s)") && models.contains("1 group x") && models.contains("2 groups x"), "{models}");

    let dir = tempfile::tempdir().expect("tmp");
    let tok = dir.path().join("a.tok");
    let out = ok(&["roundtrip", s(&sample()), s(&dir.path().join("rt.wav"))]);
    assert!(!stderr(&out).contains(" 0x realtime"), "{}", stderr(&out));
    ok(&["encode", s(&sample()), s(&tok), "-q"]);
    let info = String::from_utf8_lossy(&ok(&["info", s(&tok)]).stdout).into_owned();
    assert!(info.contains("decodes to:   16000 Hz") && info.contains("own rate is not recorded"), "{info}");
}

/// Issue 32, item 15: a device that cannot be found or opened says what to
/// do on a machine with no sound card.
#[test]
fn a_missing_audio_device_says_what_to_do_without_a_sound_card() {
    let out = codec(&["loopback", "--duration", "1", "--input-device", "no-such-microphone"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let line = err.lines().find(|l| l.starts_with("error:")).unwrap_or_default();
    assert!(line.contains("no-such-microphone"), "{err}");
    assert!(line.contains("scripts/pulse-null.sh start") && line.contains("--input FILE"), "{err}");
}
