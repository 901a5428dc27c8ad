//! The control loop of a running call: notices, faults, a stalled device,
//! the stop conditions and the status line, then the orderly end.

use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use super::ends::{CaptureEnd, PlaybackEnd};
use super::{CallOptions, Report, Summary};
use crate::device::DeviceFault;
use crate::stats::{Counters, Snapshot, StatusLine};
use crate::StreamError;

/// How often the control loop looks at the call.
const TICK: Duration = Duration::from_millis(20);
/// A device silent this long has stopped (the longest buffers are far shorter).
const STALL: Duration = Duration::from_secs(3);

/// Everything a running call holds, and the control loop over it.
pub(super) struct Call {
    pub counters: Arc<Counters>,
    pub fault: DeviceFault,
    pub stop: Arc<AtomicBool>,
    pub threads: Vec<JoinHandle<Result<(), StreamError>>>,
    pub capture: Option<CaptureEnd>,
    pub playback: Option<PlaybackEnd>,
    pub notices: Receiver<String>,
    pub input: String,
    pub output: String,
    pub algorithmic_ms: f64,
}

/// Notices a device that stopped moving samples without saying why.
struct Watchdog {
    captured: (u64, Instant),
    played: (u64, Instant),
}

impl Watchdog {
    fn new(counters: &Counters) -> Self {
        let now = Instant::now();
        let s = counters.snapshot();
        Self { captured: (s.captured, now), played: (s.played, now) }
    }

    fn check(&mut self, counters: &Counters, capture: bool, playback: bool) -> Option<String> {
        let s = counters.snapshot();
        let now = Instant::now();
        for (value, last, watched, what) in
            [(s.captured, &mut self.captured, capture, "input"), (s.played, &mut self.played, playback, "output")]
        {
            if value != last.0 {
                *last = (value, now);
            } else if watched && now - last.1 > STALL {
                return Some(format!(
                    "the {what} device stopped moving audio for {} s (unplugged, or taken by another program?)",
                    STALL.as_secs()
                ));
            }
        }
        None
    }
}

/// Notices said once a call, and the jitter buffer's growth said as it happens.
#[derive(Default)]
struct Told {
    refusal: bool,
    input_paced: bool,
    output_paced: bool,
    /// Times the jitter buffer had grown when last said, and when.
    grown: (u64, Option<Instant>),
}

/// Least time between two notices of the jitter buffer growing: after a
/// burst of late frames it grows a frame at a time.
const GROWTH_NOTICE_EVERY: Duration = Duration::from_secs(1);

impl Told {
    /// Reports what the counters newly show: realtime refused, a device
    /// without a clock.
    fn check(&mut self, counters: &Counters, report: &mut dyn FnMut(&str)) {
        let now = counters.snapshot();
        if now.stretched > self.grown.0 && self.grown.1.is_none_or(|at| at.elapsed() >= GROWTH_NOTICE_EVERY) {
            // It starts at the smallest depth and grows only for frames that came after their turn.
            report(&format!(
                "notice: {} frame{} came too late so far: the jitter buffer grew to {} frame{}",
                now.late,
                if now.late == 1 { "" } else { "s" },
                now.jitter_target_frames,
                if now.jitter_target_frames == 1 { "" } else { "s" },
            ));
            self.grown = (now.stretched, Some(Instant::now()));
        }
        if !self.refusal {
            if let Some(refused) = counters.realtime_refusal.message() {
                report(&format!("notice: {refused}"));
                self.refusal = true;
            }
        }
        for (told, paced, what) in [
            (&mut self.input_paced, &counters.input_paced, "input"),
            (&mut self.output_paced, &counters.output_paced, "output"),
        ] {
            if !*told && paced.load(Relaxed) {
                *told = true;
                report(&format!(
                    "notice: the {what} device moves audio faster than real time (a device without a clock, \
                     such as ALSA's null, which captures silence and plays nowhere): held to real time"
                ));
            }
        }
    }
}

/// Whether audio goes through the codec, so that its delay is the codec's:
/// once frames are decoded, or for a sender alone, once packets leave.
fn flowing(now: &Snapshot, receives: bool) -> bool {
    if receives {
        now.frames_decoded > 0
    } else {
        now.packets_sent > 0
    }
}

/// What the call has been doing since it started, for the stop conditions.
struct Progress {
    started: Instant,
    /// Packets accepted, and when that count last changed (the start before the first).
    packets: (u64, Instant),
    streams_ended: u64,
}

impl Call {
    fn capture_is_device(&self) -> bool {
        matches!(self.capture, Some(CaptureEnd::Device(_)))
    }

    fn playback_is_device(&self) -> bool {
        matches!(self.playback, Some(PlaybackEnd::Device(_)))
    }

    /// Whether the call sends packets (it captures) and receives them (it plays).
    fn sides(&self) -> (bool, bool) {
        (self.capture.is_some(), self.playback.is_some())
    }

