//! Counters shared by the pipeline's threads, and the once-a-second status line.

use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64};

use crate::priority::Refusal;

/// Everything the pipeline counts. Written with relaxed atomics from the
/// callbacks and the codec threads; read by whoever reports.
#[derive(Debug, Default)]
pub struct Counters {
    /// Samples (mono, device rate) the capture callback received.
    pub captured: AtomicU64,
    /// Capture callbacks that found the ring full (the codec thread fell behind).
    pub capture_overruns: AtomicU64,
    pub capture_dropped: AtomicU64,
    /// Captured samples skipped because too much was waiting (a burst from the device).
    pub capture_skipped: AtomicU64,
    /// Samples (per channel, device rate) the playback callback consumed.
    pub played: AtomicU64,
    /// Playback callbacks that found the ring short after it had started.
    pub playback_underruns: AtomicU64,
    pub underrun_samples: AtomicU64,
    /// Set when the call ends: the device goes on asking for audio while the
    /// codec threads wind down, and what it finds missing then is the end
    /// of the call, not an underrun.
    pub stopping: AtomicBool,
    /// Xruns the device backend itself reported.
    pub device_xruns: AtomicU64,
    /// Other errors the backend reported and went on after.
    pub device_errors: AtomicU64,
    /// Set once the input (output) device ran faster than real time and was
    /// held to it (see [`crate::pacing`]).
    pub input_paced: AtomicBool,
    pub output_paced: AtomicBool,
    pub packets_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub send_errors: AtomicU64,
    pub packets_received: AtomicU64,
    /// Streams whose sender said goodbye and whose last frame has played out.
    pub streams_ended: AtomicU64,
    pub bytes_received: AtomicU64,
    /// Datagrams that are not packets of this format (dropped).
    pub foreign: AtomicU64,
    /// Packets of another model (dropped).
    pub wrong_model: AtomicU64,
    /// RTP packets of another source than the call's (dropped).
    pub other_source: AtomicU64,
    /// SRTP packets that failed authentication (dropped).
    pub unauthenticated: AtomicU64,
    /// SRTP packets received before (dropped).
    pub replayed: AtomicU64,
    /// Packets of this model far from the playout point, and end markers
    /// that do not follow what was received (dropped).
    pub stale: AtomicU64,
    /// Frames decoded from packets.
    pub frames_decoded: AtomicU64,
    /// Frames the jitter buffer never got in time, stood in for by concealment.
    pub concealed: AtomicU64,
    /// Frames concealed to grow the jitter buffer.
    pub stretched: AtomicU64,
    /// Packets (frames) that came after their turn.
    pub late: AtomicU64,
    pub duplicates: AtomicU64,
    /// Frames skipped to shrink the jitter buffer.
    pub dropped_for_delay: AtomicU64,
    pub jitter_depth_frames: AtomicU64,
    pub jitter_target_frames: AtomicU64,
    /// Network jitter estimate, microseconds.
    pub jitter_us: AtomicU64,
    /// The model's algorithmic latency (frame, window, overlap), microseconds.
    pub model_delay_us: AtomicU64,
    /// Audio waiting on the sending side (capture ring, resampler), microseconds.
    pub send_delay_us: AtomicU64,
    /// Audio waiting on the receiving side (jitter buffer, resampler, playback ring), microseconds.
    pub recv_delay_us: AtomicU64,
    /// Playback resampling ratio correction for clock drift, parts per million above 1e6.
    pub drift_ppm: AtomicU64,
    /// Peak level of the decoded audio since the last report, as f32 bits.
    pub output_peak_bits: AtomicU64,
    /// Whether a thread of the call was refused realtime scheduling.
    pub realtime_refusal: Refusal,
}

