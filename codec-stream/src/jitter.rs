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
mod tests {
    use super::*;
    use crate::netsim::{NetSim, NetSimConfig};
    use std::collections::HashSet;

    const CPF: usize = 2;

    fn packet(index: u32) -> Packet {
        Packet {
            seq: index,
            frame_index: index,
            model_tag: 7,
            bits: 16,
            codebooks: CPF as u8,
            frames: 1,
            codes: vec![index as u16, (index >> 16) as u16],
        }
    }

    fn codes_index(out: &[u16]) -> u32 {
        u32::from(out[0]) | (u32::from(out[1]) << 16)
    }

    #[derive(Debug, Default)]
    struct Report {
        stats: JitterStats,
        /// Frames the network lost whose turn came (played as Missing).
        lost_in_played: u64,
        /// Missing pops whose frame did arrive, but too late.
        missing_late: u64,
        /// Missing pops over the measured part (after `settle` frames).
        missing_after_settle: u64,
        max_depth_after_settle: usize,
        max_target_after_settle: usize,
        stalls: u64,
        net_lost: u64,
        net_duplicated: u64,
    }

    /// Sends `frames` one-frame packets from `start`, one every 20 ms, through
    /// `net`, pushing deliveries and popping once per 20 ms. Checks that every
    /// played frame carries the right codes and that indices play in order.
    /// `phases` switch the network config at the given frame numbers.
    fn simulate(
        net_config: NetSimConfig,
        phases: &[(u32, NetSimConfig)],
        frames: u32,
        start: u32,
        settle: u32,
    ) -> Report {
        let mut net = NetSim::new(net_config);
        let mut jb = JitterBuffer::new(JitterConfig::new(CPF));
        let mut delivered = HashSet::new();
        let mut missing = Vec::new();
        let mut report = Report::default();
        let mut expect: Option<u32> = None;
        let mut dropped_seen = 0;
        let mut out = [0u16; CPF];
        let mut step = 0u32;
        // Keep popping after the last send until everything sent has played.
        loop {
            let now = f64::from(step) * 20.0;
            if let Some((_, cfg)) = phases.iter().find(|(at, _)| *at == step) {
                net.set_config(*cfg);
            }
            if step < frames {
                net.send(packet(start.wrapping_add(step)), now);
            }
            for (p, arrival) in net.deliver(now) {
                delivered.insert(p.frame_index);
                jb.push(&p, arrival);
            }
            // Depth as the playback clock sees it, just before it pops.
            let depth = jb.stats().depth_frames;
            let played = jb.pop(&mut out);
            let stats = jb.stats();
            let index = match played {
                Playout::Frame { index } => {
                    assert_eq!(codes_index(&out), index, "wrong codes for frame {index}");
                    Some(index)
                }
                Playout::Missing { index } => {
                    missing.push((index, step));
                    Some(index)
                }
                Playout::Stretch => None,
                Playout::Buffering => {
                    if expect.is_some() {
                        report.stalls += 1;
                    }
                    None
                }
            };
            if let Some(index) = index {
                if let Some(e) = expect {
                    let skipped = stats.dropped_for_delay - dropped_seen;
                    assert_eq!(i64::from(serial_diff(index, e)), skipped as i64, "out of order at step {step}");
                }
                dropped_seen = stats.dropped_for_delay;
                expect = Some(index.wrapping_add(1));
            }
            if step >= settle {
                report.max_depth_after_settle = report.max_depth_after_settle.max(depth);
                report.max_target_after_settle = report.max_target_after_settle.max(stats.target_delay_frames);
            }
            step += 1;
            let done = expect.is_some_and(|e| serial_diff(e, start.wrapping_add(frames)) >= 0);
            if done || step > frames + 1000 {
                break;
            }
        }
        for &(index, at) in &missing {
            if delivered.contains(&index) {
                report.missing_late += 1;
            } else {
                report.lost_in_played += 1;
            }
            if at >= settle {
                report.missing_after_settle += 1;
            }
        }
        report.stats = jb.stats();
        report.net_lost = net.stats().lost;
        report.net_duplicated = net.stats().duplicated;
        report
    }

