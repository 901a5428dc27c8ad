//! The C example, compiled with the system's C compiler against the shared
//! and the static library, encodes and decodes `testdata/sample.wav` frame
//! by frame; its whole-file codes are `codec encode`'s, byte for byte, and
//! inputs of every kind of length end the stream with a flush that fits.

use std::path::{Path, PathBuf};
use std::process::Command;

use codec_core::bitstream::TokenFile;
use codec_core::{audio, offline, Decoder, Encoder, ModelPackage, RuntimeOptions};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn sample() -> PathBuf {
    crate_dir().join("..").join("testdata").join("sample.wav")
}

/// The folder cargo put this test in (`<target>/<profile>`), where the
/// libraries of this package land.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    // <target>/<profile>/deps/c_example-<hash>
    exe.parent().and_then(Path::parent).expect("target/<profile>").to_path_buf()
}

/// The library file this test was built with: `cargo test` compiles the
/// crate's cdylib and staticlib beside the test in `deps/` (only `cargo
/// build` copies them up to `<profile>/`, which may hold an older build).
/// Built with `cargo build` if neither folder has it.
fn library(file: &str) -> PathBuf {
    let dir = profile_dir();
    let found = || [dir.join("deps").join(file), dir.join(file)].into_iter().find(|p| p.is_file());
    if let Some(path) = found() {
        return path;
    }
    let target = dir.parent().expect("target dir");
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo.args(["build", "-p", "codec-ffi"]).env("CARGO_TARGET_DIR", target);
    if dir.file_name().is_some_and(|p| p == "release") {
        cargo.arg("--release");
    }
    let status = cargo.status().expect("run cargo build");
    assert!(status.success(), "cargo build -p codec-ffi failed");
    found().unwrap_or_else(|| panic!("{file} was not built in {}", dir.display()))
}

/// Compiles the example; `link` is what goes after the source on the command line.
fn compile(out: &Path, link: &[&std::ffi::OsStr]) {
    let cc = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    let source = crate_dir().join("examples").join("c").join("encode_decode.c");
    let output = Command::new(&cc)
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-O1", "-I"])
        .arg(crate_dir().join("include"))
        .arg(&source)
        .args(link)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C compiler {cc:?}: {e}"));
    assert!(output.status.success(), "compiling the C example failed:\n{}", String::from_utf8_lossy(&output.stderr));
}

fn run(exe: &Path, args: &[&Path]) -> String {
    let output = Command::new(exe).args(args).output().expect("run the C example");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "the C example failed ({}):\n{stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    print!("{stdout}");
    stdout
}

fn read_u16(path: &Path) -> Vec<u16> {
    std::fs::read(path).expect("codes").chunks_exact(2).map(|b| u16::from_ne_bytes([b[0], b[1]])).collect()
}

fn read_f32(path: &Path) -> Vec<f32> {
    std::fs::read(path).expect("pcm").chunks_exact(4).map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]])).collect()
}

/// The codes `codec encode testdata/sample.wav` writes, made by the same
/// calls the command makes, and checked against the command's own output
/// where its binary is built (as it is in a `cargo test --workspace` run).
fn codec_encode(dir: &Path) -> TokenFile {
    let package = ModelPackage::open("default").expect("package");
    let input = audio::read_audio(&sample()).expect("sample");
    let pcm = audio::resample(&input.samples, input.sample_rate, package.sample_rate()).expect("resample");
    let mut encoder = Encoder::new(&package, RuntimeOptions::default(), package.default_stages()).expect("encoder");
    let tokens = offline::encode_with(&package, &mut encoder, &pcm, |_| {}).expect("encode");
    let cli = profile_dir().join("codec");
    if cli.is_file() {
        let tok = dir.join("sample.tok");
        let out = Command::new(&cli).arg("encode").arg(sample()).arg(&tok).arg("--quiet").output().expect("codec");
        assert!(out.status.success(), "codec encode: {}", String::from_utf8_lossy(&out.stderr));
        let mut file = std::fs::File::open(&tok).expect("tok");
        let cli_tokens = TokenFile::read_from(&mut file).expect("codec encode's .tok");
        assert!(
            cli_tokens.codes == tokens.codes,
            "{} gives other codes than this tree's codec-core: is it built from another tree?",
            cli.display()
        );
        println!("checked against {}", cli.display());
    } else {
        println!("no codec binary at {}: checked against codec-core's offline path alone", cli.display());
    }
    tokens
}

