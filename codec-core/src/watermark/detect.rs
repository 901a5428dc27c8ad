//! The detector's side: codes in, counts of the colours the payload asks
//! for out, a second at a time, and the exact tail of those counts.

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

/// Counts the colours of codes, a frame at a time, for every phase the
/// first frame may have had in the stream that was marked.
///
/// Each distinct (stage, phase, code) is counted once in a window: a code
/// repeated in silence would otherwise count many times for one coin toss,
/// and the tails would no longer be exact. Windows start every half window
/// and overlap, so two tables of those seen are kept, each cleared at the
/// start of its windows (a table kept for the whole signal would fill up,
/// and a watermarked stretch late in a long one would count for nothing).
/// Memory grows only with the seconds counted (2 KiB a second).
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
    /// `[second][lane][phase hypothesis]`: lane 0 counts the windows starting
    /// at 0, 30, 60 s..., lane 1 those at 15, 45 s...
    seconds: Vec<[[Counts; PHASES]; 2]>,
}

/// What a detector concluded.
#[derive(Debug, Clone)]
pub struct Report {
    /// Whether the false-alarm probability is at or below the threshold.
    pub found: bool,
    /// The probability that a signal without this key's watermark scores
    /// as high: the best test's exact tail times the tests made (windows,
    /// two hypotheses, phases, and the alignments of audio).
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
        -self.false_alarm.max(1e-300).log10()
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
            tables: Tables::new(key, stages, size),
            stages,
            size,
            seen: [vec![false; stages * PHASES * size], vec![false; stages * PHASES * size]],
            window_start: [0, WINDOW_SECONDS / 2],
            frames: 0,
            hop: hop as u64,
            rate: u64::from(rate),
            seconds: Vec::new(),
        })
    }

    /// Counts one frame's codes (stage-major; those past the steerable
    /// stages ignored, as are codes outside the codebook).
    pub fn push_frame(&mut self, codes: &[u16]) {
        let second = (self.frames * self.hop / self.rate) as usize;
        let frame = (self.frames % PHASES as u64) as usize;
        self.frames += 1;
        if self.seconds.len() <= second {
            self.seconds.resize(second + 1, [[[[0; 2]; SLOTS]; PHASES]; 2]);
        }
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
                for (h, counts) in self.seconds[second][lane].iter_mut().enumerate() {
                    let (slot, green) = self.tables.get(stage, (frame + h) % PHASES, code);
                    counts[slot][usize::from(green)] += 1;
                }
            }
        }
    }

    /// Frames counted.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Tests every window and phase for the two hypotheses (no message, some message).
    pub fn report(&self, threshold: f64) -> Report {
        let total = self.seconds.len();
        let mut starts = vec![0usize];
        while let Some(&last) = starts.last() {
            if last + WINDOW_SECONDS >= total {
                break;
            }
            starts.push(last + WINDOW_SECONDS / 2);
        }
        let window = |start: usize, h: usize| {
            let lane = (start / (WINDOW_SECONDS / 2)) % 2;
            let per_second =
                self.seconds[start.min(total)..(start + WINDOW_SECONDS).min(total)].iter().map(|s| &s[lane][h]);
            sum(per_second)
        };
        let mut best = (1.0f64, Message::payload(None), false, 0usize, 0usize);
        for &start in &starts {
            for h in 0..PHASES {
                let (p, payload, carries) = test_window(&window(start, h));
                if p < best.0 {
                    best = (p, payload, carries, start, h);
                }
            }
        }
        let tests = (READ_PREFIXES.len() * PHASES * starts.len()) as u64;
        let (p, payload, carries, start, h) = best;
        let (agreeing, observations) = agreement(&window(start, h), &payload);
        let false_alarm = (p * tests as f64).min(1.0);
        let mut seconds: Vec<(u32, u32)> = Vec::new();
        for (i, c) in self.seconds.iter().enumerate() {
            // The lane whose window holds this second in its first half.
            let lane = (i / (WINDOW_SECONDS / 2)) % 2;
            let (a, n) = agreement(&c[lane][h], &payload);
            if n >= 10 && binomial_tail(n, a) <= SECOND_TAIL {
                let i = i as u32;
                match seconds.last_mut() {
                    Some(last) if last.1 == i => last.1 = i + 1,
                    _ => seconds.push((i, i + 1)),
                }
            }
        }
        Report {
            found: false_alarm <= threshold,
            false_alarm,
            observations,
            agreeing,
            message: if carries { Message::from_payload(&payload) } else { None },
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
