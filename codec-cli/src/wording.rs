//! Counts and speeds in messages: "1 file", "2 files", never "1 files" or
//! "file(s)"; "0.04x realtime", never "0x".

/// `n` and `noun`, the noun plural (with an `s`) unless `n` is 1.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A speed against real time, `x` times: "120x", "2.5x", "0.04x", "under
/// 0.01x", never "0x".
pub fn times(x: f64) -> String {
    if x >= 10.0 {
        format!("{x:.0}x")
    } else if x >= 1.0 {
        format!("{x:.1}x")
    } else if x >= 0.01 {
        format!("{x:.2}x")
    } else {
        "under 0.01x".into()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_is_singular_and_the_rest_plural() {
        assert_eq!(super::count(0, "file"), "0 files");
        assert_eq!(super::count(1, "part"), "1 part");
        assert_eq!(super::count(2, "group"), "2 groups");
    }

    #[test]
    fn a_slow_speed_is_not_rounded_to_zero() {
        assert_eq!(super::times(120.4), "120x");
        assert_eq!(super::times(2.54), "2.5x");
        assert_eq!(super::times(0.04), "0.04x");
        assert_eq!(super::times(0.001), "under 0.01x");
    }
}
