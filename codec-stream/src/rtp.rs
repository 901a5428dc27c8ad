//! The codec's frames in RTP packets (RFC 3550), optionally protected by
//! SRTP (RFC 3711). `docs/rtp-payload.md` is the payload format; this is
//! its one implementation.
//!
//! [`RtpOut`] turns the sender's [`Packet`]s into datagrams: a random SSRC,
//! sequence number and first timestamp per sender, the timestamp in samples
//! at the model's rate, the marker bit on the first packet, and the model's
//! tag in a header extension on the first packet and on the goodbye.
//! [`RtpIn`] turns datagrams back into [`Packet`]s for the jitter buffer,
//! which then works on frame indices derived from the RTP timestamp.

use bytes::Bytes;
use codec_core::bitstream::{pack_codes, packed_len, unpack_codes, Packet, MAX_DATAGRAM_LEN, MAX_PACKET_FRAMES};
use rtp::header::Header;
use webrtc_srtp::context::Context;
use webrtc_util::marshal::{Marshal, MarshalSize, Unmarshal};

use crate::srtp_key::SrtpKey;
use crate::StreamError;

/// The encoding name of `a=rtpmap`.
pub const ENCODING_NAME: &str = "speechcodec";
/// The dynamic payload type used unless the call says otherwise.
pub const DEFAULT_PAYLOAD_TYPE: u8 = 96;
/// Bytes of the fixed RTP header (no CSRC, no extension).
pub const RTP_HEADER_LEN: usize = 12;
/// The RFC 8285 one-byte header extension that carries the first four bytes
/// of the model id (the model tag), and its `a=extmap` URI.
pub const MODEL_EXTENSION_ID: u8 = 1;
pub const MODEL_EXTENSION_URI: &str = "urn:x-speechcodec:model-tag";
/// How long the source a receiver follows may stay silent before another may
/// take its place (a sender that restarted without saying goodbye).
pub const SOURCE_IDLE_MS: f64 = 1000.0;
/// Largest forward step of the timestamp, in frames, that moves the
/// receiver's reference point: a forged far-off timestamp must not shift the
/// mapping of the real ones (it is dropped by the jitter buffer anyway).
const MAX_REFERENCE_STEP_FRAMES: i64 = 3000;

/// How a call frames its packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpSettings {
    /// Dynamic RTP payload type, 96 to 127.
    pub payload_type: u8,
    /// SRTP master key and salt; `None` for plain RTP.
    pub srtp: Option<SrtpKey>,
    /// Sending: the SSRC, for a peer that must know it ahead (an `a=ssrc`
    /// line, as GStreamer's SRTP decoder needs); `None` for a random one.
    pub ssrc: Option<u32>,
}

impl Default for RtpSettings {
    fn default() -> Self {
        Self { payload_type: DEFAULT_PAYLOAD_TYPE, srtp: None, ssrc: None }
    }
}

impl RtpSettings {
    /// Checks the payload type.
    ///
    /// # Errors
    /// A payload type outside the dynamic range.
    pub fn validate(&self) -> Result<(), StreamError> {
        if !(96..=127).contains(&self.payload_type) {
            return Err(StreamError::Network(format!(
                "the payload type must be a dynamic one, 96 to 127, not {}",
                self.payload_type
            )));
        }
        Ok(())
    }
}

/// Bytes RTP (and SRTP) add to a packet of the codec's payload.
pub fn overhead(settings: &RtpSettings) -> usize {
    RTP_HEADER_LEN + if settings.srtp.is_some() { crate::srtp_key::SRTP_TAG_LEN } else { 0 }
}

/// The sending side's RTP framing.
pub struct RtpOut {
    header: Header,
    first_timestamp: u32,
    hop: u32,
    model_tag: u32,
    marker_due: bool,
    srtp: Option<Context>,
    plain: Vec<u8>,
    payload: Vec<u8>,
}

