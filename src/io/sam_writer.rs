//! Writing SAM and BAM ([`SamWriter`]): the header, records in input order
//! or coordinate-sorted through the bounded-memory [`Sorter`], and the BAM
//! index (BAI or CSI) built as records are written. The records themselves
//! and the header text live in [`super::sam`].

use std::path::PathBuf;

use noodles::sam;
use noodles::sam::alignment::io::Write as _;
use noodles::sam::alignment::record::cigar::op::{Kind, Op};
use noodles::sam::alignment::record::data::field::Tag;
use noodles::sam::alignment::record_buf::data::field::Value;
use noodles::sam::alignment::RecordBuf;

use super::output::{Output, Staged, Target};
use super::reference::Reference;
use super::sam::{
    header_text, parse_read_group, IndexFormat, ReadGroups, SamFormat, SamRecord, SortOrder,
    TagValue,
};
use super::sort::{SortOptions, Sorter};
use crate::error::{CrestError, Result};

/// Smallest bin of a CSI index: 2^14 bp, as samtools index -c.
const CSI_MIN_SHIFT: u8 = 14;

/// CSI levels for contigs up to `max_len`, computed as htslib does
/// (`sam_index`: levels grow by 8× from 2^min_shift until they cover
/// max_len + 256), so the index equals `samtools index -c`'s.
fn csi_depth(max_len: usize) -> u8 {
    let need = max_len as u64 + 256;
    let mut depth = 0u8;
    let mut span = 1u64 << CSI_MIN_SHIFT;
    while need > span {
        depth += 1;
        span <<= 3;
    }
    depth
}

type Chunk = noodles::csi::binning_index::index::reference_sequence::bin::Chunk;
type Binned = noodles::csi::binning_index::index::reference_sequence::index::BinnedIndex;
type Context = Option<(
    usize,
    noodles::core::Position,
    noodles::core::Position,
    bool,
)>;

enum Indexer {
    Bai(noodles::bam::index::Indexer),
    Csi(noodles::csi::binning_index::Indexer<Binned>),
}

/// A BAM index being built as the sorted records are written. A record's
/// chunk ends where the next record starts; the last one ends after the
/// final block is flushed, so every offset is the one htslib would read back
/// (a record ending a block ends at the next block's start).
struct IndexBuild {
    out: Output,
    indexer: Indexer,
    pending: Option<(Context, noodles::bgzf::VirtualPosition)>,
}

impl IndexBuild {
    /// A record starting at `start` was written.
    fn push(&mut self, ctx: Context, start: noodles::bgzf::VirtualPosition) -> std::io::Result<()> {
        self.close(start)?;
        self.pending = Some((ctx, start));
        Ok(())
    }

    /// The last record written ends at `end`.
    fn close(&mut self, end: noodles::bgzf::VirtualPosition) -> std::io::Result<()> {
        match self.pending.take() {
            Some((ctx, start)) => self.add(ctx, Chunk::new(start, end)),
            None => Ok(()),
        }
    }

    fn add(&mut self, ctx: Context, chunk: Chunk) -> std::io::Result<()> {
        let r = match &mut self.indexer {
            Indexer::Bai(i) => i.add_record(ctx, chunk),
            Indexer::Csi(i) => i.add_record(ctx, chunk),
        };
        r.map_err(std::io::Error::other)
    }

    fn write(self, contigs: usize) -> Result<Output> {
        let mut out = self.out;
        let res = match self.indexer {
            Indexer::Bai(i) => match i.build(contigs) {
                noodles::bam::Index::Bai(b) => {
                    noodles::bam::bai::io::Writer::new(&mut out).write_index(&b)
                }
                noodles::bam::Index::Csi(c) => {
                    noodles::csi::io::Writer::new(&mut out).write_index(&c)
                }
            },
            Indexer::Csi(i) => {
                noodles::csi::io::Writer::new(&mut out).write_index(&i.build(contigs))
            }
        };
        res.map_err(|e| out.error(e))?;
        Ok(out)
    }
}

type Bgzf = noodles::bgzf::io::Writer<Output>;

