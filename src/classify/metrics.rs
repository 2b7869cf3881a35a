//! Classification metrics from a confusion matrix: accuracy, macro F1 and
//! the (multi-class, Gorodkin 2004) Matthews correlation coefficient, the
//! headline metric of GUE and of the HGE paper.

/// Counts `m[truth][predicted]`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Confusion {
    /// Rows: true class; columns: predicted class.
    pub m: Vec<Vec<u64>>,
}

impl Confusion {
    /// An empty matrix for `classes` classes.
    pub fn new(classes: usize) -> Self {
        Confusion {
            m: vec![vec![0; classes]; classes],
        }
    }

    /// From (truth, prediction) pairs.
    pub fn from_pairs(classes: usize, pairs: impl IntoIterator<Item = (usize, usize)>) -> Self {
        let mut c = Self::new(classes);
        for (t, p) in pairs {
            c.m[t][p] += 1;
        }
        c
    }

    fn total(&self) -> u64 {
        self.m.iter().flatten().sum()
    }

    fn correct(&self) -> u64 {
        (0..self.m.len()).map(|k| self.m[k][k]).sum()
    }

    fn truth(&self, k: usize) -> u64 {
        self.m[k].iter().sum()
    }

    fn predicted(&self, k: usize) -> u64 {
        self.m.iter().map(|r| r[k]).sum()
    }

    /// Fraction correct (0 for an empty matrix).
    pub fn accuracy(&self) -> f64 {
        let n = self.total();
        if n == 0 {
            0.0
        } else {
            self.correct() as f64 / n as f64
        }
    }

    /// Mean over classes of F1 (a class never true nor predicted scores 0).
    pub fn macro_f1(&self) -> f64 {
        let k = self.m.len();
        if k == 0 {
            return 0.0;
        }
        let f: f64 = (0..k)
            .map(|c| {
                let tp = self.m[c][c] as f64;
                let denom = (self.truth(c) + self.predicted(c)) as f64;
                if denom == 0.0 {
                    0.0
                } else {
                    2.0 * tp / denom
                }
            })
            .sum();
        f / k as f64
    }

    /// Matthews correlation coefficient, multi-class form
    /// `(c·s − Σ p_k t_k) / √((s² − Σ p_k²)(s² − Σ t_k²))`; 0 when undefined.
    pub fn mcc(&self) -> f64 {
        let s = self.total() as f64;
        let c = self.correct() as f64;
        let k = self.m.len();
        let pt: f64 = (0..k)
            .map(|i| self.predicted(i) as f64 * self.truth(i) as f64)
            .sum();
        let pp: f64 = (0..k).map(|i| (self.predicted(i) as f64).powi(2)).sum();
        let tt: f64 = (0..k).map(|i| (self.truth(i) as f64).powi(2)).sum();
        let den = ((s * s - pp) * (s * s - tt)).sqrt();
        if den == 0.0 || !den.is_finite() {
            0.0
        } else {
            (c * s - pt) / den
        }
    }

    /// A text report: `MCC`, `accuracy`, `macro_F1` lines, then the matrix.
    pub fn report(&self) -> String {
        let mut s = format!(
            "MCC {:.4}\naccuracy {:.4}\nmacro_F1 {:.4}\nsequences {}\nconfusion (rows: true class, columns: predicted)\n",
            self.mcc(),
            self.accuracy(),
            self.macro_f1(),
            self.total()
        );
        s.push_str("true\\pred");
        for k in 0..self.m.len() {
            s.push_str(&format!("\t{k}"));
        }
        s.push('\n');
        for (t, row) in self.m.iter().enumerate() {
            s.push_str(&t.to_string());
            for v in row {
                s.push_str(&format!("\t{v}"));
            }
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_mcc_matches_the_textbook_formula() {
        // tp 40, fn 10, fp 5, tn 45
        let c = Confusion {
            m: vec![vec![45, 5], vec![10, 40]],
        };
        let (tp, tn, fp, fnn) = (40.0f64, 45.0, 5.0, 10.0);
        let want = (tp * tn - fp * fnn) / ((tp + fp) * (tp + fnn) * (tn + fp) * (tn + fnn)).sqrt();
        assert!((c.mcc() - want).abs() < 1e-12, "{} vs {want}", c.mcc());
        assert!((c.accuracy() - 0.85).abs() < 1e-12);
        let f1_pos = 2.0 * 40.0 / (2.0 * 40.0 + 5.0 + 10.0);
        let f1_neg = 2.0 * 45.0 / (2.0 * 45.0 + 5.0 + 10.0);
        assert!((c.macro_f1() - (f1_pos + f1_neg) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn perfect_inverse_constant_and_three_class_cases() {
        let perfect = Confusion::from_pairs(3, [(0, 0), (1, 1), (2, 2), (2, 2)]);
        assert!((perfect.mcc() - 1.0).abs() < 1e-12);
        let inverse = Confusion {
            m: vec![vec![0, 7], vec![7, 0]],
        };
        assert!((inverse.mcc() + 1.0).abs() < 1e-12);
        // a constant predictor has no correlation (and no NaN)
        let constant = Confusion {
            m: vec![vec![10, 0], vec![10, 0]],
        };
        assert_eq!(constant.mcc(), 0.0);
        assert_eq!(Confusion::new(2).mcc(), 0.0);
        // 3 classes, hand computed: s=10, c=7, p=(4,3,3), t=(3,3,4)
        let m3 = Confusion {
            m: vec![vec![2, 1, 0], vec![1, 2, 0], vec![1, 0, 3]],
        };
        let (s, c) = (10.0f64, 7.0);
        let pt = 4.0 * 3.0 + 3.0 * 3.0 + 3.0 * 4.0;
        let pp = 16.0 + 9.0 + 9.0;
        let tt = 9.0 + 9.0 + 16.0;
        let want = (c * s - pt) / ((s * s - pp) * (s * s - tt)).sqrt();
        assert!((m3.mcc() - want).abs() < 1e-12);
        assert!(m3.report().starts_with("MCC "));
    }
}