impl RtpOut {
    /// Framing for a new sender: random first sequence number and first
    /// timestamp, and a random SSRC unless the settings name one, as RFC
    /// 3550 asks.
    ///
    /// # Errors
    /// A payload type outside the dynamic range.
    pub fn new(settings: &RtpSettings, model_tag: u32, hop: usize) -> Result<Self, StreamError> {
        let ssrc = settings.ssrc.unwrap_or_else(rand::random);
        Self::starting_at(settings, model_tag, hop, ssrc, rand::random(), rand::random())
    }

    /// Framing that starts at the given SSRC, sequence number and timestamp
    /// (for tests of wrap-around).
    ///
    /// # Errors
    /// As [`RtpOut::new`].
    pub fn starting_at(
        settings: &RtpSettings,
        model_tag: u32,
        hop: usize,
        ssrc: u32,
        sequence_number: u16,
        timestamp: u32,
    ) -> Result<Self, StreamError> {
        settings.validate()?;
        let header =
            Header { version: 2, payload_type: settings.payload_type, sequence_number, ssrc, ..Header::default() };
        Ok(Self {
            header,
            first_timestamp: timestamp,
            hop: u32::try_from(hop).map_err(|_| StreamError::Internal("hop too large".into()))?,
            model_tag,
            marker_due: true,
            srtp: settings.srtp.as_ref().map(SrtpKey::context).transpose()?,
            plain: vec![0; MAX_DATAGRAM_LEN],
            payload: Vec::with_capacity(MAX_DATAGRAM_LEN),
        })
    }

    /// This sender's SSRC.
    pub fn ssrc(&self) -> u32 {
        self.header.ssrc
    }

    /// Writes `packet` (its frames, or the goodbye when it has none) as one
    /// RTP or SRTP datagram into `out`, and moves on to the next sequence
    /// number.
    ///
    /// # Errors
    /// Codes that do not fit their width, or an SRTP failure: internal faults.
    pub fn write(&mut self, packet: &Packet, out: &mut Vec<u8>) -> Result<(), StreamError> {
        let internal = |e: &dyn std::fmt::Display| StreamError::Internal(format!("RTP packet: {e}"));
        self.payload.clear();
        pack_codes(&packet.codes, packet.bits, &mut self.payload).map_err(|e| internal(&e))?;
        let goodbye = packet.is_end_of_stream();
        let mut header = self.header.clone();
        header.marker = self.marker_due && !goodbye;
        header.timestamp = self.first_timestamp.wrapping_add(packet.frame_index.wrapping_mul(self.hop));
        if header.marker || goodbye {
            header
                .set_extension(MODEL_EXTENSION_ID, Bytes::copy_from_slice(&self.model_tag.to_le_bytes()))
                .map_err(|e| internal(&e))?;
        }
        let rtp = rtp::packet::Packet { header, payload: Bytes::copy_from_slice(&self.payload) };
        let n = rtp.marshal_size();
        self.plain.resize(n.max(self.plain.len()), 0);
        let written = rtp.marshal_to(&mut self.plain[..n]).map_err(|e| internal(&e))?;
        let plain = self.plain.get(..written).ok_or_else(|| internal(&"short marshal"))?;
        out.clear();
        match &mut self.srtp {
            Some(context) => out.extend_from_slice(&context.encrypt_rtp(plain).map_err(|e| internal(&e))?),
            None => out.extend_from_slice(plain),
        }
        if !goodbye {
            self.marker_due = false;
        }
        self.header.sequence_number = self.header.sequence_number.wrapping_add(1);
        Ok(())
    }
}

/// Why [`RtpIn`] dropped a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// Not RTP, another payload type, or a payload that is not whole frames
    /// of this receiver's layout.
    Foreign,
    /// A packet from another source (SSRC) than the call's.
    OtherSource(u32),
    /// A packet whose model tag extension names another model.
    OtherModel(u32),
    /// An SRTP packet whose authentication failed (forged, damaged, another
    /// key, or plain RTP to a receiver that expects SRTP).
    Unauthenticated,
    /// An SRTP packet whose sequence number was already received (a replay).
    Replayed,
}