enum Sink {
    Sam(sam::io::Writer<Output>),
    SamGz(sam::io::Writer<Bgzf>),
    Bam(noodles::bam::io::Writer<Bgzf>),
}

/// Writes SAM, BAM or BGZF-compressed SAM to an [`Output`].
pub struct SamWriter {
    header: sam::Header,
    sink: Option<Sink>,
    rg_id: Option<String>,
    /// Read groups declared from the inputs (records keep theirs).
    declared: std::collections::HashSet<String>,
    name: PathBuf,
    sorter: Option<Sorter>,
    index: Option<IndexBuild>,
}

impl SamWriter {
    /// Start writing `format` to `out`: the header now, records with
    /// [`SamWriter::write`], and [`SamWriter::finish`] to complete the file
    /// (dropping the writer unfinished removes a temporary file).
    pub fn create(
        out: Output,
        format: SamFormat,
        reference: &Reference,
        read_group: Option<&str>,
        command_line: &str,
    ) -> Result<Self> {
        Self::create_with(out, format, reference, read_group.into(), command_line)
    }

    /// [`SamWriter::create`] with read groups from `-R` or from the inputs.
    pub fn create_with(
        out: Output,
        format: SamFormat,
        reference: &Reference,
        groups: ReadGroups<'_>,
        command_line: &str,
    ) -> Result<Self> {
        Self::build(
            out,
            format,
            reference,
            groups,
            command_line,
            SortOrder::Unsorted,
        )
    }

    /// Like [`SamWriter::create`], but the records are coordinate-sorted in
    /// bounded memory (`sort`) and written at [`SamWriter::finish`]; with
    /// `index` (BAM only) the BAI/CSI index is built on the way and committed
    /// right after the BAM.
    pub fn create_sorted(
        out: Output,
        format: SamFormat,
        reference: &Reference,
        read_group: Option<&str>,
        command_line: &str,
        sort: SortOptions,
        index: Option<(Output, IndexFormat)>,
    ) -> Result<Self> {
        Self::create_sorted_with(
            out,
            format,
            reference,
            read_group.into(),
            command_line,
            sort,
            index,
        )
    }

    /// [`SamWriter::create_sorted`] with read groups from `-R` or the inputs.
    pub fn create_sorted_with(
        out: Output,
        format: SamFormat,
        reference: &Reference,
        groups: ReadGroups<'_>,
        command_line: &str,
        sort: SortOptions,
        index: Option<(Output, IndexFormat)>,
    ) -> Result<Self> {
        if index.is_some() && format != SamFormat::Bam {
            return Err(CrestError::Invalid(
                "only a BAM output can be indexed".into(),
            ));
        }
        let sorter = Sorter::new(sort)?;
        let index = match index {
            Some((out, format)) => {
                format.check(reference)?;
                let indexer = match format {
                    IndexFormat::Bai => Indexer::Bai(
                        noodles::bam::index::Indexer::builder()
                            .set_format(noodles::bam::index::Format::Bai)
                            .build()
                            .map_err(|e| CrestError::Invalid(format!("BAM index: {e}")))?,
                    ),
                    IndexFormat::Csi => {
                        let longest = reference.contigs.iter().map(|c| c.seq.len()).max();
                        let depth = csi_depth(longest.unwrap_or(0));
                        Indexer::Csi(
                            noodles::csi::binning_index::Indexer::new(CSI_MIN_SHIFT, depth)
                                .ok_or_else(|| {
                                    CrestError::Invalid("reference too long for CSI".into())
                                })?,
                        )
                    }
                };
                Some(IndexBuild {
                    out,
                    indexer,
                    pending: None,
                })
            }
            None => None,
        };
        let mut w = Self::build(
            out,
            format,
            reference,
            groups,
            command_line,
            SortOrder::Coordinate,
        )?;
        w.sorter = Some(sorter);
        w.index = index;
        Ok(w)
    }

