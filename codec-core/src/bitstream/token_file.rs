//! The `.tok` file: one encoded recording, self-describing and checksummed.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! offset    size  field
//! 0         4     magic        b"CDCT"
//! 4         2     version      u16 = 1
//! 6         2     flags        u16 = 0 (nonzero is rejected: unknown features)
//! 8         1     name_len     u8, 1..=64
//! 9         n     model_name   UTF-8
//! 9+n       32    model_hash
//! 41+n      4     sample_rate  u32, 8000..=192000
//! 45+n      4     hop          u32, 1..=65536
//! 49+n      1     codebooks    u8, 1..=64, = groups * stages
//! 50+n      1     bits         u8, 1..=16
//! 51+n      1     groups       u8
//! 52+n      1     stages       u8
//! 53+n      4     frames       u32, <= one week at 50 Hz
//! 57+n      8     original_len u64, <= frames * hop
//! 65+n      4     payload_len  u32, = packed_len(frames * codebooks, bits)
//! 69+n      p     payload      codes, bit-packed MSB-first, frame-major
//! 69+n+p    4     crc32        over every preceding byte
//! ```
//!
//! The reader checks the structure (lengths against the bytes present) and
//! the CRC before it trusts any value, so a damaged file is reported as
//! truncated or corrupt rather than as a file with strange parameters.

use std::io::{Read, Write};

use super::bits::{pack_codes, packed_len, unpack_codes, MAX_CODE_BITS};
use super::cursor::Cursor;
use super::{check_range, BitstreamError};

/// The first four bytes of every `.tok` file.
pub const TOKEN_MAGIC: [u8; 4] = *b"CDCT";
/// The only `.tok` version this build reads and writes.
pub const TOKEN_FILE_VERSION: u16 = 1;
/// Longest model name, in UTF-8 bytes.
pub const MAX_MODEL_NAME_LEN: usize = 64;
/// Lowest sample rate accepted, in Hz.
pub const MIN_SAMPLE_RATE: u32 = 8_000;
/// Highest sample rate accepted, in Hz.
pub const MAX_SAMPLE_RATE: u32 = 192_000;
/// Largest hop (samples per frame) accepted.
pub const MAX_HOP: u32 = 65_536;
/// Most codes per frame.
pub const MAX_CODEBOOKS: u8 = 64;
/// Most frames in one file: a week of audio at 50 frames per second.
pub const MAX_FRAMES: u32 = 50 * 3600 * 24 * 7;

/// Bytes before the payload, excluding the model name.
const FIXED_HEADER_LEN: usize = 4 + 2 + 2 + 1 + 32 + 4 + 4 + 4 + 4 + 8 + 4;
const CRC_LEN: usize = 4;
/// Payload of the largest file the limits allow; fits in the u32 length field.
const MAX_PAYLOAD_LEN: u64 = MAX_FRAMES as u64 * MAX_CODEBOOKS as u64 * MAX_CODE_BITS as u64 / 8;
/// Largest `.tok` file the limits allow; [`TokenFile::read_from`] reads no more.
pub const MAX_TOKEN_FILE_LEN: u64 = (FIXED_HEADER_LEN + MAX_MODEL_NAME_LEN + CRC_LEN) as u64 + MAX_PAYLOAD_LEN;
/// Codes packed per write, a multiple of 8 so every chunk ends on a byte boundary.
const WRITE_CHUNK_CODES: usize = 4096;

/// How the codes of one frame are organised by the quantizer.
///
/// ```
/// use codec_core::bitstream::CodeLayout;
/// let layout = CodeLayout { codebooks: 8, bits: 10, groups: 2, stages: 4 };
/// assert!(layout.validate().is_ok());
/// assert!(CodeLayout { groups: 3, ..layout }.validate().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CodeLayout {
    /// Codes per frame, `1..=64`; always `groups * stages`.
    pub codebooks: u8,
    /// Bits per code, `1..=16`.
    pub bits: u8,
    /// Quantizer groups.
    pub groups: u8,
    /// Residual stages per group.
    pub stages: u8,
}