    fn print(name: &str, r: &Report) {
        let s = &r.stats;
        println!(
            "{name}: played {} missing {} (lost {} late-missing {}, after settle {}) net_lost {} late {} dup {} \
             dropped_for_delay {} stretched {} target {} depth {} max_target {} max_depth {} jitter {:.1} ms",
            s.played,
            s.missing,
            r.lost_in_played,
            r.missing_late,
            r.missing_after_settle,
            r.net_lost,
            s.late,
            s.duplicate,
            s.dropped_for_delay,
            s.stretched,
            s.target_delay_frames,
            s.depth_frames,
            r.max_target_after_settle,
            r.max_depth_after_settle,
            s.jitter_ms
        );
    }

    /// Frames completed by a capture device that delivers `piece_ms` at a
    /// time (frame n is sent when the piece holding its last sample comes),
    /// popped every 20 ms from `phase_ms`, on a millisecond clock. Returns
    /// the stats and the late frames after the first `settle_ms`.
    fn capture_pieces(piece_ms: u32, phase_ms: u32, ms: u32, settle_ms: u32) -> (JitterStats, u64) {
        let mut jb = JitterBuffer::new(JitterConfig::new(CPF));
        let mut out = [0u16; CPF];
        let (mut sent, mut late_at_settle) = (0u32, 0);
        for t in 0..ms {
            if t.is_multiple_of(piece_ms) {
                // Everything captured up to t: frames whose 20 ms are complete.
                while (sent + 1) * 20 <= t {
                    jb.push(&packet(sent), f64::from(t));
                    sent += 1;
                }
            }
            if t >= phase_ms && (t - phase_ms).is_multiple_of(20) {
                jb.pop(&mut out);
            }
            if t == settle_ms {
                late_at_settle = jb.stats().late;
            }
        }
        let stats = jb.stats();
        (stats, stats.late - late_at_settle)
    }

    #[test]
    fn uneven_capture_pieces_raise_the_delay_until_nothing_is_late() {
        for piece in [10, 15, 25, 30] {
            for phase in 0..20 {
                let (stats, late) = capture_pieces(piece, phase, 60_000, 10_000);
                assert_eq!(late, 0, "pieces of {piece} ms, pops at +{phase} ms: {stats:?}");
                assert!(stats.target_delay_frames <= 3, "pieces of {piece} ms: {stats:?}");
            }
        }
    }

    #[test]
    fn in_order_without_jitter_plays_everything_at_min_delay() {
        let r = simulate(NetSimConfig::default(), &[], 3000, 0, 0);
        print("in-order", &r);
        assert_eq!(r.stats.played, 3000);
        assert_eq!(r.stats.missing, 0);
        assert_eq!(r.stats.target_delay_frames, 1);
        assert_eq!(r.max_target_after_settle, 1);
        assert!(r.max_depth_after_settle <= 1);
        assert_eq!((r.stats.stretched, r.stats.dropped_for_delay, r.stalls), (0, 0, 0));
    }

    fn check_loss(name: &str, config: NetSimConfig) {
        let frames = 30_000;
        let r = simulate(config, &[], frames, 0, 0);
        print(name, &r);
        assert!(r.net_lost > 0);
        // Loss is concealed once per lost frame and never mistaken for lateness.
        assert_eq!(r.stats.missing, r.lost_in_played);
        assert_eq!(r.missing_late, 0);
        assert!(r.net_lost - r.lost_in_played <= 1, "only a lost first frame is never due");
        assert_eq!(r.stats.played + r.stats.missing, u64::from(frames) - (r.net_lost - r.lost_in_played));
        assert_eq!(r.stalls, 0);
        assert_eq!((r.stats.stretched, r.stats.dropped_for_delay), (0, 0));
        assert_eq!(r.max_target_after_settle, 1);
        assert!(r.max_depth_after_settle <= 1);
    }

