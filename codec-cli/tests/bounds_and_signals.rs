//! Issue 32, items 8, 10 and 11: endless inputs to the corpus commands are
//! refused unread, thread counts have a limit, and a signal during a command
//! that writes a file leaves no temporary file behind.

mod common;

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use common::tokens::zero_tokens;
use common::{codec_bin, ok, s, sample};

/// Waits for `child` up to `limit`; kills it past that and says so.
fn wait_for(mut child: Child, limit: Duration, what: &str) -> ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `codec args` held to 8 GB of address space and two minutes: a
/// command that reads an endless input fails there rather than taking the
/// machine, and one that waits without end is killed.
fn run_capped(args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 8000000 && exec timeout -s KILL 120 \"$@\"")
        .arg("sh")
        .arg(codec_bin())
        .args(args)
        .output()
        .expect("run codec")
}

/// As [`run_capped`], expecting exit status `code` and `needle` on stderr.
fn refused(args: &[&str], code: i32, needle: &str) {
    let out = run_capped(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "codec {args:?}: {}: {err}", out.status);
    assert!(err.contains(needle), "codec {args:?}: expected `{needle}` in: {err}");
}

/// A token part of the sample, made by `codec tokenize`: its `.jsonl` path.
fn a_part(dir: &Path) -> PathBuf {
    let input = dir.join("in");
    fs::create_dir(&input).expect("mkdir");
    fs::copy(sample(), input.join("a.wav")).expect("copy");
    let parts = dir.join("parts");
    ok(&["tokenize", s(&input), s(&parts), "--quiet", "--jobs", "1"]);
    parts.join("part-00000.jsonl")
}

#[test]
fn endless_manifests_and_part_indexes_are_refused_unread() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("out");
    refused(&["tokenize", "/dev/zero", s(&out)], 1, "not a regular file");
    let fifo = dir.path().join("list.txt");
    assert!(Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
    refused(&["tokenize", s(&fifo), s(&out)], 1, "not a regular file");

    let index = a_part(dir.path());
    fs::remove_file(&index).expect("rm");
    std::os::unix::fs::symlink("/dev/zero", &index).expect("ln -s");
    refused(&["stats", s(&index)], 1, "not a regular file");
    refused(&["detokenize", s(&index), s(&dir.path().join("wavs"))], 1, "not a regular file");
}

#[test]
fn thread_counts_over_the_limit_are_refused_with_the_limit() {
    let dir = tempfile::tempdir().expect("tmp");
    let tok = dir.path().join("a.tok");
    for threads in ["257", "100000"] {
        refused(&["encode", "--threads", threads, s(&sample()), s(&tok)], 2, "256");
    }
    refused(&["decode", "--threads", "300", s(&sample()), s(&tok)], 2, "--threads");
    assert!(!tok.exists());
    ok(&["encode", "-q", "--threads", "2", s(&sample()), s(&tok)]);
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

fn temps(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".codec-"))
        .collect()
}

/// Starts `codec args` writing into `out_dir`, and signals it once its
/// temporary file is there; returns how it ended.
fn signalled_once_writing(args: &[&str], out_dir: &Path, signal: libc::c_int) -> ExitStatus {
    let child = Command::new(codec_bin()).args(args).stderr(Stdio::null()).spawn().expect("spawn");
    let started = Instant::now();
    let mut child = Some(child);
    while temps(out_dir).is_empty() {
        let running = child.as_mut().expect("child").try_wait().expect("wait").is_none();
        assert!(running, "codec {args:?} ended before it was signalled");
        assert!(started.elapsed() < Duration::from_secs(300), "codec {args:?}: no temporary file appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    let child = child.take().expect("child");
    // SAFETY: signalling our own child, not yet waited for.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
    wait_for(child, Duration::from_secs(60), &format!("codec {args:?} after signal {signal}"))
}

#[test]
fn a_signal_during_encode_decode_or_roundtrip_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().expect("tmp");
    // Long enough that each command is still at work when it is signalled.
    let tok = zero_tokens(dir.path(), 2 * 3600 * 50);
    let wav = dir.path().join("long.wav");
    long_wav(&wav, 20);
    let out_dir = dir.path().join("out");
    fs::create_dir(&out_dir).expect("mkdir");
    let out = |name: &str| out_dir.join(name).to_string_lossy().into_owned();
    let runs: [(&str, [String; 4]); 3] = [
        ("decode", ["decode".into(), "-q".into(), s(&tok).into(), out("d.wav")]),
        ("encode", ["encode".into(), "-q".into(), s(&wav).into(), out("e.tok")]),
        ("roundtrip", ["roundtrip".into(), "-q".into(), s(&wav).into(), out("r.wav")]),
    ];
    for (signal, name) in [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM")] {
        for (command, args) in &runs {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let status = signalled_once_writing(&args, &out_dir, signal);
            assert_eq!(temps(&out_dir), Vec::<String>::new(), "{command} after {name} left its temporary file");
            assert_eq!(status.signal(), Some(libc::SIGINT), "{command} after {name}: {status}");
            assert_eq!(fs::read_dir(&out_dir).expect("ls").count(), 0, "{command} after {name} wrote an output");
        }
    }
}