impl CodeLayout {
    /// Checks the ranges and that `codebooks == groups * stages`.
    pub fn validate(&self) -> Result<(), BitstreamError> {
        check_range("codebooks", self.codebooks.into(), 1, MAX_CODEBOOKS.into())?;
        check_range("code bits", self.bits.into(), 1, MAX_CODE_BITS.into())?;
        if u16::from(self.groups) * u16::from(self.stages) != u16::from(self.codebooks) {
            return Err(BitstreamError::LayoutMismatch {
                codebooks: self.codebooks,
                groups: self.groups,
                stages: self.stages,
            });
        }
        Ok(())
    }
}

/// Everything about a `.tok` file except its codes.
///
/// ```
/// use codec_core::bitstream::{CodeLayout, TokenHeader};
/// let header = TokenHeader {
///     model_name: "speech-24k".into(),
///     model_hash: [0; 32],
///     sample_rate: 24_000,
///     hop: 320,
///     layout: CodeLayout { codebooks: 8, bits: 10, groups: 2, stages: 4 },
///     frames: 75,
///     original_len: 24_000,
/// };
/// assert!(header.validate().is_ok());
/// assert_eq!(header.bitrate_bps(), 6000.0);
/// assert_eq!(header.duration_seconds(), 1.0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHeader {
    /// Name of the model that produced the codes, 1..=64 UTF-8 bytes.
    pub model_name: String,
    /// Hash of the model weights, so a decoder can refuse codes from another model.
    pub model_hash: [u8; 32],
    /// Sample rate of the model, in Hz.
    pub sample_rate: u32,
    /// Samples per frame.
    pub hop: u32,
    /// Shape of each frame's codes.
    pub layout: CodeLayout,
    /// Number of frames; may be zero.
    pub frames: u32,
    /// Samples (at `sample_rate`) of the audio before padding to whole frames.
    pub original_len: u64,
}

impl TokenHeader {
    /// Checks every field against the format's limits.
    pub fn validate(&self) -> Result<(), BitstreamError> {
        check_range("model name length", self.model_name.len() as u64, 1, MAX_MODEL_NAME_LEN as u64)?;
        check_range("sample rate", self.sample_rate.into(), MIN_SAMPLE_RATE.into(), MAX_SAMPLE_RATE.into())?;
        check_range("hop", self.hop.into(), 1, MAX_HOP.into())?;
        self.layout.validate()?;
        if self.frames > MAX_FRAMES {
            return Err(BitstreamError::LimitExceeded {
                what: "frames",
                value: self.frames.into(),
                limit: MAX_FRAMES.into(),
            });
        }
        let covered = u64::from(self.frames) * u64::from(self.hop);
        if self.original_len > covered {
            return Err(BitstreamError::LimitExceeded {
                what: "original length (frames * hop)",
                value: self.original_len,
                limit: covered,
            });
        }
        Ok(())
    }

    /// Number of codes in the file, `frames * codebooks`.
    pub fn code_count(&self) -> usize {
        let count = u64::from(self.frames) * u64::from(self.layout.codebooks);
        usize::try_from(count).unwrap_or(usize::MAX)
    }

    /// Bitrate of the code stream: `codebooks * bits * sample_rate / hop`.
    pub fn bitrate_bps(&self) -> f64 {
        let bits_per_frame = f64::from(self.layout.codebooks) * f64::from(self.layout.bits);
        bits_per_frame * f64::from(self.sample_rate) / f64::from(self.hop)
    }

    /// Length of the original audio, from `original_len` and `sample_rate`.
    pub fn duration_seconds(&self) -> f64 {
        self.original_len as f64 / f64::from(self.sample_rate)
    }

    fn payload_len(&self) -> usize {
        packed_len(self.code_count(), self.layout.bits)
    }

    /// Size in bytes of the `.tok` file with this header.
    pub fn encoded_len(&self) -> usize {
        // Saturating, because an unvalidated header may claim absurd sizes.
        (FIXED_HEADER_LEN + CRC_LEN).saturating_add(self.model_name.len()).saturating_add(self.payload_len())
    }
}

