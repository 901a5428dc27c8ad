//! Checks a stream's container structure before symphonia parses it.
//!
//! Symphonia 0.5 sizes buffers from lengths in the file before reading them
//! (a Vorbis comment, a FLAC picture, a RIFF INFO item: `vec![0; len]` with a
//! u32 from the file), and its probe scans the first megabyte for any format's
//! marker, so junk followed by `fLaC` is taken as FLAC. Here the format is
//! taken from offset 0 only, every length up to the audio is checked against
//! the bytes actually present and a cap, and the matching reader is built
//! directly, without the probe. Ogg, whose reader parses metadata anywhere
//! in the stream, is checked page by page as it is read (see `ogg`).

use std::io::{Cursor, ErrorKind, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;

use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::{MediaSource, MediaSourceStream, ReadOnlySource};
use symphonia::default::formats::{FlacReader, MpaReader, OggReader, WavReader};

use super::ogg::{OggGuard, StreamEnds};
use super::AudioError;

/// The most any one metadata item (chunk, block, comment, picture, tag) may claim.
pub const MAX_METADATA_ITEM: u64 = 16 << 20;

/// The most read ahead of the audio, kept in memory to replay to symphonia.
pub const MAX_HEADER_BYTES: usize = 32 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    Wav,
    Flac,
    Ogg,
    Mpeg,
}

impl Container {
    fn name(self) -> &'static str {
        match self {
            Container::Wav => "WAV",
            Container::Flac => "FLAC",
            Container::Ogg => "Ogg",
            Container::Mpeg => "MP3",
        }
    }
}

/// Checks `source` and opens the reader for its format, positioned so that
/// symphonia reads the same bytes the check walked. A stream that cannot seek
/// gets the bytes read for the check replayed in front of the rest. An Ogg
/// stream is read once, in order, through [`OggGuard`]; the ends it records
/// come back with the reader.
pub(super) fn open(
    mut source: Box<dyn MediaSource>,
    options: &FormatOptions,
    origin: &Path,
) -> Result<(Box<dyn FormatReader>, StreamEnds), AudioError> {
    let io_error = |source: std::io::Error| AudioError::Io { path: origin.to_owned(), source };
    let (container, start, head) = {
        let mut head = Head::new(&mut *source, origin);
        let (container, start) = check(&mut head)?;
        (container, start, head.buf)
    };
    let source: Box<dyn MediaSource> = if source.is_seekable() {
        source.seek(SeekFrom::Start(start as u64)).map_err(io_error)?;
        source
    } else {
        let mut replay = Cursor::new(head);
        replay.set_position(start as u64);
        Box::new(ReadOnlySource::new(replay.chain(source)))
    };
    let mut ends = StreamEnds::default();
    let source: Box<dyn MediaSource> = if container == Container::Ogg {
        let (guard, guard_ends) = OggGuard::new(source);
        ends = guard_ends;
        Box::new(guard)
    } else {
        source
    };
    let mss = MediaSourceStream::new(source, Default::default());
    let opened: Result<Box<dyn FormatReader>, SymphoniaError> = match container {
        Container::Wav => WavReader::try_new(mss, options).map(|r| Box::new(r) as _),
        Container::Flac => FlacReader::try_new(mss, options).map(|r| Box::new(r) as _),
        Container::Ogg => OggReader::try_new(mss, options).map(|r| Box::new(r) as _),
        Container::Mpeg => MpaReader::try_new(mss, options).map(|r| Box::new(r) as _),
    };
    let format = opened.map_err(|e| match e {
        SymphoniaError::IoError(source) => match super::ogg::refusal(&source) {
            Some(refused) => refused,
            None if source.kind() != ErrorKind::UnexpectedEof => io_error(source),
            None => AudioError::Unsupported { source: SymphoniaError::IoError(source) },
        },
        source => AudioError::Unsupported { source },
    })?;
    Ok((format, ends))
}

