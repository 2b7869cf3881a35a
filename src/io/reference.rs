//! Reference genomes: multi-contig FASTA (plain or gzip), case folded,
//! IUPAC codes → N, with per-contig MD5 as in SAM @SQ M5.

use std::path::Path;

use md5::{Digest, Md5};

use super::detect::{detect_format, open_text, Format};
use crate::error::{CrestError, Result};
use crate::seq::{fold_base, is_iupac};

/// One reference sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contig {
    /// Name (first word of the FASTA definition line).
    pub name: String,
    /// Bases, upper-case ACGTN.
    pub seq: Vec<u8>,
    /// MD5 (hex) of the upper-cased original sequence, as SAM's @SQ M5.
    pub md5: String,
}

/// A reference genome.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reference {
    /// Contigs in file order.
    pub contigs: Vec<Contig>,
}

impl Reference {
    /// Refuse contig names SAM and VCF do not allow in `@SQ SN`, `##contig`
    /// and CHROM (`[0-9A-Za-z!#$%&+./:;?@^_|~-][0-9A-Za-z!#$%&*+./:;=?@^_|~-]*`):
    /// samtools, bcftools and htslib reject files with them. `path` names
    /// the FASTA and `format` the output in the error.
    pub fn check_contig_names(&self, path: &Path, format: &str) -> Result<()> {
        let ok_first = |c: char| c.is_ascii_alphanumeric() || "!#$%&+./:;?@^_|~-".contains(c);
        let ok_rest = |c: char| ok_first(c) || c == '*' || c == '=';
        for c in &self.contigs {
            let mut chars = c.name.chars();
            if !(chars.next().is_some_and(ok_first) && chars.all(ok_rest)) {
                return Err(CrestError::Invalid(format!(
                    "{}: contig name {:?} is not allowed in {format} (letters, digits and !#$%&+./:;?@^_|~-, and *= after the first character): rename it in the FASTA",
                    path.display(),
                    c.name
                )));
            }
        }
        Ok(())
    }

    /// Load a FASTA file (.gz or BGZF allowed).
    pub fn load(path: &Path) -> Result<Self> {
        match detect_format(path)? {
            Format::Fasta => {}
            Format::Empty => {
                return Err(CrestError::Format {
                    path: path.into(),
                    record: 0,
                    message: "empty file: no reference sequences".into(),
                })
            }
            other => {
                return Err(CrestError::UnknownFormat {
                    path: path.into(),
                    message: format!("expected a FASTA reference, found {other:?}"),
                })
            }
        }
        let reader = open_text(path)?;
        let mut fasta = noodles::fasta::io::Reader::new(reader);
        let mut contigs: Vec<Contig> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, rec) in fasta.records().enumerate() {
            let n = i as u64 + 1;
            let rec = rec.map_err(|e| CrestError::Format {
                path: path.into(),
                record: n,
                message: format!("malformed FASTA: {e}"),
            })?;
            let name = String::from_utf8_lossy(rec.name()).to_string();
            if name.is_empty() {
                return Err(CrestError::Format {
                    path: path.into(),
                    record: n,
                    message: "sequence with an empty name".into(),
                });
            }
            if !seen.insert(name.clone()) {
                return Err(CrestError::Format {
                    path: path.into(),
                    record: n,
                    message: format!("duplicate sequence name '{name}'"),
                });
            }
            let raw = rec.sequence().as_ref();
            let mut upper = Vec::with_capacity(raw.len());
            for (pos, &b) in raw.iter().enumerate() {
                if b.is_ascii_whitespace() {
                    continue;
                }
                if !is_iupac(b) {
                    return Err(CrestError::Format {
                        path: path.into(),
                        record: n,
                        message: format!(
                            "sequence '{name}': invalid base {:?} at position {}",
                            b as char,
                            pos + 1
                        ),
                    });
                }
                upper.push(b.to_ascii_uppercase());
            }
            if upper.is_empty() {
                return Err(CrestError::Format {
                    path: path.into(),
                    record: n,
                    message: format!("sequence '{name}' has no bases"),
                });
            }
            let md5 = hex(&Md5::digest(&upper));
            let seq = upper.iter().map(|&b| fold_base(b)).collect();
            contigs.push(Contig { name, seq, md5 });
        }
        if contigs.is_empty() {
            return Err(CrestError::Format {
                path: path.into(),
                record: 0,
                message: "no sequences (is this a FASTA file?)".into(),
            });
        }
        Ok(Reference { contigs })
    }

    /// Load several FASTA files as one reference (contigs in file order);
    /// contig names must be unique across the files.
    pub fn load_many(paths: &[std::path::PathBuf]) -> Result<Self> {
        let mut all = Reference::default();
        let mut seen: std::collections::HashMap<String, std::path::PathBuf> = Default::default();
        for p in paths {
            let r = Reference::load(p)?;
            for c in r.contigs {
                if let Some(first) = seen.insert(c.name.clone(), p.clone()) {
                    return Err(CrestError::Invalid(format!(
                        "contig '{}' is in both {} and {}: contig names must be unique across references",
                        c.name,
                        first.display(),
                        p.display()
                    )));
                }
                all.contigs.push(c);
            }
        }
        Ok(all)
    }

    /// Total bases over all contigs.
    pub fn total_len(&self) -> u64 {
        self.contigs.iter().map(|c| c.seq.len() as u64).sum()
    }
}

/// MD5 (lower-case hex) of a sequence, as SAM's @SQ M5 (of upper-case bases).
pub fn md5_hex(seq: &[u8]) -> String {
    hex(&Md5::digest(seq.to_ascii_uppercase()))
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
