//! Score structural-variant calls against a truth: one-to-one matches of
//! the same kind whose breakpoints (both ends, or the mate of a breakend)
//! lie within a tolerance; recall and breakpoint error per kind and size,
//! precision per kind.

use super::{SvCall, SvKind};

/// Size classes of the table (bp, inclusive lower bound).
pub const SIZE_BINS: [(u64, &str); 3] = [(0, "<1 kbp"), (1000, "1–10 kbp"), (10_000, "≥10 kbp")];

fn bin_of(len: u64) -> usize {
    SIZE_BINS
        .iter()
        .rposition(|&(lo, _)| len >= lo)
        .unwrap_or(0)
}

/// One row of the evaluation: a kind and a size class (or all sizes).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct EvalRow {
    /// Kind.
    pub kind: SvKind,
    /// Size class label, or "all".
    pub size: String,
    /// Truth events (BND: breakends).
    pub truth: usize,
    /// Truth events matched by a call.
    pub found: usize,
    /// Calls of this kind (only on "all" rows: calls are not binned by size).
    pub calls: Option<usize>,
    /// Calls matched to a truth event ("all" rows).
    pub true_calls: Option<usize>,
    /// Mean breakpoint error of the matches (bp, the worse end of each).
    pub bp_mean: f64,
    /// Largest breakpoint error of the matches.
    pub bp_max: u64,
}

impl EvalRow {
    /// found / truth.
    pub fn recall(&self) -> f64 {
        self.found as f64 / self.truth.max(1) as f64
    }
    /// true calls / calls ("all" rows).
    pub fn precision(&self) -> Option<f64> {
        match (self.true_calls, self.calls) {
            (Some(t), Some(c)) if c > 0 => Some(t as f64 / c as f64),
            _ => None,
        }
    }
}

/// Breakpoint error of `call` as a match for `truth`, or None when they do
/// not match within `tol`.
pub fn match_error(truth: &SvCall, call: &SvCall, tol: u64) -> Option<u64> {
    if truth.kind != call.kind || truth.contig != call.contig {
        return None;
    }
    let dp = truth.pos.abs_diff(call.pos);
    let second = match (truth.mate, call.mate) {
        (Some((c1, p1)), Some((c2, p2))) if c1 == c2 => p1.abs_diff(p2),
        (Some(_), _) | (_, Some(_)) => return None,
        (None, None) => truth.end.abs_diff(call.end),
    };
    let e = dp.max(second);
    (e <= tol).then_some(e)
}

/// Evaluate `calls` against `truth`: rows per kind (all sizes, then each
/// size class that has truth events).
pub fn evaluate(truth: &[SvCall], calls: &[SvCall], tol: u64) -> Vec<EvalRow> {
    // every matching pair, best first; then one-to-one
    let mut pairs: Vec<(u64, usize, usize)> = Vec::new();
    for (ti, t) in truth.iter().enumerate() {
        for (ci, c) in calls.iter().enumerate() {
            if let Some(e) = match_error(t, c, tol) {
                pairs.push((e, ti, ci));
            }
        }
    }
    pairs.sort_unstable();
    let mut t_match: Vec<Option<u64>> = vec![None; truth.len()];
    let mut c_used = vec![false; calls.len()];
    for (e, ti, ci) in pairs {
        if t_match[ti].is_none() && !c_used[ci] {
            t_match[ti] = Some(e);
            c_used[ci] = true;
        }
    }
    let mut rows = Vec::new();
    for kind in SvKind::ALL {
        let of_kind: Vec<usize> = (0..truth.len())
            .filter(|&i| truth[i].kind == kind)
            .collect();
        let n_calls = calls.iter().filter(|c| c.kind == kind).count();
        if of_kind.is_empty() && n_calls == 0 {
            continue;
        }
        let row = |idx: &[usize], size: String, all: bool| {
            let errs: Vec<u64> = idx.iter().filter_map(|&i| t_match[i]).collect();
            EvalRow {
                kind,
                size,
                truth: idx.len(),
                found: errs.len(),
                calls: all.then_some(n_calls),
                true_calls: all.then(|| {
                    calls
                        .iter()
                        .zip(&c_used)
                        .filter(|(c, &u)| c.kind == kind && u)
                        .count()
                }),
                bp_mean: errs.iter().sum::<u64>() as f64 / errs.len().max(1) as f64,
                bp_max: errs.iter().copied().max().unwrap_or(0),
            }
        };
        rows.push(row(&of_kind, "all".into(), true));
        for (b, &(_, label)) in SIZE_BINS.iter().enumerate() {
            let idx: Vec<usize> = of_kind
                .iter()
                .copied()
                .filter(|&i| bin_of(truth[i].len) == b)
                .collect();
            if !idx.is_empty() {
                rows.push(row(&idx, label.into(), false));
            }
        }
    }
    rows
}

