//! SAM/BAM output: @HD, @SQ (LN, M5), @RG from `-R`, @PG with the command
//! line. Files go through [`Output`]: written under a temporary name and
//! renamed into place only by [`SamWriter::finish`], so an interrupted run
//! never leaves a partial file that looks complete.

use std::path::PathBuf;

use noodles::sam;
use noodles::sam::alignment::io::Write as _;
use noodles::sam::alignment::record::cigar::op::{Kind, Op};
use noodles::sam::alignment::record::data::field::Tag;
use noodles::sam::alignment::record_buf::data::field::Value;
use noodles::sam::alignment::RecordBuf;

use super::output::{Output, Target};
use super::reference::Reference;
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
}

impl SamRecord {
    /// An unmapped record (flag 4) for a read.
    pub fn unmapped(name: &str, seq: &[u8], qual: &[u8]) -> Self {
        SamRecord {
            name: name.into(),
            flag: 4,
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

/// Build the SAM header text for a reference.
pub fn header_text(reference: &Reference, read_group: Option<&str>, command_line: &str) -> String {
    let mut s = String::from("@HD\tVN:1.6\tSO:unsorted\n");
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
        env!("CARGO_PKG_VERSION"),
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
    name: PathBuf,
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
        let (rg_line, rg_id) = match read_group {
            Some(rg) => {
                let (l, id) = parse_read_group(rg)?;
                (Some(l), Some(id))
            }
            None => (None, None),
        };
        let text = header_text(reference, rg_line.as_deref(), command_line);
        let header: sam::Header = text
            .parse()
            .map_err(|e| CrestError::Invalid(format!("invalid SAM header (check -R): {e}")))?;
        let name: PathBuf = match out.target() {
            Target::Stdout => "-".into(),
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
            name,
        })
    }

    fn path(&self) -> PathBuf {
        self.name.clone()
    }

    /// Write one record.
    pub fn write(&mut self, r: &SamRecord) -> Result<()> {
        let buf = self.to_record_buf(r)?;
        let path = self.path();
        let sink = self.sink.as_mut().expect("writer used after finish");
        let res = match sink {
            Sink::Sam(w) => w.write_alignment_record(&self.header, &buf),
            Sink::SamGz(w) => w.write_alignment_record(&self.header, &buf),
            Sink::Bam(w) => w.write_alignment_record(&self.header, &buf),
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
        if let Some(id) = &self.rg_id {
            data.push((Tag::READ_GROUP, Value::from(id.as_str())));
        }
        if !data.is_empty() {
            b = b.set_data(data.into_iter().collect());
        }
        Ok(b.build())
    }

    /// Flush, finish (BGZF EOF block for BAM and .sam.gz) and move the file
    /// into place.
    pub fn finish(mut self) -> Result<()> {
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
                w.try_finish().map_err(io)?;
                w.into_inner().into_inner()
            }
        };
        out.commit()
    }
}
