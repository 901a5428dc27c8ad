//! What the end-to-end tests of the `codec` binary share: where the
//! repository and its sample are, and running the binary.
// Each test file compiles this module on its own and uses part of it.
#![allow(dead_code)]

pub mod call;
pub mod tokens;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn sample() -> PathBuf {
    repo().join("testdata").join("sample.wav")
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The binary under test: this build's, or `CODEC_UNDER_TEST` to check a
/// test against another build (one from before a fix fails it).
pub fn codec_bin() -> PathBuf {
    std::env::var_os("CODEC_UNDER_TEST").map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_codec")), PathBuf::from)
}

pub fn codec(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_codec")).args(args).output().expect("run codec")
}

pub fn ok(args: &[&str]) -> Output {
    let out = codec(args);
    assert!(out.status.success(), "codec {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}