    #[test]
    fn random_loss_5_pct() {
        check_loss("loss 5%", NetSimConfig { loss_pct: 5.0, seed: 1, ..Default::default() });
    }

    #[test]
    fn random_loss_20_pct() {
        check_loss("loss 20%", NetSimConfig { loss_pct: 20.0, seed: 2, ..Default::default() });
    }

    #[test]
    fn burst_loss_mean_5() {
        check_loss("bursts of 5, 10%", NetSimConfig { loss_pct: 10.0, burst_len: 5.0, seed: 3, ..Default::default() });
    }

    #[test]
    fn fixed_bursts_of_5_lost_packets() {
        // Every 50th packet starts a burst of exactly 5 losses.
        let mut jb = JitterBuffer::new(JitterConfig::new(CPF));
        let mut out = [0u16; CPF];
        let mut lost = 0;
        for n in 0..30_000u32 {
            if n % 50 < 45 || n < 50 {
                jb.push(&packet(n), f64::from(n) * 20.0);
            } else {
                lost += 1;
            }
            assert!(matches!(jb.pop(&mut out), Playout::Frame { index } | Playout::Missing { index } if index == n));
            let s = jb.stats();
            assert!(s.target_delay_frames == 1 && s.depth_frames <= 1);
        }
        let s = jb.stats();
        assert_eq!((s.missing, s.played), (lost, 30_000 - lost));
    }

    #[test]
    fn loss_with_jitter_keeps_delay_bounded() {
        let config = NetSimConfig { loss_pct: 20.0, burst_len: 3.0, jitter_ms: 40.0, seed: 4, ..Default::default() };
        let r = simulate(config, &[], 30_000, 0, 1000);
        print("loss 20% bursts 3 + jitter 40", &r);
        assert_eq!(r.stalls, 0);
        assert!(r.max_target_after_settle <= 4, "target {}", r.max_target_after_settle);
        assert!(r.max_depth_after_settle <= 5, "depth {}", r.max_depth_after_settle);
        assert!(r.missing_late < 300, "late-missing {}", r.missing_late);
    }

    fn check_jitter_rise_and_fall(jitter_ms: f64, expect_target: usize) {
        let jittery = NetSimConfig { jitter_ms, seed: 5, ..Default::default() };
        let calm = NetSimConfig { seed: 5, ..Default::default() };
        // 5 minutes of jitter: the target rises to cover it and few frames
        // are missing once it has adapted (after the first 10 s).
        let during = simulate(jittery, &[], 15_000, 0, 500);
        print(&format!("jitter {jitter_ms} ms"), &during);
        assert_eq!(during.stats.target_delay_frames, expect_target);
        assert!(during.max_target_after_settle <= expect_target + 1);
        assert!(during.max_depth_after_settle <= expect_target + 2, "depth {}", during.max_depth_after_settle);
        assert!(during.missing_after_settle <= 5, "missing after adaptation {}", during.missing_after_settle);
        assert_eq!(during.stalls, 0);
        // Then a calm minute: the delay falls back to the minimum.
        let r = simulate(jittery, &[(15_000, calm)], 18_000, 0, 15_000 + 1500);
        print(&format!("jitter {jitter_ms} ms then calm"), &r);
        assert_eq!(r.stats.target_delay_frames, 1);
        assert!(r.max_depth_after_settle <= 1, "depth {}", r.max_depth_after_settle);
        assert_eq!(r.missing_after_settle, 0);
        assert!(r.stats.dropped_for_delay >= (expect_target - 1) as u64);
        assert_eq!(r.stalls, 0);
    }

    #[test]
    fn jitter_40ms_raises_target_then_it_falls_back() {
        // Arrivals spread over [0, 40) ms are pushed on a 20 ms clock: they
        // land within 2 consecutive pops, so 1 frame of margin covers them.
        check_jitter_rise_and_fall(40.0, 2);
    }

