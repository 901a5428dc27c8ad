//! Issue 32, item 10: thread counts have a limit.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::{ok, s, sample};

/// The binary under test: this build's, or `CODEC_UNDER_TEST` to check these
/// tests against another build (one from before the fixes fails them).
fn codec_bin() -> PathBuf {
    std::env::var_os("CODEC_UNDER_TEST").map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_codec")), PathBuf::from)
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