    /// Why the call should end now, if it should.
    fn should_end(
        &mut self,
        options: &CallOptions,
        user_stop: &AtomicBool,
        now: &Snapshot,
        progress: &mut Progress,
        watchdog: &mut Watchdog,
        report: Report,
    ) -> Option<Result<&'static str, StreamError>> {
        let fault = self.fault.fatal.lock().ok().and_then(|f| f.clone());
        if let Some(fault) = fault {
            return Some(Err(StreamError::Device(format!("{fault} (the device stopped or went away)"))));
        }
        if let Some(stalled) = watchdog.check(&self.counters, self.capture_is_device(), self.playback_is_device()) {
            return Some(Err(StreamError::Device(stalled)));
        }
        if let Some(i) = self.threads.iter().position(|t| t.is_finished()) {
            let t = self.threads.swap_remove(i);
            return Some(match t.join() {
                Ok(Err(e)) => Err(e),
                Err(_) => Err(StreamError::Internal("a codec thread panicked".into())),
                Ok(Ok(())) => Ok("stopped"),
            });
        }
        if user_stop.load(Relaxed) {
            return Some(Ok("stopped"));
        }
        if matches!(&self.capture, Some(CaptureEnd::File(f)) if f.is_done()) {
            return Some(Ok("end of input"));
        }
        if options.duration.is_some_and(|d| progress.started.elapsed() >= d) {
            return Some(Ok("duration reached"));
        }
        if now.streams_ended > progress.streams_ended {
            progress.streams_ended = now.streams_ended;
            if options.idle_stop.is_some() {
                return Some(Ok("the sender ended the stream"));
            }
            report("notice: the sender ended the stream; listening for the next (Ctrl-C to stop)");
        }
        if now.packets_received != progress.packets.0 {
            progress.packets = (now.packets_received, Instant::now());
        } else if let Some(idle) = options.idle_stop {
            let counting = now.packets_received > 0 || options.idle_from_start;
            if counting && progress.packets.1.elapsed() >= idle {
                return Some(Ok(if now.packets_received > 0 { "no more packets" } else { "no packet came" }));
            }
        }
        None
    }

    pub(super) fn run(
        mut self,
        options: &CallOptions,
        user_stop: &AtomicBool,
        report: Report,
    ) -> Result<Summary, StreamError> {
        if let Some(PlaybackEnd::File(puller, _)) = &self.playback {
            puller.begin();
        }
        if let Some(capture) = &self.capture {
            if let Err(e) = capture.begin() {
                self.stop.store(true, Relaxed);
                return Err(e);
            }
        }
        let (sends, receives) = self.sides();
        let started = Instant::now();
        let mut progress = Progress { started, packets: (0, started), streams_ended: 0 };
        let mut last_report = started;
        let mut before = self.counters.snapshot();
        let mut max_delay_ms = 0.0f64;
        let mut delays_ms = Vec::new();
        let mut watchdog = Watchdog::new(&self.counters);
        let mut told = Told::default();
        let result = loop {
            std::thread::sleep(TICK);
            while let Ok(notice) = self.notices.try_recv() {
                report(&format!("notice: {notice}"));
            }
            told.check(&self.counters, report);
            if let Some(warning) = self.fault.warning.lock().ok().and_then(|mut w| w.take()) {
                report(&format!("notice: {warning}"));
            }
            let now = self.counters.snapshot();
            if let Some(end) = self.should_end(options, user_stop, &now, &mut progress, &mut watchdog, report) {
                break end;
            }
            let flowing = flowing(&now, receives);
            if flowing {
                max_delay_ms = max_delay_ms.max(now.codec_delay_ms);
            }
            if let Some(every) = options.report_every {
                let elapsed = last_report.elapsed();
                if elapsed >= every {
                    let seconds = elapsed.as_secs_f64();
                    report(&StatusLine { now: &now, before: &before, seconds, sends, receives }.to_string());
                    if flowing {
                        delays_ms.push(now.codec_delay_ms);
                    }
                    before = now;
                    last_report = Instant::now();
                }
            }
        };
        self.counters.stopping.store(true, Relaxed);
        self.stop.store(true, Relaxed);
        let mut result = result;
        for t in self.threads.drain(..) {
            if let Ok(Err(e)) = t.join() {
                result = result.and(Err(e));
            }
        }
        drop(self.capture.take());
        if let Some(playback) = self.playback.take() {
            playback.finish(result.is_ok())?;
        }
        let ended = result?;
        let stats = self.counters.snapshot();
        // The last frames (a sender's flush) may wait longest: "at most" includes them.
        if flowing(&stats, receives) {
            max_delay_ms = max_delay_ms.max(stats.codec_delay_ms);
        }
        Ok(Summary {
            stats,
            seconds: started.elapsed().as_secs_f64(),
            algorithmic_ms: self.algorithmic_ms,
            max_delay_ms,
            delays_ms,
            input: self.input,
            output: self.output,
            ended,
            sends,
            receives,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jitter_buffer_growing_is_said_at_most_once_a_second() {
        let counters = Counters::default();
        let mut told = Told::default();
        let mut said = Vec::new();
        told.check(&counters, &mut |line| said.push(line.to_owned()));
        assert!(said.is_empty(), "{said:?}");
        counters.late.store(2, Relaxed);
        counters.stretched.store(1, Relaxed);
        counters.jitter_target_frames.store(2, Relaxed);
        told.check(&counters, &mut |line| said.push(line.to_owned()));
        assert_eq!(said, ["notice: 2 frames came too late so far: the jitter buffer grew to 2 frames"]);
        // Growing again at once (a burst of late frames) is not said again within the second.
        counters.stretched.store(2, Relaxed);
        told.check(&counters, &mut |line| said.push(line.to_owned()));
        assert_eq!(said.len(), 1, "{said:?}");
    }
}
