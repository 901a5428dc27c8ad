//! MSB-first bit packing of fixed-width codes.
//!
//! Bits fill each byte from its most significant bit down (the "left to
//! right" order of Symphonia's `BitReaderLtr`), so a packed stream reads in
//! the same order as the codes it holds. The final byte is zero-padded when
//! writing; readers ignore the padding bits.

use super::BitstreamError;

/// The widest code the packing helpers accept (a 65536-entry codebook).
pub const MAX_CODE_BITS: u8 = 16;

/// Bytes needed to pack `count` codes of `bits` bits each: `ceil(count * bits / 8)`.
///
/// Saturates at `usize::MAX` instead of overflowing, so a length computed
/// from hostile counts can never wrap around to a small, plausible value.
///
/// ```
/// use codec_core::bitstream::packed_len;
/// assert_eq!(packed_len(8, 10), 10);
/// assert_eq!(packed_len(3, 10), 4);
/// assert_eq!(packed_len(0, 10), 0);
/// ```
pub fn packed_len(count: usize, bits: u8) -> usize {
    let total_bits = count as u128 * u128::from(bits);
    usize::try_from(total_bits.div_ceil(8)).unwrap_or(usize::MAX)
}

/// Rejects code widths outside `1..=16`.
fn check_code_bits(bits: u8) -> Result<(), BitstreamError> {
    super::check_range("code bits", bits.into(), 1, MAX_CODE_BITS.into())
}

/// `2^bits - 1` for `bits` in `0..=32`.
fn mask32(bits: u32) -> u64 {
    (1u64 << bits) - 1
}

/// Writes values of up to 32 bits, most significant bit first.
///
/// The writer appends to any `Vec<u8>` it can borrow mutably, so it can own
/// its buffer (`BitWriterLtr<Vec<u8>>`) or extend one the caller keeps
/// (`BitWriterLtr<&mut Vec<u8>>`). Call [`finish`](Self::finish) to flush the
/// last, zero-padded byte; dropping the writer discards a partial byte.
///
/// ```
/// use codec_core::bitstream::BitWriterLtr;
/// let mut out = Vec::new();
/// let mut w = BitWriterLtr::new(&mut out);
/// w.write_bits_leq32(0b101, 3)?;
/// w.write_bits_leq32(0b1, 1)?;
/// w.finish();
/// assert_eq!(out, [0b1011_0000]);
/// # Ok::<(), codec_core::bitstream::BitstreamError>(())
/// ```
#[derive(Debug)]
pub struct BitWriterLtr<B: AsMut<Vec<u8>> = Vec<u8>> {
    buf: B,
    /// Pending bits, right-aligned; fewer than 8 between calls.
    acc: u64,
    pending: u32,
}

impl<B: AsMut<Vec<u8>>> BitWriterLtr<B> {
    /// Starts writing at the end of `buf`, keeping what it already holds.
    pub fn new(buf: B) -> Self {
        Self { buf, acc: 0, pending: 0 }
    }

    /// Appends the low `bits` bits of `value`, most significant first.
    ///
    /// Fails, writing nothing, if `bits > 32` or `value` has bits set above
    /// `bits`: silently truncating a value would corrupt the stream.
    pub fn write_bits_leq32(&mut self, value: u32, bits: u32) -> Result<(), BitstreamError> {
        if bits > 32 {
            return Err(BitstreamError::OutOfRange { what: "bit count", value: bits.into(), min: 0, max: 32 });
        }
        if u64::from(value) > mask32(bits) {
            return Err(BitstreamError::ValueTooWide { value, bits });
        }
        // pending < 8 and bits <= 32, so at most 39 bits are held here.
        self.acc = (self.acc << bits) | u64::from(value);
        self.pending += bits;
        let buf = self.buf.as_mut();
        while self.pending >= 8 {
            self.pending -= 8;
            buf.push((self.acc >> self.pending) as u8);
        }
        self.acc &= mask32(self.pending);
        Ok(())
    }

    /// Bits written since construction that are not yet in the buffer.
    pub fn pending_bits(&self) -> u32 {
        self.pending
    }

    /// Flushes the partial last byte (zero-padded) and returns the buffer.
    pub fn finish(mut self) -> B {
        if self.pending > 0 {
            let byte = (self.acc << (8 - self.pending)) as u8;
            self.buf.as_mut().push(byte);
        }
        self.buf
    }
}

/// Reads values of up to 32 bits, most significant bit first.
///
/// Reading past the end is an error, not zero fill: a short payload must not
/// decode into plausible-looking codes.
///
/// ```
/// use codec_core::bitstream::BitReaderLtr;
/// let mut r = BitReaderLtr::new(&[0b1011_0000]);
/// assert_eq!(r.read_bits_leq32(3)?, 0b101);
/// assert_eq!(r.read_bits_leq32(1)?, 1);
/// assert_eq!(r.bits_left(), 4);
/// assert!(r.read_bits_leq32(5).is_err());
/// # Ok::<(), codec_core::bitstream::BitstreamError>(())
/// ```
#[derive(Debug, Clone)]
pub struct BitReaderLtr<'a> {
    buf: &'a [u8],
    /// Buffered bits, right-aligned; `avail` of them are valid.
    acc: u64,
    avail: u32,
}

