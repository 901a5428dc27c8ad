//! Arbitrary bytes into `TokenFile::from_bytes`: it must never panic,
//! whatever it accepts must survive a write/read round trip, and
//! `TokenFile::read_from` must agree with it.
//!
//! Random mutations almost never carry a valid CRC, which would leave the
//! checks behind the CRC untested; so each input is also parsed a second time
//! with its last four bytes replaced by the CRC of the rest.
#![no_main]

use codec_core::bitstream::TokenFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check(data);
    if let Some(covered) = data.len().checked_sub(4) {
        let mut sealed = data.to_vec();
        let crc = crc32fast::hash(&data[..covered]);
        sealed[covered..].copy_from_slice(&crc.to_le_bytes());
        check(&sealed);
    }
});

fn check(data: &[u8]) {
    // The stream reader reads the header before the rest: it must come to
    // the same verdict as the parser of the whole.
    let streamed = TokenFile::read_from(&mut &data[..]);
    let Ok(file) = TokenFile::from_bytes(data) else {
        assert!(streamed.is_err(), "read_from accepts what from_bytes refuses");
        return;
    };
    assert_eq!(streamed.as_ref().ok(), Some(&file), "read_from refuses what from_bytes accepts");
    let bytes = file.to_bytes().expect("an accepted file must re-encode");
    assert_eq!(bytes.len(), file.encoded_len());
    assert_eq!(bytes.len(), data.len());
    // Only the padding bits of the last payload byte, and hence the CRC, may
    // differ: the reader ignores padding, the writer zeroes it.
    let differ = bytes.iter().zip(data).position(|(a, b)| a != b);
    if let Some(first) = differ {
        assert!(first + 5 >= data.len(), "re-encoding changed byte {first}");
    }
    let again = TokenFile::from_bytes(&bytes).expect("a re-encoded file must parse");
    assert_eq!(again, file);
}
