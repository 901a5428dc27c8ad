//! The detector's side: codes in, counts of the colours the payload asks
//! for out, a second at a time, and the exact tail of those counts.

use std::collections::VecDeque;

use super::prf::{Tables, PHASES};
use super::stats::{binomial_tail, prefix_tails};
use super::{Message, WatermarkError, WatermarkKey, MAX_CODEBOOK, SLOTS};

/// A window tested at once: long enough for a weak watermark to add up,
/// short enough that a watermarked stretch of a long recording is not
/// drowned by the rest. Windows overlap by half.
const WINDOW_SECONDS: usize = 30;
/// A second is marked as carrying the watermark at this tail or below (an
/// indication for the reader, not the decision, which is the whole window's).
const SECOND_TAIL: f64 = 0.01;

/// Codes of each slot and colour in one second (at most 50 frames x stages).
type Counts = [[u16; 2]; SLOTS];

/// The counts of one second, for both lanes and every phase hypothesis.
type Second = [[Counts; PHASES]; 2];

/// Counts the colours of codes, a frame at a time, for every phase the
/// first frame may have had in the stream that was marked, and tests each
/// window as soon as it is complete.
///
/// Each distinct (stage, phase, code) is counted once in a window: a code
/// repeated in silence would otherwise count many times for one coin toss,
/// and the tails would no longer be exact. Windows start every half window
/// and overlap, so two lanes of counts are kept, each with its table of the
/// codes seen, cleared at the start of its windows (a table kept for the
/// whole signal would fill up, and a watermarked stretch late in a long one
/// would count for nothing). Memory holds the tables (about 75 KiB for
/// the default model) and the last window's seconds (about 64 KiB),
/// whatever the length of the signal, and 32 bytes a window tested.
pub struct Detector {
    tables: Tables,
    stages: usize,
    size: usize,
    /// Per lane: the codes seen in its current window, and where it started.
    seen: [Vec<bool>; 2],
    window_start: [usize; 2],
    frames: u64,
    hop: u64,
    rate: u64,
    /// The seconds from `first_kept` on: lane 0 counts the windows starting
    /// at 0, 30, 60 s..., lane 1 those at 15, 45 s...
    kept: VecDeque<Second>,
    first_kept: usize,
    /// The start of the next window to test.
    next_window: usize,
    /// Every window tested: (start, end, tail, the seconds of it whose own
    /// codes show the window's payload, bit i for second start + i).
    tested: Vec<(usize, usize, f64, u32)>,
    best: Option<Best>,
}

/// The window with the smallest tail so far.
struct Best {
    p: f64,
    payload: [bool; SLOTS],
    carries: bool,
    /// Its codes under its lane and phase.
    counts: [[u32; 2]; SLOTS],
}
/// What a detector concluded.
#[derive(Debug, Clone)]
pub struct Report {
    /// Whether the false-alarm probability is at or below the threshold.
    pub found: bool,
    /// The probability that a signal without this key's watermark scores
    /// as high: the best test's exact tail times the tests made (windows,
    /// five hypotheses, eight phases, and the alignments of audio).
    pub false_alarm: f64,
    /// Codes counted in the best window and how many had the colour asked for.
    pub observations: u64,
    pub agreeing: u64,
    /// The message read, if the best hypothesis carries one.
    pub message: Option<Message>,
    /// The seconds (start, end) whose codes alone show the watermark (read
    /// against the payload found, so only meaningful when `found`).
    pub seconds: Vec<(u32, u32)>,
    /// Seconds counted in all.
    pub duration: u32,
    /// Tests the false-alarm probability was corrected for.
    pub tests: u64,
}

impl Report {
    /// The score: `-log10` of the false-alarm probability (6 at 1e-6), at
    /// most 300. Not the agreeing share, which a message read from the codes
    /// lifts above half even without a watermark.
    pub fn score(&self) -> f64 {
        // + 0.0: a probability of 1 scores 0, not -0.
        -self.false_alarm.max(1e-300).log10() + 0.0
    }
}

impl Detector {
    /// A detector of `stages` steerable stages of a codebook of `size`, of
    /// frames of `hop` samples at `rate`.
    ///
    /// # Errors
    /// [`WatermarkError::Unsupported`] for no stage or a codebook over [`MAX_CODEBOOK`].
    pub fn new(
        key: &WatermarkKey,
        stages: usize,
        size: usize,
        hop: usize,
        rate: u32,
        model: &str,
    ) -> Result<Self, WatermarkError> {
        if stages == 0 || stages > 255 || size == 0 || size > MAX_CODEBOOK || hop == 0 || rate == 0 {
            return Err(WatermarkError::Unsupported(model.to_string()));
        }
        Ok(Self {
            tables: Tables::new(key, stages, size)?,
            stages,
            size,
            seen: [vec![false; stages * PHASES * size], vec![false; stages * PHASES * size]],
            window_start: [0, WINDOW_SECONDS / 2],
            frames: 0,
            hop: hop as u64,
            rate: u64::from(rate),
            kept: VecDeque::with_capacity(WINDOW_SECONDS + 1),
            first_kept: 0,
            next_window: 0,
            tested: Vec::new(),
            best: None,
        })
    }

