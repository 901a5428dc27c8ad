//! Ogg checked page by page as symphonia reads it.
//!
//! Symphonia's Ogg reader parses metadata wherever it finds it, not only in
//! the headers at the start: a Vorbis comment packet in the middle of the
//! audio, a FLAC metadata block after the frames, the headers of a chained
//! stream. Each sizes a buffer from a length in the file. So the bytes reach
//! symphonia through [`OggGuard`], which frames pages as symphonia does (same
//! capture pattern, same CRC), holds each page back until it is checked, and
//! hands on only whole checked pages: memory is one page and the header
//! packets being checked, whatever the length of the input.

use std::io::{self, ErrorKind, Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex, PoisonError};

use symphonia::core::checksum::Crc32;
use symphonia::core::io::{MediaSource, Monitor};

use super::guard::{flac_block, vorbis_comment, MAX_HEADER_BYTES, MAX_METADATA_ITEM};
use super::AudioError;

const HEADER: usize = 27;
const MAX_PAGE: usize = HEADER + 255 + 255 * 255;
/// Read from the input at a time while looking for a page.
const CHUNK: usize = 8 << 10;
/// Logical streams in one physical stream: each costs symphonia a packet buffer.
const MAX_STREAMS: usize = 16;

/// Why the guard stopped the input; carried to the reader inside an `io::Error`.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// The refusal an error from [`OggGuard`] carries, as the reader reports it.
pub(super) fn refusal(e: &io::Error) -> Option<AudioError> {
    let reason = e.get_ref()?.downcast_ref::<Refused>()?;
    Some(AudioError::Malformed { format: "Ogg", reason: reason.0.clone() })
}

/// The granule position of each logical stream's last page, once it has
/// passed: symphonia trims the padding of the last packet only when it can
/// seek to the end first, so the reader trims it with this instead.
#[derive(Debug, Clone, Default)]
pub(super) struct StreamEnds(Arc<Mutex<Vec<(u32, u64)>>>);

impl StreamEnds {
    /// Where the logical stream `serial` ends, once its last page has been read.
    pub(super) fn get(&self, serial: u32) -> Option<u64> {
        let ends = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        ends.iter().find(|(s, _)| *s == serial).map(|&(_, end)| end)
    }

    fn set(&self, serial: u32, end: u64) {
        let mut ends = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        ends.retain(|(s, _)| *s != serial);
        ends.push((serial, end));
    }
}

/// The input of symphonia's Ogg reader. It cannot seek, so symphonia reads
/// the file once, in order, through the checks.
pub(super) struct OggGuard<R> {
    inner: R,
    /// Bytes read and not yet handed on: `buf[served..served + ready]` are
    /// checked, the rest is the page being read.
    buf: Vec<u8>,
    served: usize,
    ready: usize,
    eof: bool,
    failed: Option<String>,
    streams: Vec<Stream>,
    /// A page that begins no stream has passed: the headers are over.
    audio: bool,
    /// A new chain begins: the first one is the audio, and the input ends here.
    chained: bool,
    ends: StreamEnds,
}

impl<R: Read> OggGuard<R> {
    pub(super) fn new(inner: R) -> (Self, StreamEnds) {
        let ends = StreamEnds::default();
        let guard = Self {
            inner,
            buf: Vec::new(),
            served: 0,
            ready: 0,
            eof: false,
            failed: None,
            streams: Vec::new(),
            audio: false,
            chained: false,
            ends: ends.clone(),
        };
        (guard, ends)
    }

    /// Reads until `n` bytes are buffered or the input ends.
    fn fill(&mut self, n: usize) -> io::Result<()> {
        while self.buf.len() < n && !self.eof {
            let len = self.buf.len();
            let want = (n - len).max(CHUNK).min(MAX_PAGE + CHUNK - len);
            self.buf.resize(len + want, 0);
            let read = loop {
                match self.inner.read(&mut self.buf[len..]) {
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    other => break other,
                }
            };
            self.buf.truncate(len + *read.as_ref().unwrap_or(&0));
            self.eof = read? == 0;
        }
        Ok(())
    }

