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
        ("stft.synthesis_frames", Box::new(|v| v["stft"]["synthesis_frames"] = 3.into())),
        ("stft.synthesis_frames", Box::new(|v| v["stft"]["synthesis_frames"] = 0.into())),
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
fn the_id_ignores_what_only_describes_the_package() {
    let a = ModelPackage::open_dir(&shipped("grvq")).expect("grvq");
    let b = ModelPackage::open_dir(&shipped("mcrvq")).expect("mcrvq");
    assert_ne!(a.id(), b.id());
    let dir = copy_of("grvq");
    edit_manifest(dir.path(), |v| {
        v["quality"] = serde_json::json!({"note": "figures added later"});
        v["training"] = serde_json::json!({"steps": 1});
        v["name"] = "renamed".into();
        v["quantizer"]["default_stages"] = serde_json::Value::Null;
        v["unknown_to_the_runtime"] = 7.into();
        let files = v["files"].as_object_mut().expect("files");
        for hash in files.values_mut() {
            *hash = hash.as_str().expect("hex").to_ascii_uppercase().into();
        }
    });
    assert_eq!(ModelPackage::open_dir(dir.path()).expect("copy").id(), a.id());
}

/// The ids are written into token files, packets and parts: they must not
/// change by accident (a serde_json feature that keeps insertion order, a
/// field renamed). Changing them on purpose means changing these.
#[test]
fn the_shipped_ids_are_stable() {
    let hex = |id: [u8; 32]| id.iter().map(|b| format!("{b:02x}")).collect::<String>();
    for (name, id, legacy) in [
        (
            "grvq",
            "72c372d2029367cb2075dbaa41ab52b59125304b94b00e4d27b99bfc9aa98dcb",
            "ddfa730567cb8289d6ec3e82cfe95729946ce46e32e412fa8a69b30184d1a04f",
        ),
        (
            "mcrvq",
            "6bfc3f329b37601d40b031244b875902cfa77c5cdd4190391398eb61edfeb501",
            "03a2af578e259a120feb83a8a2393d48e06f3cd12ae442c6ec1aa758e1bc8b3c",
        ),
    ] {
        let p = ModelPackage::open_dir(&shipped(name)).expect(name);
        assert_eq!((hex(p.id()).as_str(), hex(p.legacy_id()).as_str()), (id, legacy), "{name}");
    }
}

/// Issue 20, item 8: a manifest changed in a field that changes the codes
/// (here only the channels of MCRVQ's first stage) is another model.
#[test]
fn a_manifest_edit_that_changes_the_codes_changes_the_id() {
    let genuine = ModelPackage::open_dir(&shipped("mcrvq")).expect("mcrvq");
    let dir = copy_of("mcrvq");
    edit_manifest(dir.path(), |v| v["quantizer"]["masked_stages"][0] = serde_json::json!([0, 40]));
    let edited = ModelPackage::open_dir(dir.path()).expect("edited copy");
    assert_ne!(edited.id(), genuine.id(), "masked_stages is not covered by the id");
    assert_ne!(edited.tag(), genuine.tag());

    // Tokens of the edited model are refused by the genuine one, and the other way round.
    let tokens = |p: &ModelPackage| {
        let q = p.quantizer();
        let layout = crate::bitstream::CodeLayout {
            codebooks: q.codes_per_frame(q.stages()) as u8,
            bits: q.bits_per_code(),
            groups: q.groups() as u8,
            stages: q.stages() as u8,
        };
        let header = crate::bitstream::TokenHeader {
            model_name: p.name().into(),
            model_hash: p.id(),
            sample_rate: p.sample_rate(),
            hop: p.hop() as u32,
            layout,
            frames: 1,
            original_len: p.hop() as u64,
        };
        crate::bitstream::TokenFile { header, codes: vec![0; q.codes_per_frame(q.stages())] }
    };
    let err = crate::offline::check_compatible(&genuine, &tokens(&edited)).expect_err("must be refused");
    assert!(err.to_string().contains("different model"), "{err}");
    assert!(crate::offline::check_compatible(&edited, &tokens(&genuine)).is_err());
    crate::offline::check_compatible(&genuine, &tokens(&genuine)).expect("its own tokens");

    // A token file of the previous release (files-only id) still decodes, and says so.
    let mut old = tokens(&genuine);
    old.header.model_hash = genuine.legacy_id();
    crate::offline::check_compatible(&genuine, &old).expect("a file of the previous release");
    assert!(crate::offline::made_by_earlier_release(&genuine, &old));
    assert!(!crate::offline::made_by_earlier_release(&genuine, &tokens(&genuine)));
}

/// Issue 20, item 6: a model name read from a file only ever names a shipped package.
#[test]
fn a_name_from_a_file_is_never_a_path() {
    assert_eq!(ModelPackage::open_shipped("grvq").expect("shipped").name(), "grvq");
    let copy = copy_of("grvq");
    let elsewhere = copy.path().to_str().expect("utf-8").to_owned();
    let up = format!("../../../../../../../..{elsewhere}");
    for name in [elsewhere.as_str(), up.as_str(), "..", ".", "", "default", "grvq/", "./grvq", "grvq\\..", "mcrvq\0"] {
        let err = ModelPackage::open_shipped(name).expect_err(name);
        assert!(matches!(err, PackageError::UnknownName { .. }), "{name:?}: {err}");
        assert!(err.to_string().contains("shipped models: grvq, mcrvq"), "{err}");
    }
    // A name the user gives may still be a folder.
    ModelPackage::open(&elsewhere).expect("a folder given by the user");
}

