//! What a hostile tester broke (issue 20, items 1-5 and 9-11): outputs that
//! are not regular files, the input given as the output, modes, a killed
//! run's temporary file, SIGTERM to a receiver, inputs that asked for
//! absurd memory, and memory that grew with the length of the file.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::tokens::zero_tokens;
use common::{codec_bin, s, sample};

fn codec() -> Command {
    Command::new(codec_bin())
}

fn run(args: &[&str]) -> Output {
    codec().args(args).output().expect("run codec")
}

fn ok(args: &[&str]) -> Output {
    let out = run(args);
    assert!(out.status.success(), "codec {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// Exit status 1 and one line on stderr containing `needle`.
fn fails(args: &[&str], needle: &str) -> String {
    let out = run(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "codec {args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "codec {args:?}: {err}");
    assert!(err.contains(needle), "codec {args:?}: expected `{needle}` in: {err}");
    err
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(dir).expect("ls").map(|e| e.expect("entry").file_name().to_string_lossy().into()).collect();
    names.sort();
    names
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().expect("mkfifo").success());
}

/// Waits for `child` and returns its exit status and peak memory (max RSS, kB).
fn wait_with_peak(child: Child) -> (std::process::ExitStatus, i64) {
    use std::os::unix::process::ExitStatusExt;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of the plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the child is ours and not waited for yet; both pointers are valid.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t, "wait4: {}", std::io::Error::last_os_error());
    (std::process::ExitStatus::from_raw(status), usage.ru_maxrss)
}

/// A 16 kHz WAV of `minutes` minutes: the sample over and over.
fn long_wav(path: &Path, minutes: u32) {
    let mut reader = hound::WavReader::open(sample()).expect("sample");
    let spec = reader.spec();
    let pcm: Vec<i16> = reader.samples::<i16>().map(|x| x.expect("sample")).collect();
    let mut writer = hound::WavWriter::create(path, spec).expect("create");
    let total = u64::from(minutes) * 60 * u64::from(spec.sample_rate);
    for &x in pcm.iter().cycle().take(total as usize) {
        writer.write_sample(x).expect("write");
    }
    writer.finalize().expect("finalize");
}

#[test]
fn outputs_to_fifos_and_symlinks_are_written_through_never_replaced() {
    let dir = tempfile::tempdir().expect("tmp");
    let tok = dir.path().join("a.tok");
    ok(&["encode", "-q", s(&sample()), s(&tok)]);
    let file_wav = dir.path().join("file.wav");
    ok(&["decode", "-q", s(&tok), s(&file_wav)]);

    // A FIFO gets the same bytes as a file, and stays a FIFO.
    let fifo = dir.path().join("fifo.wav");
    mkfifo(&fifo);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            fs::File::open(fifo).expect("open fifo").read_to_end(&mut bytes).expect("read fifo");
            bytes
        })
    };
    ok(&["decode", "-q", s(&tok), s(&fifo)]);
    // Checked first: a replaced FIFO leaves the reader waiting for ever.
    assert!(fs::symlink_metadata(&fifo).expect("stat").file_type().is_fifo(), "the FIFO was replaced");
    assert_eq!(reader.join().expect("reader"), fs::read(&file_wav).expect("read"));

    // A symlink is followed: its target is replaced, the link stays a link.
    let target = dir.path().join("target.tok");
    fs::write(&target, b"old").expect("write");
    let link = dir.path().join("link.tok");
    std::os::unix::fs::symlink("target.tok", &link).expect("ln");
    ok(&["encode", "-q", s(&sample()), s(&link)]);
    assert!(fs::symlink_metadata(&link).expect("stat").file_type().is_symlink(), "the link was replaced");
    assert_eq!(fs::read(&target).expect("read"), fs::read(&tok).expect("read"));
    assert_eq!(names(dir.path()), ["a.tok", "fifo.wav", "file.wav", "link.tok", "target.tok"]);
}

