//! Alignments in PAF (minimap2's output) as anchors: the alignment-based
//! baseline of `crest sv --paf` chains and calls them exactly as crest's own
//! window placements.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use super::Anchor;
use crate::error::{CrestError, Result};
use crate::io::Reference;

/// Anchors per query name from a PAF file: primary and supplementary
/// alignments (secondary ones, `tp:A:S`, are skipped) with mapping quality
/// ≥ `min_mapq`, cut at indels of `split_at` bp or more when the line has
/// its CIGAR (`minimap2 -c`). A line that is not PAF, or names a target missing from the
/// reference, is an error naming the file and line.
pub fn read_paf(
    path: &Path,
    reference: &Reference,
    min_mapq: u8,
    split_at: u64,
) -> Result<HashMap<String, Vec<Anchor>>> {
    let file = std::fs::File::open(path).map_err(|e| CrestError::io(path, e))?;
    let contig: HashMap<&str, usize> = reference
        .contigs
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    let mut out: HashMap<String, Vec<Anchor>> = HashMap::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| CrestError::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |m: String| CrestError::Format {
            path: path.into(),
            record: i as u64 + 1,
            message: m,
        };
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 12 {
            return Err(bad(format!("{} columns, PAF has at least 12", f.len())));
        }
        let num = |j: usize| -> Result<u64> {
            f[j].parse()
                .map_err(|_| bad(format!("column {} ('{}') is not a number", j + 1, f[j])))
        };
        let (qs, qe, ts, te, mapq) = (num(2)?, num(3)?, num(7)?, num(8)?, num(11)?);
        if qe <= qs || te <= ts {
            return Err(bad("empty alignment interval".into()));
        }
        if f[12..].contains(&"tp:A:S") || mapq < min_mapq as u64 {
            continue;
        }
        let reverse = match f[4] {
            "+" => false,
            "-" => true,
            s => return Err(bad(format!("strand '{s}' is not + or -"))),
        };
        let &ci = contig
            .get(f[5])
            .ok_or_else(|| bad(format!("target '{}' is not in the reference", f[5])))?;
        // the target interval must lie on the contig, and the query interval
        // within the query length the record states
        let clen = reference.contigs[ci].seq.len() as u64;
        if te > clen {
            return Err(bad(format!(
                "target interval {ts}-{te} runs past the end of '{}' ({clen} bp)",
                f[5]
            )));
        }
        if f[6].parse::<u64>().ok() != Some(clen) {
            return Err(bad(format!(
                "target length {} differs from '{}' in the reference ({clen} bp): another assembly?",
                f[6], f[5]
            )));
        }
        if num(1)? < qe {
            return Err(bad(format!(
                "query interval {qs}-{qe} runs past the query length {}",
                f[1]
            )));
        }
        let cigar = f[12..].iter().find_map(|t| t.strip_prefix("cg:Z:"));
        let pieces = match cigar {
            Some(c) => split_cigar(c, qs, qe, ts, reverse, split_at)
                .ok_or_else(|| bad(format!("cg:Z:{c} does not fit the alignment's intervals")))?,
            None => vec![(qs, qe - qs, ts, te - ts)],
        };
        out.entry(f[0].to_string()).or_default().extend(
            pieces.into_iter().map(|(q, ql, t, tl)| {
                Anchor::from_alignment(q as u32, ql as u32, ci, reverse, t, tl)
            }),
        );
    }
    Ok(out)
}

/// Cut an alignment at every insertion or deletion of at least `split_at`
/// bp (minimap2 bridges large indels inside one alignment): the gapless
/// pieces as (query start, query length, target start, target length),
/// query coordinates on the query's forward strand. None when the CIGAR's
/// lengths do not add up to the intervals.
fn split_cigar(
    cigar: &str,
    qs: u64,
    qe: u64,
    ts: u64,
    reverse: bool,
    split_at: u64,
) -> Option<Vec<(u64, u64, u64, u64)>> {
    // walk in target order; the query runs backwards on the reverse strand
    let mut pieces = Vec::new();
    let (mut q, mut t) = (0u64, ts); // q: query bases consumed so far
    let (mut pq, mut pt) = (0u64, ts); // start of the current piece
    let mut num = 0u64;
    let close = |pq: u64, q: u64, pt: u64, t: u64, pieces: &mut Vec<(u64, u64, u64, u64)>| {
        if q > pq && t > pt {
            let start = if reverse { qe - q } else { qs + pq };
            pieces.push((start, q - pq, pt, t - pt));
        }
    };
    for ch in cigar.chars() {
        if let Some(d) = ch.to_digit(10) {
            num = num * 10 + d as u64;
            continue;
        }
        match ch {
            'M' | '=' | 'X' => {
                q += num;
                t += num;
            }
            'I' | 'D' => {
                let big = num >= split_at;
                if big {
                    close(pq, q, pt, t, &mut pieces);
                }
                if ch == 'I' {
                    q += num;
                } else {
                    t += num;
                }
                if big {
                    (pq, pt) = (q, t);
                }
            }
            _ => return None,
        }
        num = 0;
    }
    if q != qe - qs {
        return None;
    }
    close(pq, q, pt, t, &mut pieces);
    Some(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_indels_split_an_alignment() {
        // 100M 500D 50M 200I 30M on the forward strand
        let p = split_cigar("100M500D50M200I30M", 10, 390, 1000, false, 100).unwrap();
        assert_eq!(
            p,
            vec![
                (10, 100, 1000, 100),
                (110, 50, 1600, 50),
                (360, 30, 1650, 30)
            ]
        );
        // small indels stay inside one piece
        let p = split_cigar("100M5D50M", 0, 150, 0, false, 100).unwrap();
        assert_eq!(p, vec![(0, 150, 0, 155)]);
        // reverse strand: the first target piece is the query's end
        let p = split_cigar("100M500D50M", 0, 150, 1000, true, 100).unwrap();
        assert_eq!(p, vec![(50, 100, 1000, 100), (0, 50, 1600, 50)]);
        assert!(split_cigar("100M", 0, 99, 0, false, 100).is_none());
    }
}