/// The container at offset 0 and where its reader must start (past any ID3v2 tags).
fn check<R: Read + ?Sized>(head: &mut Head<'_, R>) -> Result<(Container, usize), AudioError> {
    let mut start = 0;
    let first = head.peek(12)?.to_vec();
    let container = if first.starts_with(b"RIFF") && first.get(8..12) == Some(b"WAVE") {
        Container::Wav
    } else if first.starts_with(b"fLaC") {
        Container::Flac
    } else if first.starts_with(b"OggS") {
        Container::Ogg
    } else if first.starts_with(b"ID3") {
        head.format = Container::Mpeg;
        while head.peek(3)?.starts_with(b"ID3") {
            id3v2(head)?;
        }
        start = head.pos;
        // ffmpeg and others put ID3v2 in front of FLAC too.
        if head.peek(4)?.starts_with(b"fLaC") {
            Container::Flac
        } else {
            Container::Mpeg
        }
    } else if is_mpeg_sync(&first) {
        Container::Mpeg
    } else {
        let shown: Vec<String> = first.iter().take(4).map(|b| format!("{b:02x}")).collect();
        return Err(AudioError::UnknownFormat { start: shown.join(" ") });
    };
    head.format = container;
    match container {
        Container::Wav => riff(head)?,
        Container::Flac => flac(head)?,
        // Checked page by page as it is read (see `ogg`).
        Container::Ogg => {}
        // MPEG frames have bounded sizes; symphonia allocates nothing from the stream there.
        Container::Mpeg => {}
    }
    Ok((container, start))
}

/// An MPEG audio frame header's sync word, with a valid version and layer.
fn is_mpeg_sync(bytes: &[u8]) -> bool {
    matches!(bytes, [0xff, b, ..] if b & 0xe0 == 0xe0 && b & 0x18 != 0x08 && b & 0x06 != 0)
}

/// The bytes read so far, kept to replay, and a cursor into them.
struct Head<'a, R: Read + ?Sized> {
    src: &'a mut R,
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
    origin: &'a Path,
    format: Container,
}

impl<'a, R: Read + ?Sized> Head<'a, R> {
    fn new(src: &'a mut R, origin: &'a Path) -> Self {
        Head { src, buf: Vec::new(), pos: 0, eof: false, origin, format: Container::Wav }
    }

    fn malformed(&self, reason: String) -> AudioError {
        AudioError::Malformed { format: self.format.name(), reason }
    }

    /// Reads until `end` bytes are buffered or the input ends, in small reads so
    /// that what is allocated follows what arrives, not what a header claims.
    fn fill(&mut self, end: usize) -> Result<(), AudioError> {
        let mut chunk = [0u8; 64 << 10];
        while self.buf.len() < end && !self.eof {
            let want = (end - self.buf.len()).min(chunk.len());
            match self.src.read(&mut chunk[..want]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(source) => return Err(AudioError::Io { path: self.origin.to_owned(), source }),
            }
        }
        Ok(())
    }

    /// Up to `n` bytes at the cursor, fewer at the end of the input.
    fn peek(&mut self, n: usize) -> Result<&[u8], AudioError> {
        self.fill(self.pos + n)?;
        Ok(&self.buf[self.pos..self.buf.len().min(self.pos + n)])
    }

    /// Where in `buf` the next `n` bytes lie; the cursor moves past them. `what`
    /// names them in the refusal when `n` is over the cap or more than the input holds.
    fn take(&mut self, n: u64, what: &str) -> Result<Range<usize>, AudioError> {
        if n > MAX_METADATA_ITEM {
            return Err(self.malformed(format!("{what} claims {n} bytes, over the {MAX_METADATA_ITEM}-byte limit")));
        }
        let end = self.pos + n as usize;
        if end > MAX_HEADER_BYTES {
            return Err(self.malformed(format!("over {MAX_HEADER_BYTES} bytes of metadata before the audio")));
        }
        self.fill(end)?;
        if self.buf.len() < end {
            let left = self.buf.len() - self.pos;
            return Err(self.malformed(format!("{what} claims {n} bytes but only {left} follow")));
        }
        let start = self.pos;
        self.pos = end;
        Ok(start..end)
    }
}

