//! The realtime stream packet: a few frames of codes in one UDP datagram.
//!
//! `codec send` and `codec receive` no longer put this format on the wire:
//! they speak RTP (`docs/rtp-payload.md`, `codec_stream::rtp`), whose
//! payload is this packet's payload. [`Packet`] stays as the in-memory form
//! of a group of frames, and this framing for apps that carry codes over a
//! transport of their own.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! offset  size  field
//! 0       1     version      u8 = 1
//! 1       1     bits         u8, 1..=16
//! 2       1     codebooks    u8, 1..=64
//! 3       1     frames       u8, 0..=50 (0: end of stream, see below)
//! 4       4     seq          u32, packet sequence number
//! 8       4     frame_index  u32, index of the first frame in the stream
//! 12      4     model_tag    u32, identifies the model the codes belong to
//! 16      p     payload      frames * codebooks codes, bit-packed MSB-first,
//!                            frame-major; p = packed_len(frames * codebooks, bits)
//! ```
//!
//! The datagram must be exactly `16 + p` bytes and at most
//! [`MAX_DATAGRAM_LEN`]. A packet of 0 frames is the sender's goodbye: no
//! payload, and `frame_index` the number of frames the stream carried, so a
//! receiver knows which frames are still to come and stops there instead of
//! concealing the silence after a call as loss. There is no checksum: UDP already carries one, and
//! a lost or damaged packet is concealed by the decoder rather than repaired.

use super::bits::{pack_codes, packed_len, unpack_codes, MAX_CODE_BITS};
use super::cursor::Cursor;
use super::token_file::MAX_CODEBOOKS;
use super::{check_range, BitstreamError};

/// The only packet version this build reads and writes.
pub const PACKET_VERSION: u8 = 1;
/// Bytes before the payload.
pub const PACKET_HEADER_LEN: usize = 16;
/// Largest datagram sent or accepted; stays under common path MTUs so
/// packets are never fragmented.
pub const MAX_DATAGRAM_LEN: usize = 1200;
/// Most frames in one packet (one second at 50 Hz).
pub const MAX_PACKET_FRAMES: u8 = 50;

/// The fixed 16-byte header of a packet, parsed without touching the payload.
///
/// A receiver can [`peek`](Self::peek) at every datagram and drop foreign or
/// malformed ones before spending time on decoding.
///
/// ```
/// use codec_core::bitstream::{Packet, PacketHeader};
/// let packet = Packet {
///     seq: 9, frame_index: 90, model_tag: 0xc0dec, bits: 10, codebooks: 8, frames: 2,
///     codes: vec![0; 16],
/// };
/// let mut datagram = Vec::new();
/// packet.encode_into(&mut datagram)?;
/// let header = PacketHeader::peek(&datagram)?;
/// assert_eq!((header.seq, header.model_tag), (9, 0xc0dec));
/// assert!(PacketHeader::peek(b"not a codec packet").is_err());
/// # Ok::<(), codec_core::bitstream::BitstreamError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PacketHeader {
    /// Bits per code.
    pub bits: u8,
    /// Codes per frame.
    pub codebooks: u8,
    /// Frames in the packet.
    pub frames: u8,
    /// Packet sequence number.
    pub seq: u32,
    /// Stream index of the packet's first frame.
    pub frame_index: u32,
    /// Identifies the model the codes belong to.
    pub model_tag: u32,
}

impl PacketHeader {
    /// Parses and validates the header of `datagram`, including that the
    /// datagram's length matches the payload the header declares.
    pub fn peek(datagram: &[u8]) -> Result<Self, BitstreamError> {
        if datagram.len() > MAX_DATAGRAM_LEN {
            return Err(BitstreamError::LimitExceeded {
                what: "datagram length",
                value: datagram.len() as u64,
                limit: MAX_DATAGRAM_LEN as u64,
            });
        }
        let mut c = Cursor::new(datagram);
        let version = c.u8("packet version")?;
        if version != PACKET_VERSION {
            return Err(BitstreamError::UnsupportedVersion { found: version.into(), supported: PACKET_VERSION.into() });
        }
        let [bits, codebooks, frames] = c.array::<3>("packet header")?;
        let header = Self {
            bits,
            codebooks,
            frames,
            seq: c.u32("packet header")?,
            frame_index: c.u32("packet header")?,
            model_tag: c.u32("packet header")?,
        };
        header.validate()?;
        if c.remaining() != header.payload_len() {
            return Err(BitstreamError::LengthMismatch {
                what: "packet payload length",
                expected: header.payload_len() as u64,
                found: c.remaining() as u64,
            });
        }
        Ok(header)
    }