    /// Checks what comes next and makes it ready: junk before a page (which
    /// symphonia skips), a page it would refuse (it resyncs after the capture
    /// pattern), or a whole page that passed the checks.
    fn advance(&mut self) -> io::Result<()> {
        self.buf.drain(..self.served);
        self.served = 0;
        self.fill(4)?;
        let Some(at) = self.buf.windows(4).position(|w| w == b"OggS") else {
            // The last three bytes may begin a capture pattern.
            self.ready = if self.eof { self.buf.len() } else { self.buf.len().saturating_sub(3) };
            return Ok(());
        };
        if at > 0 {
            self.ready = at;
            return Ok(());
        }
        self.fill(HEADER)?;
        if self.buf.len() < HEADER {
            // A page cut short by the end of the input: symphonia reads nothing from it.
            self.ready = self.buf.len();
            return Ok(());
        }
        if self.buf[4] != 0 || self.buf[5] & 0xf8 != 0 {
            self.ready = HEADER;
            return Ok(());
        }
        let segments = usize::from(self.buf[26]);
        self.fill(HEADER + segments)?;
        let body: usize =
            self.buf.get(HEADER..HEADER + segments).map_or(0, |l| l.iter().map(|&b| usize::from(b)).sum());
        let len = HEADER + segments + body;
        self.fill(len)?;
        if self.buf.len() < len {
            self.ready = self.buf.len();
            return Ok(());
        }
        let mut crc = Crc32::new(0);
        crc.process_buf_bytes(&self.buf[..22]);
        crc.process_buf_bytes(&[0; 4]);
        crc.process_buf_bytes(&self.buf[26..len]);
        if crc.crc().to_le_bytes() != self.buf[22..26] {
            self.ready = 4;
            return Ok(());
        }
        match self.page(len) {
            Ok(()) if !self.chained => self.ready = len,
            Ok(()) => {}
            Err(reason) => self.failed = Some(reason),
        }
        Ok(())
    }

    /// Checks the valid page `buf[..len]`, as symphonia will read it.
    fn page(&mut self, len: usize) -> Result<(), String> {
        let page = &self.buf[..len];
        let (flags, serial) = (page[5], u32_le(&page[14..18]));
        let granule = u64::from_le_bytes([page[6], page[7], page[8], page[9], page[10], page[11], page[12], page[13]]);
        if flags & 0x02 != 0 {
            if self.audio {
                // Symphonia would read the new chain's headers before it reports it.
                self.chained = true;
                return Ok(());
            }
            if !self.streams.iter().any(|s| s.serial == serial) {
                if self.streams.len() == MAX_STREAMS {
                    return Err(format!("more than {MAX_STREAMS} logical streams"));
                }
                self.streams.push(Stream::new(serial));
            }
        } else {
            self.audio = true;
        }
        if self.streams.is_empty() {
            return Err("the first page does not begin a stream".to_owned());
        }
        // Symphonia passes over the pages of streams that never began.
        let Some(index) = self.streams.iter().position(|s| s.serial == serial) else { return Ok(()) };
        let buffered: usize = self.streams.iter().map(|s| s.partial.len()).sum();
        let segments = usize::from(page[26]);
        let stream = &mut self.streams[index];
        if flags & 0x01 == 0 || !stream.continues {
            stream.partial.clear();
            stream.first = None;
        }
        let mut at = HEADER + segments;
        for &l in &page[HEADER..HEADER + segments] {
            let segment = &page[at..at + usize::from(l)];
            at += segment.len();
            if stream.pending_headers() > 0 {
                if stream.partial.len() + segment.len() > MAX_METADATA_ITEM as usize {
                    return Err(format!("a header packet is over {MAX_METADATA_ITEM} bytes"));
                }
                if buffered + segment.len() > MAX_HEADER_BYTES {
                    return Err(format!("over {MAX_HEADER_BYTES} bytes of header packets"));
                }
                stream.partial.extend_from_slice(segment);
            }
            if stream.first.is_none() {
                stream.first = segment.first().copied();
            }
            stream.continues = l == 255;
            if l < 255 {
                let packet = std::mem::take(&mut stream.partial);
                let first = stream.first.take();
                if stream.pending_headers() > 0 {
                    stream.header_packet(&packet)?;
                } else {
                    stream.audio_packet(first)?;
                }
            }
        }
        if flags & 0x04 != 0 && granule != u64::MAX {
            self.ends.set(serial, granule);
        }
        Ok(())
    }
}