/// A copy of the counters at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Snapshot {
    pub captured: u64,
    /// Captured samples skipped because more than the backlog bound waited.
    pub capture_skipped: u64,
    pub capture_overruns: u64,
    pub played: u64,
    pub playback_underruns: u64,
    pub underrun_samples: u64,
    pub device_xruns: u64,
    pub device_errors: u64,
    pub packets_sent: u64,
    pub bytes_sent: u64,
    pub send_errors: u64,
    pub packets_received: u64,
    pub streams_ended: u64,
    pub bytes_received: u64,
    pub foreign: u64,
    pub wrong_model: u64,
    pub other_source: u64,
    pub unauthenticated: u64,
    pub replayed: u64,
    pub stale: u64,
    pub frames_decoded: u64,
    pub concealed: u64,
    pub stretched: u64,
    pub late: u64,
    pub duplicates: u64,
    pub dropped_for_delay: u64,
    pub jitter_depth_frames: u64,
    pub jitter_target_frames: u64,
    pub jitter_ms: f64,
    pub codec_delay_ms: f64,
    pub drift_ppm: i64,
}

impl Counters {
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            captured: self.captured.load(Relaxed),
            capture_skipped: self.capture_skipped.load(Relaxed),
            capture_overruns: self.capture_overruns.load(Relaxed),
            played: self.played.load(Relaxed),
            playback_underruns: self.playback_underruns.load(Relaxed),
            underrun_samples: self.underrun_samples.load(Relaxed),
            device_xruns: self.device_xruns.load(Relaxed),
            device_errors: self.device_errors.load(Relaxed),
            packets_sent: self.packets_sent.load(Relaxed),
            bytes_sent: self.bytes_sent.load(Relaxed),
            send_errors: self.send_errors.load(Relaxed),
            packets_received: self.packets_received.load(Relaxed),
            streams_ended: self.streams_ended.load(Relaxed),
            bytes_received: self.bytes_received.load(Relaxed),
            foreign: self.foreign.load(Relaxed),
            wrong_model: self.wrong_model.load(Relaxed),
            other_source: self.other_source.load(Relaxed),
            unauthenticated: self.unauthenticated.load(Relaxed),
            replayed: self.replayed.load(Relaxed),
            stale: self.stale.load(Relaxed),
            frames_decoded: self.frames_decoded.load(Relaxed),
            concealed: self.concealed.load(Relaxed),
            stretched: self.stretched.load(Relaxed),
            late: self.late.load(Relaxed),
            duplicates: self.duplicates.load(Relaxed),
            dropped_for_delay: self.dropped_for_delay.load(Relaxed),
            jitter_depth_frames: self.jitter_depth_frames.load(Relaxed),
            jitter_target_frames: self.jitter_target_frames.load(Relaxed),
            jitter_ms: self.jitter_us.load(Relaxed) as f64 / 1000.0,
            codec_delay_ms: (self.model_delay_us.load(Relaxed)
                + self.send_delay_us.load(Relaxed)
                + self.recv_delay_us.load(Relaxed)) as f64
                / 1000.0,
            drift_ppm: self.drift_ppm.load(Relaxed) as i64 - 1_000_000,
        }
    }

    pub fn set_drift_ppm(&self, ppm: i64) {
        self.drift_ppm.store((ppm + 1_000_000).max(0) as u64, Relaxed);
    }

    /// Takes the peak output level since the last call.
    pub fn take_output_peak(&self) -> f32 {
        f32::from_bits(self.output_peak_bits.swap(0, Relaxed) as u32)
    }

    pub fn note_output_peak(&self, peak: f32) {
        self.output_peak_bits.fetch_max(u64::from(peak.abs().to_bits()), Relaxed);
    }
}

impl Snapshot {
    /// Xruns of either device.
    pub fn xruns(&self) -> u64 {
        self.capture_overruns + self.playback_underruns + self.device_xruns
    }
}

/// The status line: the figures over the last interval and the running
/// totals, of the sides the call has.
pub struct StatusLine<'a> {
    pub now: &'a Snapshot,
    pub before: &'a Snapshot,
    pub seconds: f64,
    /// The call sends packets: its bitrate out.
    pub sends: bool,
    /// The call receives packets: its bitrate in, jitter buffer, concealment and drops.
    pub receives: bool,
}

