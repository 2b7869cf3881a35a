//! Scoring a mapper's SAM/BAM against the truth in simulated read names, or
//! against another mapper's alignments.

use std::collections::HashMap;
use std::path::Path;

use crate::error::{CrestError, Result};
use crate::sim::{parse_truth, Truth};

/// MAPQ thresholds every report lists.
pub const THRESHOLDS: [u8; 5] = [0, 1, 20, 25, 30];

/// Where a mapper put a read (primary alignment).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Reference sequence name.
    pub contig: String,
    /// 0-based leftmost position.
    pub pos0: u64,
    /// Reverse strand.
    pub reverse: bool,
    /// Mapping quality (255 = unavailable, treated as 0).
    pub mapq: u8,
}

/// Primary placements by read name (`None` = unmapped), from SAM or BAM.
pub fn read_placements(path: &Path) -> Result<HashMap<String, Option<Placement>>> {
    let bad = |rec: usize, m: String| CrestError::Format {
        path: path.to_path_buf(),
        record: rec as u64,
        message: m,
    };
    let mut out = HashMap::new();
    let mut add = |i: usize,
                   header: &noodles::sam::Header,
                   rec: &dyn noodles::sam::alignment::Record|
     -> Result<()> {
        let flags = rec.flags().map_err(|e| bad(i, format!("bad FLAG: {e}")))?;
        if flags.is_secondary() || flags.is_supplementary() {
            return Ok(());
        }
        let name = rec.name().map(|n| n.to_string()).unwrap_or_default();
        let placement = if flags.is_unmapped() {
            None
        } else {
            let contig = match rec.reference_sequence(header) {
                Some(Ok((name, _))) => String::from_utf8_lossy(name).to_string(),
                Some(Err(e)) => return Err(bad(i, format!("bad RNAME: {e}"))),
                None => return Err(bad(i, "mapped record without RNAME".into())),
            };
            let pos0 = match rec.alignment_start() {
                Some(Ok(p)) => usize::from(p) as u64 - 1,
                Some(Err(e)) => return Err(bad(i, format!("bad POS: {e}"))),
                None => return Err(bad(i, "mapped record without POS".into())),
            };
            let mapq = match rec.mapping_quality() {
                Some(Ok(q)) => u8::from(q),
                Some(Err(e)) => return Err(bad(i, format!("bad MAPQ: {e}"))),
                None => 0,
            };
            Some(Placement {
                contig,
                pos0,
                reverse: flags.is_reverse_complemented(),
                mapq,
            })
        };
        out.insert(name, placement);
        Ok(())
    };
    let file = std::fs::File::open(path).map_err(|e| CrestError::io(path, e))?;
    let is_bam = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("bam"));
    if is_bam {
        let mut r = noodles::bam::io::Reader::new(file);
        let header = r
            .read_header()
            .map_err(|e| bad(0, format!("bad BAM header: {e}")))?;
        for (i, rec) in r.records().enumerate() {
            let rec = rec.map_err(|e| bad(i + 1, e.to_string()))?;
            add(i + 1, &header, &rec)?;
        }
    } else {
        let mut r = noodles::sam::io::Reader::new(std::io::BufReader::new(file));
        let header = r
            .read_header()
            .map_err(|e| bad(0, format!("bad SAM header: {e}")))?;
        for (i, rec) in r.records().enumerate() {
            let rec = rec.map_err(|e| bad(i + 1, e.to_string()))?;
            add(i + 1, &header, &rec)?;
        }
    }
    Ok(out)
}

/// Accuracy at one MAPQ threshold.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ThresholdScore {
    /// MAPQ ≥ this.
    pub mapq: u8,
    /// Reads placed with MAPQ ≥ threshold (contaminants included).
    pub mapped: u64,
    /// Of those, placed on the right contig within the tolerance.
    pub correct: u64,
    /// correct / mapped (1 when nothing is mapped).
    pub precision: f64,
    /// correct / reads drawn from the reference.
    pub recall: f64,
}

