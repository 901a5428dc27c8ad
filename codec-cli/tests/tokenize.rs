//! `codec tokenize`, `detokenize` and `stats` end to end: codes equal to
//! `codec encode`, bad files listed and skipped, shards that partition the
//! corpus, and a run killed midway that resumes without redoing a part.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use codec_core::bitstream::TokenFile;
use codec_core::corpus::part::{list_parts, read_part};

mod common;
use common::{codec, ok, repo, s};

/// A small corpus: every shipped test file in nested folders, and two bad files.
fn corpus(dir: &Path) -> Vec<PathBuf> {
    let formats = repo().join("testdata/formats");
    std::fs::create_dir_all(dir.join("sub/deeper")).expect("mkdir");
    let mut good = Vec::new();
    for (i, entry) in std::fs::read_dir(&formats).expect("formats").filter_map(Result::ok).enumerate() {
        let p = entry.path();
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or_default().to_owned();
        if !["wav", "flac", "mp3", "ogg"].contains(&ext.as_str()) {
            continue;
        }
        let to =
            if i % 2 == 0 { dir.join(format!("sub/f{i}.{ext}")) } else { dir.join(format!("sub/deeper/f{i}.{ext}")) };
        std::fs::copy(&p, &to).expect("copy");
        good.push(to);
    }
    std::fs::copy(repo().join("testdata/sample.wav"), dir.join("sample.wav")).expect("copy");
    good.push(dir.join("sample.wav"));
    std::fs::write(dir.join("broken.wav"), b"this is not audio").expect("write");
    std::fs::write(dir.join("sub/empty.flac"), b"").expect("write");
    good
}

#[test]
fn tokenize_gives_the_codes_of_codec_encode_and_lists_bad_files() {
    let tmp = tempfile::tempdir().expect("tmp");
    let input = tmp.path().join("in");
    let good = corpus(&input);
    let total = good.len() + 2;
    let mut expected = std::collections::HashMap::new();
    // Each file through its own encoder, and files batched through one network call.
    for (name, extra) in [("tokens", &[][..]), ("batched", &["--batch", "3", "--threads", "2"][..])] {
        let out = tmp.path().join(name);
        let mut args = vec!["tokenize", s(&input), s(&out), "--part-files", "3", "--jobs", "2"];
        args.extend_from_slice(extra);
        let run = ok(&args);
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(err.contains("2 files failed"), "{name}: {err}");
        let log = std::fs::read_to_string(out.join("errors.log")).expect("errors.log");
        assert!(log.contains("broken.wav") && log.contains("empty.flac"), "{name}: {log}");

        let parts = list_parts(&out).expect("parts");
        assert_eq!(parts.len(), total.div_ceil(3));
        let mut seen = 0;
        for part_path in &parts {
            let part = read_part(part_path).expect("part");
            for line in &part.index {
                seen += 1;
                let Some(codes) = part.entry_codes(line) else {
                    assert!(line.error.is_some(), "{line:?}");
                    continue;
                };
                let want = expected.entry(line.path.clone()).or_insert_with(|| {
                    let tok = tmp.path().join("one.tok");
                    ok(&["encode", &line.path, s(&tok)]);
                    TokenFile::from_bytes(&std::fs::read(&tok).expect("tok")).expect("parse").codes
                });
                assert_eq!(codes, &want[..], "{name}: codes of {} differ from codec encode", line.id);
            }
        }
        assert_eq!(seen, total);
    }
    let out = tmp.path().join("tokens");
    let parts = list_parts(&out).expect("parts");

    let stats = ok(&["stats", s(&out)]);
    let text = String::from_utf8_lossy(&stats.stdout);
    assert!(text.contains("| 0 |") && text.contains("perplexity"), "{text}");

    let wavs = tmp.path().join("wavs");
    ok(&["detokenize", s(&parts[0]), s(&wavs), "--limit", "2"]);
    assert_eq!(std::fs::read_dir(&wavs).expect("wavs").count(), 2);
}

#[test]
fn shards_split_the_corpus_without_overlap() {
    let tmp = tempfile::tempdir().expect("tmp");
    let input = tmp.path().join("in");
    let out = tmp.path().join("tokens");
    let good = corpus(&input);
    for k in 0..3 {
        ok(&["tokenize", s(&input), s(&out), "--shard", &format!("{k}/3"), "-q", "--jobs", "1"]);
    }
    let mut ids = Vec::new();
    for p in list_parts(&out).expect("parts") {
        ids.extend(read_part(&p).expect("part").index.into_iter().map(|l| l.id));
    }
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!((ids.len(), n), (good.len() + 2, good.len() + 2));
    let bad = codec(&["tokenize", s(&input), s(&out), "--shard", "3/3"]);
    assert_eq!(bad.status.code(), Some(1));
}