impl<'a> BitReaderLtr<'a> {
    /// Starts reading at the first bit of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, acc: 0, avail: 0 }
    }

    /// Bits not yet read.
    pub fn bits_left(&self) -> u64 {
        self.buf.len() as u64 * 8 + u64::from(self.avail)
    }

    /// Reads `bits` bits (0..=32) as an unsigned value.
    ///
    /// On error nothing is consumed.
    pub fn read_bits_leq32(&mut self, bits: u32) -> Result<u32, BitstreamError> {
        if bits > 32 {
            return Err(BitstreamError::OutOfRange { what: "bit count", value: bits.into(), min: 0, max: 32 });
        }
        if u64::from(bits) > self.bits_left() {
            return Err(BitstreamError::BitOverrun { requested: bits, remaining: self.bits_left() });
        }
        // avail < bits <= 32 during refill, so at most 39 bits are held.
        while self.avail < bits {
            let Some((&byte, rest)) = self.buf.split_first() else {
                // Unreachable after the bits_left check; kept panic-free.
                return Err(BitstreamError::BitOverrun { requested: bits, remaining: u64::from(self.avail) });
            };
            self.buf = rest;
            self.acc = (self.acc << 8) | u64::from(byte);
            self.avail += 8;
        }
        self.avail -= bits;
        let value = (self.acc >> self.avail) & mask32(bits);
        self.acc &= mask32(self.avail);
        Ok(value as u32)
    }
}

/// Appends `codes`, each `bits` wide, to `out` MSB-first, zero-padding the last byte.
///
/// Every code is checked before anything is written, so on error `out` is
/// unchanged.
///
/// ```
/// use codec_core::bitstream::{pack_codes, unpack_codes};
/// let mut bytes = Vec::new();
/// pack_codes(&[1023, 0, 512], 10, &mut bytes)?;
/// assert_eq!(bytes.len(), 4);
/// let mut codes = Vec::new();
/// unpack_codes(&bytes, 10, 3, &mut codes)?;
/// assert_eq!(codes, [1023, 0, 512]);
/// assert!(pack_codes(&[1024], 10, &mut bytes).is_err());
/// # Ok::<(), codec_core::bitstream::BitstreamError>(())
/// ```
pub fn pack_codes(codes: &[u16], bits: u8, out: &mut Vec<u8>) -> Result<(), BitstreamError> {
    check_code_bits(bits)?;
    let limit = mask32(bits.into());
    if let Some((index, &code)) = codes.iter().enumerate().find(|&(_, &c)| u64::from(c) > limit) {
        return Err(BitstreamError::CodeOutOfRange { code, index, bits });
    }
    out.reserve(packed_len(codes.len(), bits));
    let mut writer = BitWriterLtr::new(out);
    for &code in codes {
        writer.write_bits_leq32(code.into(), bits.into())?;
    }
    writer.finish();
    Ok(())
}

