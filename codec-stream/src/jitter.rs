//! The receiving side's frame scheduler: an adaptive jitter buffer.
//!
//! Packets arrive from the network in any order, some twice, some late, some
//! never; the playback clock wants exactly one frame every
//! [`frame_ms`](JitterConfig::frame_ms). [`JitterBuffer`] sits between the two:
//!
//! - [`push`](JitterBuffer::push) stores each frame of a packet under its
//!   stream frame index (`frame_index + i`), dropping (and counting)
//!   duplicates, frames already played out, and frames too far ahead;
//! - [`pop`](JitterBuffer::pop), called once per frame period by the playback
//!   clock, hands out the next frame in sequence ([`Playout::Frame`]), or says
//!   it is absent so the caller conceals it ([`Playout::Missing`]).
//!
//! Frame indices are 32-bit and compared as serial numbers (RFC 1982, as RTP
//! does), so the stream may wrap around `u32::MAX`; internally every index is
//! extended to an `i64` relative to the first packet.
//!
//! # Delay adaptation
//!
//! For every packet that arrives after playout has started the buffer records
//! its *lead*: how many pops remain before its first frame is due (0: played
//! at the next pop; negative: it came too late). Over a sliding window of
//! recent arrivals ([`window`](JitterConfig::window)) it keeps a low quantile
//! of the lead ([`late_fraction`](JitterConfig::late_fraction), 0.5 %) and the
//! maximum (the lead of the fastest packets). Then, at each pop:
//!
//! - if more than `late_fraction` of recent packets came too late (the low
//!   quantile is below `min_delay_frames - 1`), the buffer **grows** by one
//!   frame: it returns [`Playout::Stretch`] without consuming a frame (the
//!   caller extends the audio by concealment) — at most up to
//!   `max_delay_frames`;
//! - if all but `late_fraction` of recent packets had at least one frame of
//!   spare time, the buffer **shrinks** by one frame, at most once every
//!   [`shrink_interval_frames`](JitterConfig::shrink_interval_frames) pops
//!   (every other pop while more than four frames are spare, as after a
//!   stall upstream):
//!   it discards the next frame (counted in
//!   [`dropped_for_delay`](JitterStats::dropped_for_delay)) and plays the one
//!   after it.
//!
//! Only arrivals feed the estimate, so loss is not mistaken for lateness: a
//! frame that never comes is concealed once and leaves no trace in the delay,
//! however heavy the loss. A frame that comes after its turn is counted
//! [`late`](JitterStats::late) and does move the delay up.
//!
//! Only arrivals near the playout point do: a frame later than the largest
//! delay could have waited for it ([`stale`](JitterStats::stale)), or too
//! far ahead to be held ([`overflow`](JitterStats::overflow)), is a replayed,
//! misrouted or forged packet, not news about the network. It is dropped and
//! moves neither the delay nor the jitter estimate; had it counted, three
//! stale packets would have grown the delay to its maximum for the length of
//! the window, and packets at random frame indices would have sent the jitter
//! estimate to 10^10 ms. A run of such packets re-synchronises the buffer on
//! a restarted sender only if they follow one another (see
//! [`RESYNC_AFTER_PACKETS`]).
//!
//! The target delay reported in [`JitterStats::target_delay_frames`] is
//! `min_delay_frames` plus the spread of the lead over the window (the jitter
//! in frames), clamped to `[min_delay_frames, max_delay_frames]`; the buffer
//! steers its actual depth towards it.
//!
//! # Real-time use
//!
//! All storage is allocated in [`JitterBuffer::new`]; `push` and `pop` never
//! allocate.
//!
//! ```
//! use codec_core::bitstream::Packet;
//! use codec_stream::jitter::{JitterBuffer, JitterConfig, Playout};
//! let mut jb = JitterBuffer::new(JitterConfig::new(2));
//! let packet = |i: u32| Packet {
//!     seq: i, frame_index: i, model_tag: 1, bits: 10, codebooks: 2, frames: 1, codes: vec![i as u16, 7],
//! };
//! let mut out = [0u16; 2];
//! assert_eq!(jb.pop(&mut out), Playout::Buffering);
//! jb.push(&packet(0), 0.0);
//! jb.push(&packet(2), 40.0); // frame 1 is lost
//! assert_eq!(jb.pop(&mut out), Playout::Frame { index: 0 });
//! assert_eq!(out, [0, 7]);
//! assert_eq!(jb.pop(&mut out), Playout::Missing { index: 1 });
//! assert_eq!(jb.pop(&mut out), Playout::Frame { index: 2 });
//! assert_eq!(jb.stats().missing, 1);
//! ```