/// Scores of one mapper on reads with known origin.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TruthScore {
    /// Reads scored.
    pub reads: u64,
    /// Reads drawn from the reference.
    pub endogenous: u64,
    /// Contaminant reads.
    pub contaminants: u64,
    /// Contaminant reads placed (any MAPQ).
    pub contaminants_mapped: u64,
    /// One row per [`THRESHOLDS`] entry.
    pub rows: Vec<ThresholdScore>,
    /// Precision–recall at every MAPQ 0..=60 (for plots).
    pub curve: Vec<ThresholdScore>,
    /// Wrong placements per MAPQ bin against what the MAPQ promises.
    pub calibration: Vec<CalibrationRow>,
}

/// MAPQ bins of the calibration table: [lo, hi].
pub const CALIBRATION_BINS: [(u8, u8); 7] = [
    (0, 0),
    (1, 9),
    (10, 19),
    (20, 29),
    (30, 39),
    (40, 49),
    (50, 255),
];

/// Placements in one MAPQ bin: how many were wrong, and how many MAPQ said.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CalibrationRow {
    /// Lowest MAPQ of the bin.
    pub lo: u8,
    /// Highest MAPQ of the bin.
    pub hi: u8,
    /// Reads placed with a MAPQ in the bin (contaminants included).
    pub placed: u64,
    /// Of those, wrong (elsewhere, or a contaminant).
    pub wrong: u64,
    /// wrong / placed (0 when nothing is placed).
    pub observed: f64,
    /// Mean of 10^(−MAPQ/10) over the placed reads: the error rate the
    /// MAPQs promise (1 in the MAPQ-0 bin, which only says "unsure").
    pub expected: f64,
}

/// The calibration table of (correct, MAPQ) placements.
pub fn calibration(scored: &[(bool, u8)]) -> Vec<CalibrationRow> {
    CALIBRATION_BINS
        .iter()
        .map(|&(lo, hi)| {
            let inbin: Vec<&(bool, u8)> = scored
                .iter()
                .filter(|(_, q)| (lo..=hi).contains(q))
                .collect();
            let placed = inbin.len() as u64;
            let wrong = inbin.iter().filter(|(c, _)| !c).count() as u64;
            let expected = if placed == 0 {
                0.0
            } else {
                inbin
                    .iter()
                    .map(|(_, q)| 10f64.powf(-(*q as f64) / 10.0))
                    .sum::<f64>()
                    / placed as f64
            };
            CalibrationRow {
                lo,
                hi,
                placed,
                wrong,
                observed: if placed == 0 {
                    0.0
                } else {
                    wrong as f64 / placed as f64
                },
                expected,
            }
        })
        .collect()
}

fn threshold_score(q: u8, scored: &[(bool, u8)], endogenous: u64) -> ThresholdScore {
    let mapped = scored.iter().filter(|(_, m)| *m >= q).count() as u64;
    let correct = scored.iter().filter(|(c, m)| *c && *m >= q).count() as u64;
    ThresholdScore {
        mapq: q,
        mapped,
        correct,
        precision: if mapped == 0 {
            1.0
        } else {
            correct as f64 / mapped as f64
        },
        recall: if endogenous == 0 {
            0.0
        } else {
            correct as f64 / endogenous as f64
        },
    }
}

