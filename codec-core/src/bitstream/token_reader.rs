//! A `.tok` file read front to back: header, codes a few frames at a time,
//! checksum. Memory does not grow with the file, so a week of tokens decodes
//! from a pipe in the same memory as a second.

use std::io::{self, Read};

use super::bits::{packed_len, unpack_codes};
use super::token_file::{CodeLayout, TokenHeader, MAX_TOKEN_FILE_LEN, TOKEN_FILE_VERSION, TOKEN_MAGIC};
use super::BitstreamError;

/// Frames read at a time by [`TokenReader::verify`].
const VERIFY_FRAMES: usize = 4096;

/// Reads a `.tok` file as a stream (see [`super::TokenFile`] for the layout).
///
/// Unlike [`super::TokenFile::read_from`], the header's values are in hand
/// before the checksum at the end has been read: a damaged file is found out
/// only by [`TokenReader::finish`]. A caller that must not act on a damaged
/// file, and can read it twice, runs [`TokenReader::verify`] over it first.
pub struct TokenReader<R: Read> {
    inner: R,
    hasher: crc32fast::Hasher,
    header: TokenHeader,
    frames_left: u32,
    bytes: Vec<u8>,
}

impl<R: Read> TokenReader<R> {
    /// Reads and checks the header.
    ///
    /// # Errors
    /// As [`super::TokenFile::from_bytes`] for the header's fields: bad magic,
    /// version or flags, a truncated header, values out of their ranges, a
    /// payload length that disagrees with the header; and I/O errors.
    pub fn new(inner: R) -> Result<Self, BitstreamError> {
        let mut reader = Self {
            inner,
            hasher: crc32fast::Hasher::new(),
            header: TokenHeader {
                model_name: String::new(),
                model_hash: [0; 32],
                sample_rate: 0,
                hop: 0,
                layout: CodeLayout { codebooks: 0, bits: 0, groups: 0, stages: 0 },
                frames: 0,
                original_len: 0,
            },
            frames_left: 0,
            bytes: Vec::new(),
        };
        let magic: [u8; 4] = reader.array("magic")?;
        if magic != TOKEN_MAGIC {
            // A stream gives only these four bytes to name what the input is.
            let what = super::describe_not_tokens(&magic);
            return Err(BitstreamError::BadMagic { found: magic, expected: TOKEN_MAGIC, what });
        }
        let version = u16::from_le_bytes(reader.array("version")?);
        if version != TOKEN_FILE_VERSION {
            return Err(BitstreamError::UnsupportedVersion { found: version, supported: TOKEN_FILE_VERSION });
        }
        let flags = u16::from_le_bytes(reader.array("flags")?);
        if flags != 0 {
            return Err(BitstreamError::UnknownFlags { found: flags });
        }
        let [name_len] = reader.array("model name length")?;
        let mut name = vec![0; usize::from(name_len)];
        reader.fill(&mut name, "model name")?;
        let model_hash = reader.array("model hash")?;
        let sample_rate = u32::from_le_bytes(reader.array("sample rate")?);
        let hop = u32::from_le_bytes(reader.array("hop")?);
        let [codebooks, bits, groups, stages] = reader.array("code layout")?;
        let frames = u32::from_le_bytes(reader.array("frames")?);
        let original_len = u64::from_le_bytes(reader.array("original length")?);
        let payload_len = u32::from_le_bytes(reader.array("payload length")?);
        let model_name = String::from_utf8(name).map_err(|_| BitstreamError::InvalidModelName)?;
        let layout = CodeLayout { codebooks, bits, groups, stages };
        reader.header = TokenHeader { model_name, model_hash, sample_rate, hop, layout, frames, original_len };
        reader.header.validate()?;
        let expected = packed_len(reader.header.code_count(), bits);
        if payload_len as usize != expected {
            return Err(BitstreamError::LengthMismatch {
                what: "packed code bytes",
                expected: expected as u64,
                found: payload_len.into(),
            });
        }
        reader.frames_left = frames;
        Ok(reader)
    }

    /// The file's header (its values not yet covered by the checksum).
    pub fn header(&self) -> &TokenHeader {
        &self.header
    }

    /// Frames not read yet.
    pub fn frames_left(&self) -> u32 {
        self.frames_left
    }

    /// Appends the codes of up to `max_frames` frames (at least 8, unless
    /// fewer are left) to `out`; returns the frames read, 0 at the end.
    ///
    /// # Errors
    /// [`BitstreamError::Truncated`] when the file ends early, or an I/O error.
    pub fn read_frames(&mut self, max_frames: usize, out: &mut Vec<u16>) -> Result<usize, BitstreamError> {
        // Eight frames of codes are whole bytes whatever the code width, so
        // every read but the last starts and ends on a byte.
        let aligned = (max_frames / 8 * 8).max(8);
        let frames = aligned.min(self.frames_left as usize);
        if frames == 0 {
            return Ok(0);
        }
        let codes = frames * usize::from(self.header.layout.codebooks);
        let mut bytes = std::mem::take(&mut self.bytes);
        bytes.resize(packed_len(codes, self.header.layout.bits), 0);
        let filled = self.fill(&mut bytes, "payload");
        let unpacked = filled.and_then(|()| unpack_codes(&bytes, self.header.layout.bits, codes, out));
        self.bytes = bytes;
        unpacked?;
        self.frames_left -= frames as u32;
        Ok(frames)
    }

