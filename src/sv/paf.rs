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
/// ≥ `min_mapq`. A line that is not PAF, or names a target missing from the
/// reference, is an error naming the file and line.
pub fn read_paf(
    path: &Path,
    reference: &Reference,
    min_mapq: u8,
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
        out.entry(f[0].to_string())
            .or_default()
            .push(Anchor::from_alignment(
                qs as u32,
                (qe - qs) as u32,
                ci,
                reverse,
                ts,
                te - ts,
            ));
    }
    Ok(out)
}