use codec_core::bitstream::Packet;

/// How many recently played frames are remembered to tell a duplicate from a
/// late frame (bits of [`JitterBuffer`]'s history mask).
const HISTORY: i64 = 64;

/// Spare frames above which the buffer shrinks every
/// [`FAST_SHRINK_INTERVAL`] pops instead of every `shrink_interval_frames`.
const FAST_SHRINK_EXCESS: i64 = 4;
const FAST_SHRINK_INTERVAL: usize = 2;

/// After this many consecutive packets of which no frame could be stored
/// (all late or all too far ahead), each within the buffer's capacity of the
/// one before, the sender is assumed to have restarted or jumped, and the
/// buffer re-synchronises on the last of them. Packets at scattered indices
/// (forged ones) never form such a run.
pub const RESYNC_AFTER_PACKETS: u32 = 16;

/// Settings of a [`JitterBuffer`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JitterConfig {
    /// Duration of one frame in milliseconds (20 ms: hop 320 at 16 kHz).
    pub frame_ms: f64,
    /// Codes in one frame (the number of codebooks).
    pub codes_per_frame: usize,
    /// Smallest target delay, in frames, counting the frame about to play.
    pub min_delay_frames: usize,
    /// Largest target delay, in frames.
    pub max_delay_frames: usize,
    /// Frames the buffer can hold ahead of the playout point; frames further
    /// ahead are dropped as overflow. At least `max_delay_frames + 1`.
    pub capacity_frames: usize,
    /// Arrivals in the sliding window used for the delay estimate.
    pub window: usize,
    /// Fraction of arrivals allowed to come too late before the delay grows.
    pub late_fraction: f64,
    /// Fewest pops between two delay changes before a shrink is allowed.
    pub shrink_interval_frames: usize,
}

impl JitterConfig {
    /// Defaults for 20 ms frames of `codes_per_frame` codes: delay 1..=15
    /// frames, capacity 64 frames, window of 256 arrivals (5 s), 0.5 % late
    /// tolerated (a second late frame within the window grows the delay), at
    /// most one shrink every 25 frames (0.5 s).
    ///
    /// The tolerance is tight because lateness on a quiet link is seldom
    /// random: device timing makes fixed patterns, and a buffer that
    /// tolerated 2 % once sat for 10 minutes where 1.5 % of frames, one
    /// every 1.3 s, were concealed (the playout was paced by 15 ms device
    /// requests then; [`crate::playout_clock`] removed that cause).
    pub fn new(codes_per_frame: usize) -> Self {
        Self {
            frame_ms: 20.0,
            codes_per_frame,
            min_delay_frames: 1,
            max_delay_frames: 15,
            capacity_frames: 64,
            window: 256,
            late_fraction: 0.005,
            shrink_interval_frames: 25,
        }
    }

    /// The configuration with out-of-range values brought into range.
    fn sanitized(mut self) -> Self {
        if !(self.frame_ms.is_finite() && self.frame_ms > 0.0) {
            self.frame_ms = 20.0;
        }
        self.codes_per_frame = self.codes_per_frame.max(1);
        self.min_delay_frames = self.min_delay_frames.max(1);
        self.max_delay_frames = self.max_delay_frames.max(self.min_delay_frames);
        self.capacity_frames = self.capacity_frames.max(self.max_delay_frames + 1).min(1 << 30);
        self.window = self.window.max(1);
        self.late_fraction = if self.late_fraction.is_finite() { self.late_fraction.clamp(0.0, 0.5) } else { 0.005 };
        self.shrink_interval_frames = self.shrink_interval_frames.max(1);
        self
    }
}