    /// Checks the field ranges and that the whole packet fits in a datagram.
    pub fn validate(&self) -> Result<(), BitstreamError> {
        check_range("code bits", self.bits.into(), 1, MAX_CODE_BITS.into())?;
        check_range("codebooks", self.codebooks.into(), 1, MAX_CODEBOOKS.into())?;
        check_range("packet frames", self.frames.into(), 0, MAX_PACKET_FRAMES.into())?;
        if self.encoded_len() > MAX_DATAGRAM_LEN {
            return Err(BitstreamError::LimitExceeded {
                what: "packet length",
                value: self.encoded_len() as u64,
                limit: MAX_DATAGRAM_LEN as u64,
            });
        }
        Ok(())
    }

    /// Whether this is the end-of-stream marker (no frames).
    pub fn is_end_of_stream(&self) -> bool {
        self.frames == 0
    }

    /// Codes carried: `frames * codebooks`.
    pub fn code_count(&self) -> usize {
        usize::from(self.frames) * usize::from(self.codebooks)
    }

    /// Bytes of packed codes after the header.
    pub fn payload_len(&self) -> usize {
        packed_len(self.code_count(), self.bits)
    }

    /// Bytes of the whole datagram.
    pub fn encoded_len(&self) -> usize {
        PACKET_HEADER_LEN + self.payload_len()
    }
}

/// One datagram's worth of frames.
///
/// On the realtime path keep one `Packet` and one `Vec<u8>` per stream and
/// reuse them with [`encode_into`](Self::encode_into) and
/// [`decode_into`](Self::decode_into): once their capacity has grown to the
/// largest packet seen, neither allocates again.
///
/// ```
/// use codec_core::bitstream::Packet;
/// let sent = Packet {
///     seq: 1, frame_index: 4, model_tag: 7, bits: 10, codebooks: 2, frames: 2,
///     codes: vec![1023, 0, 5, 6],
/// };
/// let mut datagram = Vec::with_capacity(1200);
/// sent.encode_into(&mut datagram)?;
/// assert_eq!(datagram.len(), 16 + 5);
///
/// let mut received = Packet::default();
/// Packet::decode_into(&datagram, &mut received)?;
/// assert_eq!(received, sent);
/// assert_eq!(Packet::decode(&datagram)?, sent);
/// # Ok::<(), codec_core::bitstream::BitstreamError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Packet {
    /// Packet sequence number, for loss and reorder detection.
    pub seq: u32,
    /// Stream index of the first frame carried.
    pub frame_index: u32,
    /// Identifies the model the codes belong to.
    pub model_tag: u32,
    /// Bits per code, `1..=16`.
    pub bits: u8,
    /// Codes per frame, `1..=64`.
    pub codebooks: u8,
    /// Frames carried, `1..=50`.
    pub frames: u8,
    /// `frames * codebooks` codes, frame-major.
    pub codes: Vec<u16>,
}

impl Packet {
    /// The end-of-stream marker of a stream that carried `frames_sent`
    /// frames in codes of `bits` bits, `codebooks` a frame.
    pub fn end_of_stream(model_tag: u32, bits: u8, codebooks: u8, seq: u32, frames_sent: u32) -> Self {
        Self { seq, frame_index: frames_sent, model_tag, bits, codebooks, frames: 0, codes: Vec::new() }
    }

    /// Whether this is the end-of-stream marker (no frames).
    pub fn is_end_of_stream(&self) -> bool {
        self.frames == 0
    }

    /// The header fields of this packet.
    pub fn header(&self) -> PacketHeader {
        PacketHeader {
            bits: self.bits,
            codebooks: self.codebooks,
            frames: self.frames,
            seq: self.seq,
            frame_index: self.frame_index,
            model_tag: self.model_tag,
        }
    }

    /// Checks the header and that the codes match it in number and width.
    pub fn validate(&self) -> Result<(), BitstreamError> {
        let header = self.header();
        header.validate()?;
        if self.codes.len() != header.code_count() {
            return Err(BitstreamError::LengthMismatch {
                what: "packet code count (frames * codebooks)",
                expected: header.code_count() as u64,
                found: self.codes.len() as u64,
            });
        }
        let limit = 1u32 << self.bits;
        match self.codes.iter().position(|&c| u32::from(c) >= limit) {
            Some(index) => Err(BitstreamError::CodeOutOfRange {
                code: self.codes.get(index).copied().unwrap_or_default(),
                index,
                bits: self.bits,
            }),
            None => Ok(()),
        }
    }

