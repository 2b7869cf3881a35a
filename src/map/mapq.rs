//! BWA-aln's difference bound and mapping quality, so that crest's numbers
//! read on the same scale as `bwa aln` + `bwa samse`.

/// bwa aln's maximum differences for a read of length `len`: with `n ≥ 1` the
/// count itself; with a fraction, the smallest k such that P(X > k) < n for
/// X ~ Poisson(len · 0.02) (bwa_cal_maxdiff).
pub fn max_diff(len: usize, n: f64) -> u32 {
    if n >= 1.0 {
        return n as u32;
    }
    let lambda = len as f64 * 0.02;
    let el = (-lambda).exp();
    let (mut sum, mut y, mut x) = (el, 1.0f64, 1.0f64);
    for k in 1..1000u32 {
        y *= lambda;
        x *= k as f64;
        sum += el * y / x;
        if 1.0 - sum < n {
            return k;
        }
    }
    2
}

/// bwa_approx_mapQ: `c1` hits share the best score, `c2` hits are one
/// difference worse, the best hit has `n_mm` differences of at most `max_mm`.
pub fn approx_mapq(c1: usize, c2: usize, n_mm: u32, max_mm: u32) -> u8 {
    if c1 == 0 {
        return 23;
    }
    if c1 > 1 {
        return 0;
    }
    if n_mm == max_mm {
        return 25;
    }
    if c2 == 0 {
        return 37;
    }
    let log_n = (4.343 * (c2.min(255) as f64).ln() + 0.5) as i32;
    (23 - log_n).max(0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_diff_matches_bwa_table() {
        // bwa_cal_maxdiff(len, 0.02, 0.04), computed independently.
        assert_eq!(max_diff(15, 0.04), 1);
        assert_eq!(max_diff(20, 0.04), 2);
        assert_eq!(max_diff(36, 0.04), 2);
        assert_eq!(max_diff(50, 0.04), 3);
        assert_eq!(max_diff(75, 0.04), 4);
        assert_eq!(max_diff(100, 0.04), 5);
        assert_eq!(max_diff(100, 3.0), 3);
    }

    #[test]
    fn mapq_scale() {
        assert_eq!(approx_mapq(1, 0, 0, 3), 37);
        assert_eq!(approx_mapq(2, 0, 0, 3), 0);
        assert_eq!(approx_mapq(1, 0, 3, 3), 25);
        assert_eq!(approx_mapq(1, 1, 0, 3), 23);
        assert_eq!(approx_mapq(1, 10, 0, 3), 13);
        assert_eq!(approx_mapq(1, 200, 1, 3), 0);
    }
}
