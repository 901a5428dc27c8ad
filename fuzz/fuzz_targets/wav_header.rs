//! Arbitrary bytes, named as a WAV file, into codec_core's audio reader
//! (the format probe goes by the content, so other formats are reached too).
//! It must never panic, and never allocate more than the input can justify:
//! a header that claims more frames, channels or bytes than the file holds
//! must not size a buffer.
#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use libfuzzer_sys::fuzz_target;

/// The largest single allocation since the last reset.
static LARGEST: AtomicUsize = AtomicUsize::new(0);

struct Tracking;

// SAFETY: forwards every call to the system allocator; only records sizes.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

/// What the reader may set aside before decoding, whatever the input: its
/// up-front capacity for the samples a header declares is capped at 2^24
/// samples of f32.
const PREALLOC_BYTES: usize = 4 << 24;

fuzz_target!(|data: &[u8]| {
    LARGEST.store(0, Relaxed);
    let result = codec_core::audio::read_audio_from(data, Some("wav"));
    let largest = LARGEST.load(Relaxed);
    // In a WAV file every sample costs at least half a byte (4-bit ADPCM):
    // decoded to f32 in a growing Vec, 16 bytes a byte at most, and the
    // input's own copy. Anything beyond is a size taken from a header.
    // (Other formats decode far more samples from few bytes.)
    if data.starts_with(b"RIFF") {
        let limit = PREALLOC_BYTES + 32 * data.len() + (1 << 20);
        assert!(largest <= limit, "{} input bytes made a {largest}-byte allocation", data.len());
    }
    if let Ok(audio) = result {
        assert!(audio.sample_rate > 0);
        assert!(audio.samples.iter().all(|x| x.is_finite()));
    }
});