    fn build(
        out: Output,
        format: SamFormat,
        reference: &Reference,
        groups: ReadGroups<'_>,
        command_line: &str,
        order: SortOrder,
    ) -> Result<Self> {
        let mut declared = std::collections::HashSet::new();
        let (rg_line, rg_id) = match groups {
            ReadGroups::Given(rg) => {
                let (l, id) = parse_read_group(rg)?;
                (Some(l), Some(id))
            }
            ReadGroups::Input(lines) if !lines.is_empty() => {
                for l in lines {
                    if let Some(id) = l.split('\t').find_map(|f| f.strip_prefix("ID:")) {
                        declared.insert(id.to_string());
                    }
                }
                (Some(lines.join("\n")), None)
            }
            _ => (None, None),
        };
        let text = header_text(reference, rg_line.as_deref(), command_line, order);
        let header: sam::Header = text
            .parse()
            .map_err(|e| CrestError::Invalid(format!("invalid SAM header (check -R): {e}")))?;
        let name: PathBuf = match out.target() {
            Target::Stdout => "-".into(),
            Target::Fd(fd) => format!("/dev/fd/{fd}").into(),
            Target::Special(p) | Target::File(p) => p.clone(),
        };
        let raw = out;
        let mut sink = match format {
            SamFormat::Bam => Sink::Bam(noodles::bam::io::Writer::new(raw)),
            SamFormat::Sam => Sink::Sam(sam::io::Writer::new(raw)),
            SamFormat::SamGz => {
                Sink::SamGz(sam::io::Writer::new(noodles::bgzf::io::Writer::new(raw)))
            }
        };
        let r = match &mut sink {
            Sink::Sam(w) => w.write_header(&header),
            Sink::SamGz(w) => w.write_header(&header),
            Sink::Bam(w) => w.write_header(&header),
        };
        r.map_err(|e| CrestError::io(&name, e))?;
        Ok(SamWriter {
            header,
            sink: Some(sink),
            rg_id,
            declared,
            name,
            sorter: None,
            index: None,
        })
    }

    fn path(&self) -> PathBuf {
        self.name.clone()
    }

    /// Write one record (a sorting writer keeps a copy until `finish`).
    pub fn write(&mut self, r: &SamRecord) -> Result<()> {
        match &mut self.sorter {
            Some(s) => s.push(r.clone()),
            None => self.emit(r),
        }
    }

    /// Write one record, handing it over (no copy when sorting).
    pub fn push(&mut self, r: SamRecord) -> Result<()> {
        match &mut self.sorter {
            Some(s) => s.push(r),
            None => self.emit(&r),
        }
    }

    /// Encode and write a record to the file now (and index it).
    fn emit(&mut self, r: &SamRecord) -> Result<()> {
        let buf = self.to_record_buf(r)?;
        let path = self.path();
        let sink = self.sink.as_mut().expect("writer used after finish");
        let res = match sink {
            Sink::Sam(w) => w.write_alignment_record(&self.header, &buf),
            Sink::SamGz(w) => w.write_alignment_record(&self.header, &buf),
            Sink::Bam(w) => {
                let start = w.get_ref().virtual_position();
                let res = w.write_alignment_record(&self.header, &buf);
                match (res, &mut self.index) {
                    (Ok(()), Some(ix)) => ix.push(alignment_context(r), start),
                    (res, _) => res,
                }
            }
        };
        res.map_err(|e| CrestError::io(path, e))
    }

