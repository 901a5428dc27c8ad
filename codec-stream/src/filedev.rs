//! Files standing in for sound cards: a thread per side calls the same
//! callbacks a device would, with 10 ms buffers on a steady clock, so the
//! whole realtime pipeline runs (and can be measured) without a sound card.

use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ringbuf::traits::Split;
use ringbuf::{HeapCons, HeapProd, HeapRb};

use crate::callbacks::{CaptureCallback, PlaybackCallback};
use crate::device::ring_len;
use crate::recording::Recording;
use crate::stats::Counters;
use crate::StreamError;

/// Device buffer of the file devices.
pub const FILE_BUFFER_MS: u32 = 10;

/// Sleeps until `deadline`, which advances by whole periods so the average
/// rate is exact however late a wake-up is.
fn wait_until(deadline: Instant) {
    let now = Instant::now();
    if deadline > now {
        std::thread::sleep(deadline - now);
    }
}

/// Plays `samples` (mono, `rate`) into a capture ring at `pace` times real
/// time, then `tail` of silence so the pipeline can flush.
pub struct FileCapture {
    thread: Option<JoinHandle<()>>,
    done: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    go: Arc<AtomicBool>,
}

impl FileCapture {
    /// Prepares feeding; returns the feeder and the ring it will fill once
    /// [`FileCapture::begin`] is called.
    ///
    /// # Errors
    /// The thread cannot be started.
    pub fn start(
        samples: Vec<f32>,
        rate: u32,
        pace: f64,
        tail: Duration,
        ring_ms: u32,
        counters: Arc<Counters>,
    ) -> Result<(Self, HeapCons<f32>), StreamError> {
        let (prod, cons) = HeapRb::<f32>::new(ring_len(rate, ring_ms)).split();
        let mut callback = CaptureCallback::new(prod, counters);
        let done = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let go = Arc::new(AtomicBool::new(false));
        let chunk = (rate * FILE_BUFFER_MS / 1000).max(1) as usize;
        let period = Duration::from_secs_f64(f64::from(FILE_BUFFER_MS) / 1000.0 / pace.max(1e-3));
        let tail_chunks = (tail.as_secs_f64() * 1000.0 / f64::from(FILE_BUFFER_MS)).ceil() as usize;
        let (d, s, g) = (done.clone(), stop.clone(), go.clone());
        let thread = std::thread::Builder::new()
            .name("file-capture".into())
            .spawn(move || {
                // Like a device that has not been started: nothing flows before `begin`.
                while !g.load(Relaxed) && !s.load(Relaxed) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                let silence = vec![0.0f32; chunk];
                let mut deadline = Instant::now();
                let chunks = samples.chunks(chunk).chain(std::iter::repeat_n(&silence[..], tail_chunks));
                for piece in chunks {
                    if s.load(Relaxed) {
                        break;
                    }
                    deadline += period;
                    wait_until(deadline);
                    callback.process(piece, 1);
                }
                d.store(true, Relaxed);
            })
            .map_err(|e| StreamError::Internal(format!("cannot start the file reader: {e}")))?;
        Ok((Self { thread: Some(thread), done, stop, go }, cons))
    }

    /// Starts the flow of samples.
    pub fn begin(&self) {
        self.go.store(true, Relaxed);
    }

    /// True once the file and its tail have been fed.
    pub fn is_done(&self) -> bool {
        self.done.load(Relaxed)
    }
}

impl Drop for FileCapture {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Pulls from a playback ring at `pace` times real time into a [`Recording`].
pub struct FilePlayback {
    thread: Option<JoinHandle<Recording>>,
    stop: Arc<AtomicBool>,
    go: Arc<AtomicBool>,
    pub rate: u32,
}

impl FilePlayback {
    /// Prepares pulling; returns the puller and the ring to fill once
    /// [`FilePlayback::begin`] is called.
    ///
    /// # Errors
    /// The thread cannot be started.
    pub fn start(
        rate: u32,
        pace: f64,
        ring_ms: u32,
        counters: Arc<Counters>,
    ) -> Result<(Self, HeapProd<f32>), StreamError> {
        let (prod, cons) = HeapRb::<f32>::new(ring_len(rate, ring_ms)).split();
        let mut callback = PlaybackCallback::new(cons, counters);
        let stop = Arc::new(AtomicBool::new(false));
        let go = Arc::new(AtomicBool::new(false));
        let chunk = (rate * FILE_BUFFER_MS / 1000).max(1) as usize;
        let period = Duration::from_secs_f64(f64::from(FILE_BUFFER_MS) / 1000.0 / pace.max(1e-3));
        let (s, g) = (stop.clone(), go.clone());
        let thread = std::thread::Builder::new()
            .name("file-playback".into())
            .spawn(move || {
                // The file's time starts with the call's, so its leading silence is the delay.
                while !g.load(Relaxed) && !s.load(Relaxed) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                let mut out = Recording::default();
                let mut buffer = vec![0.0f32; chunk];
                let mut deadline = Instant::now();
                while !s.load(Relaxed) {
                    deadline += period;
                    wait_until(deadline);
                    callback.process(&mut buffer, 1);
                    out.extend(&buffer);
                }
                out
            })
            .map_err(|e| StreamError::Internal(format!("cannot start the file writer: {e}")))?;
        Ok((Self { thread: Some(thread), stop, go, rate }, prod))
    }

    /// Starts pulling samples.
    pub fn begin(&self) {
        self.go.store(true, Relaxed);
    }

    /// Stops and returns everything played.
    pub fn finish(mut self) -> Recording {
        self.stop.store(true, Relaxed);
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or_default()
    }
}

impl Drop for FilePlayback {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 32, item 3: a receiver with nothing to play, writing to a
    /// file, does not grow while it waits.
    #[test]
    fn a_file_output_waiting_for_audio_does_not_grow() {
        let counters = Arc::new(Counters::default());
        // 100 times real time: a second is 100 s of waiting, and even a busy machine plays 20 of them.
        let (puller, _ring) = FilePlayback::start(16_000, 100.0, 500, counters).expect("start");
        puller.begin();
        std::thread::sleep(Duration::from_secs(1));
        let recording = puller.finish();
        assert!(recording.len() >= 16_000 * 20, "{} samples", recording.len());
        assert!(recording.heap_bytes() < 64 * 1024, "{} bytes for {} samples", recording.heap_bytes(), recording.len());
    }
}
