//! Makes sure the ONNX Runtime library is at hand: ort loads it at run time
//! (load-dynamic), and a fresh clone must work with nothing installed by hand.
//! Unless `ORT_DYLIB_PATH` names one, the library is fetched once into `.ort/`
//! at the repository root and its path is compiled in as the fallback.

use std::path::PathBuf;
use std::process::Command;

const LIB: &str = "libonnxruntime.so.1.31.1";

fn main() {
    println!("cargo:rerun-if-env-changed=ORT_DYLIB_PATH");
    println!("cargo:rerun-if-changed=build.rs");
    let Some(root) =
        std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from).and_then(|d| d.parent().map(PathBuf::from))
    else {
        return;
    };
    let dir = root.join(".ort");
    let lib = dir.join(LIB);
    println!("cargo:rerun-if-changed={}", lib.display());
    if std::env::var_os("ORT_DYLIB_PATH").is_none() && !lib.exists() && std::env::var_os("DOCS_RS").is_none() {
        let script = root.join("scripts").join("fetch-onnxruntime.sh");
        match Command::new("bash").arg(&script).arg(&dir).status() {
            Ok(s) if s.success() => {}
            Ok(s) => println!("cargo:warning=fetching ONNX Runtime failed ({s}); set ORT_DYLIB_PATH to {LIB}"),
            Err(e) => println!("cargo:warning=cannot run {}: {e}; set ORT_DYLIB_PATH to {LIB}", script.display()),
        }
    }
    if lib.exists() {
        println!("cargo:rustc-env=CODEC_ORT_LIB={}", lib.display());
    }
}
