//! The audio callbacks: the only code that runs on a device's realtime thread.
//!
//! They copy samples between the device buffer and a lock-free ring and bump
//! atomic counters; nothing else. No allocation, lock, I/O or logging may
//! happen here, or the device thread can miss its deadline and the user hears
//! a click. Each body runs inside [`assert_no_alloc::assert_no_alloc`], so a
//! binary that installs `AllocDisabler` as its global allocator (the `codec`
//! binary does in debug builds, and so do the tests) aborts on the first
//! allocation rather than glitching quietly.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use cpal::{FromSample, Sample};
use ringbuf::traits::{Consumer, Producer};
use ringbuf::{HeapCons, HeapProd};

use crate::stats::Counters;

/// The capture side: device samples, mixed to mono, into the capture ring.
pub struct CaptureCallback {
    ring: HeapProd<f32>,
    counters: Arc<Counters>,
}

impl CaptureCallback {
    pub fn new(ring: HeapProd<f32>, counters: Arc<Counters>) -> Self {
        Self { ring, counters }
    }

    /// One device buffer of interleaved `channels`-channel samples.
    pub fn process<T>(&mut self, data: &[T], channels: usize)
    where
        T: Sample,
        f32: FromSample<T>,
    {
        assert_no_alloc::assert_no_alloc(|| {
            let channels = channels.max(1);
            let scale = 1.0 / channels as f32;
            let mut dropped = 0u64;
            let mut frames = 0u64;
            for frame in data.chunks_exact(channels) {
                let sum: f32 = frame.iter().map(|&s| f32::from_sample(s)).sum();
                if self.ring.try_push(sum * scale).is_err() {
                    dropped += 1;
                }
                frames += 1;
            }
            self.counters.captured.fetch_add(frames, Relaxed);
            if dropped > 0 {
                // The codec thread fell behind: the oldest audio is kept, the newest lost.
                self.counters.capture_overruns.fetch_add(1, Relaxed);
                self.counters.capture_dropped.fetch_add(dropped, Relaxed);
            }
        });
    }
}

/// The playback side: the playback ring into every channel of the device buffer.
pub struct PlaybackCallback {
    ring: HeapCons<f32>,
    counters: Arc<Counters>,
    /// Set once the ring has delivered audio: a device that starts before the
    /// pipeline has anything to play is starting, not underrunning.
    primed: bool,
}

impl PlaybackCallback {
    pub fn new(ring: HeapCons<f32>, counters: Arc<Counters>) -> Self {
        Self { ring, counters, primed: false }
    }

    /// Fills one device buffer of interleaved `channels`-channel samples.
    pub fn process<T>(&mut self, data: &mut [T], channels: usize)
    where
        T: Sample + FromSample<f32>,
    {
        assert_no_alloc::assert_no_alloc(|| {
            let channels = channels.max(1);
            let mut missing = 0u64;
            let mut frames = 0u64;
            for frame in data.chunks_exact_mut(channels) {
                let value = match self.ring.try_pop() {
                    Some(v) => {
                        self.primed = true;
                        v
                    }
                    None => {
                        missing += 1;
                        0.0
                    }
                };
                frame.fill(T::from_sample(value));
                frames += 1;
            }
            self.counters.played.fetch_add(frames, Relaxed);
            if missing > 0 && self.primed && !self.counters.stopping.load(Relaxed) {
                self.counters.playback_underruns.fetch_add(1, Relaxed);
                self.counters.underrun_samples.fetch_add(missing, Relaxed);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringbuf::traits::{Observer, Split};
    use ringbuf::HeapRb;

    #[test]
    fn capture_mixes_to_mono_and_counts_overruns() {
        let (prod, mut cons) = HeapRb::<f32>::new(3).split();
        let counters = Arc::new(Counters::default());
        let mut cb = CaptureCallback::new(prod, counters.clone());
        cb.process(&[0.5f32, -0.5, 1.0, 0.0], 2);
        assert_eq!(cons.try_pop(), Some(0.0));
        assert_eq!(cons.try_pop(), Some(0.5));
        cb.process(&[i16::MAX, i16::MAX, 0, 0, 0, 0, 0, 0], 2);
        assert_eq!(cons.occupied_len(), 3);
        assert_eq!(counters.capture_overruns.load(Relaxed), 1);
        assert_eq!(counters.capture_dropped.load(Relaxed), 1);
        assert_eq!(counters.captured.load(Relaxed), 6);
    }

    #[test]
    fn playback_fills_every_channel_and_counts_underruns_after_priming() {
        let (mut prod, cons) = HeapRb::<f32>::new(8).split();
        let counters = Arc::new(Counters::default());
        let mut cb = PlaybackCallback::new(cons, counters.clone());
        let mut out = [1.0f32; 4];
        cb.process(&mut out, 2);
        assert_eq!(out, [0.0; 4]);
        assert_eq!(counters.playback_underruns.load(Relaxed), 0, "not primed yet");
        prod.try_push(0.25).ok();
        let mut out16 = [0i16; 4];
        cb.process(&mut out16, 2);
        assert_eq!(out16[0], out16[1]);
        assert!(out16[0] > 8000 && out16[2] == 0);
        assert_eq!(counters.playback_underruns.load(Relaxed), 1);
        assert_eq!(counters.underrun_samples.load(Relaxed), 1);
        // Once the call ends, an empty ring is its end, not an underrun.
        counters.stopping.store(true, Relaxed);
        cb.process(&mut out16, 2);
        assert_eq!(out16, [0; 4]);
        assert_eq!(counters.playback_underruns.load(Relaxed), 1);
    }
}