#[test]
fn a_killed_run_resumes_without_redoing_finished_parts() {
    let tmp = tempfile::tempdir().expect("tmp");
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).expect("mkdir");
    for i in 0..60 {
        std::fs::copy(repo().join("testdata/sample.wav"), input.join(format!("utt{i:03}.wav"))).expect("copy");
    }
    let out = tmp.path().join("tokens");
    let args = ["tokenize", s(&input), s(&out), "--part-files", "4", "--jobs", "1", "-q"];
    let mut child = Command::new(env!("CARGO_BIN_EXE_codec")).args(args).stderr(Stdio::null()).spawn().expect("spawn");
    // Kill it once the first parts are on disk and before it could finish.
    let start = Instant::now();
    while list_parts(&out).map_or(0, |p| p.len()) < 2 {
        assert!(start.elapsed() < Duration::from_secs(120), "no part written");
        assert!(child.try_wait().expect("wait").is_none(), "finished before it could be killed");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill");
    child.wait().expect("wait");
    let first = list_parts(&out).expect("parts");
    assert!(first.len() < 15, "it had finished: {}", first.len());
    // No partial file is mistaken for a part.
    for p in &first {
        read_part(p).expect("a complete part");
    }
    let stamps: Vec<_> =
        first.iter().map(|p| std::fs::metadata(p).and_then(|m| m.modified()).expect("mtime")).collect();

    let resumed = ok(&args[..args.len() - 1]);
    let err = String::from_utf8_lossy(&resumed.stderr);
    assert!(err.contains(&format!("{} of 15 parts already done", first.len())), "{err}");
    let all = list_parts(&out).expect("parts");
    assert_eq!(all.len(), 15);
    for (p, stamp) in first.iter().zip(&stamps) {
        assert_eq!(
            std::fs::metadata(p).and_then(|m| m.modified()).expect("mtime"),
            *stamp,
            "{} was redone",
            p.display()
        );
    }
    let mut ids: Vec<String> = all.iter().flat_map(|p| read_part(p).expect("part").index).map(|l| l.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 60);
}

/// A short WAV file (0.3 s of a tone, different per `seed`).
fn tone(path: &Path, seed: u32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("wav");
    let f = 200.0 + 50.0 * seed as f32;
    for i in 0..4800 {
        let v = (i as f32 * f * std::f32::consts::TAU / 16000.0).sin() * 8000.0;
        w.write_sample(v as i16).expect("sample");
    }
    w.finalize().expect("finalize");
}

/// Runs `codec` and kills it if it has not finished in two minutes (a hang is a failure, not a stuck suite).
fn codec_within(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_codec"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > Duration::from_secs(120) {
            child.kill().expect("kill");
            child.wait().expect("wait");
            panic!("codec {args:?} did not finish in 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

fn all_ids(out: &Path) -> Vec<String> {
    list_parts(out).expect("parts").iter().flat_map(|p| read_part(p).expect("part").index).map(|l| l.id).collect()
}

/// Issue 20, items 12-14: symbolic-link loops, a FIFO and names that are not
/// UTF-8 in the corpus: each file listed once, the FIFO skipped and logged,
/// distinct ids.
#[test]
fn loops_fifos_and_odd_names_in_a_corpus() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().expect("tmp");
    let input = tmp.path().join("in");
    std::fs::create_dir_all(input.join("sub")).expect("mkdir");
    tone(&input.join("a.wav"), 0);
    tone(&input.join("sub/b.wav"), 1);
    tone(&input.join(std::ffi::OsStr::from_bytes(b"x\xff.wav")), 2);
    tone(&input.join(std::ffi::OsStr::from_bytes(b"x\xfe.wav")), 3);
    std::os::unix::fs::symlink(".", input.join("loop")).expect("symlink");
    std::os::unix::fs::symlink("..", input.join("sub/up")).expect("symlink");
    let made = Command::new("mkfifo").arg(input.join("fifo.wav")).status().expect("mkfifo");
    assert!(made.success());

    let out = tmp.path().join("tokens");
    let run = codec_within(&["tokenize", s(&input), s(&out), "--jobs", "1"]);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{err}");
    assert!(err.contains("1 file failed"), "{err}");
    let log = std::fs::read_to_string(out.join("errors.log")).expect("errors.log");
    assert!(log.contains("fifo.wav") && log.contains("not a regular file"), "{log}");
    let mut ids = all_ids(&out);
    ids.sort();
    assert_eq!(ids, ["a", "fifo", "sub/b", "x%FE", "x%FF"]);
}

/// Issue 20, item 15: a rerun with other settings is refused, naming both;
/// the same settings resume.
#[test]
fn a_rerun_with_other_settings_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).expect("mkdir");
    for i in 0..5 {
        tone(&input.join(format!("t{i}.wav")), i);
    }
    let out = tmp.path().join("tokens");
    let first = ["tokenize", s(&input), s(&out), "--part-files", "4", "--stages", "4", "--jobs", "1", "-q"];
    ok(&first);
    for (change, there, now) in [
        (&["--part-files", "3"][..], "--part-files 4 there, 3 now", ""),
        (&["--stages", "8"][..], "--stages 4 there, 8 now", ""),
        (&["--model", "grvq", "--stages", "2"][..], "model `mcrvq`", "`grvq`"),
        (&["--shard", "0/2"][..], "shards 1 there, 2 now", ""),
    ] {
        let mut args: Vec<&str> = first.to_vec();
        for pair in change.chunks(2) {
            match args.iter().position(|a| *a == pair[0]) {
                Some(at) => args[at + 1] = pair[1],
                None => args.extend_from_slice(pair),
            }
        }
        let run = codec(&args);
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{change:?}: {err}");
        assert!(err.contains(there) && err.contains(now), "{change:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
    let again = ok(&first[..first.len() - 1]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("2 of 2 parts already done"));
    assert_eq!(all_ids(&out).len(), 5);

    // Parts with no record of their settings (an earlier release) are not resumed blindly.
    std::fs::remove_file(out.join("tokenize.json")).expect("rm");
    let run = codec(&first);
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&run.stderr).contains("no tokenize.json"));
}

