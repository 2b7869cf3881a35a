//! Labelled sequences for the supervised classifiers: CSV with a header
//! (GUE's `sequence,label`, Genomic Benchmarks' and TEB's `seq,label`; other
//! columns ignored; `.gz` allowed) or FASTA with the label in the header
//! (a regular expression whose group `label`, or first group, is the label).
//! Labels are class indices, integers from 0 to [`MAX_CLASSES`] − 1; sequences are A, C, G, T and N (any
//! case). Every problem is one error naming the file and line (or record).

use std::path::{Path, PathBuf};

use regex::Regex;

use super::labels::split_csv;
use crate::error::{CrestError, Result};
use crate::io::open_text;

/// Sequences with integer labels.
#[derive(Clone, Debug, Default)]
pub struct LabelledSeqs {
    /// Source file.
    pub path: PathBuf,
    /// Identifiers (FASTA names, or `line<N>` for CSV rows).
    pub ids: Vec<String>,
    /// Sequences, upper case.
    pub seqs: Vec<Vec<u8>>,
    /// Labels (empty when the file has none and none were required).
    pub labels: Vec<u32>,
}

/// Where labels are read from.
#[derive(Clone, Debug, Default)]
pub struct TableFormat {
    /// CSV column of the sequence (default: `sequence`, else `seq`).
    pub seq_column: Option<String>,
    /// CSV column of the label (default `label`).
    pub label_column: Option<String>,
    /// For FASTA: regular expression on the header line (without `>`).
    pub label_regex: Option<String>,
    /// Accept a file without labels (prediction): no label column, or
    /// FASTA without `label_regex`.
    pub labels_optional: bool,
}

fn line_err(path: &Path, line: usize, message: impl Into<String>) -> CrestError {
    CrestError::Format {
        path: path.into(),
        record: line as u64,
        message: format!("line {line}: {}", message.into()),
    }
}

/// Check a sequence's letters (upper-cases in place).
fn clean(seq: &mut [u8]) -> std::result::Result<(), String> {
    seq.make_ascii_uppercase();
    if seq.is_empty() {
        return Err("empty sequence".into());
    }
    match seq
        .iter()
        .position(|b| !matches!(b, b'A' | b'C' | b'G' | b'T' | b'N'))
    {
        Some(i) => Err(format!(
            "sequence has {:?} at position {} (allowed: A, C, G, T, N)",
            seq[i] as char,
            i + 1
        )),
        None => Ok(()),
    }
}

/// Most classes a label file may imply: labels are class indices, and the
/// classifier has one output (and one row of weights) per index up to the
/// largest, so a stray large label would otherwise ask for gigabytes.
pub const MAX_CLASSES: usize = 65_536;

fn parse_label(s: &str) -> std::result::Result<u32, String> {
    let v = s
        .trim()
        .parse::<u64>()
        .map_err(|_| format!("label {:?} is not a non-negative integer", s.trim()))?;
    if v >= MAX_CLASSES as u64 {
        return Err(format!(
            "label {v} is above the limit of {} (labels are class indices 0, 1, 2, …; at most {MAX_CLASSES} classes)",
            MAX_CLASSES - 1
        ));
    }
    Ok(v as u32)
}

