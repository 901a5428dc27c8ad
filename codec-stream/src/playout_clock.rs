//! When the receiver hands the next frame to the playback ring.
//!
//! A playback device takes audio in requests of its own size: a sound server
//! with a 30 ms buffer asks for 15 ms at a time, while frames are 20 ms.
//! Refilling the ring whenever a request leaves it short would take frames
//! out of the jitter buffer at uneven intervals (15, 15, 30 ms, ...), and
//! the jitter buffer would see that unevenness as network jitter: a frame
//! arriving on time but just after an early pop counts as late and is
//! concealed. [`PlayoutClock`] spreads each request over the time until the
//! next one, as a device pulling sample by sample would take it, so frames
//! leave the jitter buffer one frame period apart whatever the request size.
//!
//! The estimate only ever runs ahead of what the device really took by at
//! most one request, so the ring holds at least as much as without it: the
//! smoothing costs half a request of delay on average, never an underrun.

/// Weight of the newest request in the running estimate of the request size.
const STEP_SMOOTHING: f64 = 0.125;

/// The device's consumption of the playback ring as a steady flow.
#[derive(Debug, Clone)]
pub struct PlayoutClock {
    samples_per_ms: f64,
    /// Samples written into the ring so far.
    pushed: u64,
    /// Samples the device had taken when last seen, and when that changed.
    taken: u64,
    taken_at_ms: Option<f64>,
    /// Typical request size in samples (0 until a request is seen).
    step: f64,
}

impl PlayoutClock {
    /// A clock for a device playing `rate` samples a second.
    pub fn new(rate: u32) -> Self {
        Self { samples_per_ms: f64::from(rate) / 1000.0, pushed: 0, taken: 0, taken_at_ms: None, step: 0.0 }
    }

    /// Records `samples` written into the ring.
    pub fn pushed(&mut self, samples: usize) {
        self.pushed += samples as u64;
    }

    /// Samples left in the ring at `now_ms` if the device drew them at a
    /// steady pace, given that `ring_occupied` are really there: fewer than
    /// `ring_occupied` by what the device has been due since its last
    /// request, up to one typical request.
    pub fn occupied(&mut self, ring_occupied: usize, now_ms: f64) -> f64 {
        let taken = self.pushed.saturating_sub(ring_occupied as u64);
        if taken > self.taken {
            let step = (taken - self.taken) as f64;
            // The first request may be a priming one of any size: it only starts the clock.
            if self.taken_at_ms.is_some() {
                self.step += if self.step == 0.0 { step } else { STEP_SMOOTHING * (step - self.step) };
            }
            self.taken = taken;
            self.taken_at_ms = Some(now_ms);
        }
        let due = match self.taken_at_ms {
            Some(at) => ((now_ms - at).max(0.0) * self.samples_per_ms).min(self.step),
            None => 0.0,
        };
        (ring_occupied as f64 - due).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A device taking `request` samples every `request` / 16 ms from a ring
    /// that a receiver keeps at `target` by the clock, in 320-sample frames,
    /// polled every millisecond. Returns the times frames were produced and
    /// the lowest ring level a request found.
    fn run(request: usize, target: f64, ms: usize) -> (Vec<f64>, usize) {
        let mut clock = PlayoutClock::new(16_000);
        let mut ring = 0usize;
        let mut lowest = usize::MAX;
        let mut pops = Vec::new();
        let period = request / 16;
        for t in 0..ms {
            if t % period == 0 && !pops.is_empty() {
                lowest = lowest.min(ring);
                ring = ring.saturating_sub(request);
            }
            while clock.occupied(ring, t as f64) < target {
                ring += 320;
                clock.pushed(320);
                pops.push(t as f64);
            }
        }
        (pops, lowest)
    }

    #[test]
    fn frames_leave_one_period_apart_with_requests_of_another_size() {
        // 15 ms requests against 20 ms frames: pops every 20 ms once the
        // request size is learnt, not at 15/15/30 ms.
        let (pops, lowest) = run(240, 960.0, 2000);
        let gaps: Vec<f64> = pops.windows(2).skip(20).map(|w| w[1] - w[0]).collect();
        assert!(!gaps.is_empty());
        for g in &gaps {
            assert!((19.0..=21.0).contains(g), "gap of {g} ms in {gaps:?}");
        }
        // Never below what the target promises the device.
        assert!(lowest >= 960, "a request found {lowest} samples");
    }

    #[test]
    fn without_smoothing_the_same_requests_pop_unevenly() {
        // The case the clock exists for: with the raw ring level the gaps
        // are 15 and 30 ms (a check that the test above can fail).
        let mut ring = 0usize;
        let mut pops = Vec::new();
        for t in 0..2000usize {
            if t % 15 == 0 && !pops.is_empty() {
                ring = ring.saturating_sub(240);
            }
            while ring < 960 {
                ring += 320;
                pops.push(t as f64);
            }
        }
        let uneven = pops.windows(2).skip(20).any(|w| (w[1] - w[0] - 20.0).abs() > 4.0);
        assert!(uneven);
    }

    #[test]
    fn a_late_request_stalls_the_clock_instead_of_emptying_the_ring() {
        let mut clock = PlayoutClock::new(16_000);
        clock.pushed(1000);
        assert_eq!(clock.occupied(1000, 0.0), 1000.0);
        assert_eq!(clock.occupied(760, 10.0), 760.0);
        assert_eq!(clock.occupied(520, 25.0), 520.0);
        // Due at most one request (240) however long the device is silent.
        assert_eq!(clock.occupied(520, 1000.0), 280.0);
    }
}
