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

/// The per-base difference rate at which [`suboptimal_mapq`] gives bwa's
/// numbers (23 for one hit one difference worse, 20 for two, 18 for three).
pub const BWA_ERROR_RATE: f64 = 0.015;

/// bwa_approx_mapQ: `c1` hits share the best score, `c2` hits are one
/// difference worse, the best hit has `n_mm` differences of at most `max_mm`.
/// With `c2 > 0` the MAPQ is [`suboptimal_mapq`] at `error_rate` (bwa's
/// own numbers at [`BWA_ERROR_RATE`]).
pub fn approx_mapq(c1: usize, c2: usize, n_mm: u32, max_mm: u32, error_rate: f64) -> u8 {
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
    suboptimal_mapq(c2, error_rate)
}

/// MAPQ of a unique best hit with `c2` hits one difference worse, when a
/// base differs from its locus with probability `error_rate`: one more
/// difference is (ε/3)/(1 − ε) times as likely, so the best is wrong with
/// probability c2·r / (1 + c2·r). Phred-scaled, rounded.
pub fn suboptimal_mapq(c2: usize, error_rate: f64) -> u8 {
    let e = error_rate.clamp(1e-6, 0.5);
    let r = e / (3.0 * (1.0 - e));
    let n = c2.min(255) as f64;
    let p = n * r / (1.0 + n * r);
    (-10.0 * p.log10()).round().clamp(0.0, 60.0) as u8
}

/// Expected number of places, on either strand of a random genome of
/// `genome` bases, where a read of `len` bases fits with at most `diffs`
/// mismatches by chance: 2G · Σ_{i ≤ diffs} C(len, i) 3^i / 4^len.
pub fn chance_fits(len: usize, diffs: u32, genome: u64) -> f64 {
    let l = len as f64;
    let (mut sum, mut term) = (0.0f64, 1.0f64);
    for i in 0..=diffs.min(len as u32) {
        if i > 0 {
            term *= 3.0 * (l - i as f64 + 1.0) / i as f64;
        }
        sum += term;
    }
    2.0 * genome as f64 * sum * 0.25f64.powf(l)
}

/// The highest MAPQ a read can earn when crest verifies only a few proposed
/// loci: the Phred scale of the chance that another place fits it at least as
/// well, 1 − exp(−[`chance_fits`]). A 5-bp read in a 16 kbp genome fits
/// about 30 places and gets 0; a 25-bp read is not limited.
pub fn chance_cap(len: usize, diffs: u32, genome: u64) -> u8 {
    let n = chance_fits(len, diffs, genome);
    let p_other = -(-n).exp_m1(); // 1 − e^(−n), accurate for small n
    if p_other <= 0.0 {
        return 60;
    }
    (-10.0 * p_other.log10()).clamp(0.0, 60.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chance_cap_limits_short_reads_only() {
        // 5 bp in mammoth mtDNA: ~32 chance places → MAPQ 0
        assert!(chance_fits(5, 0, 16_770) > 30.0);
        assert_eq!(chance_cap(5, 0, 16_770), 0);
        // 12 bp, exact, in a 16 kbp genome: 2·16770/4^12 ≈ 0.002 → ~27
        assert_eq!(chance_cap(12, 0, 16_770), 26);
        // ordinary aDNA reads are not limited below bwa's 37
        assert!(chance_cap(25, 2, 4_641_652) >= 37);
        assert!(chance_cap(30, 3, 4_641_652) >= 37);
        // 20 bp with 2 differences in E. coli: ~1.5% chance of another place
        assert_eq!(chance_cap(20, 2, 4_641_652), 18);
    }

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
        let e = BWA_ERROR_RATE;
        assert_eq!(approx_mapq(1, 0, 0, 3, e), 37);
        assert_eq!(approx_mapq(2, 0, 0, 3, e), 0);
        assert_eq!(approx_mapq(1, 0, 3, 3, e), 25);
        // bwa's 23 − 4.343·ln(c2), rounded, for the few-hit cases
        for (c2, bwa) in [(1, 23), (2, 20), (3, 18), (10, 13)] {
            assert_eq!(approx_mapq(1, c2, 0, 3, e), bwa, "c2 {c2}");
        }
        // very many near hits: close to a coin toss (bwa's formula says 0)
        assert!(approx_mapq(1, 200, 1, 3, e) <= 3);
    }

    #[test]
    fn noisier_libraries_trust_a_near_second_less() {
        // 3% differences per base: one hit one difference worse → ~1% wrong
        assert_eq!(suboptimal_mapq(1, 0.03), 20);
        assert!(suboptimal_mapq(1, 0.005) > suboptimal_mapq(1, 0.015));
        assert!(suboptimal_mapq(2, 0.03) < suboptimal_mapq(1, 0.03));
        // the probability never exceeds one: MAPQ stays ≥ 0
        assert_eq!(suboptimal_mapq(255, 0.5), 0);
    }
}
