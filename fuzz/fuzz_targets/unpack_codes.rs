//! Arbitrary widths, counts and bytes into `unpack_codes`. Input layout:
//! byte 0 = bits, bytes 1..5 = count (u32 LE), rest = packed codes.
#![no_main]

use codec_core::bitstream::{pack_codes, packed_len, unpack_codes, BitReaderLtr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&bits, rest)) = data.split_first() else {
        return;
    };
    let Some((count, packed)) = rest.split_first_chunk::<4>() else {
        return;
    };
    let count = u32::from_le_bytes(*count) as usize;
    let mut codes = vec![0xffff];
    if unpack_codes(packed, bits, count, &mut codes).is_err() {
        assert_eq!(codes, [0xffff], "a failed unpack must leave out unchanged");
        return;
    }
    assert_eq!(packed.len(), packed_len(count, bits));
    assert_eq!(codes.len(), count + 1);
    let codes = &codes[1..];

    // The generic bit reader must see the same codes.
    let mut reader = BitReaderLtr::new(packed);
    for &code in codes {
        let read = reader.read_bits_leq32(bits.into()).expect("in bounds");
        assert_eq!(read, u32::from(code));
    }
    assert!(reader.bits_left() < 8);

    let mut repacked = Vec::new();
    pack_codes(codes, bits, &mut repacked).expect("unpacked codes must fit");
    assert_eq!(repacked.len(), packed.len());
    // Only padding bits in the last byte may differ, and they are zero.
    let differ = repacked.iter().zip(packed).position(|(a, b)| a != b);
    if let Some(first) = differ {
        assert_eq!(first + 1, packed.len(), "repacking changed byte {first}");
    }
    let mut again = Vec::new();
    unpack_codes(&repacked, bits, count, &mut again).expect("repacked codes unpack");
    assert_eq!(again, codes);
});
