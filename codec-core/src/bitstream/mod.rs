//! Serialized forms of codec tokens: the `.tok` file and the realtime packet.
//!
//! Both formats are parsed from untrusted bytes (files from disk, datagrams
//! from the network), so every parser here returns [`BitstreamError`] instead
//! of panicking, and checks each declared length against hard limits and
//! against the bytes actually present before allocating anything.
//!
//! Codes are stored bit-packed, most significant bit first, so a 1024-entry
//! codebook costs 10 bits per code instead of 16.

mod bits;
mod cursor;
mod packet;
mod sniff;
mod token_file;
mod token_reader;

pub use bits::{pack_codes, packed_len, unpack_codes, BitReaderLtr, BitWriterLtr, MAX_CODE_BITS};
pub use packet::{Packet, PacketHeader, MAX_DATAGRAM_LEN, MAX_PACKET_FRAMES, PACKET_HEADER_LEN, PACKET_VERSION};
pub use sniff::describe_not_tokens;
pub use token_file::{
    CodeLayout, TokenFile, TokenHeader, MAX_CODEBOOKS, MAX_FRAMES, MAX_HOP, MAX_MODEL_NAME_LEN, MAX_SAMPLE_RATE,
    MAX_TOKEN_FILE_LEN, MIN_SAMPLE_RATE, TOKEN_FILE_VERSION, TOKEN_MAGIC,
};
pub use token_reader::TokenReader;

/// Why a bitstream could not be read or written.
///
/// Variants carry the offending values so that a rejected file or packet can
/// be diagnosed from the error message alone.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BitstreamError {
    /// The input does not start with the expected magic bytes.
    #[error("{what}")]
    BadMagic {
        /// The first four bytes of the input.
        found: [u8; 4],
        /// The magic this format requires.
        expected: [u8; 4],
        /// What the input is instead, as far as its first bytes tell
        /// (a WAV file, a token part, or its first bytes).
        what: String,
    },

    /// The format version is not one this build understands.
    #[error("unsupported format version {found} (this build supports {supported})")]
    UnsupportedVersion {
        /// The version stored in the input.
        found: u16,
        /// The only version this build reads and writes.
        supported: u16,
    },

    /// Flag bits are set whose meaning this build does not know.
    #[error("unknown flags {found:#06x}")]
    UnknownFlags {
        /// The flags field as stored.
        found: u16,
    },

    /// The input ends before a field or payload it declares.
    #[error("truncated {what}: needed {needed} bytes, {available} available")]
    Truncated {
        /// The part of the format that is cut off.
        what: &'static str,
        /// Bytes the part needs.
        needed: u64,
        /// Bytes actually left in the input.
        available: u64,
    },

    /// A bit reader was asked for more bits than remain.
    #[error("bit reader overrun: requested {requested} bits, {remaining} remaining")]
    BitOverrun {
        /// Bits requested by the read.
        requested: u32,
        /// Bits left in the buffer.
        remaining: u64,
    },

    /// Bytes follow the end of a complete structure.
    #[error("{count} trailing bytes after the end of the data")]
    TrailingBytes {
        /// How many bytes are left over.
        count: u64,
    },

    /// The stored CRC-32 does not match the bytes it covers.
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch {
        /// The CRC-32 stored in the input.
        stored: u32,
        /// The CRC-32 of the bytes as read.
        computed: u32,
    },

    /// A value is above the hard limit the format allows.
    #[error("{what} = {value} exceeds the limit {limit}")]
    LimitExceeded {
        /// The quantity that is too large.
        what: &'static str,
        /// Its value.
        value: u64,
        /// The largest value allowed.
        limit: u64,
    },

    /// A value lies outside its allowed range.
    #[error("{what} = {value} is outside {min}..={max}")]
    OutOfRange {
        /// The quantity that is out of range.
        what: &'static str,
        /// Its value.
        value: u64,
        /// The smallest value allowed.
        min: u64,
        /// The largest value allowed.
        max: u64,
    },

    /// A code does not fit in the declared number of bits.
    #[error("code {code} at index {index} does not fit in {bits} bits")]
    CodeOutOfRange {
        /// The offending code.
        code: u16,
        /// Its position in the code sequence.
        index: usize,
        /// The declared code width.
        bits: u8,
    },

    /// A value does not fit in the declared number of bits of a bit writer.
    #[error("value {value:#x} does not fit in {bits} bits")]
    ValueTooWide {
        /// The value passed to the writer.
        value: u32,
        /// The width it was to be written with.
        bits: u32,
    },

    /// A length field disagrees with the length implied by other fields.
    #[error("{what}: expected {expected}, found {found}")]
    LengthMismatch {
        /// Which length disagrees.
        what: &'static str,
        /// The length implied by the other fields.
        expected: u64,
        /// The length declared or present.
        found: u64,
    },

    /// The number of codebooks is not `groups * stages`.
    #[error("layout mismatch: {codebooks} codebooks but {groups} groups x {stages} stages")]
    LayoutMismatch {
        /// Codes per frame as declared.
        codebooks: u8,
        /// Quantizer groups as declared.
        groups: u8,
        /// Residual stages per group as declared.
        stages: u8,
    },

    /// The model name is not valid UTF-8.
    #[error("model name is not valid UTF-8")]
    InvalidModelName,

    /// Fields that are individually valid contradict each other.
    #[error("inconsistent data: {0}")]
    Inconsistent(&'static str),

    /// Reading or writing the underlying stream failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Checks `value` against `min..=max`, naming it in the error.
fn check_range(what: &'static str, value: u64, min: u64, max: u64) -> Result<(), BitstreamError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(BitstreamError::OutOfRange { what, value, min, max })
    }
}

#[cfg(test)]
pub(crate) mod test_rng {
    /// xorshift64*: deterministic, dependency-free test data.
    pub(crate) struct Rng(u64);

    impl Rng {
        pub(crate) fn new(seed: u64) -> Self {
            Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
        }

        pub(crate) fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        /// `n` uniformly random codes below `2^bits`.
        pub(crate) fn codes(&mut self, n: usize, bits: u8) -> Vec<u16> {
            let mask = (1u64 << bits) - 1;
            (0..n).map(|_| (self.next_u64() & mask) as u16).collect()
        }
    }
}