    /// Counts one frame's codes (stage-major; those past the steerable
    /// stages ignored, as are codes outside the codebook).
    pub fn push_frame(&mut self, codes: &[u16]) {
        let second = (self.frames * self.hop / self.rate) as usize;
        let frame = (self.frames % PHASES as u64) as usize;
        self.frames += 1;
        // Every window that ends before this second is complete: test it.
        while self.next_window + WINDOW_SECONDS <= second {
            let start = self.next_window;
            self.test(start, start + WINDOW_SECONDS);
            self.next_window += WINDOW_SECONDS / 2;
            while self.first_kept < self.next_window && !self.kept.is_empty() {
                self.kept.pop_front();
                self.first_kept += 1;
            }
        }
        while self.first_kept + self.kept.len() <= second {
            self.kept.push_back([[[[0; 2]; SLOTS]; PHASES]; 2]);
        }
        let at = second - self.first_kept;
        for lane in 0..2 {
            if second < self.window_start[lane] {
                continue;
            }
            if second >= self.window_start[lane] + WINDOW_SECONDS {
                self.window_start[lane] += WINDOW_SECONDS;
                self.seen[lane].fill(false);
            }
            for (stage, &code) in codes.iter().enumerate().take(self.stages) {
                let code = usize::from(code);
                if code >= self.size {
                    continue;
                }
                let index = (stage * PHASES + frame) * self.size + code;
                if std::mem::replace(&mut self.seen[lane][index], true) {
                    continue;
                }
                // Phase hypothesis h: this stream's frame 0 was the marked stream's frame h.
                for (h, counts) in self.kept[at][lane].iter_mut().enumerate() {
                    let (slot, green) = self.tables.get(stage, (frame + h) % PHASES, code);
                    let c = &mut counts[slot][usize::from(green)];
                    *c = c.saturating_add(1);
                }
            }
        }
    }

    /// Frames counted.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Seconds counted so far.
    fn duration(&self) -> usize {
        (self.frames * self.hop).div_ceil(self.rate) as usize
    }

    /// Tests the window of seconds `start..end` (those kept) for every
    /// phase and hypothesis, keeping it if it is the best so far.
    fn test(&mut self, start: usize, end: usize) {
        let lane = (start / (WINDOW_SECONDS / 2)) % 2;
        let from = start.saturating_sub(self.first_kept);
        let to = end.saturating_sub(self.first_kept).min(self.kept.len());
        let mut best_here: Option<(f64, [bool; SLOTS], bool, usize)> = None;
        for h in 0..PHASES {
            let counts = sum(self.kept.range(from..to).map(|s| &s[lane][h]));
            let (p, payload, carries) = test_window(&counts);
            if best_here.as_ref().is_none_or(|b| p < b.0) {
                best_here = Some((p, payload, carries, h));
            }
        }
        let Some((p, payload, carries, h)) = best_here else { return };
        let mut flags = 0u32;
        for (i, c) in self.kept.range(from..to).enumerate() {
            let (a, n) = agreement(&c[lane][h], &payload);
            if n >= 10 && binomial_tail(n, a) <= SECOND_TAIL {
                flags |= 1 << i;
            }
        }
        self.tested.push((start, end, p, flags));
        if self.best.as_ref().is_none_or(|b| p < b.p) {
            let counts = sum(self.kept.range(from..to).map(|s| &s[lane][h]));
            self.best = Some(Best { p, payload, carries, counts });
        }
    }

    /// Tests the windows not yet tested (the last ones, which the signal
    /// ended inside) and reports the best, corrected for every test made.
    /// Takes the detector: it ends the signal.
    pub fn report(mut self, threshold: f64) -> Report {
        let total = self.duration();
        loop {
            let start = self.next_window;
            if start > 0 && start + WINDOW_SECONDS / 2 >= total {
                break;
            }
            self.test(start, (start + WINDOW_SECONDS).min(total));
            self.next_window += WINDOW_SECONDS / 2;
            if start + WINDOW_SECONDS >= total {
                break;
            }
        }
        let tests = (READ_PREFIXES.len() * PHASES * self.tested.len().max(1)) as u64;
        let correct = |p: f64| (p * tests as f64).min(1.0);
        let Some(best) = self.best else {
            return Report {
                found: false,
                false_alarm: 1.0,
                observations: 0,
                agreeing: 0,
                message: None,
                seconds: Vec::new(),
                duration: total as u32,
                tests,
            };
        };
        let (agreeing, observations) = agreement(&best.counts, &best.payload);
        let false_alarm = correct(best.p);
        // Seconds: in every window found on its own, those whose own codes
        // show the window's payload.
        let mut spans: Vec<(u32, u32)> = Vec::new();
        for &(start, end, p, flags) in &self.tested {
            if correct(p) <= threshold {
                for i in (0..end - start).filter(|i| flags & (1 << i) != 0) {
                    let at = (start + i) as u32;
                    spans.push((at, at + 1));
                }
            }
        }
        spans.sort_unstable();
        let mut seconds: Vec<(u32, u32)> = Vec::new();
        for (a, b) in spans {
            match seconds.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => seconds.push((a, b)),
            }
        }
        Report {
            found: false_alarm <= threshold,
            false_alarm,
            observations,
            agreeing,
            message: if best.carries { Message::from_payload(&best.payload) } else { None },
            seconds,
            duration: total as u32,
            tests,
        }
    }
}