    #[test]
    fn jitter_100ms_raises_target_then_it_falls_back() {
        check_jitter_rise_and_fall(100.0, 5);
    }

    #[test]
    fn reordered_frames_play_in_order() {
        let config =
            NetSimConfig { reorder_pct: 10.0, reorder_delay_ms: 30.0, jitter_ms: 10.0, seed: 6, ..Default::default() };
        // `simulate` asserts the order and the codes of every frame.
        let r = simulate(config, &[], 10_000, 0, 1000);
        print("reorder 10%", &r);
        assert_eq!(r.stats.missing, r.missing_late + r.lost_in_played);
        assert_eq!(r.lost_in_played, 0);
        assert!(r.missing_after_settle <= 5, "missing after adaptation {}", r.missing_after_settle);
        assert!(r.max_target_after_settle <= 4);

        // Small deterministic case: 2, 0, 1 before playout; 4 before 3 during.
        let mut jb = JitterBuffer::new(JitterConfig::new(CPF));
        let mut out = [0u16; CPF];
        for i in [2, 0, 1] {
            jb.push(&packet(i), 0.0);
        }
        for i in 0..3 {
            assert_eq!(jb.pop(&mut out), Playout::Frame { index: i });
            assert_eq!(codes_index(&out), i);
        }
        jb.push(&packet(4), 0.0);
        jb.push(&packet(3), 0.0);
        assert_eq!(jb.pop(&mut out), Playout::Frame { index: 3 });
        assert_eq!(jb.pop(&mut out), Playout::Frame { index: 4 });
        assert_eq!(jb.stats().late, 0);
    }

    #[test]
    fn duplicates_late_and_overflow_are_counted_and_dropped() {
        let mut jb = JitterBuffer::new(JitterConfig::new(CPF));
        let mut out = [0u16; CPF];
        for i in (0..10).filter(|&i| i != 7) {
            assert_eq!(jb.push(&packet(i), 0.0).accepted, 1);
        }
        for i in 0..5 {
            assert_eq!(jb.pop(&mut out), Playout::Frame { index: i });
        }
        assert_eq!(jb.push(&packet(3), 0.0).duplicate, 1, "already played");
        assert_eq!(jb.push(&packet(8), 0.0).duplicate, 1, "already buffered");
        assert_eq!(jb.push(&packet(1000), 0.0).overflow, 1, "beyond capacity");
        for i in 5..7 {
            assert_eq!(jb.pop(&mut out), Playout::Frame { index: i });
        }
        assert_eq!(jb.pop(&mut out), Playout::Missing { index: 7 });
        assert_eq!(jb.push(&packet(7), 0.0).late, 1, "very late");
        assert_eq!(jb.push(&packet(7), 0.0).duplicate, 1, "a second copy of a late frame");
        // The late arrival is 1 of 4 recent arrivals: the delay grows first.
        assert_eq!(jb.pop(&mut out), Playout::Stretch);
        assert_eq!(jb.pop(&mut out), Playout::Frame { index: 8 });
        let s = jb.stats();
        assert_eq!((s.received, s.played, s.missing, s.late, s.duplicate, s.overflow), (9, 8, 1, 1, 3, 1));

        // A packet that does not match the configuration is rejected whole.
        let mut bad = packet(9);
        bad.codebooks = 3;
        assert!(jb.push(&bad, 0.0).invalid);
        assert_eq!(jb.stats().invalid, 1);

        // Through the simulator: every extra copy is counted as a duplicate.
        let config = NetSimConfig { duplicate_pct: 5.0, loss_pct: 5.0, seed: 7, ..Default::default() };
        let r = simulate(config, &[], 10_000, 0, 0);
        print("duplicates 5%", &r);
        assert!(r.net_duplicated > 300);
        assert_eq!(r.stats.duplicate, r.net_duplicated);
        assert_eq!(r.stats.missing, r.lost_in_played);

        jb.reset();
        assert_eq!(jb.stats(), JitterStats { target_delay_frames: 1, ..Default::default() });
        assert_eq!(jb.pop(&mut out), Playout::Buffering);
    }