/// Appends `count` codes of `bits` bits unpacked from `bytes` to `out`.
///
/// `bytes` must be exactly [`packed_len`]`(count, bits)` long: a packed
/// payload always sits in a length-delimited field, so any other length means
/// the surrounding structure is corrupt. The length is checked before `out`
/// grows, so a hostile `count` cannot trigger a large allocation, and on
/// error `out` is unchanged. Padding bits in the last byte are ignored.
///
/// ```
/// use codec_core::bitstream::unpack_codes;
/// let mut codes = Vec::new();
/// unpack_codes(&[0xff, 0xc0], 10, 1, &mut codes)?;
/// assert_eq!(codes, [1023]);
/// assert!(unpack_codes(&[0xff], 10, 1, &mut codes).is_err());
/// # Ok::<(), codec_core::bitstream::BitstreamError>(())
/// ```
pub fn unpack_codes(bytes: &[u8], bits: u8, count: usize, out: &mut Vec<u16>) -> Result<(), BitstreamError> {
    check_code_bits(bits)?;
    let expected = packed_len(count, bits);
    if bytes.len() != expected {
        return Err(BitstreamError::LengthMismatch {
            what: "packed code bytes",
            expected: expected as u64,
            found: bytes.len() as u64,
        });
    }
    // count <= 8 * bytes.len() here, so this reservation is bounded by input.
    out.reserve(count);
    let mut reader = BitReaderLtr::new(bytes);
    for _ in 0..count {
        // At most 16 bits are read, so the value fits in u16.
        let code = reader.read_bits_leq32(bits.into())?;
        out.push(code as u16);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitstream::test_rng::Rng;

    const BIT_MATRIX: [u8; 5] = [1, 7, 10, 11, 16];
    const COUNT_MATRIX: [usize; 8] = [0, 1, 2, 3, 7, 8, 9, 1000];

    #[test]
    fn pack_round_trips_over_bits_and_counts() {
        let mut rng = Rng::new(1);
        for bits in BIT_MATRIX {
            for count in COUNT_MATRIX {
                let codes = rng.codes(count, bits);
                let mut bytes = vec![0xaa]; // pack appends after existing data
                pack_codes(&codes, bits, &mut bytes).expect("pack");
                assert_eq!(bytes.len(), 1 + packed_len(count, bits));
                let mut back = vec![7];
                unpack_codes(&bytes[1..], bits, count, &mut back).expect("unpack");
                assert_eq!(back[0], 7);
                assert_eq!(&back[1..], &codes[..], "bits={bits} count={count}");
            }
        }
    }

    #[test]
    fn extreme_codes_round_trip() {
        for bits in 1..=MAX_CODE_BITS {
            let max = mask32(bits.into()) as u16;
            let codes = [max, 0, max, max, 0, 1, max];
            let mut bytes = Vec::new();
            pack_codes(&codes, bits, &mut bytes).expect("pack");
            let mut back = Vec::new();
            unpack_codes(&bytes, bits, codes.len(), &mut back).expect("unpack");
            assert_eq!(back, codes);
        }
    }

    #[test]
    fn layout_is_msb_first_with_zero_padding() {
        let mut bytes = Vec::new();
        pack_codes(&[0b10_0000_0001, 0b00_0000_0011], 10, &mut bytes).expect("pack");
        // 10_0000_0001 00_0000_0011 then four zero padding bits.
        assert_eq!(bytes, [0b1000_0000, 0b0100_0000, 0b0011_0000]);
        assert_eq!(packed_len(2, 10), 3);
        let mut w = BitWriterLtr::new(Vec::new());
        w.write_bits_leq32(1, 1).expect("write");
        assert_eq!(w.pending_bits(), 1);
        assert_eq!(w.finish(), [0x80]);
    }

    #[test]
    fn padding_bits_are_ignored() {
        let mut back = Vec::new();
        unpack_codes(&[0xff, 0xff], 10, 1, &mut back).expect("unpack");
        assert_eq!(back, [1023]);
    }

    #[test]
    fn out_of_range_code_rejected_without_writing() {
        let mut bytes = vec![1, 2];
        let err = pack_codes(&[5, 128, 3], 7, &mut bytes).expect_err("must fail");
        assert!(matches!(err, BitstreamError::CodeOutOfRange { code: 128, index: 1, bits: 7 }));
        assert_eq!(bytes, [1, 2]);
    }

    #[test]
    fn bad_widths_rejected() {
        let mut bytes = Vec::new();
        let mut codes = Vec::new();
        for bits in [0, 17, 255] {
            assert!(pack_codes(&[0], bits, &mut bytes).is_err());
            assert!(unpack_codes(&[0], bits, 1, &mut codes).is_err());
        }
        let mut w = BitWriterLtr::new(Vec::new());
        assert!(w.write_bits_leq32(0, 33).is_err());
        assert!(w.write_bits_leq32(4, 2).is_err());
        assert!(w.write_bits_leq32(u32::MAX, 32).is_ok());
        assert_eq!(w.finish(), [0xff; 4]);
        assert!(BitReaderLtr::new(&[0; 8]).read_bits_leq32(33).is_err());
    }

    #[test]
    fn wrong_payload_length_rejected_without_allocating() {
        let mut codes = Vec::new();
        for len in [0, 1, 3, 5] {
            let bytes = vec![0u8; len];
            assert!(unpack_codes(&bytes, 10, 3, &mut codes).is_err());
        }
        assert!(unpack_codes(&[0; 4], 16, usize::MAX, &mut codes).is_err());
        assert_eq!(codes.capacity(), 0);
        assert_eq!(packed_len(usize::MAX, 16), usize::MAX);
    }

    #[test]
    fn reader_overrun_consumes_nothing() {
        let mut r = BitReaderLtr::new(&[0xab, 0xcd]);
        assert_eq!(r.read_bits_leq32(4).expect("read"), 0xa);
        assert!(matches!(r.read_bits_leq32(13), Err(BitstreamError::BitOverrun { requested: 13, remaining: 12 })));
        assert_eq!(r.read_bits_leq32(12).expect("read"), 0xbcd);
        assert_eq!(r.read_bits_leq32(0).expect("read"), 0);
        assert!(r.read_bits_leq32(1).is_err());
    }

    #[test]
    fn writer_and_reader_agree_on_mixed_widths() {
        let mut rng = Rng::new(2);
        let items: Vec<(u32, u32)> = (0..500)
            .map(|_| {
                let bits = (rng.next_u64() % 33) as u32;
                (rng.next_u64() as u32 & mask32(bits) as u32, bits)
            })
            .collect();
        let mut w = BitWriterLtr::new(Vec::new());
        for &(v, b) in &items {
            w.write_bits_leq32(v, b).expect("write");
        }
        let bytes = w.finish();
        let mut r = BitReaderLtr::new(&bytes);
        for &(v, b) in &items {
            assert_eq!(r.read_bits_leq32(b).expect("read"), v);
        }
        assert!(r.bits_left() < 8);
    }
}
