//! SAM/BAM output: @HD, @SQ (LN, M5), @RG from `-R`, @PG with the command
//! line. A file is written under a temporary name and renamed into place only
//! by [`SamWriter::finish`], so an interrupted run never leaves a partial file
//! that looks complete.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use noodles::sam;
use noodles::sam::alignment::io::Write as _;
use noodles::sam::alignment::record::cigar::op::{Kind, Op};
use noodles::sam::alignment::record::data::field::Tag;
use noodles::sam::alignment::record_buf::data::field::Value;
use noodles::sam::alignment::RecordBuf;

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

enum Sink {
    Sam(sam::io::Writer<Box<dyn Write + Send>>),
    Bam(noodles::bam::io::Writer<noodles::bgzf::io::Writer<Box<dyn Write + Send>>>),
}

/// Writes SAM or BAM (by the output's extension) to a file or stdout.
pub struct SamWriter {
    header: sam::Header,
    sink: Option<Sink>,
    rg_id: Option<String>,
    tmp: Option<(PathBuf, PathBuf)>,
}

impl SamWriter {
    /// Open an output: `None` or `-` is stdout (SAM); a path ending in `.bam`
    /// is BAM; anything else SAM.
    pub fn create(
        out: Option<&Path>,
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
        let out = out.filter(|p| p.as_os_str() != "-");
        let (raw, tmp): (Box<dyn Write + Send>, _) = match out {
            None => (Box::new(BufWriter::new(std::io::stdout())), None),
            Some(p) => {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default();
                let tmp = p.with_file_name(format!(".{name}.partial-{}", std::process::id()));
                let f = File::create(&tmp).map_err(|e| CrestError::io(&tmp, e))?;
                (
                    Box::new(BufWriter::with_capacity(1 << 20, f)),
                    Some((tmp, p.to_path_buf())),
                )
            }
        };
        let is_bam =
            out.is_some_and(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("bam")));
        let mut sink = if is_bam {
            Sink::Bam(noodles::bam::io::Writer::new(raw))
        } else {
            Sink::Sam(sam::io::Writer::new(raw))
        };
        let path = tmp
            .as_ref()
            .map(|(t, _)| t.clone())
            .unwrap_or_else(|| "-".into());
        let r = match &mut sink {
            Sink::Sam(w) => w.write_header(&header),
            Sink::Bam(w) => w.write_header(&header),
        };
        r.map_err(|e| CrestError::io(&path, e))?;
        Ok(SamWriter {
            header,
            sink: Some(sink),
            rg_id,
            tmp,
        })
    }

    fn path(&self) -> PathBuf {
        self.tmp
            .as_ref()
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| "-".into())
    }

    /// Write one record.
    pub fn write(&mut self, r: &SamRecord) -> Result<()> {
        let buf = self.to_record_buf(r)?;
        let path = self.path();
        let sink = self.sink.as_mut().expect("writer used after finish");
        let res = match sink {
            Sink::Sam(w) => w.write_alignment_record(&self.header, &buf),
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

    /// Flush, finish (BGZF EOF block for BAM) and move the file into place.
    pub fn finish(mut self) -> Result<()> {
        let path = self.path();
        let sink = self.sink.take().expect("finish called twice");
        match sink {
            Sink::Sam(w) => {
                let mut inner = w.into_inner();
                inner.flush().map_err(|e| CrestError::io(&path, e))?;
            }
            Sink::Bam(mut w) => {
                w.try_finish().map_err(|e| CrestError::io(&path, e))?;
                let mut inner = w.into_inner().into_inner();
                inner.flush().map_err(|e| CrestError::io(&path, e))?;
            }
        }
        if let Some((tmp, dst)) = self.tmp.take() {
            std::fs::rename(&tmp, &dst).map_err(|e| CrestError::io(&dst, e))?;
        }
        Ok(())
    }
}

impl Drop for SamWriter {
    fn drop(&mut self) {
        // Not finished: an error happened. Remove the partial file.
        if let Some((tmp, _)) = self.tmp.take() {
            self.sink.take();
            let _ = std::fs::remove_file(tmp);
        }
    }
}