    /// Reads the checksum and checks it, and that nothing follows it. Frames
    /// not read yet are read (and dropped) first.
    ///
    /// # Errors
    /// [`BitstreamError::ChecksumMismatch`], [`BitstreamError::TrailingBytes`],
    /// [`BitstreamError::Truncated`], or an I/O error.
    pub fn finish(mut self) -> Result<TokenHeader, BitstreamError> {
        let mut sink = Vec::new();
        while self.read_frames(VERIFY_FRAMES, &mut sink)? > 0 {
            sink.clear();
        }
        let computed = self.hasher.clone().finalize();
        let mut crc = [0; 4];
        self.fill(&mut crc, "crc32")?;
        let stored = u32::from_le_bytes(crc);
        let trailing = io::copy(&mut (&mut self.inner).take(MAX_TOKEN_FILE_LEN), &mut io::sink())?;
        if trailing != 0 {
            return Err(BitstreamError::TrailingBytes { count: trailing });
        }
        if stored != computed {
            return Err(BitstreamError::ChecksumMismatch { stored, computed });
        }
        Ok(self.header)
    }

    /// Reads the whole file through and checks it, without keeping its codes.
    ///
    /// # Errors
    /// As [`TokenReader::new`] and [`TokenReader::finish`].
    pub fn verify(inner: R) -> Result<TokenHeader, BitstreamError> {
        Self::new(inner)?.finish()
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], BitstreamError> {
        let mut bytes = [0; N];
        self.fill(&mut bytes, what)?;
        Ok(bytes)
    }

    /// Fills `buf` from the stream, adding what it read to the checksum
    /// (except the checksum itself).
    fn fill(&mut self, buf: &mut [u8], what: &'static str) -> Result<(), BitstreamError> {
        let mut got = 0;
        while got < buf.len() {
            match self.inner.read(&mut buf[got..]) {
                Ok(0) => {
                    return Err(BitstreamError::Truncated { what, needed: buf.len() as u64, available: got as u64 })
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        if what != "crc32" {
            self.hasher.update(buf);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_rng::Rng;
    use super::super::TokenFile;
    use super::*;

    fn sample(frames: u32, bits: u8, groups: u8, stages: u8, seed: u64) -> TokenFile {
        let mut rng = Rng::new(seed);
        let codebooks = groups * stages;
        TokenFile {
            header: TokenHeader {
                model_name: "grvq-24k".into(),
                model_hash: [3; 32],
                sample_rate: 24_000,
                hop: 320,
                layout: CodeLayout { codebooks, bits, groups, stages },
                frames,
                original_len: u64::from(frames) * 320,
            },
            codes: rng.codes(frames as usize * usize::from(codebooks), bits),
        }
    }

    /// Reads like a pipe: a few bytes at a time.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.0.len()).min(3);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn token_reader_reads_what_token_file_writes_in_any_steps() {
        let mut seed = 0;
        for bits in [1, 7, 10, 16] {
            for frames in [0, 1, 7, 8, 9, 1001] {
                for (groups, stages) in [(1, 1), (1, 3), (2, 4)] {
                    seed += 1;
                    let file = sample(frames, bits, groups, stages, seed);
                    let bytes = file.to_bytes().expect("encode");
                    for step in [1, 8, 13, 4096] {
                        let mut reader = TokenReader::new(Trickle(&bytes)).expect("header");
                        assert_eq!(reader.header(), &file.header);
                        let mut codes = Vec::new();
                        while reader.read_frames(step, &mut codes).expect("frames") > 0 {}
                        assert_eq!(codes, file.codes, "{bits} bits, {frames} frames, steps of {step}");
                        assert_eq!(reader.finish().expect("crc"), file.header);
                    }
                    assert_eq!(TokenReader::verify(&bytes[..]).expect("verify"), file.header);
                }
            }
        }
    }

    #[test]
    fn token_reader_finds_damage() {
        let file = sample(100, 10, 2, 2, 7);
        let good = file.to_bytes().expect("encode");
        let err = |bytes: &[u8]| TokenReader::verify(bytes).expect_err("damaged");
        assert!(matches!(err(&good[..good.len() / 2]), BitstreamError::Truncated { what: "payload", .. }));
        assert!(matches!(err(&good[..good.len() - 1]), BitstreamError::Truncated { what: "crc32", .. }));
        let mut flipped = good.clone();
        let n = flipped.len();
        flipped[n - 10] ^= 0x40;
        assert!(matches!(err(&flipped), BitstreamError::ChecksumMismatch { .. }));
        let mut longer = good.clone();
        longer.extend_from_slice(b"xyz");
        assert!(matches!(err(&longer), BitstreamError::TrailingBytes { count: 3 }));
        assert!(matches!(err(b"RIFF\0\0\0\0WAVE"), BitstreamError::BadMagic { .. }));
        // Every prefix fails cleanly.
        for len in 0..good.len() {
            assert!(TokenReader::verify(&good[..len]).is_err(), "prefix of {len} bytes");
        }
    }
}