    #[test]
    fn frame_index_wraps_around_u32_max() {
        let mut jb = JitterBuffer::new(JitterConfig::new(CPF));
        let mut out = [0u16; CPF];
        let start = u32::MAX - 2;
        // Reordered across the wrap before playout starts.
        for i in [1u32, 0, 2] {
            jb.push(&packet(start.wrapping_add(i)), 0.0);
        }
        for i in 0..6u32 {
            let index = start.wrapping_add(i);
            jb.push(&packet(start.wrapping_add(i + 3)), 0.0);
            assert_eq!(jb.pop(&mut out), Playout::Frame { index });
            assert_eq!(codes_index(&out), index);
        }
        assert_eq!(jb.next_frame_index(), Some(3));

        let config = NetSimConfig {
            loss_pct: 5.0,
            burst_len: 2.0,
            jitter_ms: 30.0,
            reorder_pct: 5.0,
            seed: 8,
            ..Default::default()
        };
        let r = simulate(config, &[], 5_000, u32::MAX - 2_000, 0);
        print("wrap-around", &r);
        assert_eq!(r.stats.missing, r.lost_in_played + r.missing_late);
        assert!(r.stats.played > 4_500);
        assert_eq!(r.stats.resyncs, 0);
    }

    /// A steady stream of one-frame packets, one every 20 ms, each pushed
    /// on time and popped once; `extra(n)` gives packets to push as
    /// well before pop `n`. Asserts that every pop plays the stream's own
    /// frame, and that the delay and the jitter estimate never move.
    fn steady_stream_with(mut extra: impl FnMut(u32) -> Vec<Packet>) -> JitterBuffer {
        let mut jb = JitterBuffer::new(JitterConfig::new(CPF));
        let mut out = [0u16; CPF];
        for n in 0..1_000u32 {
            jb.push(&packet(n), f64::from(n) * 20.0);
            for p in extra(n) {
                jb.push(&p, f64::from(n) * 20.0);
            }
            assert_eq!(jb.pop(&mut out), Playout::Frame { index: n }, "pop {n}");
            assert_eq!(codes_index(&out), n, "pop {n} played another frame's codes");
            let s = jb.stats();
            assert_eq!((s.target_delay_frames, s.stretched, s.dropped_for_delay), (1, 0, 0), "pop {n}: {s:?}");
            assert!(s.jitter_ms < 1.0, "pop {n}: jitter estimate {} ms", s.jitter_ms);
        }
        jb
    }

    #[test]
    fn stale_packets_do_not_move_the_delay_or_the_jitter_estimate() {
        // Three copies of a frame played 4 s ago, as a replay or a stale
        // route would deliver them.
        let jb = steady_stream_with(|n| if n == 300 { vec![packet(100); 3] } else { Vec::new() });
        let s = jb.stats();
        assert_eq!((s.played, s.missing, s.late, s.stale), (1_000, 0, 0, 3), "{s:?}");
    }

    #[test]
    fn an_end_marker_is_plausible_only_after_what_was_received() {
        let mut jb = JitterBuffer::new(JitterConfig::new(CPF));
        let mut out = [0u16; CPF];
        assert!(!jb.is_plausible_end(0), "no stream yet");
        for n in 100..110u32 {
            jb.push(&packet(n), 0.0);
        }
        for _ in 0..5 {
            jb.pop(&mut out);
        }
        // Frames 105-109 wait to play; 110 is the first not received.
        for stale in [0, 100, 105, 109, u32::MAX] {
            assert!(!jb.is_plausible_end(stale), "{stale}");
        }
        assert!(jb.is_plausible_end(110));
        assert!(jb.is_plausible_end(110 + 64), "the last frames may have been lost");
        assert!(!jb.is_plausible_end(110 + 65), "further than the buffer holds");
        assert!(!jb.is_plausible_end(1_000_000));
        // Played past the newest frame by concealment, the marker of the
        // frames lost meanwhile still fits.
        for _ in 0..10 {
            jb.pop(&mut out);
        }
        assert_eq!(jb.next_frame_index(), Some(115));
        assert!(jb.is_plausible_end(110) && !jb.is_plausible_end(109));
    }