/// Issue 20, item 16: detokenize takes the model recorded in the part,
/// reads a folder of parts, and names the ids it does not find.
#[test]
fn detokenize_takes_the_parts_model_and_names_unknown_ids() {
    let tmp = tempfile::tempdir().expect("tmp");
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).expect("mkdir");
    for i in 0..3 {
        tone(&input.join(format!("t{i}.wav")), i);
    }
    let out = tmp.path().join("tokens");
    ok(&["tokenize", s(&input), s(&out), "--model", "grvq", "--part-files", "2", "--jobs", "1", "-q"]);

    let wavs = tmp.path().join("all");
    let run = ok(&["detokenize", s(&out), s(&wavs)]);
    assert!(String::from_utf8_lossy(&run.stderr).contains("wrote 3 files"));
    let mut names: Vec<_> = std::fs::read_dir(&wavs).expect("wavs").map(|e| e.expect("entry").file_name()).collect();
    names.sort();
    assert_eq!(names, ["t0.wav", "t1.wav", "t2.wav"]);

    let some = tmp.path().join("some");
    let run = ok(&["detokenize", s(&out), s(&some), "--ids", "t2,nope"]);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("`nope`") && err.contains("wrote 1 file into"), "{err}");

    let run = codec(&["detokenize", s(&out), s(&some), "--ids", "nope,nada"]);
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{err}");
    assert!(err.contains("`nada`, `nope`"), "{err}");

    let run = codec(&["detokenize", s(&out), s(&some), "--model", "mcrvq"]);
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{err}");
    assert!(err.contains("pass --model grvq"), "{err}");
}

/// Ids that name the same file (`/` becomes `__` in a file name) are refused,
/// not written one over the other, and before anything is written (issue 32,
/// item 13).
#[test]
fn detokenize_refuses_two_ids_that_name_one_file() {
    let tmp = tempfile::tempdir().expect("tmp");
    let input = tmp.path().join("in");
    std::fs::create_dir_all(input.join("a")).expect("mkdir");
    tone(&input.join("a").join("b.wav"), 0);
    tone(&input.join("a__b.wav"), 1);
    let out = tmp.path().join("tokens");
    ok(&["tokenize", s(&input), s(&out), "--model", "grvq", "--jobs", "1", "-q"]);

    let wavs = tmp.path().join("wavs");
    let run = codec(&["detokenize", s(&out), s(&wavs)]);
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{err}");
    assert!(err.contains("`a/b`") && err.contains("`a__b`") && err.contains("a__b.wav"), "{err}");
    assert!(!wavs.join("a__b.wav").exists(), "a file was written before the clash was found");
    // Each can still be had on its own.
    ok(&["detokenize", s(&out), s(&tmp.path().join("one")), "--ids", "a/b"]);
}

/// Issue 32, items 14 and 20: tokenize.json follows the umask as the parts
/// do; the summary's counts read as English.
#[test]
fn tokenize_json_follows_the_umask_and_counts_read_as_english() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().expect("tmp");
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).expect("mkdir");
    tone(&input.join("t0.wav"), 0);
    let out = tmp.path().join("tokens");
    let run = ok(&["tokenize", s(&input), s(&out), "--jobs", "1"]);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("tokenized 1 file (") && err.contains("into 1 part in"), "{err}");
    assert!(err.contains("1 thread;") && err.contains("0 files failed"), "{err}");
    assert!(!err.contains(" 0x realtime"), "{err}");
    let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode(&out.join("tokenize.json")), mode(&out.join("part-00000.jsonl")), "tokenize.json's mode");
}

