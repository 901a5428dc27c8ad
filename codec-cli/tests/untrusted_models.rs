//! Token files and model packages from a stranger (issue 20, items 6 to 8):
//! a model name in a token file is never a path, a package's files stay in
//! its folder, and a package whose manifest differs is another model.

use std::path::Path;

use codec_core::bitstream::TokenFile;

mod common;
use common::{codec, ok, repo, s, sample};

/// Fails with exit code 1 and one line on stderr that contains `needle`.
fn fails(args: &[&str], needle: &str) {
    let out = codec(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "codec {args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "codec {args:?}: {err}");
    assert!(err.contains(needle), "codec {args:?}: expected `{needle}` in: {err}");
}

/// A copy of a shipped package in `to`.
fn copy_package(name: &str, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(repo().join("models").join(name)).expect("package") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}

fn edit_manifest(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("manifest.json");
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    edit(&mut v);
    std::fs::write(&path, serde_json::to_string(&v).expect("json")).expect("write");
}

/// Item 6: a token file that names a folder instead of a shipped model.
#[test]
fn a_token_file_cannot_name_a_package_folder() {
    let tmp = tempfile::tempdir().expect("tmp");
    let evil = tmp.path().join("evil");
    copy_package("mcrvq", &evil);
    let tok = tmp.path().join("a.tok");
    ok(&["encode", s(&sample()), s(&tok), "-q"]);
    let mut file = TokenFile::from_bytes(&std::fs::read(&tok).expect("read")).expect("parse");
    for name in [s(&evil).to_owned(), format!("../../../../../../../../..{}", s(&evil))] {
        file.header.model_name = name;
        std::fs::write(&tok, file.to_bytes().expect("bytes")).expect("write");
        fails(&["decode", s(&tok), s(&tmp.path().join("o.wav"))], "not a shipped model: pass --model");
    }
    assert!(!tmp.path().join("o.wav").exists());
    // The same folder given on the command line is the user's choice.
    ok(&["decode", s(&tok), s(&tmp.path().join("o.wav")), "--model", s(&evil), "-q"]);
}

/// Item 7: a file of the package that leads out of it, or is not a regular file.
#[test]
fn package_files_outside_the_package_are_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let tok = tmp.path().join("a.tok");

    let linked = tmp.path().join("linked");
    copy_package("grvq", &linked);
    std::fs::rename(linked.join("codebooks.safetensors"), tmp.path().join("books")).expect("mv");
    std::os::unix::fs::symlink(tmp.path().join("books"), linked.join("codebooks.safetensors")).expect("symlink");
    fails(&["encode", s(&sample()), s(&tok), "--model", s(&linked)], "leads out of the package folder");

    let climbing = tmp.path().join("climbing");
    copy_package("grvq", &climbing);
    edit_manifest(&climbing, |v| v["files"]["../../../../../../../../etc/hostname"] = "00".into());
    fails(&["encode", s(&sample()), s(&tok), "--model", s(&climbing)], "relative paths of plain names");

    let device = tmp.path().join("device");
    copy_package("grvq", &device);
    edit_manifest(&device, |v| v["files"]["/dev/zero"] = "00".into());
    fails(&["encode", s(&sample()), s(&tok), "--model", s(&device)], "relative paths of plain names");
    assert!(!tok.exists());
}

/// Item 8: a package that differs from the shipped one in its manifest alone
/// (the channels of MCRVQ's first stage) makes tokens the shipped one refuses.
#[test]
fn tokens_of_a_package_with_another_manifest_are_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let edited = tmp.path().join("edited");
    copy_package("mcrvq", &edited);
    edit_manifest(&edited, |v| v["quantizer"]["masked_stages"][0] = serde_json::json!([0, 40]));
    let tok = tmp.path().join("a.tok");
    ok(&["encode", s(&sample()), s(&tok), "--model", s(&edited), "-q"]);
    let wav = tmp.path().join("o.wav");
    fails(&["decode", s(&tok), s(&wav)], "a different model than `mcrvq`");
    assert!(!wav.exists());
    ok(&["decode", s(&tok), s(&wav), "--model", s(&edited), "-q"]);
}

/// Token files of the previous release carry the hash of the file hashes
/// alone: they still decode, with a notice.
#[test]
fn token_files_of_the_previous_release_decode_with_a_notice() {
    let tmp = tempfile::tempdir().expect("tmp");
    let tok = tmp.path().join("a.tok");
    ok(&["encode", s(&sample()), s(&tok), "-q"]);
    let wav = tmp.path().join("new.wav");
    let new = ok(&["decode", s(&tok), s(&wav)]);
    assert!(!String::from_utf8_lossy(&new.stderr).contains("earlier release"));
    let mut file = TokenFile::from_bytes(&std::fs::read(&tok).expect("read")).expect("parse");
    file.header.model_hash = codec_core::ModelPackage::open_shipped("mcrvq").expect("mcrvq").legacy_id();
    std::fs::write(&tok, file.to_bytes().expect("bytes")).expect("write");
    let old_wav = tmp.path().join("old.wav");
    let old = ok(&["decode", s(&tok), s(&old_wav)]);
    let err = String::from_utf8_lossy(&old.stderr);
    assert!(err.contains("notice: these tokens were written by an earlier release"), "{err}");
    assert_eq!(std::fs::read(&old_wav).expect("old"), std::fs::read(&wav).expect("new"));
}
