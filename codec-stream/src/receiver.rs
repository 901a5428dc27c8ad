//! The receiving half of a call: datagrams to the playback ring.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use codec_core::bitstream::Packet;
use codec_core::{ModelPackage, RuntimeOptions};
use ringbuf::traits::{Observer, Producer};
use ringbuf::HeapProd;
use rubato::{Resampler, SincFixedIn, SincInterpolationParameters, SincInterpolationType, WindowFunction};

use crate::frame_codec::{CodecChoice, FrameDecoder, FrameLayout};
use crate::jitter::{JitterBuffer, JitterConfig, Playout};
use crate::playout_clock::PlayoutClock;
use crate::rtp::{Rejected, RtpIn, RtpSettings};
use crate::stats::Counters;
use crate::StreamError;

/// Largest correction of the playback rate for clock drift (0.5 %: far above
/// real crystals, far below an audible pitch change).
const MAX_DRIFT: f64 = 0.005;
/// Proportional gain: rate correction per frame of waiting-time error.
const DRIFT_KP: f64 = 0.004;
/// Integral gain per frame: removes the remaining error over some seconds.
const DRIFT_KI: f64 = 1e-5;
/// Smoothing of the waiting time the drift control sees (about 2 s at 50 frames/s).
const WAIT_SMOOTHING: f64 = 0.01;
/// Frames whose waiting time is averaged into the reference.
const WAIT_REFERENCE_FRAMES: u32 = 25;
/// Arrival times remembered, by frame index modulo this.
const ARRIVALS: usize = 128;
/// The least time the first frame of a stream waits before it plays. The
/// drift control holds every later frame at the wait the first ones had:
/// started the instant a frame arrived, later frames would be due the
/// moment they arrive and the smallest scheduling hiccup would make them
/// late. Costs at most this much delay, and on average far less (only
/// when the device's pull happens to come within it of an arrival).
const START_MARGIN_MS: f64 = 5.0;

/// What became of one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// A packet of this stream, handed to the jitter buffer.
    Accepted,
    /// Not a packet of this format: not RTP, another payload type, or not
    /// whole frames of this model's layout.
    Foreign,
    /// A packet of another model (its tag).
    OtherModel(u32),
    /// A packet of another RTP source (its SSRC) than the call's.
    OtherSource(u32),
    /// An SRTP packet that failed authentication.
    Unauthenticated,
    /// An SRTP packet already received.
    Replayed,
    /// A packet of this model far from the playout point (replayed,
    /// misrouted or forged), or an end-of-stream marker that does not follow
    /// what was received: dropped.
    Stale,
    /// The sender's end-of-stream marker.
    End,
}

/// Sorts packets through the jitter buffer, decodes or conceals one frame per
/// playback frame period, resamples to the device rate (correcting for clock
/// drift) and keeps the playback ring filled to its target.
pub struct FrameReceiver {
    jitter: JitterBuffer,
    decoder: FrameDecoder,
    rtp: RtpIn,
    packet: Packet,
    frame_codes: Vec<u16>,
    pcm: Vec<f32>,
    resampler: SincFixedIn<f32>,
    resampled: Vec<f32>,
    ring: HeapProd<f32>,
    clock: PlayoutClock,
    target_fill: usize,
    hop: usize,
    device_rate: u32,
    model_rate: u32,
    /// When each recent frame arrived: (frame index, ms, frames ahead of it
    /// in its packet).
    arrivals: Vec<(u32, f64, u8)>,
    drift: DriftControl,
    /// Frames the stream carried, once its sender said goodbye.
    end_frame: Option<u32>,
    /// When the stream's last sample leaves the playback ring, once known.
    drained_at_ms: Option<f64>,
    counters: Arc<Counters>,
}