fn u32_le(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn u32_be(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn quoted(id: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(id))
}

/// RIFF chunks up to `data`, the subchunks of a LIST/INFO chunk included.
fn riff<R: Read + ?Sized>(head: &mut Head<'_, R>) -> Result<(), AudioError> {
    head.take(12, "the RIFF header")?;
    loop {
        if head.peek(8)?.len() < 8 {
            return Err(head.malformed("no data chunk".to_owned()));
        }
        let at = head.take(8, "a chunk header")?;
        let header = &head.buf[at];
        let (id, len) = ([header[0], header[1], header[2], header[3]], u32_le(&header[4..]));
        if &id == b"data" {
            return Ok(());
        }
        // Chunks are padded to an even length.
        let padded = u64::from(len) + u64::from(len & 1);
        let what = format!("chunk {}", quoted(&id));
        let at = head.take(padded, &what)?;
        let body = &head.buf[at];
        if &id == b"LIST" && body.get(..4) == Some(b"INFO") {
            let items = &body[4..len as usize];
            let mut at = 0;
            while items.len() - at >= 8 {
                let item_len = u32_le(&items[at + 4..]) as usize;
                if item_len > items.len() - at - 8 {
                    let reason = format!(
                        "INFO item {} claims {item_len} bytes but its LIST chunk holds {}",
                        quoted(&items[at..at + 4]),
                        items.len() - at - 8
                    );
                    return Err(head.malformed(reason));
                }
                at = (at + 8 + item_len + (item_len & 1)).min(items.len());
            }
        }
    }
}

/// FLAC metadata blocks, and the lengths inside comment and picture blocks.
fn flac<R: Read + ?Sized>(head: &mut Head<'_, R>) -> Result<(), AudioError> {
    head.take(4, "the FLAC marker")?;
    loop {
        let at = head.take(4, "a metadata block header")?;
        let header = &head.buf[at];
        let (last, kind) = (header[0] & 0x80 != 0, header[0] & 0x7f);
        let len = u32_be(&[0, header[1], header[2], header[3]]);
        let at = head.take(u64::from(len), &format!("metadata block type {kind}"))?;
        let body = &head.buf[at];
        if let Err(reason) = flac_block(kind, body) {
            return Err(head.malformed(reason));
        }
        if last {
            return Ok(());
        }
    }
}

/// Checks a FLAC metadata block's body (native or in Ogg).
pub(super) fn flac_block(kind: u8, body: &[u8]) -> Result<(), String> {
    match kind {
        // Symphonia reads `len - 4` bytes of an application block.
        2 if body.len() < 4 => Err(format!("application block of {} bytes (at least 4)", body.len())),
        4 => vorbis_comment(body),
        6 => picture(body),
        _ => Ok(()),
    }
}

/// A cursor over a metadata item whose lengths must fit inside it.
struct Fields<'a> {
    bytes: &'a [u8],
    what: &'static str,
}

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], String> {
        if n > self.bytes.len() {
            return Err(format!("{}: {field} claims {n} bytes but only {} remain", self.what, self.bytes.len()));
        }
        let (taken, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(taken)
    }

    fn u32(&mut self, little: bool, field: &str) -> Result<usize, String> {
        let b = self.take(4, field)?;
        Ok(if little { u32_le(b) } else { u32_be(b) } as usize)
    }
}

/// A Vorbis comment header without framing bit: vendor, count, comments.
pub(super) fn vorbis_comment(body: &[u8]) -> Result<(), String> {
    let mut f = Fields { bytes: body, what: "Vorbis comment header" };
    let vendor = f.u32(true, "vendor length")?;
    f.take(vendor, "vendor string")?;
    let count = f.u32(true, "comment count")?;
    for _ in 0..count {
        let len = f.u32(true, "comment length")?;
        let comment = f.take(len, "comment")?;
        // Symphonia decodes a base64 picture block from this comment and reads it as one.
        if let Some((key, value)) = String::from_utf8_lossy(comment).split_once('=') {
            if key.to_lowercase() == "metadata_block_picture" {
                if let Some(block) = base64_like_symphonia(value) {
                    picture(&block)?;
                }
            }
        }
    }
    Ok(())
}

