//! Where reads are lost (`crest bench --breakdown`): recall at MAPQ ≥ 20 by
//! read length, damage-like substitutions and other mismatches, and for each
//! read the stage where it was lost. crest's stages come from its trace
//! (`crest map --trace`): no candidate near the truth (proposal miss), the
//! true locus verified but over the difference bound (rejected), accepted
//! elsewhere (wrong place), or placed right with MAPQ < 20. BWA's search is
//! not observable, so its losses are unmapped, wrong place or MAPQ < 20.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::score::Placement;
use crate::map::trace::NamedCandidate;
use crate::seq::reverse_complement;

/// MAPQ that counts as confidently mapped in the breakdown.
pub const CONFIDENT: u8 = 20;

/// What a read is made of, measured against the reference at its truth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadFeatures {
    /// Read length (bp).
    pub len: usize,
    /// Damage-like substitutions (C→T or G→A on the molecule's strand);
    /// None when the read has indels (its length differs from the fragment's).
    pub damage: Option<u32>,
    /// Other differences (other substitutions, N); None with indels.
    pub mismatches: Option<u32>,
}

/// Compare a read with the reference fragment it was drawn from (forward
/// strand bases; `reverse` when the molecule is the reverse complement).
pub fn read_features(read: &[u8], fragment: &[u8], reverse: bool) -> ReadFeatures {
    if read.len() != fragment.len() {
        return ReadFeatures {
            len: read.len(),
            damage: None,
            mismatches: None,
        };
    }
    let mol = if reverse {
        reverse_complement(fragment)
    } else {
        fragment.to_vec()
    };
    let (mut damage, mut other) = (0u32, 0u32);
    for (&m, &r) in mol.iter().zip(read) {
        let (m, r) = (m.to_ascii_uppercase(), r.to_ascii_uppercase());
        if m == r && r != b'N' {
            continue;
        }
        match (m, r) {
            (b'C', b'T') | (b'G', b'A') => damage += 1,
            _ => other += 1,
        }
    }
    ReadFeatures {
        len: read.len(),
        damage: Some(damage),
        mismatches: Some(other),
    }
}

/// Where a read from the reference ended up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum Stage {
    /// Right place, MAPQ ≥ 20.
    Mapped,
    /// Right place, MAPQ < 20.
    LowMapq,
    /// Placed elsewhere (any MAPQ) although the true locus was proposed (or,
    /// without a trace, placed elsewhere).
    Wrong,
    /// The true locus was verified but over the difference bound; unmapped.
    Rejected,
    /// No candidate near the true locus was verified (unmapped or wrong).
    NoProposal,
    /// Unmapped (a mapper without a trace).
    Unmapped,
}

impl Stage {
    /// Column heading.
    pub fn label(self) -> &'static str {
        match self {
            Stage::Mapped => "mapped Q≥20",
            Stage::LowMapq => "MAPQ < 20",
            Stage::Wrong => "wrong place",
            Stage::Rejected => "rejected by bound",
            Stage::NoProposal => "not proposed",
            Stage::Unmapped => "unmapped",
        }
    }
}

/// The truth of one reference read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrueLocus {
    /// Contig name.
    pub contig: String,
    /// 0-based leftmost position.
    pub start: u64,
    /// Reverse strand.
    pub reverse: bool,
}

fn near(c: &NamedCandidate, t: &TrueLocus, pad: u32) -> bool {
    c.contig == t.contig && c.reverse == t.reverse && c.pos.abs_diff(t.start as i64) <= pad as u64
}

