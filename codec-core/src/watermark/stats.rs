//! Exact tails of the counts a detector makes when no watermark is there:
//! every distinct (stage, context, code) is then a fair coin under the key.

/// `ln(i!)` for `i` in `0..=n`.
fn ln_factorials(n: usize) -> Vec<f64> {
    let mut table = Vec::with_capacity(n + 1);
    let mut acc = 0.0f64;
    table.push(0.0);
    for i in 1..=n {
        acc += (i as f64).ln();
        table.push(acc);
    }
    table
}

/// `ln P(Bin(n, 1/2) = k)`.
fn ln_pmf(lf: &[f64], n: usize, k: usize) -> f64 {
    lf[n] - lf[k] - lf[n - k] - n as f64 * std::f64::consts::LN_2
}

/// `P(Bin(n, 1/2) >= k)`, summed from the largest term down.
pub(crate) fn binomial_tail(n: u64, k: u64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n {
        return 0.0;
    }
    let (n, k) = (n as usize, k as usize);
    let lf = ln_factorials(n);
    let top = ln_pmf(&lf, n, k.max(n.div_ceil(2)).min(n));
    let sum: f64 = (k..=n).map(|i| (ln_pmf(&lf, n, i) - top).exp()).sum();
    (top + sum.ln()).exp().min(1.0)
}

/// The null distribution of the excess `sum_j max(K_j, n_j - K_j) - ceil(n_j / 2)`
/// over the slots added so far, for independent `K_j ~ Bin(n_j, 1/2)`: the
/// part of a detector's count that reads the bits it tests.
pub(crate) struct Majority {
    dist: Vec<f64>,
    next: Vec<f64>,
    one: Vec<f64>,
}

impl Majority {
    pub(crate) fn new() -> Self {
        Self { dist: vec![1.0], next: Vec::new(), one: Vec::new() }
    }

    /// Adds a slot of `n` codes; `lf` holds `ln(i!)` up to at least `n`.
    fn add(&mut self, lf: &[f64], n: usize) {
        let half = n.div_ceil(2);
        self.one.clear();
        self.one.extend((0..=n / 2).map(|e| {
            let m = half + e;
            let p = ln_pmf(lf, n, m).exp();
            if 2 * m == n {
                p
            } else {
                2.0 * p
            }
        }));
        self.next.clear();
        self.next.resize(self.dist.len() + self.one.len() - 1, 0.0);
        for (i, &a) in self.dist.iter().enumerate() {
            if a == 0.0 {
                continue;
            }
            for (j, &b) in self.one.iter().enumerate() {
                self.next[i + j] += a * b;
            }
        }
        std::mem::swap(&mut self.dist, &mut self.next);
    }
}

/// For each prefix length in `prefixes` (ascending, at most `ns.len()`):
/// slots before it read from the codes (their majority counts), slots from
/// it on known (`agree[j]` of `ns[j]` codes of the colour asked for). Returns
/// `P(null count >= observed count)` for each, exactly.
pub(crate) fn prefix_tails(ns: &[u64], agree: &[u64], majority: &[u64], prefixes: &[usize]) -> Vec<f64> {
    let n_max = ns.iter().sum::<u64>() as usize;
    let lf = ln_factorials(n_max);
    let mut dist = Majority::new();
    let mut added = 0;
    let mut out = Vec::with_capacity(prefixes.len());
    for &u in prefixes {
        while added < u {
            dist.add(&lf, ns[added] as usize);
            added += 1;
        }
        let known_n = ns[u..].iter().sum::<u64>() as usize;
        let known_agree: u64 = agree[u..].iter().sum();
        let excess: u64 = (0..u).map(|j| majority[j] - ns[j].div_ceil(2)).sum();
        let observed = known_agree + excess;
        // tails[k] = P(Bin(known_n, 1/2) >= k).
        let mut tails = vec![0.0f64; known_n + 2];
        for k in (0..=known_n).rev() {
            tails[k] = tails[k + 1] + ln_pmf(&lf, known_n, k).exp();
        }
        let p: f64 = dist
            .dist
            .iter()
            .enumerate()
            .map(|(e, &pe)| {
                let need = observed as i64 - e as i64;
                let tail = if need <= 0 { 1.0 } else { tails.get(need as usize).copied().unwrap_or(0.0) };
                pe * tail
            })
            .sum();
        out.push(p.min(1.0));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_match_small_cases_counted_by_hand() {
        assert!((binomial_tail(4, 3) - 5.0 / 16.0).abs() < 1e-12);
        assert!((binomial_tail(10, 0) - 1.0).abs() < 1e-12);
        assert!((binomial_tail(10, 10) - 1.0 / 1024.0).abs() < 1e-15);
        assert_eq!(binomial_tail(3, 4), 0.0);
        // One slot of 2 read: max(K, 2-K) is 2 with probability 1/2.
        assert!((prefix_tails(&[2], &[0], &[2], &[1])[0] - 0.5).abs() < 1e-12);
        // Two slots of 3 read: each excess is 1 with probability 1/4 (K = 0 or 3).
        let both = prefix_tails(&[3, 3], &[0, 0], &[3, 2], &[2])[0];
        assert!((both - (1.0 - 0.75 * 0.75)).abs() < 1e-12, "{both}");
        assert!((prefix_tails(&[3, 3], &[0, 0], &[3, 3], &[2])[0] - 1.0 / 16.0).abs() < 1e-12);
        // Nothing read: the binomial tail of the known slots.
        let known = prefix_tails(&[4, 6], &[3, 5], &[3, 5], &[0])[0];
        assert!((known - binomial_tail(10, 8)).abs() < 1e-12, "{known}");
        // One slot of 1 read (excess always 0) and one of 2 known with 2 agreeing: 1/4.
        assert!((prefix_tails(&[1, 2], &[0, 2], &[1, 2], &[1])[0] - 0.25).abs() < 1e-12);
        // Far tails are tiny but not lost.
        let p = binomial_tail(2000, 1400);
        assert!(p > 0.0 && p < 1e-60, "{p}");
    }
}