fn sum<'a>(seconds: impl Iterator<Item = &'a Counts>) -> [[u32; 2]; SLOTS] {
    let mut total = [[0u32; 2]; SLOTS];
    for c in seconds {
        for (t, s) in total.iter_mut().zip(c) {
            t[0] += u32::from(s[0]);
            t[1] += u32::from(s[1]);
        }
    }
    total
}

/// Codes of the colour `payload` asks for, and codes in all.
fn agreement<T: Copy + Into<u64>>(counts: &[[T; 2]; SLOTS], payload: &[bool; SLOTS]) -> (u64, u64) {
    counts
        .iter()
        .zip(payload)
        .fold((0, 0), |(a, n), (c, &bit)| (a + c[usize::from(bit)].into(), n + c[0].into() + c[1].into()))
}

/// Slots read from the codes under each hypothesis: none (no message; the
/// payload is known), or the first 9, 17, 25 or 33 (a message of up to 8,
/// 16, 24 or 32 bits and its terminating 1; the zeros after are known).
const READ_PREFIXES: [usize; 5] = [0, 9, 17, 25, SLOTS];

/// The smallest tail of the hypotheses, the payload it reads, and whether
/// that payload was read from the codes (a message) or known.
fn test_window(counts: &[[u32; 2]; SLOTS]) -> (f64, [bool; SLOTS], bool) {
    let none = Message::payload(None);
    let mut ns = [0u64; SLOTS];
    let mut majority = [0u64; SLOTS];
    let mut read = [false; SLOTS];
    for (j, c) in counts.iter().enumerate() {
        ns[j] = u64::from(c[0] + c[1]);
        majority[j] = u64::from(c[0].max(c[1]));
        read[j] = c[1] > c[0];
    }
    let mut best = (1.0f64, none, false);
    // No message: every slot known.
    let agree_none: Vec<u64> = counts.iter().zip(&none).map(|(c, &b)| u64::from(c[usize::from(b)])).collect();
    if let Some(&p) = prefix_tails(&ns, &agree_none, &majority, &[0]).first() {
        best = (p, none, false);
    }
    // A message: the slots after the prefix known to be 0.
    let agree_zero: Vec<u64> = counts.iter().map(|c| u64::from(c[0])).collect();
    let prefixes = &READ_PREFIXES[1..];
    for (&u, p) in prefixes.iter().zip(prefix_tails(&ns, &agree_zero, &majority, prefixes)) {
        if p < best.0 {
            let mut payload = [false; SLOTS];
            payload[..u].copy_from_slice(&read[..u]);
            best = (p, payload, true);
        }
    }
    best
}

// The flags of a window's seconds fit a u32.
const _: () = assert!(WINDOW_SECONDS <= 32);

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 34's "bounded memory": a long stream keeps one window of
    /// seconds and a few bytes a window tested, not its every second.
    #[test]
    fn memory_does_not_grow_with_the_stream() {
        let key = WatermarkKey::from_bytes(&[9; 32]).expect("key");
        let mut d = Detector::new(&key, 3, 64, 320, 16_000, "test").expect("detector");
        let mut x = 12345u64;
        let minutes = 20;
        for _ in 0..minutes * 60 * 50 {
            let mut frame = [0u16; 3];
            for c in &mut frame {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                *c = ((x >> 33) % 64) as u16;
            }
            d.push_frame(&frame);
            assert!(d.kept.len() <= WINDOW_SECONDS + 1, "{} seconds kept", d.kept.len());
        }
        // Windows start every 15 s; those ending before the last second are
        // tested as it goes, the last one (1170-1200 s) by the report.
        assert_eq!(d.tested.len(), minutes * 4 - 2);
        let r = d.report(DEFAULT_THRESHOLD_FOR_TESTS);
        assert!(!r.found && r.duration == (minutes * 60) as u32, "{r:?}");
        assert_eq!(r.tests, (READ_PREFIXES.len() * PHASES * (minutes * 4 - 1)) as u64);
    }

    const DEFAULT_THRESHOLD_FOR_TESTS: f64 = super::super::DEFAULT_THRESHOLD;
}
