//! SAM/BAM output: @HD, @SQ (LN, M5), @RG from `-R`, @PG with the command
//! line. Files go through [`Output`]: written under a temporary name and
//! renamed into place only by [`SamWriter::finish`], so an interrupted run
//! never leaves a partial file that looks complete.
//!
//! A writer made by [`SamWriter::create_sorted`] holds the records in a
//! bounded-memory [`Sorter`] and writes them in coordinate order at
//! [`SamWriter::finish`] (header `SO:coordinate`); for BAM it also builds the
//! BAI or CSI index from the BGZF virtual offsets as the records are written.

use std::path::PathBuf;

use noodles::sam;
use noodles::sam::alignment::io::Write as _;
use noodles::sam::alignment::record::cigar::op::{Kind, Op};
use noodles::sam::alignment::record::data::field::Tag;
use noodles::sam::alignment::record_buf::data::field::Value;
use noodles::sam::alignment::RecordBuf;

use super::output::{Output, Staged, Target};
use super::reference::Reference;
use super::sort::{SortOptions, Sorter};
use crate::error::{CrestError, Result};

/// One alignment record to write.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SamRecord {
    /// Read name.
    pub name: String,
    /// SAM FLAG.
    pub flag: u16,
    /// Contig index into the reference (None = unmapped, `*`).
    pub contig: Option<usize>,
    /// 0-based leftmost position.
    pub pos: Option<usize>,
    /// Mapping quality (255 = unavailable).
    pub mapq: u8,
    /// CIGAR as (op char, length), e.g. ('M', 35).
    pub cigar: Vec<(u8, u32)>,
    /// Bases as they appear on the forward reference strand.
    pub seq: Vec<u8>,
    /// Phred+33 qualities matching `seq`, or empty.
    pub qual: Vec<u8>,
    /// NM tag.
    pub nm: Option<i32>,
    /// MD tag.
    pub md: Option<String>,
    /// Read group (RG tag) the read carried in its input (unaligned SAM/BAM);
    /// written when the output declares that group and `-R` does not
    /// override it.
    pub rg: Option<String>,
    /// More tags, written after NM and MD in this order (bwa aln's XT, X0,
    /// X1, XM, XO, XG, XA and AS/XS for mapped reads).
    pub tags: Vec<([u8; 2], TagValue)>,
}

/// The value of an extra SAM tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TagValue {
    /// `A`: one printable character.
    Char(u8),
    /// `i`: an integer.
    Int(i32),
    /// `Z`: a string.
    Str(String),
}

/// SAM FLAG bits crest reads or writes (SAM specification §1.4).
pub mod flags {
    /// 0x4: the read is unmapped.
    pub const UNMAPPED: u16 = 0x4;
    /// 0x10: the bases are reverse-complemented (the read maps to the reverse strand).
    pub const REVERSE: u16 = 0x10;
}

impl SamRecord {
    /// Whether FLAG has the unmapped bit (0x4).
    pub fn is_unmapped(&self) -> bool {
        self.flag & flags::UNMAPPED != 0
    }

    /// Whether FLAG has the reverse-strand bit (0x10).
    pub fn is_reverse(&self) -> bool {
        self.flag & flags::REVERSE != 0
    }

    /// An unmapped record (flag 4) for a read.
    pub fn unmapped(name: &str, seq: &[u8], qual: &[u8]) -> Self {
        SamRecord {
            name: name.into(),
            flag: flags::UNMAPPED,
            mapq: 0,
            seq: seq.to_vec(),
            qual: qual.to_vec(),
            ..Default::default()
        }
    }
}

/// Why `name` cannot be a SAM/BAM read name (QNAME `[!-?A-~]{1,254}`), if it
/// cannot. An empty name is written as `*` and passes.
pub fn qname_problem(name: &str) -> Option<String> {
    let short = || {
        let s: String = name.chars().take(40).collect();
        if s.len() < name.len() {
            format!("'{s}…'")
        } else {
            format!("'{s}'")
        }
    };
    if name.len() > 254 {
        return Some(format!(
            "read name {} is {} bytes long; SAM/BAM allow at most 254",
            short(),
            name.len()
        ));
    }
    if name == "*" {
        return Some("read name '*' means 'no name' in SAM".into());
    }
    if let Some(c) = name.chars().find(|&c| !c.is_ascii_graphic() || c == '@') {
        return Some(format!(
            "read name {} holds {c:?}, which SAM/BAM names cannot (printable ASCII other than '@', no spaces)",
            short()
        ));
    }
    None
}

/// Parse a bwa-style read-group line (`@RG\tID:x\tSM:y`, tabs literal or as `\t`).
pub fn parse_read_group(rg: &str) -> Result<(String, String)> {
    let line = rg.replace("\\t", "\t");
    if let Some(c) = line.chars().find(|c| c.is_control() && *c != '\t') {
        return Err(CrestError::Invalid(format!(
            "-R {rg:?}: a read group line holds {c:?}; it must be one line of tab-separated fields"
        )));
    }
    if !line.starts_with("@RG\t") {
        return Err(CrestError::Invalid(format!(
            "-R '{rg}': a read group line must start with '@RG\\t'"
        )));
    }
    let id = line
        .split('\t')
        .find_map(|f| f.strip_prefix("ID:"))
        .filter(|id| !id.is_empty())
        .ok_or_else(|| CrestError::Invalid(format!("-R '{rg}': no ID field")))?;
    Ok((line.clone(), id.to_string()))
}

