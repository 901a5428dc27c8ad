//! Holding a device without a clock to real time.
//!
//! A sound card moves audio at its own pace and its backend's thread waits
//! for it between buffers. Some devices never wait: ALSA's `null` device,
//! which is all a headless machine may list, captures silence and swallows
//! playback as fast as they are asked for. Its backend thread then calls the
//! callback in a tight loop, and at realtime priority two such threads take
//! every core, so that nothing else of the call (its deadline, Ctrl-C) runs.
//! A [`Pacer`] runs after each callback: once a device has moved more audio
//! than real time allows, with room for any real device's buffers and clock
//! error, it sleeps each callback until that audio is due.

use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::stats::Counters;

/// Audio a device may move ahead of real time before it counts as one
/// without a clock: more than the largest buffer a device takes at once
/// (cpal asks for two periods; a `--buffer-ms` is at most 500 ms).
const MOST_AHEAD: Duration = Duration::from_secs(2);
/// And the drift of a real device's clock over a long call: far more than
/// a crystal's error, as much as the receiver corrects (0.5 %).
const MOST_DRIFT: f64 = 0.005;
/// The least time one callback counts for, so that a device handing over
/// empty buffers in a loop is held as well.
const LEAST_PER_CALL: Duration = Duration::from_micros(100);

/// Watches one device's callbacks; see the [module](self).
pub struct Pacer {
    rate: f64,
    /// When the device's audio started, and how much of it (seconds) came
    /// since, counted from the moment it was found without a clock once so.
    start: Option<Instant>,
    moved: f64,
    counters: Arc<Counters>,
    input: bool,
}

impl Pacer {
    /// A pacer of the input (or output) device at `rate` samples a second;
    /// it raises the device's flag in `counters` once it holds it back.
    pub fn new(rate: u32, input: bool, counters: Arc<Counters>) -> Self {
        Self { rate: f64::from(rate.max(1)), start: None, moved: 0.0, counters, input }
    }

    fn paced(&self) -> &AtomicBool {
        if self.input {
            &self.counters.input_paced
        } else {
            &self.counters.output_paced
        }
    }

    /// Called after each callback, with the frames (samples per channel)
    /// that it moved; sleeps, for a device found without a clock, until
    /// those frames are due. Allocates nothing.
    pub fn after(&mut self, frames: usize) {
        let now = Instant::now();
        let start = *self.start.get_or_insert(now);
        self.moved += (frames as f64 / self.rate).max(LEAST_PER_CALL.as_secs_f64());
        let elapsed = (now - start).as_secs_f64();
        let ahead = self.moved - elapsed;
        if !self.paced().load(Relaxed) {
            if ahead <= MOST_AHEAD.as_secs_f64() + MOST_DRIFT * elapsed {
                return;
            }
            self.paced().store(true, Relaxed);
            // From now on its audio comes at real time, one callback at a time.
            self.start = Some(now);
            self.moved = 0.0;
            return;
        }
        if ahead > 0.0 {
            std::thread::sleep(Duration::from_secs_f64(ahead.min(1.0)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_at_real_time_is_never_held() {
        let counters = Arc::new(Counters::default());
        let mut pacer = Pacer::new(16_000, false, counters.clone());
        // A 500 ms buffer taken at once, then 10 ms buffers as the clock allows.
        pacer.after(8_000);
        for _ in 0..20 {
            std::thread::sleep(Duration::from_millis(10));
            pacer.after(160);
        }
        assert!(!counters.output_paced.load(Relaxed));
    }

    #[test]
    fn a_device_without_a_clock_is_held_to_real_time() {
        let counters = Arc::new(Counters::default());
        let mut pacer = Pacer::new(16_000, true, counters.clone());
        let started = Instant::now();
        // Buffers as fast as they can be called for: 3 s of audio at once,
        // then 0.5 s more, which must take 0.5 s.
        for _ in 0..300 {
            pacer.after(160);
        }
        assert!(
            counters.input_paced.load(Relaxed) && !counters.output_paced.load(Relaxed),
            "3 s of audio in no time is not a device with a clock"
        );
        let held = Instant::now();
        for _ in 0..50 {
            pacer.after(160);
        }
        assert!(held.elapsed() >= Duration::from_millis(480), "{:?}", held.elapsed());
        // Empty buffers in a loop count too: 5,000 take 0.5 s.
        let empty = Instant::now();
        for _ in 0..5_000 {
            pacer.after(0);
        }
        assert!(empty.elapsed() >= Duration::from_millis(480), "{:?}", empty.elapsed());
        assert!(started.elapsed() >= Duration::from_millis(960));
    }
}