impl LabelledSeqs {
    /// Read `path` (FASTA when it starts with `>`, else CSV).
    pub fn load(path: &Path, fmt: &TableFormat) -> Result<LabelledSeqs> {
        let mut r = open_text(path)?;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut r, &mut text).map_err(|e| CrestError::io(path, e))?;
        let set = if text.trim_start().starts_with('>') {
            Self::fasta(path, &text, fmt)?
        } else {
            Self::csv(path, &text, fmt)?
        };
        if set.seqs.is_empty() {
            return Err(CrestError::Format {
                path: path.into(),
                record: 0,
                message: "no sequences (empty split)".into(),
            });
        }
        Ok(set)
    }

    fn csv(path: &Path, text: &str, fmt: &TableFormat) -> Result<LabelledSeqs> {
        let mut lines = text.lines().enumerate();
        let (_, header) = lines
            .next()
            .ok_or_else(|| line_err(path, 1, "empty file (expected a CSV header)"))?;
        let cols = split_csv(header.trim_end_matches('\r')).map_err(|e| line_err(path, 1, e))?;
        let find = |name: &str| cols.iter().position(|c| c.trim() == name);
        let si = match &fmt.seq_column {
            Some(c) => find(c)
                .ok_or_else(|| line_err(path, 1, format!("header {cols:?} has no column {c:?}")))?,
            None => find("sequence").or_else(|| find("seq")).ok_or_else(|| {
                line_err(
                    path,
                    1,
                    format!("header {cols:?} has no column \"sequence\" or \"seq\""),
                )
            })?,
        };
        let lc = fmt.label_column.as_deref().unwrap_or("label");
        let li = match find(lc) {
            Some(i) => Some(i),
            None if fmt.labels_optional && fmt.label_column.is_none() => None,
            None => {
                return Err(line_err(
                    path,
                    1,
                    format!("header {cols:?} has no column {lc:?}"),
                ))
            }
        };
        let mut set = LabelledSeqs {
            path: path.into(),
            ..Default::default()
        };
        for (i, line) in lines {
            let n = i + 1;
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            let f = split_csv(line).map_err(|e| line_err(path, n, e))?;
            if f.len() <= si.max(li.unwrap_or(0)) {
                return Err(line_err(
                    path,
                    n,
                    format!("{} fields; the header has {}", f.len(), cols.len()),
                ));
            }
            let mut seq = f[si].trim().as_bytes().to_vec();
            clean(&mut seq).map_err(|e| line_err(path, n, e))?;
            if let Some(li) = li {
                set.labels
                    .push(parse_label(&f[li]).map_err(|e| line_err(path, n, e))?);
            }
            set.ids.push(format!("line{n}"));
            set.seqs.push(seq);
        }
        Ok(set)
    }

    fn fasta(path: &Path, text: &str, fmt: &TableFormat) -> Result<LabelledSeqs> {
        let re =
            match fmt.label_regex.as_deref() {
                Some(r) => Some(Regex::new(r).map_err(|e| {
                    CrestError::option("--label-regex", format!("--label-regex: {e}"))
                })?),
                None if fmt.labels_optional => None,
                None => {
                    return Err(CrestError::Invalid(format!(
                        "{} is FASTA: give --label-regex to find the label in each header",
                        path.display()
                    )))
                }
            };
        let mut set = LabelledSeqs {
            path: path.into(),
            ..Default::default()
        };
        let mut cur: Option<(usize, String, Vec<u8>)> = None;
        let finish =
            |cur: Option<(usize, String, Vec<u8>)>, set: &mut LabelledSeqs| -> Result<()> {
                if let Some((n, header, mut seq)) = cur {
                    clean(&mut seq).map_err(|e| line_err(path, n, e))?;
                    if let Some(re) = &re {
                        let caps = re.captures(&header).ok_or_else(|| {
                            line_err(
                                path,
                                n,
                                format!("header {header:?} does not match --label-regex"),
                            )
                        })?;
                        let m = caps.name("label").or_else(|| caps.get(1)).ok_or_else(|| {
                            line_err(path, n, "--label-regex has no group (name one `label`)")
                        })?;
                        set.labels
                            .push(parse_label(m.as_str()).map_err(|e| line_err(path, n, e))?);
                    }
                    set.ids
                        .push(header.split_whitespace().next().unwrap_or("").to_string());
                    set.seqs.push(seq);
                }
                Ok(())
            };
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if let Some(h) = line.strip_prefix('>') {
                finish(cur.take(), &mut set)?;
                cur = Some((i + 1, h.to_string(), Vec::new()));
            } else if let Some((_, _, seq)) = cur.as_mut() {
                seq.extend(line.trim().bytes());
            } else if !line.trim().is_empty() {
                return Err(line_err(
                    path,
                    i + 1,
                    "sequence before the first '>' header",
                ));
            }
        }
        finish(cur.take(), &mut set)?;
        Ok(set)
    }

    /// Number of sequences.
    pub fn len(&self) -> usize {
        self.seqs.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }

    /// Number of classes the labels imply (largest label + 1).
    pub fn classes(&self) -> usize {
        self.labels.iter().max().map_or(0, |&m| m as usize + 1)
    }

    /// Whether every sequence has a label.
    pub fn labelled(&self) -> bool {
        self.labels.len() == self.seqs.len()
    }

    /// Refuse a set without labels, or labels the model does not know,
    /// naming the first such line.
    pub fn check_labels(&self, classes: usize) -> Result<()> {
        if !self.labelled() {
            return Err(CrestError::Format {
                path: self.path.clone(),
                record: 0,
                message: "no labels (a CSV needs a label column; FASTA needs --label-regex)".into(),
            });
        }
        if let Some(i) = self.labels.iter().position(|&l| l as usize >= classes) {
            return Err(CrestError::Format {
                path: self.path.clone(),
                record: (i + 1) as u64,
                message: format!(
                    "{}: label {} is unknown to the model (classes 0..{})",
                    self.ids[i],
                    self.labels[i],
                    classes - 1
                ),
            });
        }
        Ok(())
    }

    /// A seeded split into (first, second) with `frac` of the rows in the second.
    pub fn split(&self, frac: f64, seed: u64) -> (LabelledSeqs, LabelledSeqs) {
        let mut idx: Vec<usize> = (0..self.len()).collect();
        let mut rng = crate::rng::Rng::new(seed ^ 0x5350_4c49_5421);
        for i in (1..idx.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            idx.swap(i, j);
        }
        let cut = self.len() - ((self.len() as f64 * frac).round() as usize).min(self.len());
        let take = |ix: &[usize]| LabelledSeqs {
            path: self.path.clone(),
            ids: ix.iter().map(|&i| self.ids[i].clone()).collect(),
            seqs: ix.iter().map(|&i| self.seqs[i].clone()).collect(),
            labels: ix
                .iter()
                .filter_map(|&i| self.labels.get(i).copied())
                .collect(),
        };
        let (a, b) = idx.split_at(cut);
        let (mut a, mut b) = (a.to_vec(), b.to_vec());
        a.sort_unstable();
        b.sort_unstable();
        (take(&a), take(&b))
    }
}
