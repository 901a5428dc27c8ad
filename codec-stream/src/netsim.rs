//! A deterministic network simulator for tests and demos.
//!
//! [`NetSim`] carries items (packets, datagrams, anything `Clone`) from a
//! sender to a receiver with:
//!
//! - **loss** from a Gilbert-Elliott two-state model, so that losses come in
//!   bursts as they do on real links: in the *bad* state every item is lost,
//!   in the *good* state none is; the bad state lasts on average
//!   [`burst_len`](NetSimConfig::burst_len) items and the long-run loss rate
//!   is [`loss_pct`](NetSimConfig::loss_pct). With `burst_len <= 1` losses are
//!   independent (Bernoulli);
//! - **delay**: a fixed [`base_latency_ms`](NetSimConfig::base_latency_ms)
//!   plus a jitter drawn uniformly from `[0, jitter_ms]`, so items reorder
//!   naturally when the jitter exceeds the sending interval;
//! - **explicit reordering**: with probability `reorder_pct` an item is held
//!   back an extra [`reorder_delay_ms`](NetSimConfig::reorder_delay_ms);
//! - **duplication**: with probability `duplicate_pct` a second copy arrives
//!   `reorder_delay_ms` after the first.
//!
//! Everything is driven by a small internal PRNG seeded from
//! [`seed`](NetSimConfig::seed): the same configuration and the same calls give
//! the same deliveries on every machine.
//!
//! ```
//! use codec_stream::netsim::{NetSim, NetSimConfig};
//! let mut net = NetSim::new(NetSimConfig { jitter_ms: 30.0, ..NetSimConfig::default() });
//! for n in 0..10u32 {
//!     net.send(n, f64::from(n) * 20.0);
//! }
//! let arrived = net.deliver(1_000.0);
//! assert_eq!(arrived.len(), 10);
//! assert!(arrived.windows(2).all(|w| w[0].1 <= w[1].1)); // in arrival order
//! ```

/// Link behaviour of a [`NetSim`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetSimConfig {
    /// Long-run percentage of items lost, 0..=100.
    pub loss_pct: f64,
    /// Mean length of a loss burst in items; `<= 1` gives independent losses.
    pub burst_len: f64,
    /// Fixed one-way latency in milliseconds.
    pub base_latency_ms: f64,
    /// Each item gets an extra delay drawn uniformly from `[0, jitter_ms]`.
    pub jitter_ms: f64,
    /// Percentage of items held back an extra `reorder_delay_ms`.
    pub reorder_pct: f64,
    /// Extra delay of a held-back item and of a duplicate copy.
    pub reorder_delay_ms: f64,
    /// Percentage of delivered items that arrive twice.
    pub duplicate_pct: f64,
    /// PRNG seed.
    pub seed: u64,
}

impl Default for NetSimConfig {
    /// A perfect link: no loss, 0 ms latency, no jitter, no reordering.
    fn default() -> Self {
        Self {
            loss_pct: 0.0,
            burst_len: 1.0,
            base_latency_ms: 0.0,
            jitter_ms: 0.0,
            reorder_pct: 0.0,
            reorder_delay_ms: 50.0,
            duplicate_pct: 0.0,
            seed: 0x5eed,
        }
    }
}

/// What a [`NetSim`] did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetSimStats {
    /// Items given to [`NetSim::send`].
    pub sent: u64,
    /// Items dropped by the loss model.
    pub lost: u64,
    /// Items handed out by `deliver`, duplicates included.
    pub delivered: u64,
    /// Items held back by the explicit reordering.
    pub reordered: u64,
    /// Extra copies scheduled.
    pub duplicated: u64,
}