impl<R: Read> Read for OggGuard<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.ready == 0 {
            if let Some(reason) = &self.failed {
                return Err(io::Error::new(ErrorKind::InvalidData, Refused(reason.clone())));
            }
            if self.chained || (self.eof && self.served == self.buf.len()) {
                if self.streams.iter().any(|s| s.pending_headers() > 0) {
                    self.failed = Some("the file ends inside the stream headers".to_owned());
                    continue;
                }
                return Ok(0);
            }
            self.advance()?;
        }
        let n = out.len().min(self.ready);
        out[..n].copy_from_slice(&self.buf[self.served..self.served + n]);
        self.served += n;
        self.ready -= n;
        Ok(n)
    }
}

impl<R> Seek for OggGuard<R> {
    fn seek(&mut self, _: SeekFrom) -> io::Result<u64> {
        Err(io::Error::new(ErrorKind::Unsupported, "the Ogg input is read once, in order"))
    }
}

impl<R: Read + Send + Sync> MediaSource for OggGuard<R> {
    fn is_seekable(&self) -> bool {
        false
    }
    fn byte_len(&self) -> Option<u64> {
        None
    }
}

fn u32_le(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Codec {
    Vorbis,
    Opus,
    /// FLAC before its last metadata block.
    Flac,
    /// FLAC after it: audio frames only.
    FlacFrames,
    Other,
}

/// One logical stream's packets as the checks follow them.
struct Stream {
    serial: u32,
    codec: Option<Codec>,
    /// Header packets seen so far.
    packets: usize,
    /// The header packet being gathered.
    partial: Vec<u8>,
    /// The first byte of the packet being read.
    first: Option<u8>,
    /// The last segment filled its 255 bytes: the packet goes on in the next page.
    continues: bool,
}

impl Stream {
    fn new(serial: u32) -> Self {
        Self { serial, codec: None, packets: 0, partial: Vec::new(), first: None, continues: false }
    }

    /// How many more packets are headers to check (an upper bound for FLAC,
    /// whose last metadata block says so).
    fn pending_headers(&self) -> usize {
        match self.codec {
            None => 1,
            Some(Codec::Vorbis) => 3usize.saturating_sub(self.packets),
            Some(Codec::Opus) => 2usize.saturating_sub(self.packets),
            Some(Codec::Flac) => 1,
            Some(Codec::FlacFrames | Codec::Other) => 0,
        }
    }

    fn header_packet(&mut self, packet: &[u8]) -> Result<(), String> {
        self.packets += 1;
        match self.codec {
            None => {
                self.codec = Some(if packet.starts_with(b"\x01vorbis") {
                    Codec::Vorbis
                } else if packet.starts_with(b"OpusHead") {
                    Codec::Opus
                } else if packet.starts_with(b"\x7fFLAC") {
                    Codec::Flac
                } else {
                    Codec::Other
                });
                Ok(())
            }
            // Symphonia parses a comment from any later packet that looks like one,
            // so the comment must be where the specification puts it.
            Some(Codec::Vorbis) if self.packets == 2 => match packet.strip_prefix(b"\x03vorbis") {
                Some(comment) => vorbis_comment(comment),
                None => Err("the second Vorbis packet is not the comment header".to_owned()),
            },
            Some(Codec::Opus) if self.packets == 2 => match packet.strip_prefix(b"OpusTags") {
                Some(comment) => vorbis_comment(comment),
                None => Err("the second Opus packet is not OpusTags".to_owned()),
            },
            Some(Codec::Flac) => {
                // Audio frames start with 0xff; metadata blocks with their header.
                match packet.first() {
                    Some(&0xff) | None => self.codec = Some(Codec::FlacFrames),
                    Some(&b) => {
                        flac_block(b & 0x7f, packet.get(4..).unwrap_or_default())?;
                        if b & 0x80 != 0 {
                            self.codec = Some(Codec::FlacFrames);
                        }
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// A packet after the headers, which starts with `first`: symphonia reads
    /// metadata from one that looks like a header, and no stream needs one there.
    fn audio_packet(&mut self, first: Option<u8>) -> Result<(), String> {
        match (self.codec, first) {
            (Some(Codec::Vorbis), Some(b)) if b & 1 == 1 => {
                Err(format!("a Vorbis header packet (type {b}) after the audio began"))
            }
            (Some(Codec::FlacFrames), Some(b)) if b != 0xff && b & 0x7f != 0 => {
                Err(format!("a FLAC metadata block (type {}) after the audio began", b & 0x7f))
            }
            _ => Ok(()),
        }
    }
}
