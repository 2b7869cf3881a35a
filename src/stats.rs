//! `crest stats`: what a sequence file holds (format, records, bases), read
//! through the same readers the pipeline uses.

use std::path::Path;

use crate::error::Result;
use crate::io::{detect_format, Format, ReadReader, Reference};

/// Summary of one file.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FileStats {
    /// Path as given.
    pub path: String,
    /// Detected format.
    pub format: String,
    /// Records (reads; contigs for a reference).
    pub records: u64,
    /// Total bases.
    pub bases: u64,
    /// Shortest record.
    pub min_len: u64,
    /// Longest record.
    pub max_len: u64,
    /// Bases that are N (or IUPAC folded to N).
    pub n_bases: u64,
    /// Per-contig (name, length, MD5) when read as a reference.
    pub contigs: Vec<(String, u64, String)>,
}

/// Read a file completely. `as_reference` loads FASTA as a reference (MD5s).
pub fn file_stats(path: &Path, as_reference: bool) -> Result<FileStats> {
    // a stream (`-`, a pipe) is read once, as reads
    let format = if crate::io::rereadable(path) {
        detect_format(path)?
    } else {
        Format::Fastq
    };
    let as_reference = as_reference && format == Format::Fasta;
    let reader = match as_reference {
        true => None,
        false => Some(ReadReader::open(path)?),
    };
    let format = reader.as_ref().map_or(format, |r| r.format());
    let mut s = FileStats {
        path: path.display().to_string(),
        format: format!("{format:?}"),
        records: 0,
        bases: 0,
        min_len: u64::MAX,
        max_len: 0,
        n_bases: 0,
        contigs: Vec::new(),
    };
    let mut add = |len: u64, n: u64| {
        s.records += 1;
        s.bases += len;
        s.min_len = s.min_len.min(len);
        s.max_len = s.max_len.max(len);
        s.n_bases += n;
    };
    let mut contigs = Vec::new();
    if let (true, None) = (as_reference, &reader) {
        let r = Reference::load(path)?;
        for c in &r.contigs {
            add(
                c.seq.len() as u64,
                c.seq.iter().filter(|&&b| b == b'N').count() as u64,
            );
            contigs.push((c.name.clone(), c.seq.len() as u64, c.md5.clone()));
        }
    } else if let Some(reader) = reader {
        for read in reader {
            let read = read?;
            add(
                read.seq.len() as u64,
                read.seq.iter().filter(|&&b| b == b'N').count() as u64,
            );
        }
    }
    s.contigs = contigs;
    if s.records == 0 {
        s.min_len = 0;
    }
    Ok(s)
}