#[test]
fn c_example_encodes_like_codec_encode_and_decodes_frame_by_frame() {
    let dir = tempfile::tempdir().expect("tmp");
    let so = library("libcodec_ffi.so");
    let exe = dir.path().join("encode_decode");
    let rpath = format!("-Wl,-rpath,{}", so.parent().expect("lib dir").display());
    compile(&exe, &[so.as_os_str(), rpath.as_ref()]);
    let (stream, whole, decoded) = (dir.path().join("s.u16"), dir.path().join("w.u16"), dir.path().join("d.f32"));
    let stdout = run(&exe, &[&sample(), &stream, &whole, &decoded]);
    assert!(stdout.contains("median of") && stdout.contains("frames concealed"), "{stdout}");

    let tokens = codec_encode(dir.path());
    let (stream, whole, decoded) = (read_u16(&stream), read_u16(&whole), read_f32(&decoded));
    assert_eq!(whole, tokens.codes, "the C example's whole-file codes are `codec encode`'s");
    // One network call a frame rounds differently from 250 a call, now and
    // then tipping a code to its neighbour (codec-core's streaming test
    // allows the same).
    let differ = stream.iter().zip(&tokens.codes).filter(|(a, b)| a != b).count();
    assert_eq!(stream.len(), tokens.codes.len());
    assert!(differ * 200 <= stream.len(), "{differ} of {} frame-by-frame codes differ", stream.len());

    // Its frame-by-frame decode is `codec decode` of the same codes.
    let package = ModelPackage::open("default").expect("package");
    let mut decoder = Decoder::new(&package, RuntimeOptions::default(), package.default_stages()).expect("decoder");
    let frame_tokens = TokenFile { header: tokens.header.clone(), codes: stream };
    let want = offline::decode_with(&package, &mut decoder, &frame_tokens, |_| {}).expect("decode");
    assert_eq!(decoded.len(), want.len(), "trimmed to the input's length");
    let err = decoded.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(err < 1e-4, "the C decode differs from the offline decode by {err}");
    assert!(decoded.iter().any(|&x| x.abs() > 0.01), "the decoded audio is silent");
}

#[test]
fn c_example_links_the_static_library() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = library("libcodec_ffi.a");
    let exe = dir.path().join("encode_decode_static");
    // What the Rust standard library needs from the system on Linux.
    let system: Vec<&std::ffi::OsStr> =
        ["-lpthread", "-ldl", "-lm", "-lgcc_s", "-lc"].iter().map(|s| s.as_ref()).collect();
    let mut link = vec![a.as_os_str()];
    link.extend(system);
    compile(&exe, &link);
    let stdout = run(&exe, &[&sample()]);
    assert!(stdout.contains("median of") && stdout.contains("frames concealed"), "{stdout}");
}

/// Issue 32, item 7: a flush can emit three frames (a model that synthesizes
/// two frames a token, with over half a hop left over), and the example gave
/// it room for two. Lengths that leave every kind of remainder of a hop run
/// through the example, which checks its lengths itself; its whole-file codes
/// are the offline encoder's for the same samples.
#[test]
fn c_example_takes_inputs_of_any_length() {
    let dir = tempfile::tempdir().expect("tmp");
    let so = library("libcodec_ffi.so");
    let exe = dir.path().join("encode_decode");
    let rpath = format!("-Wl,-rpath,{}", so.parent().expect("lib dir").display());
    compile(&exe, &[so.as_os_str(), rpath.as_ref()]);

    let package = ModelPackage::open("default").expect("package");
    let hop = package.hop();
    let input = audio::read_audio(&sample()).expect("sample");
    assert_eq!(input.sample_rate, package.sample_rate(), "the sample is at the model's rate");
    let half = hop / 2;
    for remainder in [0, 1, half, half + 1, hop - 1] {
        let n = 20 * hop + remainder;
        let wav = dir.path().join(format!("r{remainder}.wav"));
        audio::write_wav(&wav, &input.samples[..n], input.sample_rate).expect("write wav");
        let (stream, whole, decoded) = (dir.path().join("s.u16"), dir.path().join("w.u16"), dir.path().join("d.f32"));
        run(&exe, &[&wav, &stream, &whole, &decoded]);

        // The samples as the example read them: 16 bits.
        let pcm = audio::read_audio(&wav).expect("read back").samples;
        let mut encoder = Encoder::new(&package, RuntimeOptions::default(), package.default_stages()).expect("encoder");
        let tokens = offline::encode_with(&package, &mut encoder, &pcm, |_| {}).expect("encode");
        let frames = codec_core::frames_for(&package, n as u64) as usize;
        assert_eq!(tokens.codes.len(), frames * tokens.header.layout.codebooks as usize);
        assert_eq!(read_u16(&whole), tokens.codes, "remainder {remainder}: the whole-file codes");
        assert_eq!(read_u16(&stream).len(), tokens.codes.len(), "remainder {remainder}: the frame-by-frame codes");
        assert_eq!(read_f32(&decoded).len(), n, "remainder {remainder}: decoded to the input's length");
    }
}