/// The one source a receiver follows, and how its timestamps map to frames.
struct Source {
    ssrc: u32,
    srtp: Option<Context>,
    reference_timestamp: u32,
    reference_frame: u32,
    last_ms: f64,
    ended: bool,
}

/// The receiving side's RTP framing.
pub struct RtpIn {
    payload_type: u8,
    key: Option<SrtpKey>,
    model_tag: u32,
    bits: u8,
    codebooks: u8,
    hop: u32,
    source: Option<Source>,
}

impl RtpIn {
    /// Framing for a receiver of `codebooks` codes of `bits` bits a frame,
    /// `hop` samples a frame.
    ///
    /// # Errors
    /// A payload type outside the dynamic range.
    pub fn new(
        settings: &RtpSettings,
        model_tag: u32,
        bits: u8,
        codebooks: u8,
        hop: usize,
    ) -> Result<Self, StreamError> {
        settings.validate()?;
        Ok(Self {
            payload_type: settings.payload_type,
            key: settings.srtp.clone(),
            model_tag,
            bits,
            codebooks,
            hop: u32::try_from(hop).map_err(|_| StreamError::Internal("hop too large".into()))?,
            source: None,
        })
    }

    /// The SSRC followed, once a packet has been accepted.
    pub fn ssrc(&self) -> Option<u32> {
        self.source.as_ref().map(|s| s.ssrc)
    }

    /// The followed source said goodbye: the next source may take over at once.
    pub fn source_ended(&mut self) {
        if let Some(source) = &mut self.source {
            source.ended = true;
        }
    }

    /// Reads `datagram`, which arrived at `now_ms`, into `packet` (codes,
    /// frame count, frame index; a goodbye has no frames). A packet of a new
    /// source gets the frame index `next_frame`, the receiver's next frame
    /// to play, so that its stream continues where the last one left off.
    ///
    /// `packet` is left as it was when the datagram is rejected.
    ///
    /// # Errors
    /// Why the datagram was dropped.
    pub fn read(&mut self, datagram: &[u8], now_ms: f64, next_frame: u32, packet: &mut Packet) -> Result<(), Rejected> {
        if datagram.len() > MAX_DATAGRAM_LEN + crate::srtp_key::SRTP_TAG_LEN {
            return Err(Rejected::Foreign);
        }
        check_header_extension(datagram)?;
        let header = Header::unmarshal(&mut &datagram[..]).map_err(|_| Rejected::Foreign)?;
        if header.version != 2 || header.payload_type != self.payload_type {
            return Err(Rejected::Foreign);
        }
        let followed = self.source.as_ref().filter(|s| s.ssrc == header.ssrc).is_some();
        if !followed {
            let busy = self.source.as_ref().is_some_and(|s| !s.ended && now_ms - s.last_ms < SOURCE_IDLE_MS);
            if busy {
                return Err(Rejected::OtherSource(header.ssrc));
            }
        }
        let mut fresh = None;
        let plain: Bytes = match &self.key {
            None => Bytes::copy_from_slice(datagram),
            Some(key) => {
                // A context is handed one source only: its state per SSRC
                // would otherwise grow with every forged one.
                let context = match self.source.as_mut().filter(|_| followed).and_then(|s| s.srtp.as_mut()) {
                    Some(context) => context,
                    None => fresh.insert(key.context().map_err(|_| Rejected::Unauthenticated)?),
                };
                context.decrypt_rtp(datagram).map_err(|e| match e {
                    webrtc_srtp::Error::SrtpSsrcDuplicated(..) => Rejected::Replayed,
                    _ => Rejected::Unauthenticated,
                })?
            }
        };
        let rtp = rtp::packet::Packet::unmarshal(&mut &plain[..]).map_err(|_| Rejected::Foreign)?;
        if let Some(tag) = rtp.header.get_extension(MODEL_EXTENSION_ID) {
            let tag = <[u8; 4]>::try_from(&tag[..]).map(u32::from_le_bytes).map_err(|_| Rejected::Foreign)?;
            if tag != self.model_tag {
                return Err(Rejected::OtherModel(tag));
            }
        }
        let frames = self.frames_in(rtp.payload.len())?;
        if !followed {
            if frames == 0 {
                // A goodbye of a stream never heard: nothing to end.
                return Err(Rejected::OtherSource(header.ssrc));
            }
            self.source = Some(Source {
                ssrc: header.ssrc,
                srtp: fresh,
                reference_timestamp: header.timestamp,
                reference_frame: next_frame,
                last_ms: now_ms,
                ended: false,
            });
        }
        let source = self.source.as_mut().ok_or(Rejected::Foreign)?;
        let step = header.timestamp.wrapping_sub(source.reference_timestamp) as i32;
        if step % self.hop as i32 != 0 {
            return Err(Rejected::Foreign);
        }
        let step_frames = step / self.hop as i32;
        let frame_index = source.reference_frame.wrapping_add(step_frames as u32);
        if step_frames > 0 && i64::from(step_frames) <= MAX_REFERENCE_STEP_FRAMES {
            source.reference_timestamp = header.timestamp;
            source.reference_frame = frame_index;
        }
        source.last_ms = now_ms;
        packet.codes.clear();
        unpack_codes(&rtp.payload, self.bits, usize::from(frames) * usize::from(self.codebooks), &mut packet.codes)
            .map_err(|_| Rejected::Foreign)?;
        packet.seq = u32::from(header.sequence_number);
        packet.frame_index = frame_index;
        packet.model_tag = self.model_tag;
        packet.bits = self.bits;
        packet.codebooks = self.codebooks;
        packet.frames = frames;
        Ok(())
    }

