//! The device callbacks never allocate. With `AllocDisabler` as the global
//! allocator, an allocation inside `assert_no_alloc` aborts this test binary,
//! so a callback that allocated on any path (mixing, overrun, underrun, every
//! sample format) fails the test run.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use codec_stream::callbacks::{CaptureCallback, PlaybackCallback};
use codec_stream::Counters;
use ringbuf::traits::{Consumer, Producer, Split};
use ringbuf::HeapRb;

#[global_allocator]
static ALLOCATOR: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

#[test]
fn capture_and_playback_callbacks_do_not_allocate_on_any_path() {
    let counters = Arc::new(Counters::default());
    let (prod, mut cons) = HeapRb::<f32>::new(1024).split();
    let mut capture = CaptureCallback::new(prod, counters.clone());
    let f32_stereo = vec![0.25f32; 960];
    let i16_mono = vec![1000i16; 480];
    let u16_stereo = vec![40000u16; 960];
    let i32_quad = vec![1i32 << 20; 1920];
    for _ in 0..4 {
        // The ring holds 1024: later rounds overrun.
        capture.process(&f32_stereo, 2);
        capture.process(&i16_mono, 1);
        capture.process(&u16_stereo, 2);
        capture.process(&i32_quad, 4);
    }
    assert!(counters.capture_overruns.load(Relaxed) > 0, "the overrun path ran");

    let (mut prod, cons2) = HeapRb::<f32>::new(1024).split();
    let mut playback = PlaybackCallback::new(cons2, counters.clone());
    let mut out_f32 = vec![0.0f32; 960];
    let mut out_i16 = vec![0i16; 480];
    let mut out_u8 = vec![0u8; 960];
    while let Some(v) = cons.try_pop() {
        if prod.try_push(v).is_err() {
            break;
        }
    }
    for _ in 0..4 {
        // Drains the ring, then underruns.
        playback.process(&mut out_f32, 2);
        playback.process(&mut out_i16, 1);
        playback.process(&mut out_u8, 2);
    }
    assert!(counters.playback_underruns.load(Relaxed) > 0, "the underrun path ran");
    assert!(counters.played.load(Relaxed) > 0);
}
