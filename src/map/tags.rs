//! bwa aln's optional tags for a placed read, so that aDNA filters written
//! for bwa (uniqueness by `XT:A:U` or `X0:i:1`, mismatch counts) work on
//! crest's output too.
//!
//! * `XT:A` `U` for a unique best hit, `R` when several hits tie.
//! * `X0:i` best hits, `X1:i` hits one difference worse.
//! * `XM:i` mismatches, `XO:i` gap opens, `XG:i` gap extensions (bases in
//!   gaps), from the primary alignment.
//! * `XA:Z` alternative hits `contig,±pos,CIGAR,NM;` (best and one worse,
//!   when there are at most [`MAX_XA`] of them, as `bwa samse -n 3`).
//! * `AS:i` / `XS:i` minus crest's damage-aware cost (in half differences:
//!   a damage-like or low-quality mismatch costs 1, another difference 2) of
//!   the best and the second-best hit: higher is better, equal means a tie.

use crate::io::TagValue;

/// Alternative hits listed in `XA` at most (bwa samse's `-n` default).
pub const MAX_XA: usize = 3;

/// A tag and its value.
pub type Tag = ([u8; 2], TagValue);

/// What the tags are made of.
#[derive(Clone, Debug, Default)]
pub struct HitSummary<'a> {
    /// Hits tying with the best.
    pub best: usize,
    /// Hits one difference worse.
    pub suboptimal: usize,
    /// The primary alignment's CIGAR and NM.
    pub cigar: &'a [(u8, u32)],
    /// Edit distance of the primary alignment.
    pub nm: u32,
    /// Damage-aware cost of the best hit and of the second best, if any.
    pub cost: u32,
    /// Cost of the second-best hit.
    pub second_cost: Option<u32>,
    /// Alternative hits, each `contig,±pos,CIGAR,NM` (empty when too many).
    pub alternatives: Vec<String>,
}

/// bwa aln's tags (and AS/XS) for a placed read.
pub fn bwa_tags(h: &HitSummary<'_>) -> Vec<Tag> {
    let gaps: Vec<u32> = h
        .cigar
        .iter()
        .filter(|(op, _)| matches!(op, b'I' | b'D'))
        .map(|&(_, n)| n)
        .collect();
    let gap_bases: u32 = gaps.iter().sum();
    let mut t = vec![
        (*b"XT", TagValue::Char(if h.best > 1 { b'R' } else { b'U' })),
        (*b"X0", TagValue::Int(h.best as i32)),
        (*b"X1", TagValue::Int(h.suboptimal as i32)),
        (*b"XM", TagValue::Int(h.nm.saturating_sub(gap_bases) as i32)),
        (*b"XO", TagValue::Int(gaps.len() as i32)),
        (*b"XG", TagValue::Int(gap_bases as i32)),
        (*b"AS", TagValue::Int(-(h.cost as i32))),
    ];
    if let Some(c) = h.second_cost {
        t.push((*b"XS", TagValue::Int(-(c as i32))));
    }
    if !h.alternatives.is_empty() {
        let mut s = h.alternatives.join(";");
        s.push(';');
        t.push((*b"XA", TagValue::Str(s)));
    }
    t
}

/// CIGAR text of (op, length) pairs.
pub fn cigar_text(cigar: &[(u8, u32)]) -> String {
    cigar
        .iter()
        .map(|&(op, n)| format!("{n}{}", op as char))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(t: &'a [Tag], tag: &[u8; 2]) -> Option<&'a TagValue> {
        t.iter().find(|(n, _)| n == tag).map(|(_, v)| v)
    }

    #[test]
    fn unique_and_repeat_hits_and_gap_counts() {
        let cigar = [(b'M', 10), (b'I', 2), (b'M', 5), (b'D', 1), (b'M', 20)];
        let h = HitSummary {
            best: 1,
            suboptimal: 2,
            cigar: &cigar,
            nm: 5,
            cost: 7,
            second_cost: Some(9),
            alternatives: vec!["chrM,-100,35M,1".into()],
        };
        let t = bwa_tags(&h);
        assert_eq!(get(&t, b"XT"), Some(&TagValue::Char(b'U')));
        assert_eq!(get(&t, b"X0"), Some(&TagValue::Int(1)));
        assert_eq!(get(&t, b"X1"), Some(&TagValue::Int(2)));
        // 5 edits, 3 of them gap bases: 2 mismatches, 2 gap opens, 3 extensions
        assert_eq!(get(&t, b"XM"), Some(&TagValue::Int(2)));
        assert_eq!(get(&t, b"XO"), Some(&TagValue::Int(2)));
        assert_eq!(get(&t, b"XG"), Some(&TagValue::Int(3)));
        assert_eq!(get(&t, b"AS"), Some(&TagValue::Int(-7)));
        assert_eq!(get(&t, b"XS"), Some(&TagValue::Int(-9)));
        assert_eq!(
            get(&t, b"XA"),
            Some(&TagValue::Str("chrM,-100,35M,1;".into()))
        );
        let r = bwa_tags(&HitSummary {
            best: 3,
            cigar: &[(b'M', 30)],
            ..HitSummary::default()
        });
        assert_eq!(get(&r, b"XT"), Some(&TagValue::Char(b'R')));
        assert_eq!(get(&r, b"XS"), None);
        assert_eq!(get(&r, b"XA"), None);
        assert_eq!(cigar_text(&cigar), "10M2I5M1D20M");
    }
}