/// A decoded `.tok` file.
///
/// ```
/// use codec_core::bitstream::{CodeLayout, TokenFile, TokenHeader};
/// let file = TokenFile {
///     header: TokenHeader {
///         model_name: "speech-24k".into(),
///         model_hash: [7; 32],
///         sample_rate: 24_000,
///         hop: 320,
///         layout: CodeLayout { codebooks: 2, bits: 10, groups: 1, stages: 2 },
///         frames: 3,
///         original_len: 900,
///     },
///     codes: vec![1, 2, 3, 4, 5, 1023],
/// };
/// let bytes = file.to_bytes()?;
/// assert_eq!(bytes.len(), file.encoded_len());
/// assert_eq!(TokenFile::from_bytes(&bytes)?, file);
/// assert_eq!(file.frame(2), Some(&[5, 1023][..]));
/// # Ok::<(), codec_core::bitstream::BitstreamError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenFile {
    /// Parameters of the encoding.
    pub header: TokenHeader,
    /// `frames * codebooks` codes, frame-major: all of frame 0, then frame 1, ...
    pub codes: Vec<u16>,
}

impl TokenFile {
    /// Checks the header and that the codes match it in number and width.
    pub fn validate(&self) -> Result<(), BitstreamError> {
        self.header.validate()?;
        let expected = self.header.code_count();
        if self.codes.len() != expected {
            return Err(BitstreamError::LengthMismatch {
                what: "code count (frames * codebooks)",
                expected: expected as u64,
                found: self.codes.len() as u64,
            });
        }
        let bits = self.header.layout.bits;
        let limit = 1u32 << bits;
        match self.codes.iter().position(|&c| u32::from(c) >= limit) {
            Some(index) => Err(BitstreamError::CodeOutOfRange {
                code: self.codes.get(index).copied().unwrap_or_default(),
                index,
                bits,
            }),
            None => Ok(()),
        }
    }

    /// The codes of frame `index`, or `None` past the end.
    pub fn frame(&self, index: usize) -> Option<&[u16]> {
        let n = usize::from(self.header.layout.codebooks);
        let start = index.checked_mul(n)?;
        self.codes.get(start..start.checked_add(n)?)
    }

    /// Size of the serialized file in bytes.
    pub fn encoded_len(&self) -> usize {
        self.header.encoded_len()
    }

    /// Serializes the file to `w`, validating it first.
    ///
    /// Nothing is written if validation fails. The payload is packed in
    /// chunks, so memory use does not grow with the recording's length.
    pub fn write_to(&self, w: &mut impl Write) -> Result<(), BitstreamError> {
        self.validate()?;
        let h = &self.header;
        let payload_len = u32::try_from(h.payload_len()).map_err(|_| BitstreamError::LimitExceeded {
            what: "payload length",
            value: h.payload_len() as u64,
            limit: u32::MAX.into(),
        })?;
        let mut head = Vec::with_capacity(FIXED_HEADER_LEN + h.model_name.len());
        head.extend_from_slice(&TOKEN_MAGIC);
        head.extend_from_slice(&TOKEN_FILE_VERSION.to_le_bytes());
        head.extend_from_slice(&0u16.to_le_bytes());
        // validate() bounded the name to 64 bytes.
        head.push(h.model_name.len() as u8);
        head.extend_from_slice(h.model_name.as_bytes());
        head.extend_from_slice(&h.model_hash);
        head.extend_from_slice(&h.sample_rate.to_le_bytes());
        head.extend_from_slice(&h.hop.to_le_bytes());
        let l = h.layout;
        head.extend_from_slice(&[l.codebooks, l.bits, l.groups, l.stages]);
        head.extend_from_slice(&h.frames.to_le_bytes());
        head.extend_from_slice(&h.original_len.to_le_bytes());
        head.extend_from_slice(&payload_len.to_le_bytes());

        let mut out = CrcWriter::new(w);
        out.put(&head)?;
        let mut chunk = Vec::with_capacity(packed_len(WRITE_CHUNK_CODES, l.bits));
        for codes in self.codes.chunks(WRITE_CHUNK_CODES) {
            chunk.clear();
            pack_codes(codes, l.bits, &mut chunk)?;
            out.put(&chunk)?;
        }
        out.finish()
    }