/// The stage of one read: `placed` is the mapper's primary placement,
/// `trace` its (difference bound, candidates) when it has one, `pad` the
/// band half-width of the trace and `tol` the start tolerance of "correct".
pub fn classify(
    truth: &TrueLocus,
    placed: Option<&Placement>,
    trace: Option<&(u32, Vec<NamedCandidate>)>,
    pad: u32,
    tol: u64,
) -> Stage {
    let correct =
        placed.is_some_and(|p| p.contig == truth.contig && p.pos0.abs_diff(truth.start) <= tol);
    if correct {
        let q = placed.map_or(0, |p| if p.mapq == 255 { 0 } else { p.mapq });
        return if q >= CONFIDENT {
            Stage::Mapped
        } else {
            Stage::LowMapq
        };
    }
    match trace {
        None if placed.is_some() => Stage::Wrong,
        None => Stage::Unmapped,
        Some((_, cands)) if !cands.iter().any(|c| near(c, truth, pad)) => Stage::NoProposal,
        Some(_) if placed.is_some() => Stage::Wrong,
        Some(_) => Stage::Rejected,
    }
}

/// Which property a table splits reads by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Dimension {
    /// Read length.
    Length,
    /// Damage-like substitutions.
    Damage,
    /// Other mismatches.
    Mismatches,
}

impl Dimension {
    /// All, in table order.
    pub const ALL: [Dimension; 3] = [Dimension::Length, Dimension::Damage, Dimension::Mismatches];

    /// Heading of the bin column.
    pub fn heading(self) -> &'static str {
        match self {
            Dimension::Length => "read length (bp)",
            Dimension::Damage => "damage-like C→T / G→A",
            Dimension::Mismatches => "other mismatches",
        }
    }

    /// The bins, in order.
    pub fn bins(self) -> &'static [&'static str] {
        match self {
            Dimension::Length => &["< 20", "20–24", "25–29", "30–34", "35–39", "40+"],
            Dimension::Damage | Dimension::Mismatches => &["0", "1", "2", "3+", "with indels"],
        }
    }

    /// The bin of a read.
    pub fn bin(self, f: &ReadFeatures) -> usize {
        let count = |c: Option<u32>| c.map_or(4, |c| (c as usize).min(3));
        match self {
            Dimension::Length => match f.len {
                0..=19 => 0,
                l => ((l - 20) / 5 + 1).min(5),
            },
            Dimension::Damage => count(f.damage),
            Dimension::Mismatches => count(f.mismatches),
        }
    }
}

/// One row: reads in a bin and, per mapper, how many ended at each stage.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct BreakdownRow {
    /// Bin label.
    pub bin: String,
    /// Reference reads in the bin.
    pub reads: u64,
    /// Per mapper (in [`Breakdown::mappers`] order): count per stage.
    pub stages: Vec<HashMap<Stage, u64>>,
}

/// One table of the breakdown.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct BreakdownTable {
    /// What the rows split by.
    pub dimension: Dimension,
    /// Rows, the last one the total.
    pub rows: Vec<BreakdownRow>,
}

/// The whole breakdown.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Breakdown {
    /// Mapper names.
    pub mappers: Vec<String>,
    /// Whether each mapper had a trace (its stages differ).
    pub traced: Vec<bool>,
    /// One table per [`Dimension`].
    pub tables: Vec<BreakdownTable>,
}

/// A mapper's outcome for every reference read, as input to [`Breakdown::new`].
pub struct MapperStages<'a> {
    /// Name.
    pub name: &'a str,
    /// Stage of each read (same order as the features).
    pub stages: Vec<Stage>,
    /// Whether the stages came from a trace.
    pub traced: bool,
}

impl Breakdown {
    /// Tabulate stages against the reads' features.
    pub fn new(features: &[ReadFeatures], mappers: &[MapperStages]) -> Breakdown {
        let tables = Dimension::ALL
            .iter()
            .map(|&d| {
                let bins = d.bins();
                let mut rows: Vec<BreakdownRow> = bins
                    .iter()
                    .chain(std::iter::once(&"all"))
                    .map(|b| BreakdownRow {
                        bin: b.to_string(),
                        reads: 0,
                        stages: vec![HashMap::new(); mappers.len()],
                    })
                    .collect();
                for (i, f) in features.iter().enumerate() {
                    for r in [d.bin(f), bins.len()] {
                        rows[r].reads += 1;
                        for (m, ms) in mappers.iter().enumerate() {
                            *rows[r].stages[m].entry(ms.stages[i]).or_default() += 1;
                        }
                    }
                }
                BreakdownTable { dimension: d, rows }
            })
            .collect();
        Breakdown {
            mappers: mappers.iter().map(|m| m.name.to_string()).collect(),
            traced: mappers.iter().map(|m| m.traced).collect(),
            tables,
        }
    }

