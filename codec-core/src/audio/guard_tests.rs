//! Hand-made minimal files whose header lengths symphonia would allocate
//! before reading: each must be refused with a message, before decoding.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use symphonia::core::formats::FormatOptions;
use symphonia::core::io::{MediaSourceStream, ReadOnlySource};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use super::guard::{open, MAX_METADATA_ITEM};
use super::{read_audio_from, AudioError};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata")
}

/// The refusal's message, or a failure naming what happened instead.
fn refusal(bytes: &[u8]) -> String {
    match read_audio_from(bytes, None) {
        Err(e @ (AudioError::Malformed { .. } | AudioError::UnknownFormat { .. })) => e.to_string(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A RIFF length of u32::MAX, as ffmpeg writes to a pipe: symphonia then
/// takes any chunk length as fitting.
fn riff(chunks: &[u8]) -> Vec<u8> {
    let mut v = b"RIFF".to_vec();
    v.extend_from_slice(&u32::MAX.to_le_bytes());
    v.extend_from_slice(b"WAVE");
    v.extend_from_slice(chunks);
    v
}

fn chunk(id: &[u8; 4], len: u32, body: &[u8]) -> Vec<u8> {
    let mut v = id.to_vec();
    v.extend_from_slice(&len.to_le_bytes());
    v.extend_from_slice(body);
    v
}

/// PCM, mono, 16 kHz, 16-bit.
fn fmt_chunk() -> Vec<u8> {
    let mut body = Vec::new();
    for field in [1u16, 1] {
        body.extend_from_slice(&field.to_le_bytes());
    }
    body.extend_from_slice(&16_000u32.to_le_bytes());
    body.extend_from_slice(&32_000u32.to_le_bytes());
    body.extend_from_slice(&2u16.to_le_bytes());
    body.extend_from_slice(&16u16.to_le_bytes());
    chunk(b"fmt ", 16, &body)
}

#[test]
fn guard_refuses_a_list_chunk_longer_than_the_file() {
    // The fuzzer's 72-byte WAV: a LIST/INFO chunk claiming 0xF0000000 bytes.
    let mut chunks = fmt_chunk();
    chunks.extend(chunk(b"LIST", 0xF000_0000, b"INFOINAM\x04\x00\x00\x00abcd"));
    let message = refusal(&riff(&chunks));
    assert!(message.contains("chunk \"LIST\" claims 4026531840 bytes"), "{message}");
}

#[test]
fn guard_refuses_an_info_item_longer_than_its_list() {
    let mut chunks = fmt_chunk();
    chunks.extend(chunk(b"LIST", 16, b"INFOINAM\xe8\x03\x00\x00abcd"));
    chunks.extend(chunk(b"data", 4, &[0; 4]));
    let message = refusal(&riff(&chunks));
    assert!(message.contains("INFO item \"INAM\" claims 1000 bytes"), "{message}");
}

#[test]
fn guard_refuses_a_chunk_over_the_cap() {
    let mut chunks = fmt_chunk();
    chunks.extend(chunk(b"junk", MAX_METADATA_ITEM as u32 + 2, &[]));
    let message = refusal(&riff(&chunks));
    assert!(message.contains("over the 16777216-byte limit"), "{message}");
}

#[test]
fn guard_refuses_junk_before_a_format_marker() {
    // The fuzzer's 354-byte find: junk, then "fLaC" at offset 14 with a comment
    // claiming gigabytes; symphonia's probe scans for markers and took it as FLAC.
    let found = std::fs::read(testdata().join("malformed/junk-then-flac.bin")).expect("fuzz input");
    let message = refusal(&found);
    assert_eq!(message, "not a WAV, FLAC, Ogg or MP3 file (it starts with 00 00 00 57)");
    let mut junk = b"not audio at all".to_vec();
    junk.extend_from_slice(b"RIFF\x24\x00\x00\x00WAVE");
    assert!(refusal(&junk).starts_with("not a WAV, FLAC, Ogg or MP3 file"));
}

/// A valid STREAMINFO body: 4096-sample blocks, 16 kHz, mono, 16-bit.
fn stream_info() -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&4096u16.to_be_bytes());
    v.extend_from_slice(&4096u16.to_be_bytes());
    v.extend_from_slice(&[0; 6]);
    v.extend_from_slice(&((16_000u64 << 44) | (15 << 36)).to_be_bytes());
    v.extend_from_slice(&[0; 16]);
    v
}

fn flac(blocks: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut v = b"fLaC".to_vec();
    for (i, (kind, body)) in blocks.iter().enumerate() {
        let last = if i + 1 == blocks.len() { 0x80 } else { 0 };
        v.push(kind | last);
        v.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        v.extend_from_slice(body);
    }
    v
}

/// A Vorbis comment body: no vendor, one comment whose length field is `claimed`.
fn comment_claiming(claimed: u32) -> Vec<u8> {
    let mut v = 0u32.to_le_bytes().to_vec();
    v.extend_from_slice(&1u32.to_le_bytes());
    v.extend_from_slice(&claimed.to_le_bytes());
    v.extend_from_slice(b"TITLE=x");
    v
}

#[test]
fn guard_refuses_an_oversized_flac_comment() {
    let message = refusal(&flac(&[(0, stream_info()), (4, comment_claiming(0xFFFF_FF00))]));
    assert!(
        message.starts_with("malformed FLAC file: Vorbis comment header: comment claims 4294967040 bytes"),
        "{message}"
    );
}

#[test]
fn guard_refuses_an_oversized_flac_picture_field() {
    let mut picture = 3u32.to_be_bytes().to_vec();
    picture.extend_from_slice(&0x8000_0000u32.to_be_bytes());
    picture.extend_from_slice(b"image/png");
    let message = refusal(&flac(&[(0, stream_info()), (6, picture)]));
    assert!(message.contains("picture block: media type claims 2147483648 bytes"), "{message}");
    // The same picture, base64 in a comment, is decoded and read by symphonia too.
    let mut picture = 3u32.to_be_bytes().to_vec();
    picture.extend_from_slice(&0x8000_0000u32.to_be_bytes());
    let text = format!("METADATA_BLOCK_PICTURE={}", "AAAAA4AAAAA=");
    assert_eq!(super::guard::base64_like_symphonia("AAAAA4AAAAA=").as_deref(), Some(&picture[..]));
    let mut comment = 0u32.to_le_bytes().to_vec();
    comment.extend_from_slice(&1u32.to_le_bytes());
    comment.extend_from_slice(&(text.len() as u32).to_le_bytes());
    comment.extend_from_slice(text.as_bytes());
    let message = refusal(&flac(&[(0, stream_info()), (4, comment)]));
    assert!(message.contains("picture block: media type claims 2147483648 bytes"), "{message}");
}

#[test]
fn guard_refuses_a_short_flac_application_block() {
    let message = refusal(&flac(&[(0, stream_info()), (2, vec![1, 2])]));
    assert!(message.contains("application block of 2 bytes"), "{message}");
}

/// An Ogg page holding whole `packets`.
fn ogg_page(flags: u8, sequence: u32, packets: &[&[u8]]) -> Vec<u8> {
    let mut lacing = Vec::new();
    for p in packets {
        lacing.extend(std::iter::repeat_n(255u8, p.len() / 255));
        lacing.push((p.len() % 255) as u8);
    }
    ogg_raw(flags, sequence, &lacing, &packets.concat())
}

fn ogg_raw(flags: u8, sequence: u32, lacing: &[u8], body: &[u8]) -> Vec<u8> {
    let mut v = b"OggS\x00".to_vec();
    v.push(flags);
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(&7u32.to_le_bytes());
    v.extend_from_slice(&sequence.to_le_bytes());
    v.extend_from_slice(&[0; 4]);
    v.push(lacing.len() as u8);
    v.extend_from_slice(lacing);
    v.extend_from_slice(body);
    let crc = ogg_crc(&v);
    v[22..26].copy_from_slice(&crc.to_le_bytes());
    v
}

/// Ogg's page CRC: polynomial 0x04c11db7, not reflected, initial value 0.
fn ogg_crc(page: &[u8]) -> u32 {
    page.iter().fold(0u32, |mut crc, &b| {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 { (crc << 1) ^ 0x04c1_1db7 } else { crc << 1 };
        }
        crc
    })
}