    /// Serializes the file into a new buffer of exactly [`encoded_len`](Self::encoded_len) bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, BitstreamError> {
        // Validate before sizing the buffer from the header's claims.
        self.validate()?;
        let mut bytes = Vec::with_capacity(self.encoded_len());
        self.write_to(&mut bytes)?;
        Ok(bytes)
    }

    /// Parses a complete `.tok` file; trailing bytes after the CRC are an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BitstreamError> {
        let mut c = Cursor::new(bytes);
        let magic = c.array::<4>("magic")?;
        if magic != TOKEN_MAGIC {
            let what = super::describe_not_tokens(&bytes[..bytes.len().min(64)]);
            return Err(BitstreamError::BadMagic { found: magic, expected: TOKEN_MAGIC, what });
        }
        let version = c.u16("version")?;
        if version != TOKEN_FILE_VERSION {
            return Err(BitstreamError::UnsupportedVersion { found: version, supported: TOKEN_FILE_VERSION });
        }
        let flags = c.u16("flags")?;
        if flags != 0 {
            return Err(BitstreamError::UnknownFlags { found: flags });
        }
        let name_len = c.u8("model name length")?;
        let name = c.take(name_len.into(), "model name")?;
        let model_hash = c.array::<32>("model hash")?;
        let sample_rate = c.u32("sample rate")?;
        let hop = c.u32("hop")?;
        let [codebooks, bits, groups, stages] = c.array::<4>("code layout")?;
        let frames = c.u32("frames")?;
        let original_len = c.u64("original length")?;
        let payload_len = c.u32("payload length")?;
        let payload_len = usize::try_from(payload_len).unwrap_or(usize::MAX);
        let payload = c.take(payload_len, "payload")?;
        let covered_len = bytes.len() - c.remaining();
        let stored = c.u32("crc32")?;
        if c.remaining() != 0 {
            return Err(BitstreamError::TrailingBytes { count: c.remaining() as u64 });
        }
        let covered = bytes.get(..covered_len).ok_or(BitstreamError::Inconsistent("crc coverage"))?;
        let computed = crc32fast::hash(covered);
        if stored != computed {
            return Err(BitstreamError::ChecksumMismatch { stored, computed });
        }

        let model_name = std::str::from_utf8(name).map_err(|_| BitstreamError::InvalidModelName)?.to_owned();
        let header = TokenHeader {
            model_name,
            model_hash,
            sample_rate,
            hop,
            layout: CodeLayout { codebooks, bits, groups, stages },
            frames,
            original_len,
        };
        header.validate()?;
        // unpack_codes checks payload.len() against frames * codebooks before
        // allocating, and the payload is already known to be present.
        let mut codes = Vec::new();
        unpack_codes(payload, bits, header.code_count(), &mut codes)?;
        Ok(Self { header, codes })
    }

    /// Reads a `.tok` file from `r` to its end and parses it.
    ///
    /// The magic bytes are checked first and the header's length fields
    /// next: no more than the length the header declares is kept, and a
    /// header that declares more than [`MAX_TOKEN_FILE_LEN`] bytes is refused
    /// before its payload is read. Memory grows only as bytes actually
    /// arrive, so a hostile stream cannot force a large allocation up front.
    pub fn read_from(r: &mut impl Read) -> Result<Self, BitstreamError> {
        Self::read_capped(r, MAX_TOKEN_FILE_LEN)
    }

    fn read_capped(r: &mut impl Read, cap: u64) -> Result<Self, BitstreamError> {
        // Enough to name what a file is if it is not tokens; no file is shorter.
        const SNIFF_LEN: usize = 64;
        let mut bytes = Vec::new();
        (&mut *r).take(SNIFF_LEN as u64).read_to_end(&mut bytes)?;
        let Some(&name_len) = bytes.get(8).filter(|_| bytes.starts_with(&TOKEN_MAGIC)) else {
            // Not tokens, or too short to be: the parser says which.
            return Self::from_bytes(&bytes);
        };
        let header_len = FIXED_HEADER_LEN + usize::from(name_len);
        read_up_to(r, &mut bytes, header_len)?;
        let Some(payload_len) = bytes.get(header_len - 4..header_len) else { return Self::from_bytes(&bytes) };
        let payload_len = u32::from_le_bytes([payload_len[0], payload_len[1], payload_len[2], payload_len[3]]);
        let total = (header_len + CRC_LEN) as u64 + u64::from(payload_len);
        if total > cap {
            return Err(BitstreamError::LimitExceeded { what: "token file length", value: total, limit: cap });
        }
        read_up_to(r, &mut bytes, usize::try_from(total).unwrap_or(usize::MAX))?;
        // Counted, not kept.
        let trailing = std::io::copy(&mut (&mut *r).take(cap), &mut std::io::sink())?;
        if trailing > 0 {
            return Err(BitstreamError::TrailingBytes { count: trailing });
        }
        Self::from_bytes(&bytes)
    }
}

