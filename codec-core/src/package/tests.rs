//! Packages: the shipped ones open; altered or malformed ones are refused
//! with an error that names the problem.

use std::path::{Path, PathBuf};

use super::*;

fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("models").join(name)
}

/// A copy of a shipped package that a test may damage.
fn copy_of(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(shipped(name)).expect("package") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copy");
    }
    dir
}

fn edit_manifest(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("manifest.json");
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    edit(&mut v);
    std::fs::write(&path, serde_json::to_string(&v).expect("json")).expect("write");
}

#[test]
fn shipped_packages_open() {
    for name in ["grvq", "mcrvq"] {
        let p = ModelPackage::open_dir(&shipped(name)).expect(name);
        assert_eq!(p.name(), name);
        assert_eq!(p.sample_rate(), 16000);
        assert!(p.quantizer().stages() >= 2);
    }
    let p = ModelPackage::open_dir(&shipped("grvq")).expect("grvq");
    assert_eq!(p.bitrate(2), 2000.0);
}

#[test]
fn a_missing_file_is_named() {
    let dir = copy_of("grvq");
    std::fs::remove_file(dir.path().join("decoder.onnx")).expect("rm");
    let err = ModelPackage::open_dir(dir.path()).expect_err("must fail");
    assert!(matches!(err, PackageError::MissingFile { .. }), "{err}");
    assert!(err.to_string().contains("decoder.onnx"), "{err}");
}

#[test]
fn an_altered_file_is_caught_by_its_hash() {
    let dir = copy_of("grvq");
    let path = dir.path().join("codebooks.safetensors");
    let mut bytes = std::fs::read(&path).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).expect("write");
    let err = ModelPackage::open_dir(dir.path()).expect_err("must fail");
    assert!(matches!(err, PackageError::HashMismatch { ref file, .. } if file == "codebooks.safetensors"), "{err}");
}

#[test]
fn manifest_errors_name_the_field() {
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("format_version", Box::new(|v| v["format_version"] = 99.into())),
        ("sample_rate", Box::new(|v| v["sample_rate"] = 7.into())),
        ("quantizer.kind", Box::new(|v| v["quantizer"]["kind"] = "pq".into())),
        ("quantizer.min_stages", Box::new(|v| v["quantizer"]["min_stages"] = 9.into())),
        ("stft.n_fft", Box::new(|v| v["stft"]["n_fft"] = 512.into())),
        ("syntax", Box::new(|v| *v = serde_json::Value::String("not a manifest".into()))),
    ];
    for (field, edit) in cases {
        let dir = copy_of("grvq");
        edit_manifest(dir.path(), edit);
        let err = ModelPackage::open_dir(dir.path()).expect_err(field);
        let text = err.to_string();
        if field == "format_version" {
            assert!(matches!(err, PackageError::UnsupportedVersion { found: 99, .. }), "{text}");
        } else if field == "syntax" {
            assert!(matches!(err, PackageError::ManifestSyntax(_)), "{text}");
        } else {
            assert!(text.contains(field), "{field}: {text}");
        }
    }
}

#[test]
fn unknown_names_list_the_shipped_models() {
    let err = ModelPackage::open("no-such-model").expect_err("must fail");
    let text = err.to_string();
    assert!(text.contains("grvq") && text.contains("mcrvq"), "{text}");
    let err = ModelPackage::open("/no/such/folder").expect_err("must fail");
    assert!(matches!(err, PackageError::NotFound { .. }), "{err}");
}

#[test]
fn the_id_depends_on_the_weights_only() {
    let a = ModelPackage::open_dir(&shipped("grvq")).expect("grvq");
    let b = ModelPackage::open_dir(&shipped("mcrvq")).expect("mcrvq");
    assert_ne!(a.id(), b.id());
    let dir = copy_of("grvq");
    edit_manifest(dir.path(), |v| v["quality"] = serde_json::json!({"note": "figures added later"}));
    assert_eq!(ModelPackage::open_dir(dir.path()).expect("copy").id(), a.id());
}