#[test]
fn guard_refuses_an_oversized_ogg_vorbis_comment() {
    let mut ident = b"\x01vorbis".to_vec();
    ident.extend_from_slice(&0u32.to_le_bytes());
    ident.push(1);
    ident.extend_from_slice(&16_000u32.to_le_bytes());
    ident.extend_from_slice(&[0; 12]);
    ident.extend_from_slice(&[0xb8, 1]);
    let mut comment = b"\x03vorbis".to_vec();
    comment.extend(comment_claiming(0xFFFF_FF00));
    let mut file = ogg_page(0x02, 0, &[&ident]);
    file.extend(ogg_page(0, 1, &[&comment, b"\x05vorbis"]));
    let message = refusal(&file);
    assert!(
        message.starts_with("malformed Ogg file: Vorbis comment header: comment claims 4294967040 bytes"),
        "{message}"
    );
    // Symphonia would read a comment from any later packet that looks like one.
    let mut file = ogg_page(0x02, 0, &[&ident]);
    file.extend(ogg_page(0, 1, &[b"\x05vorbis", &comment]));
    assert!(refusal(&file).contains("the second Vorbis packet is not the comment header"));
}

#[test]
fn guard_refuses_an_oversized_opus_comment_across_pages() {
    let mut tags = b"OpusTags".to_vec();
    tags.extend(comment_claiming(0xFFFF_FF00));
    tags.extend(std::iter::repeat_n(b'x', 600));
    let mut file = ogg_page(0x02, 0, &[b"OpusHead\x01\x01\x00\x00\x80\xbb\x00\x00\x00\x00\x00"]);
    // The comment packet spans two pages: two full segments, then the rest.
    file.extend(ogg_raw(0, 1, &[255, 255], &tags[..510]));
    file.extend(ogg_page(0x01, 2, &[&tags[510..]]));
    let message = refusal(&file);
    assert!(message.contains("comment claims 4294967040 bytes"), "{message}");
}

