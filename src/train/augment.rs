//! Read-like augmentation of reference windows: strand, substitutions, 1-bp
//! indels (window re-cut to k), ancient-DNA deamination (C→T near the 5' end,
//! G→A near the 3' end with probability p0·decay^distance), truncation to a
//! shorter read padded with N, and N masking. All draws come from the caller's
//! seeded [`Rng`].

use crate::rng::Rng;
use crate::seq::reverse_complement;

/// Augmentation settings (saved in the model's training configuration).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AugmentConfig {
    /// Probability of taking the reverse complement.
    pub revcomp: f64,
    /// Per-base substitution rate.
    pub substitution: f64,
    /// Per-base 1-bp indel rate (half insertions, half deletions).
    pub indel: f64,
    /// Deamination probability at the terminal base (p0).
    pub deamination: f64,
    /// Per-base decay of deamination away from the ends.
    pub decay: f64,
    /// Probability that a view is truncated to a shorter read.
    pub truncate: f64,
    /// Shortest truncated read.
    pub min_len: usize,
    /// Per-base N-masking rate.
    pub n_mask: f64,
}

impl AugmentConfig {
    /// Ancient-DNA profile (the default): damage, short reads, sequencing errors.
    pub fn adna() -> Self {
        AugmentConfig {
            revcomp: 0.5,
            substitution: 0.01,
            indel: 0.002,
            deamination: 0.3,
            decay: 0.5,
            truncate: 0.3,
            min_len: 20,
            n_mask: 0.002,
        }
    }

    /// No augmentation except strand.
    pub fn none() -> Self {
        AugmentConfig {
            revcomp: 0.5,
            substitution: 0.0,
            indel: 0.0,
            deamination: 0.0,
            decay: 0.5,
            truncate: 0.0,
            min_len: 1,
            n_mask: 0.0,
        }
    }
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self::adna()
    }
}

const BASES: &[u8; 4] = b"ACGT";

/// Turn `src` (reference bases from the locus onward, at least `k` plus some
/// slack for deletions) into a k-base view (N-padded). Returns the view and
/// whether it was reverse-complemented.
pub fn augment(src: &[u8], k: usize, cfg: &AugmentConfig, rng: &mut Rng) -> (Vec<u8>, bool) {
    // Read length first: truncated views are short reads of one molecule.
    let len = if cfg.truncate > 0.0 && rng.uniform() < cfg.truncate && k > cfg.min_len {
        cfg.min_len + rng.below((k - cfg.min_len) as u64) as usize
    } else {
        k
    };
    // Indels while copying forward-strand bases.
    let mut fwd = Vec::with_capacity(len);
    let mut i = 0;
    while fwd.len() < len && i < src.len() {
        if cfg.indel > 0.0 && rng.uniform() < cfg.indel {
            if rng.uniform() < 0.5 {
                fwd.push(BASES[rng.below(4) as usize]);
            } else {
                i += 1; // deletion
            }
            continue;
        }
        fwd.push(src[i]);
        i += 1;
    }
    let reverse = rng.uniform() < cfg.revcomp;
    let mut read = if reverse {
        reverse_complement(&fwd)
    } else {
        fwd
    };
    let n = read.len();
    for (p, b) in read.iter_mut().enumerate() {
        // Deamination on the molecule: C→T from the 5' end, G→A from the 3' end.
        if cfg.deamination > 0.0 {
            if *b == b'C' && rng.uniform() < cfg.deamination * cfg.decay.powi(p as i32) {
                *b = b'T';
            } else if *b == b'G'
                && rng.uniform() < cfg.deamination * cfg.decay.powi((n - 1 - p) as i32)
            {
                *b = b'A';
            }
        }
        if cfg.substitution > 0.0 && rng.uniform() < cfg.substitution {
            let old = *b;
            *b = BASES[rng.below(4) as usize];
            if *b == old {
                *b = BASES[(rng.below(3) as usize
                    + 1
                    + BASES.iter().position(|&x| x == old).unwrap_or(0))
                    % 4];
            }
        }
        if cfg.n_mask > 0.0 && rng.uniform() < cfg.n_mask {
            *b = b'N';
        }
    }
    read.resize(k, b'N');
    (read, reverse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_augmentation_is_identity_or_revcomp() {
        let src = b"ACGTACGGTTCAGGCATTACGATCGATCGGCTAAGCT";
        let mut rng = Rng::new(3);
        let cfg = AugmentConfig::none();
        for _ in 0..20 {
            let (v, rev) = augment(src, 16, &cfg, &mut rng);
            let want = if rev {
                reverse_complement(&src[..16])
            } else {
                src[..16].to_vec()
            };
            assert_eq!(v, want);
        }
    }

    #[test]
    fn damage_is_c_to_t_at_5p_and_g_to_a_at_3p() {
        let src = vec![b'C'; 40];
        let mut cfg = AugmentConfig::none();
        cfg.revcomp = 0.0;
        cfg.deamination = 0.5;
        cfg.decay = 0.5;
        let mut rng = Rng::new(4);
        let (mut first, mut last) = (0, 0);
        for _ in 0..4000 {
            let (v, _) = augment(&src, 32, &cfg, &mut rng);
            first += (v[0] == b'T') as u32;
            last += (v[31] == b'T') as u32;
        }
        assert!((1800..2200).contains(&first), "5' C→T rate {first}/4000");
        assert_eq!(last, 0, "no C→T deep in the read");
        let src = vec![b'G'; 40];
        let (mut g_end, mut g_start) = (0, 0);
        for _ in 0..4000 {
            let (v, _) = augment(&src, 32, &cfg, &mut rng);
            g_end += (v[31] == b'A') as u32;
            g_start += (v[0] == b'A') as u32;
        }
        assert!((1800..2200).contains(&g_end), "3' G→A rate {g_end}/4000");
        assert_eq!(g_start, 0);
    }

    #[test]
    fn truncation_pads_with_n_and_respects_min_len() {
        let src = b"ACGTACGGTTCAGGCATTACGATCGATCGGCTAAGCTAAAA";
        let mut cfg = AugmentConfig::none();
        cfg.truncate = 1.0;
        cfg.min_len = 10;
        let mut rng = Rng::new(5);
        for _ in 0..50 {
            let (v, _) = augment(src, 32, &cfg, &mut rng);
            assert_eq!(v.len(), 32);
            let bases = v.iter().take_while(|&&b| b != b'N').count();
            assert!((10..32).contains(&bases));
            assert!(v[bases..].iter().all(|&b| b == b'N'));
        }
    }
}
