//! Metadata that symphonia's Ogg reader parses after the headers (a comment
//! packet amid the audio, the headers of a chained stream) must not make it
//! allocate a length from the file: the largest allocation made while a
//! crafted file is read stays small.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Cursor;
use std::path::PathBuf;

use codec_core::audio::{read_audio, AudioError, AudioReader};

struct Largest;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Largest = Largest;

/// The largest single allocation `f` makes on this thread, and its result.
fn largest_allocation<T>(f: impl FnOnce() -> T) -> (usize, T) {
    LARGEST.with(|l| l.set(0));
    let result = f();
    (LARGEST.with(Cell::get), result)
}

/// Far above what a one-second file needs, far below the lengths claimed.
const SMALL: usize = 64 << 20;

fn sample_ogg() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/formats/sample.ogg")
}

/// The pages of an Ogg file.
fn pages(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut pages = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let segments = usize::from(bytes[at + 26]);
        let body: usize = bytes[at + 27..at + 27 + segments].iter().map(|&l| usize::from(l)).sum();
        pages.push(bytes[at..at + 27 + segments + body].to_vec());
        at += 27 + segments + body;
    }
    pages
}

/// Ogg's page CRC: polynomial 0x04c11db7, not reflected, initial value 0.
fn with_crc(mut page: Vec<u8>) -> Vec<u8> {
    page[22..26].fill(0);
    let crc = page.iter().fold(0u32, |mut crc, &b| {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 { (crc << 1) ^ 0x04c1_1db7 } else { crc << 1 };
        }
        crc
    });
    page[22..26].copy_from_slice(&crc.to_le_bytes());
    page
}

/// A page of one whole packet (under 255 bytes).
fn page(flags: u8, granule: u64, serial: u32, sequence: u32, packet: &[u8]) -> Vec<u8> {
    let mut v = b"OggS\x00".to_vec();
    v.push(flags);
    v.extend_from_slice(&granule.to_le_bytes());
    v.extend_from_slice(&serial.to_le_bytes());
    v.extend_from_slice(&sequence.to_le_bytes());
    v.extend_from_slice(&[0; 4]);
    v.push(1);
    v.push(packet.len() as u8);
    v.extend_from_slice(packet);
    with_crc(v)
}

fn renumbered(mut page: Vec<u8>, sequence: u32) -> Vec<u8> {
    page[18..22].copy_from_slice(&sequence.to_le_bytes());
    with_crc(page)
}

/// A Vorbis comment packet whose one comment claims `claimed` bytes.
fn comment_claiming(claimed: u32) -> Vec<u8> {
    let mut v = b"\x03vorbis".to_vec();
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(&1u32.to_le_bytes());
    v.extend_from_slice(&claimed.to_le_bytes());
    v.extend_from_slice(b"TITLE=x");
    v
}

fn serial(page: &[u8]) -> u32 {
    u32::from_le_bytes([page[14], page[15], page[16], page[17]])
}

/// Reads `bytes` as a file and as a pipe, each with the largest allocation it made.
fn read_both(bytes: &[u8]) -> [(usize, Result<Vec<f32>, AudioError>); 2] {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("crafted.ogg");
    std::fs::write(&path, bytes).expect("write");
    let from_file = largest_allocation(|| read_audio(&path).map(|a| a.samples));
    let from_pipe = largest_allocation(|| {
        let mut reader = AudioReader::from_stream(Box::new(Cursor::new(bytes.to_vec())), None)?;
        let mut samples = Vec::new();
        while reader.read_packet(&mut samples)? {}
        Ok(samples)
    });
    [from_file, from_pipe]
}

#[test]
fn a_comment_packet_amid_the_audio_is_refused_before_it_is_parsed() {
    let original = pages(&std::fs::read(sample_ogg()).expect("sample.ogg"));
    assert_eq!(original.len(), 4, "sample.ogg: ident, comment and setup, two audio pages");
    let s = serial(&original[0]);
    let mut file = original[..3].concat();
    file.extend(page(0, 23_808, s, 3, &comment_claiming(0xFFFF_FF00)));
    file.extend(renumbered(original[3].clone(), 4));
    for (largest, result) in read_both(&file) {
        assert!(largest < SMALL, "an allocation of {largest} bytes");
        match result {
            Err(AudioError::Malformed { format: "Ogg", reason }) => {
                assert_eq!(reason, "a Vorbis header packet (type 3) after the audio began")
            }
            other => panic!("expected a refusal, got {:?}", other.map(|s| s.len())),
        }
    }
}

#[test]
fn a_chained_stream_ends_the_audio_before_its_headers_are_parsed() {
    let bytes = std::fs::read(sample_ogg()).expect("sample.ogg");
    let original = pages(&bytes);
    let expected = read_audio(&sample_ogg()).expect("sample.ogg").samples;
    // A second stream after the first: its identification header, then a
    // comment header claiming 4 GB.
    let ident_len = usize::from(original[0][27]);
    let ident = &original[0][28..28 + ident_len];
    let mut file = bytes.clone();
    file.extend(page(0x02, 0, 0x1234, 0, ident));
    file.extend(page(0, 0, 0x1234, 1, &comment_claiming(0xFFFF_FF00)));
    for (largest, result) in read_both(&file) {
        assert!(largest < SMALL, "an allocation of {largest} bytes");
        assert!(result.expect("the first stream") == expected, "the first stream's audio");
    }
}