    fn columns(traced: bool) -> &'static [Stage] {
        if traced {
            &[
                Stage::NoProposal,
                Stage::Rejected,
                Stage::Wrong,
                Stage::LowMapq,
            ]
        } else {
            &[Stage::Unmapped, Stage::Wrong, Stage::LowMapq]
        }
    }

    /// Markdown: one table per dimension; recall at MAPQ ≥ 20 per mapper,
    /// then each mapper's losses by stage (read counts).
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        for t in &self.tables {
            let mut head = format!("| {} | reads |", t.dimension.heading());
            for m in &self.mappers {
                let _ = write!(head, " {m} recall |");
            }
            for (m, &tr) in self.mappers.iter().zip(&self.traced) {
                for st in Self::columns(tr) {
                    let _ = write!(head, " {m}: {} |", st.label());
                }
            }
            let cols = head.matches('|').count() - 1;
            let _ = writeln!(s, "{head}");
            let _ = writeln!(s, "|{}", "---|".repeat(cols));
            for r in &t.rows {
                if r.reads == 0 {
                    continue;
                }
                let _ = write!(s, "| {} | {} |", r.bin, r.reads);
                for st in &r.stages {
                    let ok = st.get(&Stage::Mapped).copied().unwrap_or(0);
                    let _ = write!(s, " {:.3} |", ok as f64 / r.reads as f64);
                }
                for (st, &tr) in r.stages.iter().zip(&self.traced) {
                    for c in Self::columns(tr) {
                        let _ = write!(s, " {} |", st.get(c).copied().unwrap_or(0));
                    }
                }
                s.push('\n');
            }
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(contig: &str, pos: i64, reverse: bool, diffs: u32) -> NamedCandidate {
        NamedCandidate {
            contig: contig.into(),
            pos,
            reverse,
            diffs,
        }
    }

    fn placed(contig: &str, pos0: u64, mapq: u8) -> Placement {
        Placement {
            contig: contig.into(),
            pos0,
            reverse: false,
            mapq,
        }
    }

    #[test]
    fn features_count_damage_on_the_molecule_strand() {
        // forward: C→T at 0, G→A at 5, one A→G (other)
        let f = read_features(b"TAGTAAGA", b"CAGTAGAA", false);
        assert_eq!(f.damage, Some(2));
        assert_eq!(f.mismatches, Some(1));
        // reverse: molecule = revcomp(fragment) = "GGAC"; read "AGAT": G→A and C→T
        let f = read_features(b"AGAT", b"GTCC", true);
        assert_eq!((f.damage, f.mismatches), (Some(2), Some(0)));
        // an N in the read is a mismatch, a T→C is not damage
        let f = read_features(b"NC", b"AT", false);
        assert_eq!((f.damage, f.mismatches), (Some(0), Some(2)));
        // indels: lengths differ, counts unknown
        let f = read_features(b"ACGTA", b"ACGT", false);
        assert_eq!((f.len, f.damage, f.mismatches), (5, None, None));
    }

    #[test]
    fn stages_on_hand_made_reads() {
        let t = TrueLocus {
            contig: "chrM".into(),
            start: 1000,
            reverse: true,
        };
        let near = (2, vec![cand("chrM", 1010, true, 5)]);
        let far = (2, vec![cand("chrM", 5000, true, 0)]);
        let wrong_strand = (2, vec![cand("chrM", 1000, false, 0)]);
        let p_ok = placed("chrM", 1003, 37);
        let p_low = placed("chrM", 1000, 0);
        let p_far = placed("chrM", 5000, 37);
        let p_other = placed("other", 1000, 37);
        // correct placement: Q ≥ 20 or not, trace or not
        assert_eq!(classify(&t, Some(&p_ok), Some(&near), 16, 5), Stage::Mapped);
        assert_eq!(classify(&t, Some(&p_ok), None, 16, 5), Stage::Mapped);
        assert_eq!(classify(&t, Some(&p_low), None, 16, 5), Stage::LowMapq);
        // 6 bp off is outside the tolerance
        let p_off = placed("chrM", 1006, 37);
        assert_eq!(classify(&t, Some(&p_off), None, 16, 5), Stage::Wrong);
        // traced losses
        assert_eq!(classify(&t, None, Some(&near), 16, 5), Stage::Rejected);
        assert_eq!(classify(&t, Some(&p_far), Some(&near), 16, 5), Stage::Wrong);
        assert_eq!(
            classify(&t, Some(&p_far), Some(&far), 16, 5),
            Stage::NoProposal
        );
        assert_eq!(classify(&t, None, Some(&far), 16, 5), Stage::NoProposal);
        assert_eq!(
            classify(&t, None, Some(&wrong_strand), 16, 5),
            Stage::NoProposal
        );
        assert_eq!(
            classify(&t, None, Some(&(0, vec![])), 16, 5),
            Stage::NoProposal
        );
        // the band decides "near": 10 bp off with pad 8 is not proposed
        assert_eq!(classify(&t, None, Some(&near), 8, 5), Stage::NoProposal);
        // untraced losses
        assert_eq!(classify(&t, None, None, 16, 5), Stage::Unmapped);
        assert_eq!(classify(&t, Some(&p_other), None, 16, 5), Stage::Wrong);
    }

    #[test]
    fn bins_and_table() {
        let f = |len, d, m| ReadFeatures {
            len,
            damage: d,
            mismatches: m,
        };
        assert_eq!(Dimension::Length.bin(&f(19, None, None)), 0);
        assert_eq!(Dimension::Length.bin(&f(20, None, None)), 1);
        assert_eq!(Dimension::Length.bin(&f(34, None, None)), 3);
        assert_eq!(Dimension::Length.bin(&f(39, None, None)), 4);
        assert_eq!(Dimension::Length.bin(&f(40, None, None)), 5);
        assert_eq!(Dimension::Length.bin(&f(400, None, None)), 5);
        assert_eq!(Dimension::Damage.bin(&f(30, Some(7), Some(0))), 3);
        assert_eq!(Dimension::Mismatches.bin(&f(30, Some(7), Some(1))), 1);
        assert_eq!(Dimension::Mismatches.bin(&f(30, None, None)), 4);
        let feats = vec![
            f(22, Some(0), Some(0)),
            f(22, Some(1), Some(0)),
            f(45, Some(3), Some(2)),
        ];
        let crest = MapperStages {
            name: "crest",
            stages: vec![Stage::NoProposal, Stage::Mapped, Stage::Mapped],
            traced: true,
        };
        let bwa = MapperStages {
            name: "bwa aln",
            stages: vec![Stage::Mapped, Stage::Unmapped, Stage::Mapped],
            traced: false,
        };
        let b = Breakdown::new(&feats, &[crest, bwa]);
        let len = &b.tables[0];
        assert_eq!(len.rows[1].bin, "20–24");
        assert_eq!(len.rows[1].reads, 2);
        assert_eq!(len.rows[1].stages[0][&Stage::NoProposal], 1);
        assert_eq!(len.rows[1].stages[1][&Stage::Unmapped], 1);
        let all = len.rows.last().unwrap();
        assert_eq!((all.bin.as_str(), all.reads), ("all", 3));
        assert_eq!(all.stages[0][&Stage::Mapped], 2);
        let md = b.markdown();
        assert!(
            md.contains("| 20–24 | 2 | 0.500 | 0.500 | 1 | 0 | 0 | 0 | 1 | 0 | 0 |"),
            "{md}"
        );
        assert!(md.contains("| all | 3 | 0.667 | 0.667 |"), "{md}");
        // empty bins are left out
        assert!(!md.contains("| 25–29 |"), "{md}");
        assert!(md.contains("crest: not proposed"), "{md}");
        assert!(md.contains("bwa aln: unmapped"), "{md}");
    }
}