/// Reads from `r` until `bytes` holds `len` bytes or `r` ends; a `bytes`
/// already longer is left as it is.
fn read_up_to(r: &mut impl Read, bytes: &mut Vec<u8>, len: usize) -> std::io::Result<()> {
    let more = len.saturating_sub(bytes.len()) as u64;
    r.take(more).read_to_end(bytes)?;
    Ok(())
}

/// Passes bytes through to a writer while accumulating their CRC-32.
struct CrcWriter<'w, W: Write> {
    inner: &'w mut W,
    hasher: crc32fast::Hasher,
}

impl<'w, W: Write> CrcWriter<'w, W> {
    fn new(inner: &'w mut W) -> Self {
        Self { inner, hasher: crc32fast::Hasher::new() }
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), BitstreamError> {
        self.inner.write_all(bytes)?;
        self.hasher.update(bytes);
        Ok(())
    }

    /// Appends the CRC of everything written so far.
    fn finish(self) -> Result<(), BitstreamError> {
        self.inner.write_all(&self.hasher.finalize().to_le_bytes())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitstream::test_rng::Rng;

    const NAME: &str = "grvq-24k";
    /// Offset of `sample_rate` for a file named [`NAME`].
    const SR: usize = 41 + NAME.len();
    const HOP: usize = SR + 4;
    const LAYOUT: usize = SR + 8;
    const FRAMES: usize = SR + 12;
    const ORIG: usize = SR + 16;
    const PAYLOAD_LEN: usize = SR + 24;

    fn sample(frames: u32, bits: u8, groups: u8, stages: u8, seed: u64) -> TokenFile {
        let mut rng = Rng::new(seed);
        let codebooks = groups * stages;
        let hop = 320;
        let slack = if frames == 0 { 0 } else { rng.next_u64() % 320 };
        TokenFile {
            header: TokenHeader {
                model_name: NAME.into(),
                model_hash: std::array::from_fn(|i| i as u8 ^ 0x5a),
                sample_rate: 24_000,
                hop,
                layout: CodeLayout { codebooks, bits, groups, stages },
                frames,
                original_len: u64::from(frames) * u64::from(hop) - slack,
            },
            codes: rng.codes(frames as usize * usize::from(codebooks), bits),
        }
    }

    fn put(bytes: &mut [u8], at: usize, field: &[u8]) {
        bytes[at..at + field.len()].copy_from_slice(field);
    }

    /// Recomputes the trailing CRC so a test can reach the checks behind it.
    fn reseal(bytes: &mut [u8]) {
        let n = bytes.len() - 4;
        let crc = crc32fast::hash(&bytes[..n]);
        put(bytes, n, &crc.to_le_bytes());
    }

    fn parse_err(bytes: &[u8]) -> BitstreamError {
        TokenFile::from_bytes(bytes).expect_err("must be rejected")
    }

    #[test]
    fn round_trips_over_bits_frames_and_layouts() {
        let mut seed = 0;
        for bits in [1, 7, 10, 11, 16] {
            for frames in [0, 1, 2, 3, 50, 1001] {
                for (groups, stages) in [(1, 1), (2, 4), (1, 3), (8, 8)] {
                    seed += 1;
                    let file = sample(frames, bits, groups, stages, seed);
                    let bytes = file.to_bytes().expect("encode");
                    assert_eq!(bytes.len(), file.encoded_len());
                    assert_eq!(TokenFile::from_bytes(&bytes).expect("decode"), file);
                    let read = TokenFile::read_from(&mut &bytes[..]).expect("read");
                    assert_eq!(read, file);
                }
            }
        }
    }

    #[test]
    fn golden_layout() {
        let file = TokenFile {
            header: TokenHeader {
                model_name: "m".into(),
                model_hash: [0xee; 32],
                sample_rate: 16_000,
                hop: 0x140,
                layout: CodeLayout { codebooks: 2, bits: 10, groups: 2, stages: 1 },
                frames: 1,
                original_len: 300,
            },
            codes: vec![0x3ff, 0x001],
        };
        let mut expected = Vec::new();
        expected.extend_from_slice(b"CDCT\x01\x00\x00\x00\x01m");
        expected.extend_from_slice(&[0xee; 32]);
        expected.extend_from_slice(&[0x80, 0x3e, 0, 0, 0x40, 0x01, 0, 0]);
        expected.extend_from_slice(&[2, 10, 2, 1, 1, 0, 0, 0]);
        expected.extend_from_slice(&[0x2c, 0x01, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0]);
        expected.extend_from_slice(&[0xff, 0xc0, 0x10]);
        expected.extend_from_slice(&crc32fast::hash(&expected).to_le_bytes());
        assert_eq!(file.to_bytes().expect("encode"), expected);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = sample(5, 11, 2, 3, 7).to_bytes().expect("encode");
        for n in 0..bytes.len() {
            assert!(TokenFile::from_bytes(&bytes[..n]).is_err(), "prefix {n}");
            assert!(TokenFile::read_from(&mut &bytes[..n]).is_err(), "prefix {n}");
        }
    }

    #[test]
    fn every_single_bit_flip_is_an_error() {
        let bytes = sample(4, 10, 2, 2, 8).to_bytes().expect("encode");
        let mut flipped = bytes.clone();
        for i in 0..bytes.len() * 8 {
            flipped[i / 8] ^= 1 << (i % 8);
            assert!(TokenFile::from_bytes(&flipped).is_err(), "bit {i}");
            flipped[i / 8] ^= 1 << (i % 8);
        }
        assert_eq!(flipped, bytes);
    }

    #[test]
    fn wrong_magic_version_flags() {
        let bytes = sample(2, 10, 1, 1, 9).to_bytes().expect("encode");
        let mut b = bytes.clone();
        put(&mut b, 0, b"CDCX");
        assert!(matches!(parse_err(&b), BitstreamError::BadMagic { found, .. } if &found == b"CDCX"));
        let mut b = bytes.clone();
        put(&mut b, 4, &2u16.to_le_bytes());
        reseal(&mut b);
        assert!(matches!(parse_err(&b), BitstreamError::UnsupportedVersion { found: 2, supported: 1 }));
        let mut b = bytes;
        put(&mut b, 6, &0x8000u16.to_le_bytes());
        reseal(&mut b);
        assert!(matches!(parse_err(&b), BitstreamError::UnknownFlags { found: 0x8000 }));
    }

    #[test]
    fn trailing_garbage_rejected() {
        let mut bytes = sample(3, 7, 1, 2, 10).to_bytes().expect("encode");
        bytes.push(0);
        assert!(matches!(parse_err(&bytes), BitstreamError::TrailingBytes { count: 1 }));
    }

    #[test]
    fn huge_claims_in_tiny_buffer_rejected() {
        let mut bytes = sample(1, 16, 1, 1, 11).to_bytes().expect("encode");
        put(&mut bytes, FRAMES, &u32::MAX.to_le_bytes());
        put(&mut bytes, PAYLOAD_LEN, &u32::MAX.to_le_bytes());
        assert!(matches!(parse_err(&bytes), BitstreamError::Truncated { what: "payload", needed: 0xffff_ffff, .. }));
        // A consistent claim of the largest allowed file, with no payload.
        let mut bytes = sample(0, 16, 8, 8, 12).to_bytes().expect("encode");
        put(&mut bytes, FRAMES, &MAX_FRAMES.to_le_bytes());
        put(&mut bytes, PAYLOAD_LEN, &(MAX_PAYLOAD_LEN as u32).to_le_bytes());
        assert!(matches!(parse_err(&bytes), BitstreamError::Truncated { what: "payload", .. }));
    }

    #[test]
    fn header_limits_enforced_behind_valid_crc() {
        let bytes = sample(2, 10, 2, 2, 13).to_bytes().expect("encode");
        let patched = |at: usize, field: &[u8]| {
            let mut b = bytes.clone();
            put(&mut b, at, field);
            reseal(&mut b);
            parse_err(&b)
        };
        let e = patched(SR, &7_999u32.to_le_bytes());
        assert!(matches!(e, BitstreamError::OutOfRange { what: "sample rate", value: 7_999, .. }));
        let e = patched(SR, &192_001u32.to_le_bytes());
        assert!(matches!(e, BitstreamError::OutOfRange { what: "sample rate", .. }));
        let e = patched(HOP, &0u32.to_le_bytes());
        assert!(matches!(e, BitstreamError::OutOfRange { what: "hop", .. }));
        let e = patched(HOP, &65_537u32.to_le_bytes());
        assert!(matches!(e, BitstreamError::OutOfRange { what: "hop", .. }));
        let e = patched(LAYOUT, &[0, 10, 0, 0]);
        assert!(matches!(e, BitstreamError::OutOfRange { what: "codebooks", .. }));
        let e = patched(LAYOUT, &[65, 10, 65, 1]);
        assert!(matches!(e, BitstreamError::OutOfRange { what: "codebooks", .. }));
        let e = patched(LAYOUT, &[4, 17, 2, 2]);
        assert!(matches!(e, BitstreamError::OutOfRange { what: "code bits", .. }));
        let e = patched(LAYOUT, &[4, 10, 4, 4]);
        assert!(matches!(e, BitstreamError::LayoutMismatch { codebooks: 4, groups: 4, stages: 4 }));
        let e = patched(FRAMES, &(MAX_FRAMES + 1).to_le_bytes());
        assert!(matches!(e, BitstreamError::LimitExceeded { what: "frames", .. }));
        let e = patched(ORIG, &641u64.to_le_bytes());
        assert!(matches!(e, BitstreamError::LimitExceeded { value: 641, limit: 640, .. }));
        // More frames than the payload holds, with the payload length left alone.
        let e = patched(FRAMES, &3u32.to_le_bytes());
        assert!(matches!(e, BitstreamError::LengthMismatch { expected: 15, found: 10, .. }));
        let e = patched(LAYOUT, &[4, 11, 2, 2]);
        assert!(matches!(e, BitstreamError::LengthMismatch { .. }));
    }

    #[test]
    fn bad_model_name_rejected() {
        let bytes = sample(1, 10, 1, 1, 14).to_bytes().expect("encode");
        let mut b = bytes.clone();
        put(&mut b, 9, &[0xff]);
        reseal(&mut b);
        assert!(matches!(parse_err(&b), BitstreamError::InvalidModelName));
        // An empty name: drop the name bytes and reseal.
        let mut b = bytes;
        b[8] = 0;
        b.drain(9..9 + NAME.len());
        reseal(&mut b);
        assert!(matches!(parse_err(&b), BitstreamError::OutOfRange { what: "model name length", value: 0, .. }));
    }

    #[test]
    fn invalid_files_are_not_written() {
        let mut file = sample(3, 10, 1, 2, 15);
        file.codes[4] = 1024;
        let mut out = Vec::new();
        assert!(matches!(
            file.write_to(&mut out),
            Err(BitstreamError::CodeOutOfRange { code: 1024, index: 4, bits: 10 })
        ));
        assert!(out.is_empty());
        file.codes.truncate(5);
        assert!(matches!(file.to_bytes(), Err(BitstreamError::LengthMismatch { .. })));
        let mut file = sample(1, 10, 1, 1, 16);
        file.header.frames = u32::MAX;
        assert!(file.encoded_len() > u32::MAX as usize);
        assert!(matches!(file.to_bytes(), Err(BitstreamError::LimitExceeded { .. })));
        file.header.frames = 1;
        file.header.model_name = "x".repeat(65);
        assert!(file.to_bytes().is_err());
        file.header.model_name.clear();
        assert!(file.to_bytes().is_err());
    }

    #[test]
    fn read_from_enforces_size_cap() {
        let bytes = sample(2, 10, 1, 1, 17).to_bytes().expect("encode");
        let cap = bytes.len() as u64;
        assert!(TokenFile::read_capped(&mut &bytes[..], cap).is_ok());
        assert!(matches!(
            TokenFile::read_capped(&mut &bytes[..], cap - 1),
            Err(BitstreamError::LimitExceeded { value, limit, .. }) if value == cap && limit == cap - 1
        ));
        let mut long = bytes.clone();
        long.extend_from_slice(&[0; 3]);
        assert!(matches!(TokenFile::read_capped(&mut &long[..], cap), Err(BitstreamError::TrailingBytes { count: 3 })));
        assert!(MAX_PAYLOAD_LEN <= u64::from(u32::MAX));
    }

    /// Reading a stream agrees with parsing its bytes whole, cut short or
    /// run on anywhere.
    #[test]
    fn read_from_agrees_with_from_bytes() {
        let bytes = sample(5, 10, 2, 2, 21).to_bytes().expect("encode");
        let mut inputs: Vec<Vec<u8>> = (0..bytes.len()).map(|n| bytes[..n].to_vec()).collect();
        inputs.push(bytes.clone());
        inputs.push([bytes.as_slice(), b"x"].concat());
        for input in inputs {
            let whole = TokenFile::from_bytes(&input);
            let streamed = TokenFile::read_from(&mut &input[..]);
            assert_eq!(whole.as_ref().ok(), streamed.as_ref().ok(), "{} bytes", input.len());
            assert_eq!(whole.is_err(), streamed.is_err(), "{} bytes", input.len());
        }
    }

    /// Issue 32, item 8: an endless input that is not tokens is refused
    /// after its first bytes, and one whose header declares more than the
    /// limit before its payload is read; neither reads on to the limit.
    #[test]
    fn read_from_checks_the_magic_and_the_declared_length_first() {
        /// An endless stream of one byte that counts what was read of it.
        struct Endless {
            byte: u8,
            read: u64,
        }
        impl Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                buf.fill(self.byte);
                self.read += buf.len() as u64;
                Ok(buf.len())
            }
        }
        let mut zeros = Endless { byte: 0, read: 0 };
        let err = TokenFile::read_from(&mut zeros).expect_err("not tokens");
        assert!(matches!(err, BitstreamError::BadMagic { .. }), "{err}");
        assert!(zeros.read <= 64, "read {} bytes of /dev/zero", zeros.read);

        let mut head = sample(2, 10, 1, 1, 19).to_bytes().expect("encode");
        let name_len = usize::from(head[8]);
        head.truncate(FIXED_HEADER_LEN + name_len);
        let at = head.len() - 4;
        head[at..].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut stream = head.as_slice().chain(Endless { byte: 7, read: 0 });
        let err = TokenFile::read_from(&mut stream).expect_err("too long");
        assert!(matches!(err, BitstreamError::LimitExceeded { what: "token file length", .. }), "{err}");
        let (_, rest) = stream.into_inner();
        assert_eq!(rest.read, 0, "the payload was read before its length was checked");
    }

    #[test]
    fn frames_and_rates() {
        let file = sample(3, 10, 2, 2, 18);
        assert_eq!(file.frame(0), Some(&file.codes[0..4]));
        assert_eq!(file.frame(2), Some(&file.codes[8..12]));
        assert_eq!(file.frame(3), None);
        assert_eq!(file.frame(usize::MAX), None);
        assert_eq!(file.header.bitrate_bps(), 4.0 * 10.0 * 24_000.0 / 320.0);
    }
}