/// What [`JitterBuffer::pop`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Playout {
    /// Frame `index` was present; its codes are in `out`.
    Frame {
        /// Stream frame index of the frame played.
        index: u32,
    },
    /// Frame `index` is due but absent (lost or late): conceal it.
    Missing {
        /// Stream frame index of the frame to conceal.
        index: u32,
    },
    /// The buffer is growing its delay by one frame: nothing was consumed;
    /// extend the audio by one frame of concealment.
    Stretch,
    /// Playout has not started (no packet yet, or not enough buffered):
    /// play silence.
    Buffering,
}

/// What [`JitterBuffer::push`] did with one packet's frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushOutcome {
    /// Frames stored.
    pub accepted: u8,
    /// Frames already held or already played.
    pub duplicate: u8,
    /// Frames whose turn had passed without them.
    pub late: u8,
    /// Frames too far ahead of the playout point for the buffer.
    pub overflow: u8,
    /// Frames later than the largest delay could have waited for them.
    pub stale: u8,
    /// The packet did not match the configuration (codebooks or code count);
    /// nothing was stored.
    pub invalid: bool,
    /// The buffer re-synchronised on this packet (see [`RESYNC_AFTER_PACKETS`]).
    pub resync: bool,
}

/// Counters and state of a [`JitterBuffer`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct JitterStats {
    /// Frames stored.
    pub received: u64,
    /// Frames handed out by `pop`.
    pub played: u64,
    /// `pop`s that returned [`Playout::Missing`].
    pub missing: u64,
    /// Frames that arrived after their turn.
    pub late: u64,
    /// Frames that arrived twice.
    pub duplicate: u64,
    /// Frames dropped for being too far ahead.
    pub overflow: u64,
    /// Frames dropped for being later than the largest delay could have
    /// waited for them (replayed, misrouted or forged packets).
    pub stale: u64,
    /// Packets rejected as not matching the configuration.
    pub invalid: u64,
    /// Frames discarded to shrink the delay.
    pub dropped_for_delay: u64,
    /// `pop`s that returned [`Playout::Stretch`] to grow the delay.
    pub stretched: u64,
    /// Times the buffer re-synchronised on a jumped stream.
    pub resyncs: u64,
    /// Delay the buffer aims for, in frames (counting the frame about to play).
    pub target_delay_frames: usize,
    /// Frames from the playout point through the newest frame received
    /// (holes included).
    pub depth_frames: usize,
    /// RFC 3550 interarrival jitter estimate, in milliseconds.
    pub jitter_ms: f64,
}

/// Adaptive jitter buffer; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct JitterBuffer {
    config: JitterConfig,
    /// `capacity * codes_per_frame` codes, slot-major.
    codes: Vec<u16>,
    /// Extended index held by each slot, `i64::MIN` when empty.
    slot_ext: Vec<i64>,
    initialised: bool,
    started: bool,
    /// Next frame to play, as sent and as extended index.
    next: u32,
    next_ext: i64,
    /// Largest extended index stored so far.
    newest_ext: i64,
    /// Bit `i` set: frame `next_ext - 1 - i` was received.
    history: u64,
    /// Ring of recent leads, stored minus `adjust` at the time of recording.
    leads: Vec<i64>,
    lead_pos: usize,
    lead_len: usize,
    scratch: Vec<i64>,
    /// Low quantile and maximum of the stored leads (add `adjust` to use).
    lead_low: i64,
    lead_max: i64,
    /// Net frames of delay added since start (stretches minus drops).
    adjust: i64,
    pops_since_adjust: usize,
    /// Consecutive packets none of whose frames could be stored, each near
    /// the one before, and the frame index of the last of them.
    bad_streak: u32,
    bad_last: u32,
    /// RFC 3550 jitter state.
    last_transit: Option<f64>,
    jitter_ms: f64,
    stats: JitterStats,
}

