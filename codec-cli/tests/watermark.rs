//! `codec encode --watermark` and `codec detect` (issue 34), end to end.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{codec, ok, s, sample};

/// A fixed key, so that every run makes the same codes.
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const OTHER_KEY: &str = "HxwdHhsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA=";
const MESSAGE: &str = "1011001110001111";

fn key_file(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{text}\n")).expect("write key");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    path
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_marked_clip_is_found_after_decode_with_its_message_and_a_plain_one_is_not() {
    let dir = tempfile::tempdir().expect("tmp");
    let key = key_file(dir.path(), "wm.key", KEY, 0o600);
    let other = key_file(dir.path(), "other.key", OTHER_KEY, 0o600);
    let (marked_tok, marked_wav) = (dir.path().join("m.tok"), dir.path().join("m.wav"));
    let (plain_tok, plain_wav) = (dir.path().join("p.tok"), dir.path().join("p.wav"));
    let (zero_tok, zero_wav) = (dir.path().join("z.tok"), dir.path().join("z.wav"));
    ok(&["encode", "-q", s(&sample()), s(&marked_tok), "--watermark", s(&key), "--message", MESSAGE]);
    ok(&["decode", "-q", s(&marked_tok), s(&marked_wav)]);
    ok(&["encode", "-q", s(&sample()), s(&zero_tok), "--watermark", s(&key)]);
    ok(&["decode", "-q", s(&zero_tok), s(&zero_wav)]);
    ok(&["encode", "-q", s(&sample()), s(&plain_tok)]);
    ok(&["decode", "-q", s(&plain_tok), s(&plain_wav)]);

    // The tokens carry the message exactly.
    let out = codec(&["detect", "--key", s(&key), s(&marked_tok)]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).starts_with("watermark found"), "{}", stdout(&out));
    assert!(stdout(&out).contains(&format!("message:      {MESSAGE} (16 bits)")), "{}", stdout(&out));
    assert!(stdout(&out).contains("seconds:      5 of"), "{}", stdout(&out));
    // Decoded audio: found, with and without a message.
    for wav in [&marked_wav, &zero_wav] {
        let out = codec(&["detect", "--key", s(&key), s(wav)]);
        assert_eq!(out.status.code(), Some(0), "{}: {}", wav.display(), stdout(&out));
    }
    let out = codec(&["detect", "--key", s(&key), s(&zero_wav)]);
    assert!(stdout(&out).contains("message:      none"), "{}", stdout(&out));
    // Never marked, or marked under another key: not found.
    for (k, input) in
        [(&key, &plain_wav), (&key, &plain_tok), (&key, &sample()), (&other, &marked_wav), (&other, &marked_tok)]
    {
        let out = codec(&["detect", "--key", s(k), s(input)]);
        assert_eq!(out.status.code(), Some(1), "{} with {}: {}", input.display(), k.display(), stdout(&out));
        assert!(stdout(&out).starts_with("no watermark found") && !stdout(&out).contains("message:"));
    }
    // A marked .tok decodes as any other: the watermark changes no format.
    let info = ok(&["info", s(&marked_tok)]);
    assert!(stdout(&info).contains("4 stages"), "{}", stdout(&info));
}

#[test]
fn bad_keys_and_messages_are_clear_errors_that_never_print_the_key() {
    let dir = tempfile::tempdir().expect("tmp");
    let open = key_file(dir.path(), "open.key", KEY, 0o644);
    let short = key_file(dir.path(), "short.key", "c2VjcmV0", 0o600);
    let garbage = key_file(dir.path(), "garbage.key", "this is not base64!", 0o600);
    let good = key_file(dir.path(), "good.key", KEY, 0o600);
    let missing = dir.path().join("missing.key");
    let out_tok = dir.path().join("o.tok");
    let cases: [(&Path, &str); 5] = [
        (&open, "readable by others"),
        (&short, "6 bytes"),
        (&garbage, "not base64"),
        (&missing, "missing.key"),
        (dir.path(), "not a regular file"),
    ];
    for (key, needle) in cases {
        for (args, code) in [
            (vec!["detect", "--key", s(key), s(&sample())], 2),
            (vec!["encode", s(&sample()), s(&out_tok), "--watermark", s(key)], 1),
        ] {
            let out = codec(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
            let last = err.trim_end().lines().last().unwrap_or("");
            assert!(last.starts_with("error: ") && last.contains(needle), "{args:?}: {err}");
            assert!(!err.contains(KEY) && !err.contains("c2VjcmV0") && !err.contains("this is not"), "{err}");
        }
    }
    assert!(!out_tok.exists(), "a refused encode wrote its output");
    for bad in ["102", "", &"1".repeat(33)] {
        let out = codec(&["encode", s(&sample()), s(&out_tok), "--watermark", s(&good), "--message", bad]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{bad}: {err}");
        assert!(err.contains("--message") && err.contains("0 and 1"), "{err}");
    }
    // A message needs a key; detect's input must exist and be audio or tokens.
    let out = codec(&["encode", s(&sample()), s(&out_tok), "--message", "1"]);
    assert_eq!(out.status.code(), Some(2));
    let out = codec(&["detect", "--key", s(&good), s(&dir.path().join("none.wav"))]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let out = codec(&["detect", "--key", s(&good), s(&good)]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `codec send --watermark`: the speech a live call plays is found with the
/// sender's key. A file at real-time pace over loopback UDP, no loss; the
/// receiver stops at the sender's goodbye.
#[test]
fn a_watermarked_call_is_found_in_what_the_receiver_wrote() {
    let _turn = common::call::realtime();
    let dir = tempfile::tempdir().expect("tmp");
    let key = key_file(dir.path(), "wm.key", KEY, 0o600);
    let out = dir.path().join("received.wav");
    let addr = format!("127.0.0.1:{}", common::call::free_port());
    let receiver = std::process::Command::new(common::codec_bin())
        .args(["receive", "--listen", &addr, "-o", s(&out), "-q"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn receive");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    ok(&["send", "--to", &addr, "-i", s(&sample()), "-q", "--watermark", s(&key)]);
    let received = common::call::wait(receiver, std::time::Duration::from_secs(60));
    assert!(received.status.success(), "{}", String::from_utf8_lossy(&received.stderr));
    let found = codec(&["detect", "--key", s(&key), s(&out)]);
    assert_eq!(found.status.code(), Some(0), "{}", stdout(&found));
    let other = key_file(dir.path(), "other.key", OTHER_KEY, 0o600);
    assert_eq!(codec(&["detect", "--key", s(&other), s(&out)]).status.code(), Some(1));
}
