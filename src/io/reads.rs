//! Reads streamed from FASTQ, FASTA, SAM or BAM (format detected; plain,
//! gzip or BGZF). SAM/BAM input yields the original reads: secondary and
//! supplementary records are skipped and reverse-strand records are
//! reverse-complemented back.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use super::detect::{open_input, Format};
use crate::error::{CrestError, Result};
use crate::seq::{fold_base, is_iupac, reverse_complement};

/// One read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadRecord {
    /// Name (first word of the header line).
    pub name: String,
    /// Bases, upper-case ACGTN.
    pub seq: Vec<u8>,
    /// Phred+33 qualities, same length as `seq`, or empty when the input has none.
    pub qual: Vec<u8>,
    /// Read group (the RG tag of a SAM/BAM record), if any.
    pub rg: Option<String>,
}

enum Inner {
    Fastq(
        noodles::fastq::io::Reader<Box<dyn BufRead + Send>>,
        noodles::fastq::Record,
    ),
    Fasta(noodles::fasta::io::Reader<Box<dyn BufRead + Send>>),
    Sam(
        noodles::sam::io::Reader<Box<dyn BufRead + Send>>,
        noodles::sam::Record,
    ),
    Bam(
        noodles::bam::io::Reader<Box<dyn BufRead + Send>>,
        noodles::bam::Record,
    ),
    Empty,
}

/// A streaming reader of reads.
pub struct ReadReader {
    path: PathBuf,
    format: Format,
    inner: Inner,
    /// Records consumed so far (including skipped SAM/BAM records).
    records: u64,
    /// The `@RG` lines of a SAM/BAM input's header.
    read_groups: Vec<String>,
}

/// The `@RG` lines of a SAM header, as text.
fn read_group_lines(header: &noodles::sam::Header) -> Vec<String> {
    if header.read_groups().is_empty() {
        return Vec::new();
    }
    let mut w = noodles::sam::io::Writer::new(Vec::new());
    if w.write_header(header).is_err() {
        return Vec::new();
    }
    String::from_utf8_lossy(w.get_ref())
        .lines()
        .filter(|l| l.starts_with("@RG\t"))
        .map(str::to_string)
        .collect()
}

/// The read groups of several inputs, each ID once (the first definition
/// wins), in input order.
pub fn merged_read_groups(readers: &[ReadReader]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for r in readers {
        for l in r.read_groups() {
            let id = l
                .split('\t')
                .find_map(|f| f.strip_prefix("ID:"))
                .unwrap_or("");
            if seen.insert(id.to_string()) {
                out.push(l.clone());
            }
        }
    }
    out
}

impl ReadReader {
    /// Open a reads file, detecting its format.
    pub fn open(path: &Path) -> Result<Self> {
        // opened once: `-`, FIFOs and `<(…)` cannot be read twice
        let (text, format) = open_input(path)?;
        let io_err = |e: std::io::Error| CrestError::Format {
            path: path.into(),
            record: 0,
            message: format!("cannot read header: {e}"),
        };
        let mut read_groups = Vec::new();
        let inner = match format {
            Format::Fastq => Inner::Fastq(
                noodles::fastq::io::Reader::new(text),
                noodles::fastq::Record::default(),
            ),
            Format::Fasta => Inner::Fasta(noodles::fasta::io::Reader::new(text)),
            Format::Sam => {
                let mut r = noodles::sam::io::Reader::new(text);
                let header = r.read_header().map_err(io_err)?;
                read_groups = read_group_lines(&header);
                Inner::Sam(r, noodles::sam::Record::default())
            }
            Format::Bam => {
                // `text` is the decompressed BGZF stream (a missing BGZF
                // end-of-file block is warned about at its end)
                let mut r = noodles::bam::io::Reader::from(text);
                let header = r.read_header().map_err(io_err)?;
                read_groups = read_group_lines(&header);
                Inner::Bam(r, noodles::bam::Record::default())
            }
            Format::Empty => Inner::Empty,
        };
        Ok(ReadReader {
            path: path.into(),
            format,
            inner,
            records: 0,
            read_groups,
        })
    }

    /// The `@RG` header lines of a SAM/BAM input (empty for FASTQ/FASTA).
    pub fn read_groups(&self) -> &[String] {
        &self.read_groups
    }