impl fmt::Display for StatusLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (n, b) = (self.now, self.before);
        let secs = self.seconds.max(1e-3);
        let kbps_sent = n.bytes_sent.saturating_sub(b.bytes_sent) as f64 * 8.0 / secs / 1000.0;
        let kbps_recv = n.bytes_received.saturating_sub(b.bytes_received) as f64 * 8.0 / secs / 1000.0;
        match (self.sends, self.receives) {
            (true, true) => write!(f, "sent {kbps_sent:.2} kbps, received {kbps_recv:.2} kbps")?,
            (true, false) => write!(f, "sent {kbps_sent:.2} kbps")?,
            (false, _) => write!(f, "received {kbps_recv:.2} kbps")?,
        }
        write!(f, " | delay {:.0} ms", n.codec_delay_ms)?;
        if self.receives {
            write!(
                f,
                " (jitter buffer {}/{} frames, jitter {:.1} ms)",
                n.jitter_depth_frames, n.jitter_target_frames, n.jitter_ms
            )?;
            write!(f, " | concealed {} late {}", n.concealed, n.late)?;
            if n.foreign + n.wrong_model + n.stale > 0 {
                write!(f, " foreign {} other-model {} stale {}", n.foreign, n.wrong_model, n.stale)?;
            }
            if n.other_source + n.unauthenticated + n.replayed > 0 {
                write!(
                    f,
                    " other-source {} unauthenticated {} replayed {}",
                    n.other_source, n.unauthenticated, n.replayed
                )?;
            }
        }
        if self.sends && n.send_errors > 0 {
            write!(f, " | send errors {}", n.send_errors)?;
        }
        write!(f, " | xruns {}", n.xruns())?;
        if n.device_errors > 0 {
            write!(f, " device errors {}", n.device_errors)?;
        }
        if n.drift_ppm != 0 {
            write!(f, " | drift {:+} ppm", n.drift_ppm)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_reports_rates_over_the_interval() {
        let c = Counters::default();
        let before = c.snapshot();
        c.bytes_sent.store(500, Relaxed);
        c.set_drift_ppm(-120);
        c.capture_overruns.store(1, Relaxed);
        let now = c.snapshot();
        let line = StatusLine { now: &now, before: &before, seconds: 2.0, sends: true, receives: true }.to_string();
        assert!(line.starts_with("sent 2.00 kbps, received 0.00 kbps"), "{line}");
        assert!(line.contains("xruns 1"), "{line}");
        assert!(line.contains("drift -120 ppm"), "{line}");
        c.note_output_peak(-0.5);
        c.note_output_peak(0.25);
        assert_eq!(c.take_output_peak(), 0.5);
        assert_eq!(c.take_output_peak(), 0.0);
    }

    /// Issue 32, item 5: a sender's line has no receiving figures, a
    /// receiver's no sending ones.
    #[test]
    fn status_line_shows_the_sides_the_call_has() {
        let c = Counters::default();
        let before = c.snapshot();
        c.bytes_sent.store(1000, Relaxed);
        c.bytes_received.store(250, Relaxed);
        let now = c.snapshot();
        let sender = StatusLine { now: &now, before: &before, seconds: 1.0, sends: true, receives: false }.to_string();
        assert!(sender.starts_with("sent 8.00 kbps | delay"), "{sender}");
        for absent in ["received", "jitter", "concealed", "late"] {
            assert!(!sender.contains(absent), "{sender}");
        }
        let receiver =
            StatusLine { now: &now, before: &before, seconds: 1.0, sends: false, receives: true }.to_string();
        assert!(receiver.starts_with("received 2.00 kbps | delay"), "{receiver}");
        assert!(receiver.contains("jitter buffer") && receiver.contains("concealed 0 late 0"), "{receiver}");
        assert!(!receiver.contains("sent"), "{receiver}");
    }
}