/// Score placements against the truth encoded in `names` (every read of the
/// input, in order). Correct = right contig and 0-based start within `tol` bp.
/// Reads missing from the alignments count as unmapped.
pub fn score_truth(
    names: &[String],
    placements: &HashMap<String, Option<Placement>>,
    tol: u64,
) -> Result<TruthScore> {
    let mut scored = Vec::new();
    let (mut endogenous, mut contaminants, mut contaminants_mapped) = (0u64, 0u64, 0u64);
    for name in names {
        let truth = parse_truth(name).ok_or_else(|| {
            CrestError::Invalid(format!(
                "read '{name}' has no truth in its name (not from `crest simulate`); \
                 use --vs-bam to compare with another mapper instead"
            ))
        })?;
        let placed = placements.get(name).cloned().flatten();
        match truth {
            Truth::Contaminant => {
                contaminants += 1;
                if let Some(p) = placed {
                    contaminants_mapped += 1;
                    scored.push((false, norm_mapq(p.mapq)));
                }
            }
            Truth::Reference { contig, start, .. } => {
                endogenous += 1;
                if let Some(p) = placed {
                    let ok = p.contig == contig && p.pos0.abs_diff(start as u64) <= tol;
                    scored.push((ok, norm_mapq(p.mapq)));
                }
            }
        }
    }
    Ok(TruthScore {
        reads: names.len() as u64,
        endogenous,
        contaminants,
        contaminants_mapped,
        rows: THRESHOLDS
            .iter()
            .map(|&q| threshold_score(q, &scored, endogenous))
            .collect(),
        curve: (0..=60)
            .map(|q| threshold_score(q, &scored, endogenous))
            .collect(),
        calibration: calibration(&scored),
    })
}

fn norm_mapq(q: u8) -> u8 {
    if q == 255 {
        0
    } else {
        q
    }
}

/// Agreement with another mapper at one MAPQ threshold (of the other mapper).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Concordance {
    /// Other mapper's MAPQ ≥ this.
    pub mapq: u8,
    /// Reads the other mapper placed with MAPQ ≥ threshold.
    pub other: u64,
    /// Of those, placed by us on the same contig and strand within the tolerance.
    pub concordant: u64,
    /// concordant / other.
    pub fraction: f64,
    /// Reads we placed (MAPQ ≥ threshold) that the other mapper left unmapped.
    pub ours_only: u64,
}

/// Concordance of `ours` with `other` at every [`THRESHOLDS`] entry.
pub fn concordance(
    ours: &HashMap<String, Option<Placement>>,
    other: &HashMap<String, Option<Placement>>,
    tol: u64,
) -> Vec<Concordance> {
    THRESHOLDS
        .iter()
        .map(|&q| {
            let (mut n, mut same, mut only) = (0u64, 0u64, 0u64);
            for (name, theirs) in other {
                let mine = ours.get(name).cloned().flatten();
                match theirs {
                    Some(t) if norm_mapq(t.mapq) >= q => {
                        n += 1;
                        if let Some(m) = mine {
                            if m.contig == t.contig
                                && m.reverse == t.reverse
                                && m.pos0.abs_diff(t.pos0) <= tol
                            {
                                same += 1;
                            }
                        }
                    }
                    None if mine.is_some_and(|m| norm_mapq(m.mapq) >= q) => only += 1,
                    _ => {}
                }
            }
            Concordance {
                mapq: q,
                other: n,
                concordant: same,
                fraction: if n == 0 { 0.0 } else { same as f64 / n as f64 },
                ours_only: only,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_bins_on_hand_made_placements() {
        // MAPQ 0: 2 of 4 wrong; MAPQ 25: 1 of 10 wrong; MAPQ 37: none of 3;
        // MAPQ 60 lands in the last bin
        let mut s = vec![(true, 0), (false, 0), (true, 0), (false, 0)];
        s.extend(std::iter::repeat_n((true, 25u8), 9));
        s.push((false, 25));
        s.extend([(true, 37), (true, 37), (true, 37), (true, 60)]);
        let c = calibration(&s);
        assert_eq!(c.len(), CALIBRATION_BINS.len());
        assert_eq!((c[0].placed, c[0].wrong), (4, 2));
        assert!((c[0].observed - 0.5).abs() < 1e-12);
        assert!((c[0].expected - 1.0).abs() < 1e-12);
        assert_eq!(c[1].placed, 0);
        assert_eq!(c[1].observed, 0.0);
        assert_eq!((c[3].lo, c[3].hi, c[3].placed, c[3].wrong), (20, 29, 10, 1));
        assert!((c[3].expected - 10f64.powf(-2.5)).abs() < 1e-12);
        assert_eq!((c[4].placed, c[4].wrong), (3, 0));
        assert_eq!((c[6].lo, c[6].placed), (50, 1));
        assert!((c[6].expected - 1e-6).abs() < 1e-15);
    }
}