/// The rows as a markdown table.
pub fn markdown(rows: &[EvalRow], tol: u64) -> String {
    let mut s = "| kind | size | truth | found | recall | calls | precision | breakpoint error mean / max (bp) |\n|---|---|---:|---:|---:|---:|---:|---:|\n".to_string();
    for r in rows {
        let (calls, prec) = match (r.calls, r.precision()) {
            (Some(c), Some(p)) => (c.to_string(), format!("{p:.3}")),
            (Some(c), None) => (c.to_string(), "–".into()),
            _ => (String::new(), String::new()),
        };
        s += &format!(
            "| {} | {} | {} | {} | {:.3} | {} | {} | {} |\n",
            r.kind.svtype(),
            r.size,
            r.truth,
            r.found,
            r.recall(),
            calls,
            prec,
            if r.found > 0 {
                format!("{:.1} / {}", r.bp_mean, r.bp_max)
            } else {
                "–".into()
            }
        );
    }
    s += &format!("\nA call matches a truth event of the same kind when both breakpoints (or the breakend and its mate) lie within {tol} bp; matches are one-to-one.\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(kind: SvKind, pos: u64, end: u64, len: u64) -> SvCall {
        SvCall {
            kind,
            contig: 0,
            pos,
            end,
            len,
            cipos: (0, 0),
            ciend: (0, 0),
            mate: None,
            support: 1,
            switch: false,
        }
    }

    #[test]
    fn matches_are_one_to_one_within_tolerance() {
        let truth = vec![
            c(SvKind::Inv, 1000, 3000, 2000),
            c(SvKind::Inv, 10_000, 10_500, 500),
            c(SvKind::Del, 20_000, 40_000, 20_000),
        ];
        let calls = vec![
            c(SvKind::Inv, 1010, 2990, 1980),
            c(SvKind::Inv, 1005, 3001, 1996), // better match for the first: wins
            c(SvKind::Inv, 10_100, 10_500, 400), // 100 bp off: no match
            c(SvKind::Dup, 20_000, 40_000, 20_000), // wrong kind
        ];
        let rows = evaluate(&truth, &calls, 50);
        let inv = rows
            .iter()
            .find(|r| r.kind == SvKind::Inv && r.size == "all")
            .unwrap();
        assert_eq!(
            (inv.truth, inv.found, inv.calls, inv.true_calls),
            (2, 1, Some(3), Some(1))
        );
        assert_eq!(inv.bp_max, 5);
        let inv_small = rows
            .iter()
            .find(|r| r.kind == SvKind::Inv && r.size == "<1 kbp")
            .unwrap();
        assert_eq!((inv_small.truth, inv_small.found), (1, 0));
        let del = rows
            .iter()
            .find(|r| r.kind == SvKind::Del && r.size == "≥10 kbp")
            .unwrap();
        assert_eq!(del.found, 0);
        let dup = rows
            .iter()
            .find(|r| r.kind == SvKind::Dup && r.size == "all")
            .unwrap();
        assert_eq!(
            (dup.truth, dup.calls, dup.precision()),
            (0, Some(1), Some(0.0))
        );
        assert!(markdown(&rows, 50).contains("| INV | all | 2 | 1 | 0.500 | 3 | 0.333 | 5.0 / 5 |"));
    }

    #[test]
    fn breakends_match_on_both_ends() {
        let mut t = c(SvKind::Bnd, 5000, 5000, 800);
        t.mate = Some((0, 9001));
        let mut good = c(SvKind::Bnd, 5003, 5003, 0);
        good.mate = Some((0, 8990));
        let mut bad = good.clone();
        bad.mate = Some((0, 12_000));
        assert_eq!(match_error(&t, &good, 50), Some(11));
        assert_eq!(match_error(&t, &bad, 50), None);
        assert_eq!(match_error(&t, &c(SvKind::Bnd, 5000, 5000, 0), 50), None);
    }
}