/// `a - b` as a signed serial-number difference.
fn serial_diff(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

impl JitterBuffer {
    /// An empty buffer; allocates all its storage now.
    pub fn new(config: JitterConfig) -> Self {
        let config = config.sanitized();
        let mut jb = Self {
            config,
            codes: vec![0; config.capacity_frames * config.codes_per_frame],
            slot_ext: vec![i64::MIN; config.capacity_frames],
            initialised: false,
            started: false,
            next: 0,
            next_ext: 0,
            newest_ext: -1,
            history: 0,
            leads: vec![0; config.window],
            lead_pos: 0,
            lead_len: 0,
            scratch: vec![0; config.window],
            lead_low: 0,
            lead_max: 0,
            adjust: 0,
            pops_since_adjust: 0,
            bad_streak: 0,
            bad_last: 0,
            last_transit: None,
            jitter_ms: 0.0,
            stats: JitterStats::default(),
        };
        jb.reset();
        jb
    }

    /// The configuration in use (after out-of-range values were fixed).
    pub fn config(&self) -> &JitterConfig {
        &self.config
    }

    /// Forgets all frames, the playout point, the delay estimate and the
    /// counters; the next packet starts a new stream.
    pub fn reset(&mut self) {
        self.clear_stream();
        self.jitter_ms = 0.0;
        self.stats = JitterStats::default();
        self.stats.target_delay_frames = self.config.min_delay_frames;
    }

    /// Empties the buffer and the delay estimate but keeps the counters.
    fn clear_stream(&mut self) {
        self.slot_ext.fill(i64::MIN);
        self.initialised = false;
        self.started = false;
        self.next = 0;
        self.next_ext = 0;
        self.newest_ext = -1;
        self.history = 0;
        self.lead_pos = 0;
        self.lead_len = 0;
        self.lead_low = 0;
        self.lead_max = 0;
        self.adjust = 0;
        self.pops_since_adjust = 0;
        self.bad_streak = 0;
        self.last_transit = None;
    }

    /// Whether `pop` has started handing out frames.
    pub fn is_playing(&self) -> bool {
        self.started
    }

    /// Whether the next `pop` starts playout: not playing yet, and enough
    /// frames buffered.
    pub fn starts_at_next_pop(&self) -> bool {
        self.initialised && !self.started && self.depth() >= self.target()
    }

    /// Starts playout at the next `pop` with what is buffered, however
    /// little: the stream has ended and no more frames will come to fill it
    /// to the target.
    pub fn start_now(&mut self) {
        if self.initialised && !self.started {
            self.started = true;
            self.pops_since_adjust = 0;
        }
    }

    /// Index of the frame the next `pop` will consider, once a packet arrived.
    pub fn next_frame_index(&self) -> Option<u32> {
        self.initialised.then_some(self.next)
    }

    /// Whether an end-of-stream marker saying `frames_sent` frames were sent
    /// belongs to this stream: it must come after every frame received (the
    /// sender sends nothing after it), and no further beyond the newest one
    /// than the buffer holds. A stale marker, or one
    /// of a previous stream, fails; before any packet, every marker does.
    pub fn is_plausible_end(&self, frames_sent: u32) -> bool {
        if !self.initialised {
            return false;
        }
        // From the first frame not received: playout may have concealed past
        // it while the marker was on its way.
        let d = i64::from(serial_diff(frames_sent, self.next)) - (self.newest_ext + 1 - self.next_ext);
        (0..=self.config.capacity_frames as i64).contains(&d)
    }

    fn depth(&self) -> usize {
        if self.initialised {
            usize::try_from(self.newest_ext + 1 - self.next_ext).unwrap_or(0)
        } else {
            0
        }
    }

    /// Target delay in frames from the lead window (see the module docs).
    fn target(&self) -> usize {
        let (min, max) = (self.config.min_delay_frames, self.config.max_delay_frames);
        if self.lead_len == 0 {
            return min;
        }
        let spread = usize::try_from(self.lead_max - self.lead_low).unwrap_or(0);
        (min + spread).clamp(min, max)
    }

    /// Counters and the current delay state.
    pub fn stats(&self) -> JitterStats {
        JitterStats {
            target_delay_frames: self.target(),
            depth_frames: self.depth(),
            jitter_ms: self.jitter_ms,
            ..self.stats
        }
    }

    fn slot(&self, ext: i64) -> usize {
        // capacity_frames <= 2^30, so the remainder fits in usize.
        ext.rem_euclid(self.config.capacity_frames as i64) as usize
    }

    fn holds(&self, ext: i64) -> bool {
        self.slot_ext[self.slot(ext)] == ext
    }

    fn init_at(&mut self, frame_index: u32) {
        self.clear_stream();
        self.initialised = true;
        self.next = frame_index;
    }

    fn record_lead(&mut self, lead: i64) {
        let window = self.config.window;
        self.leads[self.lead_pos] = lead - self.adjust;
        self.lead_pos = (self.lead_pos + 1) % window;
        self.lead_len = (self.lead_len + 1).min(window);
        let n = self.lead_len;
        let scratch = &mut self.scratch[..n];
        scratch.copy_from_slice(&self.leads[..n]);
        let k = ((n as f64 * self.config.late_fraction) as usize).min(n - 1);
        let (_, low, _) = scratch.select_nth_unstable(k);
        self.lead_low = *low;
        self.lead_max = scratch.iter().copied().max().unwrap_or(self.lead_low);
    }

    /// Stores the frames of `packet`, which arrived at `arrival_ms` (any
    /// monotonic clock in milliseconds; used for the jitter estimate).
    pub fn push(&mut self, packet: &Packet, arrival_ms: f64) -> PushOutcome {
        let mut outcome = PushOutcome::default();
        let cpf = self.config.codes_per_frame;
        let frames = usize::from(packet.frames);
        if usize::from(packet.codebooks) != cpf || frames == 0 || packet.codes.len() < frames * cpf {
            self.stats.invalid += 1;
            outcome.invalid = true;
            return outcome;
        }
        if !self.initialised {
            self.init_at(packet.frame_index);
        }
        let cap = self.config.capacity_frames as i64;
        let first_d = i64::from(serial_diff(packet.frame_index, self.next));
        // Before playout starts an earlier frame (reordered first packets)
        // moves the playout point back, as long as everything still fits.
        if !self.started && first_d < 0 {
            let first_ext = self.next_ext + first_d;
            let last_ext = self.newest_ext.max(first_ext + frames as i64 - 1);
            if last_ext - first_ext < cap {
                self.next = packet.frame_index;
                self.next_ext = first_ext;
            }
        }
        let first_d = i64::from(serial_diff(packet.frame_index, self.next));
        // The latest a frame can come and still have been playable at the largest delay.
        let floor = -(self.config.max_delay_frames as i64) - 1;
        for i in 0..frames {
            let d = first_d + i as i64;
            let ext = self.next_ext + d;
            if d < 0 {
                let bit = -d - 1;
                if bit < HISTORY && self.history & (1 << bit) != 0 {
                    outcome.duplicate += 1;
                } else if d < floor {
                    outcome.stale += 1;
                } else {
                    outcome.late += 1;
                    if bit < HISTORY {
                        self.history |= 1 << bit;
                    }
                }
            } else if d >= cap {
                outcome.overflow += 1;
            } else if self.holds(ext) {
                outcome.duplicate += 1;
            } else {
                let slot = self.slot(ext);
                self.slot_ext[slot] = ext;
                let src = &packet.codes[i * cpf..(i + 1) * cpf];
                self.codes[slot * cpf..(slot + 1) * cpf].copy_from_slice(src);
                self.newest_ext = self.newest_ext.max(ext);
                outcome.accepted += 1;
            }
        }
        self.stats.received += u64::from(outcome.accepted);
        self.stats.duplicate += u64::from(outcome.duplicate);
        self.stats.late += u64::from(outcome.late);
        self.stats.overflow += u64::from(outcome.overflow);
        self.stats.stale += u64::from(outcome.stale);

        if (outcome.accepted > 0 || outcome.late > 0) && first_d >= floor {
            // RFC 3550 interarrival jitter, on the packet's first frame.
            let transit = arrival_ms - (self.next_ext + first_d) as f64 * self.config.frame_ms;
            if let Some(prev) = self.last_transit {
                let d = (transit - prev).abs();
                if d.is_finite() {
                    self.jitter_ms += (d - self.jitter_ms) / 16.0;
                }
            }
            self.last_transit = Some(transit);
            if self.started {
                self.record_lead(first_d.min(cap));
            }
        }

        if outcome.accepted == 0 && outcome.duplicate == 0 {
            let follows = serial_diff(packet.frame_index, self.bad_last).unsigned_abs() < cap as u32;
            self.bad_streak = if self.bad_streak > 0 && follows { self.bad_streak + 1 } else { 1 };
            self.bad_last = packet.frame_index;
            if self.bad_streak >= RESYNC_AFTER_PACKETS {
                self.stats.resyncs += 1;
                self.init_at(packet.frame_index);
                let mut again = self.push(packet, arrival_ms);
                again.resync = true;
                return again;
            }
        } else {
            self.bad_streak = 0;
        }
        outcome
    }

    /// Called once per frame period by the playback clock: the next frame in
    /// sequence, copied into `out[..codes_per_frame]` when it is present.
    ///
    /// # Panics
    ///
    /// If `out` is shorter than `codes_per_frame` and a frame is played.
    pub fn pop(&mut self, out: &mut [u16]) -> Playout {
        if !self.initialised {
            return Playout::Buffering;
        }
        if !self.started {
            if self.depth() < self.target() {
                return Playout::Buffering;
            }
            self.started = true;
            self.pops_since_adjust = 0;
        }
        self.pops_since_adjust += 1;

        if self.lead_len > 0 {
            let margin = self.config.min_delay_frames as i64 - 1;
            let low = self.lead_low + self.adjust;
            let delay = self.lead_max + self.adjust + 1;
            let max_delay = self.config.max_delay_frames as i64;
            if low < margin && delay < max_delay {
                self.adjust += 1;
                self.pops_since_adjust = 0;
                self.stats.stretched += 1;
                return Playout::Stretch;
            }
            let shrink = (low > margin && delay > self.config.min_delay_frames as i64) || delay > max_delay;
            // Far too deep (a stall upstream let frames pile up): shed the excess
            // quickly; a frame or two over is trimmed at the gentle pace.
            let interval = if low - margin > FAST_SHRINK_EXCESS {
                FAST_SHRINK_INTERVAL
            } else {
                self.config.shrink_interval_frames
            };
            if shrink
                && self.pops_since_adjust >= interval
                && self.holds(self.next_ext)
                && self.depth() > self.config.min_delay_frames
            {
                self.adjust -= 1;
                self.pops_since_adjust = 0;
                self.stats.dropped_for_delay += 1;
                self.advance(true);
            }
        }

        let index = self.next;
        let present = self.holds(self.next_ext);
        if present {
            let cpf = self.config.codes_per_frame;
            let slot = self.slot(self.next_ext);
            out[..cpf].copy_from_slice(&self.codes[slot * cpf..(slot + 1) * cpf]);
            self.stats.played += 1;
        } else {
            self.stats.missing += 1;
        }
        self.advance(present);
        if present {
            Playout::Frame { index }
        } else {
            Playout::Missing { index }
        }
    }

    /// Moves the playout point past the current frame.
    fn advance(&mut self, received: bool) {
        let slot = self.slot(self.next_ext);
        if self.slot_ext[slot] == self.next_ext {
            self.slot_ext[slot] = i64::MIN;
        }
        self.history = (self.history << 1) | u64::from(received);
        self.next = self.next.wrapping_add(1);
        self.next_ext += 1;
    }
}

#[cfg(test)]
mod tests;
