//! How far to trust an answer: accuracy as a function of hit distance, fitted
//! per level on validation data by isotonic regression (non-increasing in
//! distance, pool-adjacent-violators), Scorpio's p/q rule that turns it into
//! a per-class confidence, and calibration measures (expected calibration
//! error, precision of confident answers).

/// A non-increasing step function of distance: accuracy of answers whose
/// best hit lies at that distance.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Isotonic {
    /// Block ends: (largest distance of the block, fitted accuracy), by distance.
    pub blocks: Vec<(f32, f32)>,
}

impl Isotonic {
    /// Fit to (distance, correct) pairs. An empty sample gives a function that is 0 everywhere.
    pub fn fit(points: &[(f32, bool)]) -> Isotonic {
        let mut p: Vec<(f32, bool)> = points
            .iter()
            .copied()
            .filter(|(d, _)| d.is_finite())
            .collect();
        p.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)));
        // blocks: (sum of y, weight, largest x); merged while a later block
        // is more accurate than an earlier one (the fit must not increase).
        let mut blocks: Vec<(f64, f64, f32)> = Vec::new();
        for (d, y) in p {
            blocks.push((if y { 1.0 } else { 0.0 }, 1.0, d));
            while blocks.len() > 1 {
                let n = blocks.len();
                let (s1, w1, _) = blocks[n - 2];
                let (s2, w2, x2) = blocks[n - 1];
                if s2 / w2 > s1 / w1 - 1e-12 {
                    blocks.truncate(n - 2);
                    blocks.push((s1 + s2, w1 + w2, x2));
                } else {
                    break;
                }
            }
        }
        Isotonic {
            blocks: blocks
                .into_iter()
                .map(|(s, w, x)| (x, (s / w) as f32))
                .collect(),
        }
    }

    /// Fitted accuracy at distance `d`: the block containing d; beyond the
    /// last fitted distance, the last block's value.
    pub fn at(&self, d: f32) -> f32 {
        match self.blocks.iter().find(|b| d <= b.0) {
            Some(b) => b.1,
            None => self.blocks.last().map_or(0.0, |b| b.1),
        }
    }
}

/// Scorpio's confidence for a class with share `p` of the hits and fitted
/// accuracy `q` at its best hit's distance: p·q when q > p, else q.
pub fn scorpio_score(p: f32, q: f32) -> f32 {
    if q > p {
        p * q
    } else {
        q
    }
}

/// Calibration of (confidence, correct) answers.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Calibration {
    /// Answers.
    pub n: usize,
    /// Fraction correct.
    pub accuracy: f64,
    /// Expected calibration error over 10 equal-width confidence bins.
    pub ece: f64,
    /// Precision of answers with confidence ≥ the threshold (NaN when none).
    pub confident_precision: f64,
    /// Fraction of answers with confidence ≥ the threshold.
    pub confident_fraction: f64,
    /// (fraction classified, precision) as the threshold moves down through
    /// every distinct confidence.
    pub curve: Vec<(f64, f64)>,
}

/// Calibration measures at `threshold`.
pub fn calibration(answers: &[(f32, bool)], threshold: f32) -> Calibration {
    let n = answers.len();
    let right = answers.iter().filter(|a| a.1).count();
    let mut bins = [(0usize, 0usize, 0f64); 10];
    for &(c, ok) in answers {
        let b = ((c.clamp(0.0, 1.0) * 10.0) as usize).min(9);
        bins[b].0 += 1;
        bins[b].1 += ok as usize;
        bins[b].2 += c as f64;
    }
    let ece = bins
        .iter()
        .filter(|b| b.0 > 0)
        .map(|&(m, ok, s)| (m as f64 / n as f64) * (ok as f64 / m as f64 - s / m as f64).abs())
        .sum();
    let conf: Vec<&(f32, bool)> = answers.iter().filter(|a| a.0 >= threshold).collect();
    let conf_right = conf.iter().filter(|a| a.1).count();
    let mut sorted: Vec<(f32, bool)> = answers.to_vec();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut curve = Vec::new();
    let mut ok = 0usize;
    for (i, &(c, y)) in sorted.iter().enumerate() {
        ok += y as usize;
        if i + 1 == sorted.len() || sorted[i + 1].0 != c {
            curve.push(((i + 1) as f64 / n as f64, ok as f64 / (i + 1) as f64));
        }
    }
    Calibration {
        n,
        accuracy: if n > 0 {
            right as f64 / n as f64
        } else {
            f64::NAN
        },
        ece,
        confident_precision: if conf.is_empty() {
            f64::NAN
        } else {
            conf_right as f64 / conf.len() as f64
        },
        confident_fraction: if n > 0 {
            conf.len() as f64 / n as f64
        } else {
            f64::NAN
        },
        curve,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isotonic_is_non_increasing_and_pools_violators() {
        let pts = [
            (0.1, true),
            (0.2, true),
            (0.3, false),
            (0.4, true),
            (0.5, false),
            (0.6, false),
        ];
        let f = Isotonic::fit(&pts);
        // (0.3 F, 0.4 T) pool to 0.5
        assert_eq!(f.blocks, vec![(0.2, 1.0), (0.4, 0.5), (0.6, 0.0)]);
        assert_eq!(f.at(0.0), 1.0);
        assert_eq!(f.at(0.35), 0.5);
        assert_eq!(f.at(9.0), 0.0);
        for w in f.blocks.windows(2) {
            assert!(w[0].1 >= w[1].1);
        }
        assert_eq!(Isotonic::fit(&[]).at(0.1), 0.0);
    }

    #[test]
    fn scorpio_rule_and_calibration() {
        assert_eq!(scorpio_score(0.5, 0.9), 0.45);
        assert_eq!(scorpio_score(1.0, 0.9), 0.9);
        let a = [(0.95, true), (0.95, true), (0.92, false), (0.2, false)];
        let c = calibration(&a, 0.9);
        assert_eq!(c.confident_fraction, 0.75);
        assert!((c.confident_precision - 2.0 / 3.0).abs() < 1e-12);
        // bin 9: 3 answers, acc 2/3, mean conf 0.94; bin 2: acc 0, conf 0.2
        let want = 0.75 * (2.0f64 / 3.0 - (0.95 + 0.95 + 0.92) / 3.0).abs() + 0.25 * 0.2;
        assert!((c.ece - want).abs() < 1e-6, "{} vs {want}", c.ece);
        assert_eq!(c.curve.len(), 3);
        assert_eq!(c.curve[2], (1.0, 0.5));
    }
}