/// Issue 32, items 13 and 14: an id that cannot name a file (a NUL byte) is
/// skipped and named, the others are written, and the exit status says so;
/// each file is trimmed to its input's length, as `codec decode` trims.
#[test]
fn detokenize_skips_an_id_that_cannot_name_a_file_and_trims_to_the_input() {
    let tmp = tempfile::tempdir().expect("tmp");
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).expect("mkdir");
    for i in 0..3 {
        tone(&input.join(format!("t{i}.wav")), i);
    }
    let out = tmp.path().join("tokens");
    // The default model's decoder lags a hop and a half: 17 frames make 4,960 samples of the 4,800.
    ok(&["tokenize", s(&input), s(&out), "--jobs", "1", "-q"]);

    let index = out.join("part-00000.jsonl");
    let text = std::fs::read_to_string(&index).expect("index");
    assert!(text.contains(r#""id":"t1""#), "{text}");
    std::fs::write(&index, text.replace(r#""id":"t1""#, r#""id":"t\u0000 1""#)).expect("rewrite");

    let wavs = tmp.path().join("wavs");
    let run = codec_within(&["detokenize", s(&out), s(&wavs)]);
    let err = String::from_utf8_lossy(&run.stderr);
    // Each failing check is listed, not just the first.
    let mut wrong = Vec::new();
    if run.status.code() != Some(1) || !(err.contains("skipped 1 id") && err.contains(r"`t\0 1`")) {
        wrong.push(format!("the bad id is not named with exit status 1: {:?}, {err}", run.status.code()));
    }
    for name in ["t0.wav", "t2.wav"] {
        match hound::WavReader::open(wavs.join(name)) {
            Ok(wav) if wav.duration() == 4800 => {}
            Ok(wav) => wrong.push(format!("{name} has {} samples, not the input's 4800", wav.duration())),
            Err(e) => wrong.push(format!("{name} was not written: {e}")),
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    let run = ok(&["detokenize", s(&out), s(&tmp.path().join("one")), "--ids", "t2"]);
    assert!(String::from_utf8_lossy(&run.stderr).contains("wrote 1 file into"));

    // A path that is not there is named as given (issue 32, item 16).
    let nowhere = format!("{}/", s(&tmp.path().join("nowhere")));
    let run = codec(&["detokenize", &nowhere, s(&wavs)]);
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{err}");
    assert!(err.contains(&nowhere) && !err.contains(".jsonl"), "{err}");
}

/// `codec tokenize` streams each file through the encoder as `codec encode`
/// does: its peak memory for ten minutes of audio is that for ten seconds,
/// give or take the codes (a whole file in memory, at 8 kHz and again at
/// 16 kHz, would be some 57 MB more).
#[test]
fn tokenize_memory_does_not_grow_with_the_length_of_a_file() {
    let tmp = tempfile::tempdir().expect("tmp");
    let peak_kib = |seconds: u32| -> i64 {
        let input = tmp.path().join(format!("in{seconds}"));
        std::fs::create_dir_all(&input).expect("mkdir");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(input.join("speech.wav"), spec).expect("wav");
        for i in 0..seconds * 8000 {
            let t = i as f32 / 8000.0;
            let v = (t * 220.0 * std::f32::consts::TAU).sin() * (t * 3.0).sin() * 8000.0;
            w.write_sample(v as i16).expect("sample");
        }
        w.finalize().expect("wav");
        let out = tmp.path().join(format!("out{seconds}"));
        // Reaped by wait4 below, which also gives its peak memory.
        #[allow(clippy::zombie_processes)]
        let child = Command::new(env!("CARGO_BIN_EXE_codec"))
            .args(["tokenize", s(&input), s(&out), "--model", "grvq", "--jobs", "1", "-q"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let pid = libc::pid_t::try_from(child.id()).expect("pid");
        let (mut status, mut usage) = (0, unsafe { std::mem::zeroed::<libc::rusage>() });
        // SAFETY: waits for our own child, writing into the two locals; its own
        // peak, where the harness's other children would blur RUSAGE_CHILDREN.
        assert_eq!(unsafe { libc::wait4(pid, &mut status, 0, &mut usage) }, pid);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "tokenize of {seconds} s failed");
        usage.ru_maxrss
    };
    let (short, long) = (peak_kib(10), peak_kib(600));
    println!("peak RSS: {short} KiB for 10 s, {long} KiB for 600 s");
    assert!(long - short < 16 << 10, "10 s: {short} KiB, 600 s: {long} KiB");
}