    /// The detected format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, message: impl Into<String>) -> CrestError {
        CrestError::Format {
            path: self.path.clone(),
            record: self.records,
            message: message.into(),
        }
    }

    /// Next read, or None at the end of the file.
    pub fn next_record(&mut self) -> Result<Option<ReadRecord>> {
        loop {
            self.records += 1;
            let r = match &mut self.inner {
                Inner::Empty => None,
                Inner::Fastq(reader, rec) => match reader.read_record(rec) {
                    Ok(0) => None,
                    Ok(_) => Some(fastq_record(rec)),
                    Err(e) => {
                        return Err(self.err(format!("malformed FASTQ: {}", fastq_message(&e))))
                    }
                },
                Inner::Fasta(reader) => match reader.records().next() {
                    None => None,
                    Some(Ok(rec)) => Some(Ok(Some(ReadRecord {
                        name: String::from_utf8_lossy(rec.name()).into(),
                        seq: rec.sequence().as_ref().to_vec(),
                        qual: Vec::new(),
                        rg: None,
                    }))),
                    Some(Err(e)) => return Err(self.err(format!("malformed FASTA: {e}"))),
                },
                Inner::Sam(reader, rec) => match reader.read_record(rec) {
                    Ok(0) => None,
                    Ok(_) => Some(alignment_record(rec)),
                    Err(e) => return Err(self.err(format!("malformed SAM: {e}"))),
                },
                Inner::Bam(reader, rec) => match reader.read_record(rec) {
                    Ok(0) => None,
                    Ok(_) => Some(alignment_record(rec)),
                    Err(e) => return Err(self.err(format!("malformed BAM: {e}"))),
                },
            };
            let Some(r) = r else {
                self.records -= 1;
                return Ok(None);
            };
            match r.map_err(|m| self.err(m))? {
                Some(read) => return self.validate(read).map(Some),
                None => continue, // secondary / supplementary
            }
        }
    }

    fn validate(&self, mut read: ReadRecord) -> Result<ReadRecord> {
        if let Some(pos) = read.seq.iter().position(|&b| !is_iupac(b) && b != b'.') {
            return Err(self.err(format!(
                "read '{}': invalid base {:?} at position {}",
                read.name,
                read.seq[pos] as char,
                pos + 1
            )));
        }
        if !read.qual.is_empty() {
            if read.qual.len() != read.seq.len() {
                return Err(self.err(format!(
                    "read '{}': {} bases but {} quality scores",
                    read.name,
                    read.seq.len(),
                    read.qual.len()
                )));
            }
            if let Some(q) = read.qual.iter().find(|&&q| !(33..=126).contains(&q)) {
                return Err(self.err(format!(
                    "read '{}': invalid quality character {q:#x}",
                    read.name
                )));
            }
        }
        for b in &mut read.seq {
            *b = fold_base(*b);
        }
        Ok(read)
    }

    /// Append up to `max` reads to `out`; returns how many were added (0 at end).
    pub fn next_batch(&mut self, max: usize, out: &mut Vec<ReadRecord>) -> Result<usize> {
        let mut n = 0;
        while n < max {
            match self.next_record()? {
                Some(r) => {
                    out.push(r);
                    n += 1;
                }
                None => break,
            }
        }
        Ok(n)
    }
}

impl Iterator for ReadReader {
    type Item = Result<ReadRecord>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}

/// noodles' FASTQ errors, in the words of the format.
fn fastq_message(e: &std::io::Error) -> String {
    let m = e.to_string();
    if m.contains("description prefix") {
        "expected a '+' separator line after the sequence".into()
    } else if m.contains("name prefix") {
        "expected a header line starting with '@'".into()
    } else {
        m
    }
}

fn fastq_record(rec: &noodles::fastq::Record) -> std::result::Result<Option<ReadRecord>, String> {
    let name = String::from_utf8_lossy(rec.name()).to_string();
    if name.is_empty() {
        return Err("empty read name".into());
    }
    Ok(Some(ReadRecord {
        name,
        seq: rec.sequence().to_vec(),
        qual: rec.quality_scores().to_vec(),
        rg: None,
    }))
}

fn alignment_record(
    rec: &dyn noodles::sam::alignment::Record,
) -> std::result::Result<Option<ReadRecord>, String> {
    let flags = rec.flags().map_err(|e| format!("bad FLAG: {e}"))?;
    if flags.is_secondary() || flags.is_supplementary() {
        return Ok(None);
    }
    let name = rec.name().map(|n| n.to_string()).unwrap_or_default();
    let mut seq: Vec<u8> = rec.sequence().iter().collect();
    let mut qual = Vec::with_capacity(seq.len());
    for q in rec.quality_scores().iter() {
        let q = q.map_err(|e| format!("bad QUAL: {e}"))?;
        qual.push(q);
    }
    // BAM marks missing qualities with 0xFF.
    if qual.iter().any(|&q| q > 93) {
        qual.clear();
    }
    let mut qual: Vec<u8> = qual.into_iter().map(|q| q + 33).collect();
    if flags.is_reverse_complemented() {
        seq = reverse_complement(&seq);
        qual.reverse();
    }
    let rg = match rec
        .data()
        .get(&noodles::sam::alignment::record::data::field::Tag::READ_GROUP)
    {
        Some(Ok(noodles::sam::alignment::record::data::field::Value::String(s))) => {
            Some(String::from_utf8_lossy(s).into_owned())
        }
        Some(Ok(_)) => return Err("RG tag is not a string".into()),
        Some(Err(e)) => return Err(format!("bad RG tag: {e}")),
        None => None,
    };
    Ok(Some(ReadRecord {
        name,
        seq,
        qual,
        rg,
    }))
}