impl FrameReceiver {
    /// A receiver of packets framed as `rtp` says, playing at
    /// `device_rate` and keeping `target_fill` samples in the playback ring
    /// (the device's buffer and a little margin).
    ///
    /// # Errors
    /// A stage count the model does not have, a decoder graph that does not
    /// load, a rate that cannot be resampled, or a payload type out of range.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        package: &ModelPackage,
        options: RuntimeOptions,
        stages: usize,
        rtp: &RtpSettings,
        device_rate: u32,
        ring: HeapProd<f32>,
        target_fill: usize,
        counters: Arc<Counters>,
    ) -> Result<Self, StreamError> {
        Self::with_codec(CodecChoice::Model, package, options, stages, rtp, device_rate, ring, target_fill, counters)
    }

    /// As [`FrameReceiver::new`], with the codec `choice` (the model, or the
    /// pass-through that measures the path without it).
    ///
    /// # Errors
    /// As [`FrameReceiver::new`].
    #[allow(clippy::too_many_arguments)]
    pub fn with_codec(
        choice: CodecChoice,
        package: &ModelPackage,
        options: RuntimeOptions,
        stages: usize,
        rtp: &RtpSettings,
        device_rate: u32,
        ring: HeapProd<f32>,
        target_fill: usize,
        counters: Arc<Counters>,
    ) -> Result<Self, StreamError> {
        let mut decoder = FrameDecoder::open(choice, package, options, stages)?;
        let layout = FrameLayout::of(choice, package, stages);
        // The first runs of a network are slow: done now, they do not delay the call's start.
        let mut scratch = Vec::new();
        for _ in 0..4 {
            decoder.conceal(&mut scratch)?;
        }
        decoder.reset();
        let per_frame = decoder.codes_per_frame();
        let hop = decoder.hop();
        let model_rate = layout.rate;
        let params = SincInterpolationParameters {
            sinc_len: 64,
            f_cutoff: 0.95,
            oversampling_factor: 128,
            interpolation: SincInterpolationType::Linear,
            window: WindowFunction::BlackmanHarris2,
        };
        let ratio = f64::from(device_rate) / f64::from(model_rate);
        let resampler = SincFixedIn::<f32>::new(ratio, 1.0 + 2.0 * MAX_DRIFT, params, hop, 1)
            .map_err(|e| StreamError::Device(format!("cannot convert {model_rate} Hz to {device_rate} Hz: {e}")))?;
        let resampled = vec![0.0; resampler.output_frames_max()];
        let codebooks = u8::try_from(per_frame).map_err(|_| StreamError::Internal("too many codebooks".into()))?;
        Ok(Self {
            jitter: JitterBuffer::new(JitterConfig::new(per_frame)),
            decoder,
            rtp: RtpIn::new(rtp, layout.tag, layout.bits, codebooks, hop)?,
            packet: Packet { codes: Vec::with_capacity(per_frame * 50), ..Packet::default() },
            frame_codes: vec![0; per_frame],
            pcm: Vec::with_capacity(hop * 2),
            resampler,
            resampled,
            ring,
            clock: PlayoutClock::new(device_rate),
            target_fill,
            hop,
            device_rate,
            model_rate,
            arrivals: vec![(u32::MAX, f64::NAN, 0); ARRIVALS],
            drift: DriftControl::default(),
            end_frame: None,
            drained_at_ms: None,
            counters,
        })
    }

    /// Takes one datagram that arrived at `now_ms` (any monotonic clock).
    pub fn accept(&mut self, datagram: &[u8], now_ms: f64) -> Arrival {
        self.counters.bytes_received.fetch_add(datagram.len() as u64, Relaxed);
        let next_frame = self.jitter.next_frame_index().unwrap_or(0);
        if let Err(rejected) = self.rtp.read(datagram, now_ms, next_frame, &mut self.packet) {
            let (counter, arrival) = match rejected {
                Rejected::Foreign => (&self.counters.foreign, Arrival::Foreign),
                Rejected::OtherModel(tag) => (&self.counters.wrong_model, Arrival::OtherModel(tag)),
                Rejected::OtherSource(ssrc) => (&self.counters.other_source, Arrival::OtherSource(ssrc)),
                Rejected::Unauthenticated => (&self.counters.unauthenticated, Arrival::Unauthenticated),
                Rejected::Replayed => (&self.counters.replayed, Arrival::Replayed),
            };
            counter.fetch_add(1, Relaxed);
            return arrival;
        }
        if self.packet.is_end_of_stream() {
            // One stale or forged goodbye must not end a call that goes on.
            if !self.jitter.is_plausible_end(self.packet.frame_index) {
                self.counters.stale.fetch_add(1, Relaxed);
                return Arrival::Stale;
            }
            self.end_frame.get_or_insert(self.packet.frame_index);
            self.rtp.source_ended();
            return Arrival::End;
        }
        let outcome = self.jitter.push(&self.packet, now_ms);
        let last = self.packet.frame_index.wrapping_add(u32::from(self.packet.frames).saturating_sub(1));
        let beyond_end = self.end_frame.is_some_and(|end| last.wrapping_sub(end) as i32 >= 0);
        if outcome.resync || (outcome.accepted > 0 && beyond_end) {
            // A new stream after an ended one (the sender started again), or
            // frames after the end marker: it was not the end.
            self.end_frame = None;
            self.drained_at_ms = None;
        }
        if outcome.accepted == 0 && outcome.duplicate == 0 && outcome.late == 0 {
            // Not counted as received, or a trickle of them would keep an
            // ended call from its idle stop.
            self.counters.stale.fetch_add(1, Relaxed);
            return Arrival::Stale;
        }
        self.counters.packets_received.fetch_add(1, Relaxed);
        if outcome.accepted > 0 {
            for i in 0..u32::from(self.packet.frames) {
                let index = self.packet.frame_index.wrapping_add(i);
                if let Some(slot) = self.arrivals.get_mut(index as usize % ARRIVALS) {
                    *slot = (index, now_ms, i as u8);
                }
            }
        }
        Arrival::Accepted
    }

    /// Plays frames out of the jitter buffer until the playback ring holds its
    /// target; `now_ms` is on the clock of [`FrameReceiver::accept`]. Returns
    /// the frames produced.
    ///
    /// # Errors
    /// A decoder network that fails to run.
    pub fn fill(&mut self, now_ms: f64) -> Result<usize, StreamError> {
        let mut frames = 0;
        // Judged by the steady clock, so that frames leave the jitter buffer
        // one frame period apart whatever size the device's requests are.
        let mut level = self.clock.occupied(self.ring.occupied_len(), now_ms);
        // A frame's worth of room is needed, or the ring would overflow.
        while level < self.target_fill as f64 && self.ring.vacant_len() >= self.resampled.len() {
            if let Some(wait_ms) = self.start_wait(now_ms) {
                // Silence in front of the first frame, so that the ring next
                // runs short when the margin is up: the device's pull, and
                // every later pop, move behind the arrivals.
                let short = self.target_fill as f64 - level;
                let n = (short + wait_ms * f64::from(self.device_rate) / 1000.0) as usize;
                let pushed = self.ring.push_iter(std::iter::repeat_n(0.0, n.min(self.ring.vacant_len())));
                self.clock.pushed(pushed);
                break;
            }
            let pushed = self.play_one(now_ms)?;
            self.clock.pushed(pushed);
            level += pushed as f64;
            frames += 1;
            if pushed == 0 {
                break;
            }
        }
        self.counters.recv_delay_us.store(self.delay_us(), Relaxed);
        if self.drained_at_ms.is_some_and(|at| now_ms >= at) {
            self.drained_at_ms = Some(f64::INFINITY);
            self.counters.streams_ended.fetch_add(1, Relaxed);
        }
        Ok(frames)
    }

    /// Whether every frame of an ended stream has been played (or
    /// concealed, if lost): what plays now is silence, not loss.
    fn stream_played(&self) -> bool {
        let Some(end) = self.end_frame else { return false };
        match self.jitter.next_frame_index() {
            Some(next) => next.wrapping_sub(end) as i32 >= 0,
            None => true,
        }
    }

    /// How much longer playout must wait to start, if the next pop would
    /// start it with a frame that arrived less than [`START_MARGIN_MS`] ago.
    fn start_wait(&self, now_ms: f64) -> Option<f64> {
        if !self.jitter.starts_at_next_pop() {
            return None;
        }
        let index = self.jitter.next_frame_index()?;
        let (i, at, _) = self.arrivals.get(index as usize % ARRIVALS)?;
        let wait = START_MARGIN_MS - (now_ms - at);
        (*i == index && wait >= 0.5).then_some(wait)
    }

    /// Plays one frame period into the ring; returns the samples written.
    fn play_one(&mut self, now_ms: f64) -> Result<usize, StreamError> {
        self.pcm.clear();
        let mut waited = None;
        if self.stream_played() {
            if self.drained_at_ms.is_none() {
                let queued = self.ring.occupied_len() + self.resampler.output_delay();
                self.drained_at_ms = Some(now_ms + queued as f64 * 1000.0 / f64::from(self.device_rate));
            }
            self.pcm.resize(self.hop, 0.0);
            return self.resample_into_ring();
        }
        if self.end_frame.is_some() {
            // A stream shorter than the jitter buffer's target would never start.
            self.jitter.start_now();
        }
        match self.jitter.pop(&mut self.frame_codes) {
            Playout::Frame { index } => {
                self.decoder.push(&self.frame_codes, &mut self.pcm)?;
                self.counters.frames_decoded.fetch_add(1, Relaxed);
                // Frames that came several to a packet count as arriving one
                // frame period apart, as if sent alone: otherwise the wait
                // rises through each packet and the drift control reads that
                // sawtooth as drift.
                let frame_ms = self.jitter.config().frame_ms;
                waited = self
                    .arrivals
                    .get(index as usize % ARRIVALS)
                    .filter(|(i, ..)| *i == index)
                    .map(|(_, at, ahead)| now_ms - at - f64::from(*ahead) * frame_ms);
            }
            Playout::Missing { .. } | Playout::Stretch => {
                self.decoder.conceal(&mut self.pcm)?;
            }
            Playout::Buffering => {}
        }
        // The decoder's first frames complete only padding before the signal
        // (one hop, or a hop and a half for a package synthesizing two
        // frames a token): silence ahead of what they did complete, so that
        // every frame period plays one hop and the signal stays contiguous.
        let short = self.hop.saturating_sub(self.pcm.len());
        if short > 0 {
            self.pcm.splice(0..0, std::iter::repeat_n(0.0, short));
        }
        self.steer_drift(waited);
        self.resample_into_ring()
    }

    fn resample_into_ring(&mut self) -> Result<usize, StreamError> {
        // Both callers resize to one hop: the resampler takes exactly that.
        debug_assert_eq!(self.pcm.len(), self.hop);
        let peak = self.pcm.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        self.counters.note_output_peak(peak);
        let (_, out) = self
            .resampler
            .process_into_buffer(&[&self.pcm], &mut [&mut self.resampled], None)
            .map_err(|e| StreamError::Internal(e.to_string()))?;
        Ok(self.ring.push_slice(&self.resampled[..out]))
    }

    /// Nudges the playback rate so that the sender's clock and this
    /// device's clock, which never tick at exactly the same rate, do not make
    /// the jitter buffer fill up (a fast sender) or run dry (a slow one).
    ///
    /// The measure is how long each frame waited between its arrival and its
    /// turn, less a frame period for every frame the jitter buffer inserted
    /// to grow (and plus one for every frame it dropped to shrink), so that
    /// its adaptation to jitter does not count. Drift moves that wait
    /// steadily; a PI controller holds it where playout started by
    /// resampling the output up to 0.5 % faster or slower, with no frame
    /// dropped or inserted.
    fn steer_drift(&mut self, waited_ms: Option<f64>) {
        let s = self.jitter.stats();
        self.counters.concealed.store(s.missing, Relaxed);
        self.counters.stretched.store(s.stretched, Relaxed);
        self.counters.late.store(s.late, Relaxed);
        self.counters.duplicates.store(s.duplicate, Relaxed);
        self.counters.dropped_for_delay.store(s.dropped_for_delay, Relaxed);
        self.counters.jitter_depth_frames.store(s.depth_frames as u64, Relaxed);
        self.counters.jitter_target_frames.store(s.target_delay_frames as u64, Relaxed);
        self.counters.jitter_us.store((s.jitter_ms * 1000.0) as u64, Relaxed);
        let Some(waited) = waited_ms else { return };
        let frame_ms = self.jitter.config().frame_ms;
        let shift = (s.stretched as f64 - s.dropped_for_delay as f64) * frame_ms;
        if let Some(correction) = self.drift.update((waited - shift) / frame_ms, s.resyncs) {
            if self.resampler.set_resample_ratio_relative(1.0 + correction, true).is_ok() {
                self.counters.set_drift_ppm((correction * 1e6).round() as i64);
            }
        }
    }

    /// Audio between a packet's arrival and the playback device: the jitter
    /// buffer, the resampler and the ring (the decoder's overlap is in the model's
    /// algorithmic latency).
    fn delay_us(&self) -> u64 {
        let frame_s = self.hop as f64 / f64::from(self.model_rate);
        let jitter = self.jitter.stats().depth_frames as f64 * frame_s;
        let filter = self.resampler.output_delay() as f64 / f64::from(self.device_rate);
        let ring = self.ring.occupied_len() as f64 / f64::from(self.device_rate);
        ((jitter + filter + ring) * 1e6) as u64
    }

    /// The jitter buffer's counters.
    pub fn jitter_stats(&self) -> crate::jitter::JitterStats {
        self.jitter.stats()
    }

    /// Frames concealed by the decoder so far.
    pub fn frames_concealed(&self) -> u64 {
        self.decoder.frames_concealed()
    }
}