    /// Replaces the contents of `out` with this packet's datagram.
    ///
    /// Validates first and leaves `out` untouched on error. Does not
    /// allocate if `out` already has [`MAX_DATAGRAM_LEN`] bytes of capacity.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), BitstreamError> {
        self.validate()?;
        out.clear();
        out.reserve(self.header().encoded_len());
        out.extend_from_slice(&[PACKET_VERSION, self.bits, self.codebooks, self.frames]);
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.frame_index.to_le_bytes());
        out.extend_from_slice(&self.model_tag.to_le_bytes());
        pack_codes(&self.codes, self.bits, out)
    }

    /// Parses a datagram into a new packet.
    pub fn decode(datagram: &[u8]) -> Result<Self, BitstreamError> {
        let mut packet = Self::default();
        Self::decode_into(datagram, &mut packet)?;
        Ok(packet)
    }

    /// Parses a datagram into `packet`, reusing its code buffer.
    ///
    /// Every check happens before `packet` is modified, so on error it keeps
    /// its previous contents.
    pub fn decode_into(datagram: &[u8], packet: &mut Packet) -> Result<(), BitstreamError> {
        let header = PacketHeader::peek(datagram)?;
        let payload =
            datagram.get(PACKET_HEADER_LEN..).ok_or(BitstreamError::Inconsistent("packet shorter than its header"))?;
        packet.codes.clear();
        unpack_codes(payload, header.bits, header.code_count(), &mut packet.codes)?;
        packet.seq = header.seq;
        packet.frame_index = header.frame_index;
        packet.model_tag = header.model_tag;
        packet.bits = header.bits;
        packet.codebooks = header.codebooks;
        packet.frames = header.frames;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitstream::test_rng::Rng;

    fn sample(bits: u8, codebooks: u8, frames: u8, seed: u64) -> Packet {
        let mut rng = Rng::new(seed);
        Packet {
            seq: rng.next_u64() as u32,
            frame_index: rng.next_u64() as u32,
            model_tag: rng.next_u64() as u32,
            bits,
            codebooks,
            frames,
            codes: rng.codes(usize::from(codebooks) * usize::from(frames), bits),
        }
    }

    fn encode(packet: &Packet) -> Vec<u8> {
        let mut out = Vec::new();
        packet.encode_into(&mut out).expect("encode");
        out
    }

    #[test]
    fn round_trips_over_bits_codebooks_frames() {
        let mut seed = 0;
        let mut tried = 0;
        for bits in [1, 7, 10, 11, 16] {
            for codebooks in [1, 3, 8, 64] {
                for frames in [1, 2, 3, 9, 50] {
                    seed += 1;
                    let packet = sample(bits, codebooks, frames, seed);
                    if packet.header().encoded_len() > MAX_DATAGRAM_LEN {
                        assert!(packet.encode_into(&mut Vec::new()).is_err());
                        continue;
                    }
                    tried += 1;
                    let bytes = encode(&packet);
                    assert_eq!(bytes.len(), packet.header().encoded_len());
                    assert_eq!(PacketHeader::peek(&bytes).expect("peek"), packet.header());
                    assert_eq!(Packet::decode(&bytes).expect("decode"), packet);
                }
            }
        }
        assert!(tried > 60);
    }

    #[test]
    fn golden_layout() {
        let packet = Packet {
            seq: 0x0403_0201,
            frame_index: 0x0807_0605,
            model_tag: 0x0c0b_0a09,
            bits: 10,
            codebooks: 1,
            frames: 2,
            codes: vec![0x3ff, 0x001],
        };
        let expected = [1, 10, 1, 2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0xff, 0xc0, 0x10];
        assert_eq!(encode(&packet), expected);
    }

    #[test]
    fn every_truncation_and_extension_is_an_error() {
        let bytes = encode(&sample(11, 8, 3, 1));
        for n in 0..bytes.len() {
            assert!(Packet::decode(&bytes[..n]).is_err(), "prefix {n}");
        }
        let mut long = bytes;
        long.push(0);
        assert!(matches!(Packet::decode(&long), Err(BitstreamError::LengthMismatch { .. })));
    }

    #[test]
    fn bit_flips_never_panic_and_reencode_cleanly() {
        let bytes = encode(&sample(10, 8, 4, 2));
        let mut flipped = bytes.clone();
        for i in 0..bytes.len() * 8 {
            flipped[i / 8] ^= 1 << (i % 8);
            if let Ok(packet) = Packet::decode(&flipped) {
                assert_eq!(Packet::decode(&encode(&packet)).expect("decode"), packet);
            }
            flipped[i / 8] ^= 1 << (i % 8);
        }
    }

    #[test]
    fn header_limits_enforced() {
        let bytes = encode(&sample(10, 2, 2, 3));
        let patched = |at: usize, value: u8| {
            let mut b = bytes.clone();
            b[at] = value;
            Packet::decode(&b).expect_err("must be rejected")
        };
        assert!(matches!(patched(0, 2), BitstreamError::UnsupportedVersion { found: 2, supported: 1 }));
        assert!(matches!(patched(1, 0), BitstreamError::OutOfRange { what: "code bits", .. }));
        assert!(matches!(patched(1, 17), BitstreamError::OutOfRange { what: "code bits", .. }));
        assert!(matches!(patched(2, 0), BitstreamError::OutOfRange { what: "codebooks", .. }));
        assert!(matches!(patched(2, 65), BitstreamError::OutOfRange { what: "codebooks", .. }));
        // No frames is the end marker, which has no payload.
        assert!(matches!(patched(3, 0), BitstreamError::LengthMismatch { .. }));
        assert!(matches!(patched(3, 51), BitstreamError::OutOfRange { what: "packet frames", .. }));
        // Claims far more codes than the datagram holds.
        assert!(matches!(patched(3, 50), BitstreamError::LengthMismatch { .. }));
        assert!(matches!(Packet::decode(&[0; MAX_DATAGRAM_LEN + 1]), Err(BitstreamError::LimitExceeded { .. })));
    }

    #[test]
    fn the_end_marker_is_a_bare_header_that_says_how_many_frames_came() {
        let end = Packet::end_of_stream(0xc0dec, 10, 4, 77, 1234);
        let datagram = encode(&end);
        assert_eq!(datagram.len(), PACKET_HEADER_LEN);
        let back = Packet::decode(&datagram).expect("decode");
        assert!(back.is_end_of_stream() && PacketHeader::peek(&datagram).expect("peek").is_end_of_stream());
        assert_eq!((back.frame_index, back.seq, back.codes.len()), (1234, 77, 0));
        assert!(!sample(10, 2, 1, 3).is_end_of_stream());
    }

    #[test]
    fn invalid_packets_are_not_encoded() {
        let mut out = vec![42];
        let mut packet = sample(7, 4, 2, 4);
        packet.codes[3] = 128;
        assert!(matches!(
            packet.encode_into(&mut out),
            Err(BitstreamError::CodeOutOfRange { code: 128, index: 3, bits: 7 })
        ));
        packet.codes.pop();
        assert!(matches!(packet.encode_into(&mut out), Err(BitstreamError::LengthMismatch { .. })));
        let end_with_codes = Packet { frames: 0, ..sample(7, 4, 1, 5) };
        assert!(matches!(end_with_codes.encode_into(&mut out), Err(BitstreamError::LengthMismatch { .. })));
        // 64 codebooks * 16 bits * 10 frames = 1280 bytes of payload.
        assert!(sample(16, 64, 10, 6).encode_into(&mut out).is_err());
        assert_eq!(out, [42]);
    }

    #[test]
    fn warm_buffers_are_reused() {
        let mut out = Vec::with_capacity(MAX_DATAGRAM_LEN);
        let mut received = Packet::default();
        received.codes.reserve(64 * 50);
        let (out_ptr, codes_ptr) = (out.as_ptr(), received.codes.as_ptr());
        for seed in 0..20 {
            let sent = sample(10, 8, (seed % 50 + 1) as u8, seed);
            sent.encode_into(&mut out).expect("encode");
            Packet::decode_into(&out, &mut received).expect("decode");
            assert_eq!(received, sent);
        }
        assert_eq!(out.as_ptr(), out_ptr);
        assert_eq!(received.codes.as_ptr(), codes_ptr);
    }

    #[test]
    fn failed_decode_leaves_packet_untouched() {
        let sent = sample(10, 8, 2, 7);
        let bytes = encode(&sent);
        let mut received = sent.clone();
        assert!(Packet::decode_into(&bytes[..bytes.len() - 1], &mut received).is_err());
        assert_eq!(received, sent);
    }

    #[test]
    fn peek_rejects_random_datagrams() {
        let mut rng = Rng::new(8);
        let mut accepted = 0;
        for _ in 0..10_000 {
            let len = (rng.next_u64() % 64) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            if PacketHeader::peek(&bytes).is_ok() {
                accepted += 1;
            }
        }
        assert_eq!(accepted, 0);
    }
}
