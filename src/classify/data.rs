//! Labelled sequence sets: FASTA (plain or gzipped) records with their
//! lineages from a [`LabelTable`].

use std::path::{Path, PathBuf};

use super::labels::{LabelTable, Lineage};
use crate::error::{CrestError, Result};
use crate::io::open_text;

/// Sequences of one FASTA file, upper-cased, with labels where known.
#[derive(Clone, Debug, Default)]
pub struct SeqSet {
    /// The file.
    pub path: PathBuf,
    /// Full header lines (without '>').
    pub headers: Vec<String>,
    /// Sequences (upper case).
    pub seqs: Vec<Vec<u8>>,
    /// Labels per sequence (None: unlabelled).
    pub lineages: Vec<Option<Lineage>>,
}

/// Whether sequences without labels are an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Labelled {
    /// Every record needs labels (training and validation sets).
    Required,
    /// Labels are optional (queries; truth where present).
    Optional,
}

impl SeqSet {
    /// Read `path`, labelling records from `table` (when given).
    pub fn load(path: &Path, table: Option<&LabelTable>, need: Labelled) -> Result<SeqSet> {
        let format = crate::io::detect_format(path)?;
        if !matches!(format, crate::io::Format::Fasta | crate::io::Format::Empty) {
            return Err(CrestError::UnknownFormat {
                path: path.into(),
                message: format!(
                    "is {format:?}, not FASTA: crest classify reads FASTA (samtools fasta converts FASTQ, SAM and BAM)"
                ),
            });
        }
        let mut reader = noodles::fasta::io::Reader::new(open_text(path)?);
        let mut set = SeqSet {
            path: path.into(),
            ..Default::default()
        };
        let err = |record: usize, message: String| CrestError::Format {
            path: path.into(),
            record: record as u64,
            message,
        };
        for (i, rec) in reader.records().enumerate() {
            let rec = rec.map_err(|e| err(i + 1, format!("malformed FASTA: {e}")))?;
            let name = String::from_utf8_lossy(rec.name()).to_string();
            let header = match rec.description() {
                Some(d) => format!("{name} {}", String::from_utf8_lossy(d)),
                None => name.clone(),
            };
            let seq: Vec<u8> = rec.sequence().as_ref().to_ascii_uppercase();
            // an empty training sequence is an error; an empty query is
            // reported as unclassified, like one with no valid k-mer
            if seq.is_empty() && need == Labelled::Required {
                return Err(err(i + 1, format!("'{name}' has an empty sequence")));
            }
            if let Some(&b) = seq.iter().find(|b| !b.is_ascii_alphabetic()) {
                return Err(err(
                    i + 1,
                    format!(
                        "'{name}' has a character that is not a base: {:?}",
                        b as char
                    ),
                ));
            }
            let lineage = match table {
                Some(t) => t
                    .lookup(&name, &header)
                    .map_err(|m| err(i + 1, format!("'{name}': {m}")))?,
                None => None,
            };
            if lineage.is_none() && need == Labelled::Required {
                return Err(err(
                    i + 1,
                    format!(
                        "'{name}' has no labels in {}",
                        table.map(|t| t.origin()).unwrap_or("(no label source)")
                    ),
                ));
            }
            set.headers.push(header);
            set.seqs.push(seq);
            set.lineages.push(lineage);
        }
        if set.seqs.is_empty() {
            return Err(CrestError::UnknownFormat {
                path: path.into(),
                message: "no FASTA records".into(),
            });
        }
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

    /// Record name (first word of the header) of sequence `i`.
    pub fn name(&self, i: usize) -> &str {
        self.headers[i].split_whitespace().next().unwrap_or("")
    }
}