#[test]
fn an_output_that_is_the_input_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let copy = dir.path().join("copy.wav");
    fs::copy(sample(), &copy).expect("copy");
    fs::hard_link(&copy, dir.path().join("hard.wav")).expect("ln");
    std::os::unix::fs::symlink(&copy, dir.path().join("soft.wav")).expect("ln -s");
    let before = fs::read(&copy).expect("read");
    for out in ["copy.wav", "hard.wav", "soft.wav"] {
        let out = dir.path().join(out);
        fails(&["encode", s(&copy), s(&out)], "refusing to overwrite the input");
        fails(&["roundtrip", s(&copy), s(&out)], "refusing to overwrite the input");
    }
    let tok = dir.path().join("a.tok");
    ok(&["encode", "-q", s(&copy), s(&tok)]);
    let tok_bytes = fs::read(&tok).expect("read");
    fails(&["decode", s(&tok), s(&tok)], "refusing to overwrite the input");
    assert_eq!(fs::read(&copy).expect("read"), before, "the input was changed");
    assert_eq!(fs::read(&tok).expect("read"), tok_bytes, "the input was changed");
}

#[test]
fn outputs_are_created_with_the_umask() {
    let dir = tempfile::tempdir().expect("tmp");
    let tok = dir.path().join("a.tok");
    ok(&["encode", "-q", s(&sample()), s(&tok)]);
    for (umask, want) in [("022", 0o644), ("077", 0o600), ("002", 0o664)] {
        let sub = dir.path().join(umask);
        fs::create_dir(&sub).expect("mkdir");
        let commands = [
            format!("encode -q '{}' '{}'", s(&sample()), s(&sub.join("e.tok"))),
            format!("decode -q '{}' '{}'", s(&tok), s(&sub.join("d.wav"))),
            format!("roundtrip '{}' '{}'", s(&sample()), s(&sub.join("r.wav"))),
        ];
        for command in commands {
            let shell = format!("umask {umask} && exec '{}' {command}", s(&codec_bin()));
            let out = Command::new("sh").arg("-c").arg(&shell).output().expect("sh");
            assert!(out.status.success(), "{shell}: {}", String::from_utf8_lossy(&out.stderr));
        }
        for name in ["e.tok", "d.wav", "r.wav"] {
            let mode = fs::metadata(sub.join(name)).expect("stat").permissions().mode() & 0o777;
            assert_eq!(mode, want, "umask {umask}: {name} is {mode:o}");
        }
    }
}

