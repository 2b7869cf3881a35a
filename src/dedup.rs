//! Duplicate marking for ancient DNA: in a coordinate-sorted BAM of merged
//! (single-end) reads, alignments are copies of one molecule when they share
//! contig, strand and *both* ends — the molecule's two ends are known once
//! the read pair was collapsed. samtools markdup compares single reads by
//! their 5′ position and strand only, so it also marks different molecules
//! that share one end (DeDup's argument for aDNA).
//!
//! Within a set of copies the alignment with the highest sum of base
//! qualities stays unmarked (the first in file order on ties); the others get
//! FLAG 0x400 (or are dropped with `remove`). Unmapped, secondary and
//! supplementary records pass through unchanged. Records are handled one
//! start position at a time, so memory is bounded by the deepest start.

use std::collections::HashMap;
use std::path::Path;

use noodles::bam;
use noodles::sam;
use noodles::sam::alignment::io::Write as _;
use noodles::sam::alignment::record::Flags;
use noodles::sam::alignment::RecordBuf;

use crate::error::{CrestError, Result};
use crate::io::Output;

/// Counts of a dedup run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DedupStats {
    /// Records read.
    pub records: u64,
    /// Primary mapped records compared.
    pub mapped: u64,
    /// Of those, marked (or removed) as duplicates.
    pub duplicates: u64,
}

/// Mark (or remove) duplicates of `input` (coordinate-sorted BAM) into `out`;
/// `command_line` goes into the chained @PG line.
pub fn dedup(input: &Path, out: Output, remove: bool, command_line: &str) -> Result<DedupStats> {
    let io_in = |e| CrestError::io(input, e);
    let format = crate::io::detect_format(input)?;
    if format != crate::io::Format::Bam {
        return Err(CrestError::UnknownFormat {
            path: input.to_path_buf(),
            message: format!(
                "is {format:?}, not BAM; crest dedup reads a coordinate-sorted BAM (samtools view -b, samtools sort)"
            ),
        });
    }
    if crate::io::detect::bgzf_eof_missing(input)? {
        return Err(CrestError::Format {
            path: input.to_path_buf(),
            record: 0,
            message: "no BGZF end-of-file block: the BAM is truncated (cut at a block boundary); \
                      crest dedup refuses it rather than write a complete-looking truncated BAM"
                .into(),
        });
    }
    let mut reader = bam::io::reader::Builder
        .build_from_path(input)
        .map_err(io_in)?;
    let mut header = reader.read_header().map_err(io_in)?;
    let sorted = header
        .header()
        .and_then(|h| {
            h.other_fields()
                .get(&sam::header::record::value::map::header::tag::SORT_ORDER)
        })
        .is_some_and(|so| so == "coordinate");
    if !sorted {
        return Err(CrestError::Invalid(format!(
            "{}: not coordinate-sorted (@HD SO:coordinate); sort it first (crest map --sort, samtools sort)",
            input.display()
        )));
    }
    let pg = sam::header::record::value::Map::<sam::header::record::value::map::Program>::builder()
        .insert(sam::header::record::value::map::program::tag::NAME, "crest")
        .insert(
            sam::header::record::value::map::program::tag::VERSION,
            crate::VERSION,
        )
        .insert(
            sam::header::record::value::map::program::tag::COMMAND_LINE,
            command_line.replace(['\t', '\n'], " "),
        )
        .build()
        .map_err(|e| CrestError::Invalid(format!("@PG: {e}")))?;
    header
        .programs_mut()
        .add("crest-dedup", pg)
        .map_err(|e| CrestError::Invalid(format!("@PG: {e}")))?;
    let name = out.target().display();
    let mut writer = bam::io::Writer::new(out);
    writer
        .write_header(&header)
        .map_err(|e| CrestError::io(&name, e))?;
    let mut sink = GroupWriter {
        writer,
        header,
        remove,
        name,
        stats: DedupStats::default(),
        group: Vec::new(),
        key: None,
    };
    let mut last: Option<(usize, usize)> = None;
    let mut record = bam::Record::default();
    loop {
        let n = reader.read_record(&mut record).map_err(io_in)?;
        if n == 0 {
            break;
        }
        sink.stats.records += 1;
        let bad = |m: String| CrestError::Format {
            path: input.to_path_buf(),
            record: sink.stats.records,
            message: m,
        };
        let buf = RecordBuf::try_from_alignment_record(&sink.header, &record)
            .map_err(|e| bad(format!("cannot decode: {e}")))?;
        let place = match (buf.reference_sequence_id(), buf.alignment_start()) {
            (Some(id), Some(p)) => Some((id, p.get())),
            _ => None,
        };
        if let (Some(p), Some(l)) = (place, last) {
            if p < l {
                return Err(bad("records out of coordinate order".into()));
            }
        }
        last = place.or(last);
        sink.add(place, buf)?;
    }
    sink.flush()?;
    let GroupWriter {
        mut writer,
        name,
        stats,
        ..
    } = sink;
    writer.try_finish().map_err(|e| CrestError::io(&name, e))?;
    writer.into_inner().into_inner().commit()?;
    Ok(stats)
}