/// Where the output's read groups come from.
#[derive(Clone, Copy, Debug)]
pub enum ReadGroups<'a> {
    /// None: records carry no RG tag.
    None,
    /// `-R LINE`: one group, every record in it (bwa's `-R`).
    Given(&'a str),
    /// The inputs' `@RG` lines (unaligned SAM/BAM): each record keeps the RG
    /// tag it came with, when its group is declared.
    Input(&'a [String]),
}

impl<'a> From<Option<&'a str>> for ReadGroups<'a> {
    fn from(rg: Option<&'a str>) -> Self {
        match rg {
            Some(l) => ReadGroups::Given(l),
            None => ReadGroups::None,
        }
    }
}

/// Record order of a SAM/BAM file (the header's `SO`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortOrder {
    /// In input order.
    Unsorted,
    /// By contig, then leftmost position; unmapped records last.
    Coordinate,
}

impl SortOrder {
    fn tag(self) -> &'static str {
        match self {
            SortOrder::Unsorted => "unsorted",
            SortOrder::Coordinate => "coordinate",
        }
    }
}

/// Build the SAM header text for a reference.
pub fn header_text(
    reference: &Reference,
    read_group: Option<&str>,
    command_line: &str,
    order: SortOrder,
) -> String {
    let mut s = format!("@HD\tVN:1.6\tSO:{}\n", order.tag());
    for c in &reference.contigs {
        s.push_str(&format!(
            "@SQ\tSN:{}\tLN:{}\tM5:{}\n",
            c.name,
            c.seq.len(),
            c.md5
        ));
    }
    if let Some(rg) = read_group {
        s.push_str(rg);
        s.push('\n');
    }
    let cl: String = command_line
        .chars()
        .map(|c| if c == '\t' || c == '\n' { ' ' } else { c })
        .collect();
    s.push_str(&format!(
        "@PG\tID:crest\tPN:crest\tVN:{}\tCL:{}\n",
        crate::VERSION,
        cl
    ));
    s
}

/// SAM output encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SamFormat {
    /// Plain-text SAM.
    Sam,
    /// BAM (BGZF-compressed binary).
    Bam,
    /// SAM compressed with BGZF (`.sam.gz`; samtools reads it).
    SamGz,
}

impl SamFormat {
    /// The format for an output: `explicit` when given, else by the file
    /// name (`.sam`, `.bam`, `.sam.gz`); SAM for stdout and special files. A
    /// name that tells no format, or CRAM, is refused.
    pub fn resolve(target: &Target, explicit: Option<SamFormat>) -> Result<SamFormat> {
        if let Some(f) = explicit {
            return Ok(f);
        }
        let Target::File(p) = target else {
            return Ok(SamFormat::Sam);
        };
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if name.ends_with(".sam.gz") || name.ends_with(".sam.bgz") {
            Ok(SamFormat::SamGz)
        } else if name.ends_with(".bam") {
            Ok(SamFormat::Bam)
        } else if name.ends_with(".sam") {
            Ok(SamFormat::Sam)
        } else if name.ends_with(".cram") {
            Err(CrestError::Invalid(format!(
                "{}: crest does not write CRAM; write .bam and convert with `samtools view -C -T REF.fa`",
                p.display()
            )))
        } else {
            Err(CrestError::Invalid(format!(
                "{}: cannot tell the output format from the name; use .sam, .bam or .sam.gz, or --output-format",
                p.display()
            )))
        }
    }
}

/// Index formats for a coordinate-sorted BAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum IndexFormat {
    /// BAI (`.bai`): contigs up to 2^29 bp; what most tools expect.
    Bai,
    /// CSI (`.csi`): any contig length.
    Csi,
}

impl IndexFormat {
    /// File name extension appended to the BAM's name.
    pub fn extension(self) -> &'static str {
        match self {
            IndexFormat::Bai => "bai",
            IndexFormat::Csi => "csi",
        }
    }

    /// The index file for `bam` (`out.bam.bai`, as samtools names it).
    pub fn path_for(self, bam: &std::path::Path) -> PathBuf {
        let mut name = bam.as_os_str().to_os_string();
        name.push(".");
        name.push(self.extension());
        PathBuf::from(name)
    }

    /// Refuse BAI when a contig is longer than BAI can address.
    pub fn check(self, reference: &Reference) -> Result<()> {
        const BAI_MAX: usize = 1 << 29;
        if let (IndexFormat::Bai, Some(c)) = (
            self,
            reference.contigs.iter().find(|c| c.seq.len() > BAI_MAX),
        ) {
            return Err(CrestError::Invalid(format!(
                "contig {} is {} bp, longer than a BAI index can address (2^29); use --index-format csi",
                c.name,
                c.seq.len()
            )));
        }
        Ok(())
    }
}

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