/// Issue 20, item 7: the manifest names files inside the package, and only regular files.
#[test]
fn package_files_stay_inside_the_package() {
    // Named out of it in the manifest: refused before anything is read.
    for outside in ["../../../../etc/hostname", "/dev/zero", "/etc/hostname", "a/../../x", "./encoder.onnx", "a//b"] {
        let dir = copy_of("grvq");
        edit_manifest(dir.path(), |v| v["files"][outside] = "00".into());
        let err = ModelPackage::open_dir(dir.path()).expect_err(outside);
        assert!(err.to_string().contains("files"), "{outside}: {err}");
    }

    // A file outside with the right hash, named by a path that climbs out, or reached by a link.
    let outside = tempfile::tempdir().expect("tmp");
    let book = outside.path().join("codebooks.safetensors");
    std::fs::copy(shipped("grvq").join("codebooks.safetensors"), &book).expect("copy");
    let hash: String = Sha256::digest(std::fs::read(&book).expect("read")).iter().map(|b| format!("{b:02x}")).collect();
    let dir = copy_of("grvq");
    let rel =
        format!("../{}/codebooks.safetensors", outside.path().file_name().and_then(|n| n.to_str()).expect("name"));
    edit_manifest(dir.path(), |v| {
        v["files"][rel.as_str()] = hash.clone().into();
        v["quantizer"]["file"] = rel.clone().into();
    });
    let err = ModelPackage::open_dir(dir.path()).expect_err("a climbing path");
    assert!(err.to_string().contains("files"), "{err}");

    let dir = copy_of("grvq");
    std::fs::remove_file(dir.path().join("codebooks.safetensors")).expect("rm");
    std::os::unix::fs::symlink(&book, dir.path().join("codebooks.safetensors")).expect("symlink");
    let err = ModelPackage::open_dir(dir.path()).expect_err("a link out of the package");
    assert!(matches!(err, PackageError::OutsidePackage { ref file } if file == "codebooks.safetensors"), "{err}");

    // A link that stays inside is followed.
    let dir = copy_of("grvq");
    std::fs::rename(dir.path().join("codebooks.safetensors"), dir.path().join("books.bin")).expect("mv");
    std::os::unix::fs::symlink("books.bin", dir.path().join("codebooks.safetensors")).expect("symlink");
    ModelPackage::open_dir(dir.path()).expect("a link inside the package");

    // A FIFO (which would block the reader forever) or a folder is not a package file.
    let dir = copy_of("grvq");
    let fifo = dir.path().join("extra.bin");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
    for name in ["extra.bin", "sub"] {
        edit_manifest(dir.path(), |v| {
            v["files"] = serde_json::json!({
                "encoder.onnx": v["files"]["encoder.onnx"].clone(),
                "decoder.onnx": v["files"]["decoder.onnx"].clone(),
                "codebooks.safetensors": v["files"]["codebooks.safetensors"].clone(),
                name: "00",
            });
        });
        let err = ModelPackage::open_dir(dir.path()).expect_err(name);
        assert!(matches!(err, PackageError::NotRegularFile { ref file } if file == name), "{err}");
    }
}

/// The graphs are checked when the package opens, but loaded later: a graph
/// replaced in between must be refused, not run.
#[test]
fn a_graph_replaced_after_open_is_refused_at_load() {
    use crate::codec::{BatchEncoder, Decoder, Encoder};
    use crate::{CodecError, RuntimeOptions};
    let dir = copy_of("grvq");
    let package = ModelPackage::open_dir(dir.path()).expect("open");
    let (encoder, decoder) = (dir.path().join("encoder.onnx"), dir.path().join("decoder.onnx"));
    let decoder_bytes = std::fs::read(&decoder).expect("read");
    std::fs::write(&decoder, std::fs::read(&encoder).expect("read")).expect("write");
    std::fs::write(&encoder, decoder_bytes).expect("write");
    let refused = |err: CodecError, file: &str| {
        assert!(
            matches!(err, CodecError::Package(PackageError::HashMismatch { file: ref f, .. }) if f == file),
            "{err}"
        );
    };
    let options = RuntimeOptions::default();
    refused(Encoder::new(&package, options, 2).map(|_| ()).expect_err("encoder"), "encoder.onnx");
    refused(BatchEncoder::new(&package, options, 2).map(|_| ()).expect_err("batch encoder"), "encoder.onnx");
    refused(Decoder::new(&package, options, 2).map(|_| ()).expect_err("decoder"), "decoder.onnx");
}

#[test]
fn a_manifest_claiming_more_synthesis_frames_than_its_graph_outputs_is_refused() {
    let dir = copy_of("grvq");
    // grvq's graph gives two frames a token; the manifest claims four.
    edit_manifest(dir.path(), |v| v["stft"]["synthesis_frames"] = 4.into());
    let p = ModelPackage::open_dir(dir.path()).expect("a valid manifest");
    assert_eq!(p.manifest().decoder_channels(), 4 * 642);
    assert_eq!(p.manifest().decoder_delay_samples(), 560);
    let err = crate::Decoder::new(&p, crate::RuntimeOptions::default(), 2).err().expect("a mismatch");
    assert!(err.to_string().contains("decoder"), "{err}");
}