/// Writes records, holding those that share a start position until the
/// position changes so their duplicates can be marked. Unplaced records go
/// straight through (they are never compared), so memory is bounded by the
/// deepest start, not by the number of unmapped reads.
struct GroupWriter {
    writer: bam::io::Writer<noodles::bgzf::io::Writer<Output>>,
    header: sam::Header,
    remove: bool,
    name: String,
    stats: DedupStats,
    group: Vec<RecordBuf>,
    key: Option<(usize, usize)>,
}

impl GroupWriter {
    fn add(&mut self, place: Option<(usize, usize)>, r: RecordBuf) -> Result<()> {
        if place != self.key {
            self.flush()?;
            self.key = place;
        }
        if place.is_none() {
            return self.write(&r);
        }
        self.group.push(r);
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        let mut group = std::mem::take(&mut self.group);
        mark(&mut group, &mut self.stats);
        for r in &group {
            if !(self.remove && r.flags().is_duplicate()) {
                self.write(r)?;
            }
        }
        group.clear();
        self.group = group;
        Ok(())
    }

    fn write(&mut self, r: &RecordBuf) -> Result<()> {
        self.writer
            .write_alignment_record(&self.header, r)
            .map_err(|e| CrestError::io(&self.name, e))
    }
}

/// Is this record compared (primary and mapped)?
fn compared(f: Flags) -> bool {
    !(f.is_unmapped() || f.is_secondary() || f.is_supplementary())
}

/// Mark the duplicates among records sharing contig and start: same end and
/// strand; the best (sum of base qualities, then file order) stays.
pub fn mark(group: &mut [RecordBuf], stats: &mut DedupStats) {
    // (end, reverse) → index of the best so far
    let mut best: HashMap<(usize, bool), usize> = HashMap::new();
    let score = |r: &RecordBuf| -> u64 {
        r.quality_scores()
            .as_ref()
            .iter()
            .map(|&q| u64::from(q))
            .sum()
    };
    for i in 0..group.len() {
        let f = group[i].flags();
        if !compared(f) {
            continue;
        }
        stats.mapped += 1;
        group[i].flags_mut().remove(Flags::DUPLICATE);
        let end = group[i].alignment_end().map_or(0, |p| p.get());
        let key = (end, f.is_reverse_complemented());
        match best.get(&key).copied() {
            None => {
                best.insert(key, i);
            }
            Some(b) => {
                stats.duplicates += 1;
                if score(&group[i]) > score(&group[b]) {
                    group[b].flags_mut().insert(Flags::DUPLICATE);
                    best.insert(key, i);
                } else {
                    group[i].flags_mut().insert(Flags::DUPLICATE);
                }
            }
        }
    }
}
