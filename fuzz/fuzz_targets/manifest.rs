//! A model manifest from arbitrary bytes: refused with an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(m) = codec_core::package::Manifest::parse(text) {
            // A manifest that passes must be self-consistent.
            assert!(m.quantizer.min_stages <= m.quantizer.stages);
            assert_eq!(m.stft.n_fft, 2 * m.hop);
        }
    }
});