    fn to_record_buf(&self, r: &SamRecord) -> Result<RecordBuf> {
        let bad = |m: String| CrestError::Invalid(format!("record '{}': {m}", r.name));
        let mut b = RecordBuf::builder()
            .set_flags(sam::alignment::record::Flags::from(r.flag))
            .set_sequence(r.seq.clone().into());
        if !r.name.is_empty() {
            b = b.set_name(r.name.as_bytes());
        }
        if !r.qual.is_empty() {
            if r.qual.len() != r.seq.len() {
                return Err(bad("QUAL and SEQ lengths differ".into()));
            }
            b = b.set_quality_scores(r.qual.iter().map(|q| q - 33).collect::<Vec<u8>>().into());
        }
        if let Some(c) = r.contig {
            b = b.set_reference_sequence_id(c);
        }
        if let Some(p) = r.pos {
            let pos =
                noodles::core::Position::new(p + 1).ok_or_else(|| bad("bad position".into()))?;
            b = b.set_alignment_start(pos);
        }
        if let Some(mq) = sam::alignment::record::MappingQuality::new(r.mapq) {
            b = b.set_mapping_quality(mq);
        }
        if !r.cigar.is_empty() {
            let mut ops = Vec::with_capacity(r.cigar.len());
            for &(c, n) in &r.cigar {
                let kind = match c {
                    b'M' => Kind::Match,
                    b'I' => Kind::Insertion,
                    b'D' => Kind::Deletion,
                    b'N' => Kind::Skip,
                    b'S' => Kind::SoftClip,
                    b'H' => Kind::HardClip,
                    b'=' => Kind::SequenceMatch,
                    b'X' => Kind::SequenceMismatch,
                    _ => return Err(bad(format!("bad CIGAR op {:?}", c as char))),
                };
                ops.push(Op::new(kind, n as usize));
            }
            b = b.set_cigar(ops.into());
        }
        let mut data: Vec<(Tag, Value)> = Vec::new();
        if let Some(nm) = r.nm {
            data.push((Tag::EDIT_DISTANCE, Value::from(nm)));
        }
        if let Some(md) = &r.md {
            data.push((Tag::MISMATCHED_POSITIONS, Value::from(md.as_str())));
        }
        let rg = self
            .rg_id
            .as_deref()
            .or(r.rg.as_deref().filter(|g| self.declared.contains(*g)));
        if let Some(id) = rg {
            data.push((Tag::READ_GROUP, Value::from(id)));
        }
        for (tag, v) in &r.tags {
            let value = match v {
                TagValue::Char(c) => Value::Character(*c),
                TagValue::Int(i) => Value::from(*i),
                TagValue::Str(s) => Value::from(s.as_str()),
            };
            data.push((Tag::new(tag[0], tag[1]), value));
        }
        if !data.is_empty() {
            b = b.set_data(data.into_iter().collect());
        }
        Ok(b.build())
    }

    /// Flush, finish (BGZF EOF block for BAM and .sam.gz) and move the file
    /// into place. A sorting writer first merges and writes its records; its
    /// index, if any, is committed right after the BAM.
    pub fn finish(self) -> Result<()> {
        crate::io::output::commit_all(self.finish_staged()?)
    }

    /// Like [`SamWriter::finish`] but leaves the output (and its index)
    /// written and not yet moved into place, to be committed with the
    /// command's other outputs ([`crate::io::output::commit_all`]).
    pub fn finish_staged(mut self) -> Result<Vec<Staged>> {
        if let Some(sorter) = self.sorter.take() {
            sorter.drain(|r| self.emit(&r))?;
        }
        let path = self.path();
        let sink = self.sink.take().expect("finish called twice");
        let io = |e| CrestError::io(&path, e);
        // finish the BGZF layers (EOF block), then commit the output itself
        let out = match sink {
            Sink::Sam(w) => w.into_inner(),
            Sink::SamGz(w) => {
                let mut gz = w.into_inner();
                gz.try_finish().map_err(io)?;
                gz.into_inner()
            }
            Sink::Bam(mut w) => {
                if let Some(ix) = &mut self.index {
                    std::io::Write::flush(w.get_mut()).map_err(io)?;
                    ix.close(w.get_ref().virtual_position()).map_err(io)?;
                }
                w.try_finish().map_err(io)?;
                w.into_inner().into_inner()
            }
        };
        let mut staged = vec![Staged::File(out)];
        if let Some(ix) = self.index.take() {
            staged.push(Staged::File(
                ix.write(self.header.reference_sequences().len())?,
            ));
        }
        Ok(staged)
    }
}

/// Contig, 1-based start and end and mapped-ness of a placed record, for
/// the BAM index.
fn alignment_context(r: &SamRecord) -> Context {
    let (c, p) = (r.contig?, r.pos?);
    let span: usize = r
        .cigar
        .iter()
        .filter(|(op, _)| matches!(op, b'M' | b'D' | b'N' | b'=' | b'X'))
        .map(|&(_, n)| n as usize)
        .sum();
    let start = noodles::core::Position::new(p + 1)?;
    let end = noodles::core::Position::new(p + span.max(1))?;
    Some((c, start, end, !r.is_unmapped()))
}