    #[test]
    fn forged_packets_at_random_indices_are_neither_played_nor_counted_in_the_delay() {
        // From pop 200 on, 20 forged packets before every pop, at random
        // frame indices, with codes that are no frame's.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let jb = steady_stream_with(|n| {
            if n < 200 {
                return Vec::new();
            }
            (0..20)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let mut p = packet(seed as u32);
                    p.codes = vec![0xdead, 0xbeef];
                    p
                })
                .collect()
        });
        let s = jb.stats();
        assert_eq!((s.played, s.missing, s.resyncs), (1_000, 0, 0), "{s:?}");
    }

    #[test]
    fn resynchronises_when_the_stream_jumps() {
        let mut jb = JitterBuffer::new(JitterConfig::new(CPF));
        let mut out = [0u16; CPF];
        for i in 0..100u32 {
            jb.push(&packet(i), 0.0);
            assert_eq!(jb.pop(&mut out), Playout::Frame { index: i });
        }
        // The sender restarts far away: those frames overflow until the
        // buffer gives up on the old stream.
        let base = 1_000_000u32;
        let mut resynced_at = None;
        for i in 0..40u32 {
            let outcome = jb.push(&packet(base + i), 0.0);
            if outcome.resync {
                resynced_at = Some(i);
            }
            jb.pop(&mut out);
        }
        assert_eq!(resynced_at, Some(RESYNC_AFTER_PACKETS - 1));
        assert_eq!(jb.stats().resyncs, 1);
        jb.push(&packet(base + 40), 0.0);
        assert_eq!(jb.pop(&mut out), Playout::Frame { index: base + 40 });
    }

    mod alloc_count {
        use std::alloc::{GlobalAlloc, Layout, System};
        use std::cell::Cell;

        pub struct Counting;

        thread_local! {
            pub static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
        }

        // SAFETY: forwards to the system allocator; only counts calls.
        unsafe impl GlobalAlloc for Counting {
            unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
                let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
                // SAFETY: same contract as the caller's.
                unsafe { System.alloc(layout) }
            }
            unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
                // SAFETY: same contract as the caller's.
                unsafe { System.dealloc(ptr, layout) }
            }
            unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
                let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
                // SAFETY: same contract as the caller's.
                unsafe { System.realloc(ptr, layout, new_size) }
            }
        }

        #[global_allocator]
        static GLOBAL: Counting = Counting;
    }

    #[test]
    fn push_and_pop_do_not_allocate() {
        // Packets prepared up front: loss, reordering, duplicates, late frames.
        let config = NetSimConfig {
            loss_pct: 10.0,
            burst_len: 3.0,
            jitter_ms: 50.0,
            reorder_pct: 5.0,
            duplicate_pct: 5.0,
            seed: 9,
            ..Default::default()
        };
        let mut net = NetSim::new(config);
        let mut schedule: Vec<Vec<(Packet, f64)>> = Vec::new();
        for n in 0..20_000u32 {
            net.send(packet(n), f64::from(n) * 20.0);
            schedule.push(net.deliver(f64::from(n) * 20.0));
        }
        let mut jb = JitterBuffer::new(JitterConfig::new(CPF));
        let mut out = [0u16; CPF];
        let before = alloc_count::ALLOCATIONS.with(|c| c.get());
        for arrivals in &schedule {
            for (p, t) in arrivals {
                jb.push(p, *t);
            }
            jb.pop(&mut out);
        }
        let after = alloc_count::ALLOCATIONS.with(|c| c.get());
        assert_eq!(after - before, 0);
        assert!(jb.stats().played > 15_000);
    }
}