/// A FLAC picture block: type, media type, description, geometry, data.
fn picture(body: &[u8]) -> Result<(), String> {
    let mut f = Fields { bytes: body, what: "picture block" };
    f.take(4, "type")?;
    let mime = f.u32(false, "media type length")?;
    f.take(mime, "media type")?;
    let description = f.u32(false, "description length")?;
    f.take(description, "description")?;
    f.take(16, "dimensions")?;
    let data = f.u32(false, "data length")?;
    f.take(data, "data")?;
    Ok(())
}

/// Decodes base64 exactly as symphonia-metadata 0.5 does (padding trimmed, a
/// trailing lone symbol ignored), so that the picture checked is the one it
/// reads; a strict decoder would pass over blocks symphonia accepts.
pub(super) fn base64_like_symphonia(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let text = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
    for group in text.chunks(4) {
        if group.len() < 2 {
            break;
        }
        let v = group.iter().map(|&c| value(c)).collect::<Option<Vec<u8>>>()?;
        out.push((v[0] << 2) | (v[1] >> 4));
        if let Some(v2) = v.get(2) {
            out.push((v[1] << 4) | (v2 >> 2));
        }
        if let Some(v3) = v.get(3) {
            out.push((v[2] << 6) | v3);
        }
    }
    Some(out)
}

/// One ID3v2 tag (in front of MP3 or FLAC): its size, and its frames' sizes
/// against it. The tag is skipped, so symphonia never parses it.
fn id3v2<R: Read + ?Sized>(head: &mut Head<'_, R>) -> Result<(), AudioError> {
    let at = head.take(10, "the ID3v2 header")?;
    let header = &head.buf[at];
    let (major, flags) = (header[3], header[5]);
    let syncsafe = |b: &[u8]| b.iter().fold(0u32, |acc, &x| (acc << 7) | u32::from(x & 0x7f));
    if header[6..10].iter().any(|b| b & 0x80 != 0) {
        return Err(head.malformed("the ID3v2 tag size is not a syncsafe integer".to_owned()));
    }
    let size = syncsafe(&header[6..10]);
    if !(2..=4).contains(&major) {
        return Err(head.malformed(format!("ID3v2.{major} is not a version this reader knows")));
    }
    let footer = if major == 4 && flags & 0x10 != 0 { 10 } else { 0 };
    let range = head.take(u64::from(size) + footer, "the ID3v2 tag")?;
    let tag = &head.buf[range.start..range.start + size as usize];
    // Unsynchronisation changes the bytes of frame headers; the tag is skipped whole anyway.
    if flags & 0x80 != 0 {
        return Ok(());
    }
    let mut f = Fields { bytes: tag, what: "ID3v2 tag" };
    let reason = |r: String| head.malformed(r);
    if major >= 3 && flags & 0x40 != 0 {
        let b = f.take(4, "extended header size").map_err(reason)?;
        let ext = if major == 4 { syncsafe(b) as usize } else { u32_be(b) as usize };
        // v2.4 counts the size field itself; v2.3 does not.
        f.take(if major == 4 { ext.saturating_sub(4) } else { ext }, "extended header").map_err(reason)?;
    }
    let header_len = if major == 2 { 6 } else { 10 };
    while f.bytes.len() >= header_len && f.bytes[0] != 0 {
        let frame = f.take(header_len, "frame header").map_err(reason)?;
        let id = String::from_utf8_lossy(&frame[..if major == 2 { 3 } else { 4 }]).into_owned();
        let len = match major {
            2 => u32_be(&[0, frame[3], frame[4], frame[5]]),
            3 => u32_be(&frame[4..8]),
            _ => syncsafe(&frame[4..8]),
        };
        f.take(len as usize, &format!("frame {id:?}")).map_err(reason)?;
    }
    Ok(())
}