/// Issue 20's open end: metadata after the headers, which symphonia's Ogg
/// reader parses wherever it finds it.
#[test]
fn guard_refuses_ogg_flac_metadata_after_the_frames() {
    let mut head = b"\x7fFLAC\x01\x00\x00\x01fLaC\x00\x00\x00\x22".to_vec();
    head.extend(stream_info());
    let mut last_block = vec![0x84, 0, 0, 8];
    last_block.extend_from_slice(&[0; 8]);
    let frame = [0xff, 0xf8, 0x69, 0x08, 0x00, 0x0f, 0x00, 0x00];
    let mut late = vec![0x04, 0x00, 0x00, 0x13];
    late.extend(comment_claiming(0xFFFF_FF00));
    let mut file = ogg_page(0x02, 0, &[&head]);
    file.extend(ogg_page(0, 1, &[&last_block]));
    file.extend(ogg_page(0, 2, &[&frame]));
    file.extend(ogg_page(0, 3, &[&late]));
    let message = refusal(&file);
    assert_eq!(message, "malformed Ogg file: a FLAC metadata block (type 4) after the audio began");
}

fn id3(frames: &[u8]) -> Vec<u8> {
    let size = frames.len() as u32;
    let mut v = b"ID3\x03\x00\x00".to_vec();
    v.extend((0..4).rev().map(|i| ((size >> (7 * i)) & 0x7f) as u8));
    v.extend_from_slice(frames);
    v
}

#[test]
fn guard_refuses_an_id3_frame_longer_than_its_tag() {
    let mut frames = b"TIT2".to_vec();
    frames.extend_from_slice(&1000u32.to_be_bytes());
    frames.extend_from_slice(&[0, 0, 3]);
    frames.extend_from_slice(b"title");
    let mut file = id3(&frames);
    file.extend_from_slice(&[0xff, 0xfb, 0x90, 0x00]);
    let message = refusal(&file);
    assert!(message.contains("ID3v2 tag: frame \"TIT2\" claims 1000 bytes"), "{message}");
    // A tag claiming more than the file holds.
    let message = refusal(&b"ID3\x04\x00\x00\x7f\x7f\x7f\x7fTIT2"[..]);
    assert!(message.contains("the ID3v2 tag claims 268435455 bytes, over the"), "{message}");
}

#[test]
fn guard_replays_what_it_read_to_a_stream_that_cannot_seek() {
    let dir = testdata().join("formats");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).expect("formats").map(|e| e.expect("entry").path()).collect();
    files.retain(|p| p.extension().is_some_and(|e| e != "md"));
    files.push(testdata().join("sample.wav"));
    let options = FormatOptions::default();
    for path in files {
        let bytes = std::fs::read(&path).expect("file");
        let packets = |seekable: bool| {
            let source: Box<dyn symphonia::core::io::MediaSource> = if seekable {
                Box::new(Cursor::new(bytes.clone()))
            } else {
                Box::new(ReadOnlySource::new(Cursor::new(bytes.clone())))
            };
            let (mut reader, _) = open(source, &options, &path).expect("open");
            let mut all = Vec::new();
            while let Ok(packet) = reader.next_packet() {
                all.extend_from_slice(&packet.data);
            }
            all
        };
        let (seekable, streamed) = (packets(true), packets(false));
        assert!(!seekable.is_empty(), "{}", path.display());
        assert!(seekable == streamed, "{}: the streamed packets differ", path.display());
        // Symphonia's own probe, which the guard replaces, reads the same packets.
        let mss = MediaSourceStream::new(Box::new(Cursor::new(bytes.clone())), Default::default());
        let probed = symphonia::default::get_probe()
            .format(&Hint::new(), mss, &options, &MetadataOptions::default())
            .expect("probe");
        let mut reader = probed.format;
        let mut all = Vec::new();
        while let Ok(packet) = reader.next_packet() {
            all.extend_from_slice(&packet.data);
        }
        assert!(seekable == all, "{}: the probe's packets differ", path.display());
    }
}