/// The PI controller of [`FrameReceiver`]'s drift correction, on the
/// waiting time of frames (in frame periods).
#[derive(Debug, Default)]
struct DriftControl {
    /// Resync count the reference belongs to.
    resyncs: u64,
    /// Waits collected for the reference, and their sum.
    collected: u32,
    sum: f64,
    reference: Option<f64>,
    smoothed: f64,
    integral: f64,
}

impl DriftControl {
    /// Takes one frame's wait; returns the relative rate correction once the
    /// reference is set (negative: play faster).
    fn update(&mut self, wait: f64, resyncs: u64) -> Option<f64> {
        if resyncs != self.resyncs {
            *self = Self { resyncs, ..Self::default() };
        }
        let Some(reference) = self.reference else {
            self.collected += 1;
            self.sum += wait;
            if self.collected >= WAIT_REFERENCE_FRAMES {
                let r = self.sum / f64::from(self.collected);
                self.reference = Some(r);
                self.smoothed = r;
            }
            return None;
        };
        self.smoothed += WAIT_SMOOTHING * (wait - self.smoothed);
        let error = self.smoothed - reference;
        self.integral = (self.integral + DRIFT_KI * error).clamp(-MAX_DRIFT, MAX_DRIFT);
        // Frames waiting longer and longer: play faster, fewer output samples per frame.
        Some(-(DRIFT_KP * error + self.integral).clamp(-MAX_DRIFT, MAX_DRIFT))
    }
}