#[test]
fn a_killed_run_leaves_no_temporary_file_for_the_next_one() {
    let dir = tempfile::tempdir().expect("tmp");
    // Two hours of tokens: decoding them takes long enough to be killed mid-write.
    let tok = zero_tokens(dir.path(), 2 * 3600 * 50);
    let out_dir = dir.path().join("out");
    fs::create_dir(&out_dir).expect("mkdir");
    let mut child = codec().args(["decode", "-q", s(&tok), s(&out_dir.join("long.wav"))]).spawn().expect("spawn");
    let started = Instant::now();
    let temp = loop {
        let found = names(&out_dir).into_iter().find(|n| n.starts_with(".codec-"));
        if let Some(name) = found.filter(|n| fs::metadata(out_dir.join(n)).is_ok_and(|m| m.len() > 0)) {
            break out_dir.join(name);
        }
        assert!(child.try_wait().expect("wait").is_none(), "the decode ended before it was killed");
        assert!(started.elapsed() < Duration::from_secs(300), "no temporary file appeared");
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().expect("kill -9");
    child.wait().expect("wait");
    assert!(temp.exists(), "kill -9 strands the temporary file: this test checks the next run removes it");
    // A temporary file is left alone for a minute after its last write.
    fs::File::options()
        .write(true)
        .open(&temp)
        .expect("open")
        .set_modified(SystemTime::now() - Duration::from_secs(120))
        .expect("touch");
    ok(&["encode", "-q", s(&sample()), s(&out_dir.join("next.tok"))]);
    assert_eq!(names(&out_dir), ["next.tok"], "the stale temporary file is still there");
}

#[test]
fn sigterm_and_sighup_save_what_receive_got() {
    for signal in [libc::SIGTERM, libc::SIGHUP] {
        let dir = tempfile::tempdir().expect("tmp");
        let out = dir.path().join("received.wav");
        let port = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let addr = format!("127.0.0.1:{port}");
        let mut receiver = codec()
            .args(["receive", "--listen", &addr, "-o", s(&out), "--idle-stop", "600"])
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn receive");
        // Its stderr is read to the end (a closed pipe would end it another
        // way); each status line comes once a second.
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = BufReader::new(receiver.stderr.take().expect("stderr"));
        let reading = std::thread::spawn(move || {
            let mut seen = String::new();
            for line in stderr.lines().map_while(Result::ok) {
                let kbps =
                    line.split("received ").nth(1).and_then(|r| r.split(' ').next()).and_then(|v| v.parse().ok());
                if line.starts_with("listening on") {
                    let _ = tx.send("listening");
                }
                if kbps.is_some_and(|k: f64| k > 0.0) {
                    let _ = tx.send("audio");
                }
                seen.push_str(&line);
                seen.push('\n');
            }
            seen
        });
        let limit = Duration::from_secs(60);
        assert_eq!(rx.recv_timeout(limit), Ok("listening"));
        let mut sender = codec()
            .args(["send", "--to", &addr, "-i", s(&sample()), "-q"])
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn send");
        // Signalled once audio has come, while the sender still sends.
        assert_eq!(rx.recv_timeout(limit), Ok("audio"), "no status line said audio came");
        // SAFETY: signalling our own child.
        assert_eq!(unsafe { libc::kill(receiver.id() as libc::pid_t, signal) }, 0);
        let status = receiver.wait().expect("wait");
        let _ = sender.kill();
        let _ = sender.wait();
        let seen = reading.join().expect("stderr");
        assert!(status.success(), "signal {signal}: exit {status}; stderr:\n{seen}");
        let reader = hound::WavReader::open(&out).expect("the audio was saved");
        assert!(reader.duration() > 0, "signal {signal}: an empty file");
    }
}

#[test]
fn a_token_file_too_long_for_a_wav_is_refused_not_allocated() {
    let dir = tempfile::tempdir().expect("tmp");
    // 30,240,000 frames (a week at 50 a second, the format's limit): 151 MB,
    // a valid checksum, 9.7e9 samples: more than a WAV holds.
    let tok = zero_tokens(dir.path(), 30_240_000);
    let wav = dir.path().join("out.wav");
    let err = fails(&["decode", s(&tok), s(&wav)], "do not fit in a WAV file");
    assert!(!err.contains("memory allocation"), "{err}");
    // The same through a pipe: refused from the header, before the codes arrive.
    let mut child = codec()
        .args(["decode", "-", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut file = fs::File::open(&tok).expect("open");
    // The child exits without reading it all: a broken pipe here is expected.
    let _ = std::io::copy(&mut file, &mut stdin);
    drop(stdin);
    let out = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("do not fit in a WAV file"), "{err}");
    assert!(out.stdout.is_empty(), "nothing is written before the length is known to fit");
    assert_eq!(names(dir.path()), ["small.tok", "zeros-30240000.tok"]);
}

#[test]
fn sample_rates_outside_4k_to_384k_are_refused_with_a_message() {
    let dir = tempfile::tempdir().expect("tmp");
    // A 1 MB WAV whose header claims 1 Hz: this asked for 33.7 GB. hound
    // writes the plain 44-byte header, with the rate at bytes 24..28.
    let half_minute = dir.path().join("half-minute.wav");
    long_wav(&half_minute, 1);
    let mut bytes = fs::read(&half_minute).expect("read");
    bytes.truncate(1 << 20);
    let n = bytes.len() as u32;
    bytes[4..8].copy_from_slice(&(n - 8).to_le_bytes());
    bytes[40..44].copy_from_slice(&(n - 44).to_le_bytes());
    fs::remove_file(&half_minute).expect("rm");
    for rate in [1u32, 3_999, 384_001] {
        bytes[24..28].copy_from_slice(&rate.to_le_bytes());
        bytes[28..32].copy_from_slice(&(2 * rate).to_le_bytes());
        let path = dir.path().join(format!("rate{rate}.wav"));
        fs::write(&path, &bytes).expect("write");
        fails(
            &["encode", s(&path), s(&dir.path().join("x.tok"))],
            &format!("sample rate of {rate} Hz is not supported"),
        );
        fails(&["roundtrip", s(&path), s(&dir.path().join("x.wav"))], "is not supported");
    }
    let tok = dir.path().join("a.tok");
    ok(&["encode", "-q", s(&sample()), s(&tok)]);
    for rate in ["768000", "1", "3999"] {
        fails(&["decode", s(&tok), s(&dir.path().join("x.wav")), "--rate", rate], "--rate");
    }
    fails(&["roundtrip", s(&sample()), s(&dir.path().join("x.wav")), "--rate", "500000"], "--rate");
    ok(&["decode", "-q", s(&tok), s(&dir.path().join("low.wav")), "--rate", "4000"]);
    ok(&["decode", "-q", s(&tok), s(&dir.path().join("high.wav")), "--rate", "384000"]);
    let mut names = names(dir.path());
    names.retain(|n| !n.starts_with("rate"));
    assert_eq!(names, ["a.tok", "high.wav", "low.wav"]);
}

#[test]
fn stdin_and_stdout_give_the_bytes_files_give() {
    let dir = tempfile::tempdir().expect("tmp");
    let long = dir.path().join("long.wav");
    long_wav(&long, 1);
    for input in [sample(), long] {
        let tok = dir.path().join("a.tok");
        let wav = dir.path().join("a.wav");
        ok(&["encode", "-q", s(&input), s(&tok)]);
        ok(&["decode", "-q", s(&tok), s(&wav), "--rate", "44100"]);
        let piped = |args: &[&str], stdin: &Path| {
            let out = codec().args(args).stdin(fs::File::open(stdin).expect("open")).output().expect("run");
            assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
            out.stdout
        };
        assert!(piped(&["encode", "-q", "-", "-"], &input) == fs::read(&tok).expect("read"), "encode through pipes");
        let decoded = piped(&["decode", "-q", "-", "-", "--rate", "44100"], &tok);
        assert!(decoded == fs::read(&wav).expect("read"), "decode through pipes");
    }
}

#[test]
fn memory_does_not_grow_with_the_length_of_the_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let long = dir.path().join("long.wav");
    // 20 minutes: the whole-file path peaked at about 170 MB to encode this
    // and 210 MB to decode it (503 and 618 MiB for an hour); streaming stays
    // near the runtime's own 60 MB whatever the length.
    long_wav(&long, 20);
    let tok = dir.path().join("long.tok");
    let limit_kb = 120 * 1024;
    let child = codec().args(["encode", "-q", s(&long), s(&tok)]).spawn().expect("spawn");
    let (status, peak) = wait_with_peak(child);
    assert!(status.success(), "encode: {status}");
    println!("encode of 20 minutes: peak {} MiB", peak / 1024);
    assert!(peak < limit_kb, "encode of 20 minutes peaked at {} MiB", peak / 1024);
    let child = codec().args(["decode", "-q", s(&tok), s(&dir.path().join("out.wav"))]).spawn().expect("spawn");
    let (status, peak) = wait_with_peak(child);
    assert!(status.success(), "decode: {status}");
    println!("decode of 20 minutes: peak {} MiB", peak / 1024);
    assert!(peak < limit_kb, "decode of 20 minutes peaked at {} MiB", peak / 1024);
}
