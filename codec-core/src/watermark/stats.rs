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

/// `P(sum_j max(K_j, n_j - K_j) - ceil(n_j / 2) >= excess)` for independent
/// `K_j ~ Bin(n_j, 1/2)`: the null of a detector that reads the bits it tests.
pub(crate) fn majority_tail(ns: &[u64], excess: u64) -> f64 {
    let total: u64 = ns.iter().map(|&n| n / 2).sum();
    if excess == 0 {
        return 1.0;
    }
    if excess > total {
        return 0.0;
    }
    let lf = ln_factorials(ns.iter().copied().max().unwrap_or(0) as usize);
    let mut dist = vec![1.0f64];
    let mut next = Vec::new();
    for &n in ns {
        let n = n as usize;
        let half = n.div_ceil(2);
        let one: Vec<f64> = (0..=n / 2)
            .map(|e| {
                let m = half + e;
                let p = ln_pmf(&lf, n, m).exp();
                if 2 * m == n {
                    p
                } else {
                    2.0 * p
                }
            })
            .collect();
        next.clear();
        next.resize(dist.len() + one.len() - 1, 0.0);
        for (i, &a) in dist.iter().enumerate() {
            if a == 0.0 {
                continue;
            }
            for (j, &b) in one.iter().enumerate() {
                next[i + j] += a * b;
            }
        }
        std::mem::swap(&mut dist, &mut next);
    }
    dist.iter().skip(excess as usize).sum::<f64>().min(1.0)
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
        // One slot of 2: max(K, 2-K) - 1 is 1 with probability 1/2.
        assert!((majority_tail(&[2], 1) - 0.5).abs() < 1e-12);
        // Two slots of 3: each excess is 1 with probability 1/4 (K = 0 or 3).
        assert!((majority_tail(&[3, 3], 1) - (1.0 - 0.75 * 0.75)).abs() < 1e-12);
        assert!((majority_tail(&[3, 3], 2) - 1.0 / 16.0).abs() < 1e-12);
        // Far tails are tiny but not lost.
        let p = binomial_tail(2000, 1400);
        assert!(p > 0.0 && p < 1e-60, "{p}");
    }
}