    /// Frames in a payload of `len` bytes: the one count whose packed codes
    /// take exactly that many bytes (0 for the empty goodbye).
    fn frames_in(&self, len: usize) -> Result<u8, Rejected> {
        let frame_bits = usize::from(self.bits) * usize::from(self.codebooks);
        if frame_bits == 0 {
            return Err(Rejected::Foreign);
        }
        // With at least 8 bits a frame, ceil(frames * frame_bits / 8) is
        // strictly increasing: the floor below is the only candidate.
        let frames = len * 8 / frame_bits;
        match u8::try_from(frames) {
            Ok(f) if f <= MAX_PACKET_FRAMES && packed_len(frames * usize::from(self.codebooks), self.bits) == len => {
                Ok(f)
            }
            _ => Err(Rejected::Foreign),
        }
    }
}

/// Checks that every RFC 8285 header extension element lies inside the
/// extension block, which lies inside the datagram. The `rtp` crate (and
/// `webrtc-srtp`, which parses the header before authenticating) panics on
/// an element that runs past the datagram's end: one datagram from anyone
/// would end the call. Other malformations they refuse by themselves.
fn check_header_extension(datagram: &[u8]) -> Result<(), Rejected> {
    let byte = |at: usize| datagram.get(at).copied().ok_or(Rejected::Foreign);
    let first = byte(0)?;
    if first & 0x10 == 0 {
        return Ok(());
    }
    let start = RTP_HEADER_LEN + 4 * usize::from(first & 0x0f);
    let profile = u16::from_be_bytes([byte(start)?, byte(start + 1)?]);
    let words = u16::from_be_bytes([byte(start + 2)?, byte(start + 3)?]);
    let (mut at, end) = (start + 4, start + 4 + 4 * usize::from(words));
    if end > datagram.len() {
        return Err(Rejected::Foreign);
    }
    let one_byte = profile == 0xbede;
    let two_byte = profile & 0xfff0 == 0x1000;
    while (one_byte || two_byte) && at < end {
        let b = byte(at)?;
        at += 1;
        if b == 0 {
            continue;
        }
        let len = if one_byte {
            if b >> 4 == 15 {
                break;
            }
            usize::from(b & 0x0f) + 1
        } else {
            at += 1;
            usize::from(byte(at - 1)?)
        };
        at += len;
        if at > end {
            return Err(Rejected::Foreign);
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "rtp_tests.rs"]
mod tests;
