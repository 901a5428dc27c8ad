//! The committed header is the one cbindgen generates from the source, so C
//! programs never build against a header that lags the library.

use std::path::Path;

#[test]
fn committed_header_is_up_to_date() {
    let generated_path = concat!(env!("OUT_DIR"), "/codec.h");
    let generated = std::fs::read_to_string(generated_path).expect("build.rs generates the header into OUT_DIR");
    let committed_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include").join("codec.h");
    if std::env::var_os("CODEC_FFI_BLESS").is_some() {
        std::fs::write(&committed_path, &generated).expect("write include/codec.h");
        return;
    }
    let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/codec.h differs from the header generated from src/: run \
         `CODEC_FFI_BLESS=1 cargo test -p codec-ffi --test header` and commit it"
    );
}