/// Small deterministic PRNG (SplitMix64-seeded xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`; every seed (0 included) gives a usable stream.
    pub fn new(seed: u64) -> Self {
        // One SplitMix64 step spreads the seed and never yields 0 for xorshift.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        Self(if z == 0 { 0x2545_f491_4f6c_dd1d } else { z })
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p` (clamped to `[0, 1]`).
    pub fn chance(&mut self, p: f64) -> bool {
        self.next_f64() < p
    }
}

struct InFlight<T> {
    arrival_ms: f64,
    order: u64,
    item: T,
}

/// A simulated one-way link; see the [module docs](self).
pub struct NetSim<T> {
    config: NetSimConfig,
    rng: Rng,
    /// Gilbert-Elliott state: true while in the lossy (bad) state.
    bad: bool,
    /// In flight, sorted by descending (arrival, order): the next due is last.
    in_flight: Vec<InFlight<T>>,
    order: u64,
    stats: NetSimStats,
}

impl<T: Clone> NetSim<T> {
    /// A link with `config`, starting in the good state.
    pub fn new(config: NetSimConfig) -> Self {
        Self {
            config,
            rng: Rng::new(config.seed),
            bad: false,
            in_flight: Vec::new(),
            order: 0,
            stats: NetSimStats::default(),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &NetSimConfig {
        &self.config
    }

    /// Changes the link behaviour from now on; items in flight keep their
    /// arrival times and the PRNG stream continues.
    pub fn set_config(&mut self, config: NetSimConfig) {
        self.config = config;
    }

    /// Counters so far.
    pub fn stats(&self) -> NetSimStats {
        self.stats
    }

    /// Items sent but not yet delivered.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Decides the fate of one item under the loss model: true if lost.
    fn lose(&mut self) -> bool {
        let loss = (self.config.loss_pct / 100.0).clamp(0.0, 1.0);
        if loss <= 0.0 {
            return false;
        }
        if self.config.burst_len <= 1.0 {
            return self.rng.chance(loss);
        }
        // Gilbert-Elliott: P(bad -> good) = 1 / burst_len; P(good -> bad) chosen
        // so that the stationary probability of the bad state equals `loss`.
        let to_good = 1.0 / self.config.burst_len;
        let to_bad = if loss >= 1.0 { 1.0 } else { (loss * to_good / (1.0 - loss)).min(1.0) };
        self.bad = if self.bad { !self.rng.chance(to_good) } else { self.rng.chance(to_bad) };
        self.bad
    }

    fn schedule(&mut self, item: T, arrival_ms: f64) {
        let order = self.order;
        self.order += 1;
        // Descending order: find the first position whose entry is due before us.
        let pos = self.in_flight.partition_point(|f| (f.arrival_ms, f.order) > (arrival_ms, order));
        self.in_flight.insert(pos, InFlight { arrival_ms, order, item });
    }

    /// Sends `item` at `now_ms`. Returns false if the loss model dropped it.
    pub fn send(&mut self, item: T, now_ms: f64) -> bool {
        self.stats.sent += 1;
        if self.lose() {
            self.stats.lost += 1;
            return false;
        }
        let mut arrival = now_ms + self.config.base_latency_ms + self.rng.next_f64() * self.config.jitter_ms.max(0.0);
        if self.config.reorder_pct > 0.0 && self.rng.chance(self.config.reorder_pct / 100.0) {
            self.stats.reordered += 1;
            arrival += self.config.reorder_delay_ms;
        }
        if self.config.duplicate_pct > 0.0 && self.rng.chance(self.config.duplicate_pct / 100.0) {
            self.stats.duplicated += 1;
            self.schedule(item.clone(), arrival + self.config.reorder_delay_ms);
        }
        self.schedule(item, arrival);
        true
    }

    /// Moves every item due by `now_ms` into `out` (cleared first) as
    /// `(item, arrival_ms)`, in arrival order. Reuses `out`'s capacity.
    pub fn deliver_into(&mut self, now_ms: f64, out: &mut Vec<(T, f64)>) {
        out.clear();
        while self.in_flight.last().is_some_and(|f| f.arrival_ms <= now_ms) {
            if let Some(f) = self.in_flight.pop() {
                out.push((f.item, f.arrival_ms));
            }
        }
        self.stats.delivered += out.len() as u64;
    }

    /// Every item due by `now_ms`, in arrival order.
    pub fn deliver(&mut self, now_ms: f64) -> Vec<(T, f64)> {
        let mut out = Vec::new();
        self.deliver_into(now_ms, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_losses(config: NetSimConfig, n: u32) -> (u64, f64) {
        let mut net = NetSim::new(config);
        let mut lost_flags = Vec::new();
        for i in 0..n {
            lost_flags.push(!net.send(i, f64::from(i) * 20.0));
        }
        let mut bursts = 0u64;
        let mut prev = false;
        for &l in &lost_flags {
            if l && !prev {
                bursts += 1;
            }
            prev = l;
        }
        let lost = net.stats().lost;
        (lost, if bursts == 0 { 0.0 } else { lost as f64 / bursts as f64 })
    }

    #[test]
    fn loss_rate_and_burst_length_follow_config() {
        let n = 100_000;
        let (lost, mean_burst) = run_losses(NetSimConfig { loss_pct: 5.0, ..NetSimConfig::default() }, n);
        let rate = lost as f64 / f64::from(n);
        assert!((rate - 0.05).abs() < 0.005, "rate {rate}");
        assert!(mean_burst < 1.2, "independent losses, mean burst {mean_burst}");

        let (lost, mean_burst) =
            run_losses(NetSimConfig { loss_pct: 10.0, burst_len: 5.0, ..NetSimConfig::default() }, n);
        let rate = lost as f64 / f64::from(n);
        assert!((rate - 0.10).abs() < 0.015, "rate {rate}");
        assert!((mean_burst - 5.0).abs() < 0.5, "mean burst {mean_burst}");
    }

    #[test]
    fn deterministic_and_ordered_by_arrival() {
        let config = NetSimConfig {
            loss_pct: 10.0,
            jitter_ms: 60.0,
            reorder_pct: 5.0,
            duplicate_pct: 5.0,
            ..Default::default()
        };
        let run = || {
            let mut net = NetSim::new(config);
            let mut got = Vec::new();
            for i in 0..1000u32 {
                net.send(i, f64::from(i) * 20.0);
                got.extend(net.deliver(f64::from(i) * 20.0));
            }
            got.extend(net.deliver(f64::INFINITY));
            (got, net.stats())
        };
        let (a, sa) = run();
        let (b, _) = run();
        assert_eq!(a, b);
        assert!(a.windows(2).all(|w| w[0].1 <= w[1].1));
        assert!(a.windows(2).any(|w| w[0].0 > w[1].0), "jitter of 60 ms over 20 ms spacing must reorder");
        assert_eq!(sa.delivered, sa.sent - sa.lost + sa.duplicated);
        assert_eq!(a.len() as u64, sa.delivered);
    }
}
