//! SAM records ([`SamRecord`]: name, flags, placement, CIGAR, tags), their
//! flag bits, read groups (`-R`, or carried from the inputs) and the header
//! text: @HD, @SQ (LN, M5), @RG, @PG with the command line. Writing them,
//! sorted or not, with the BAM index, is [`super::sam_writer`]'s job.

use std::path::PathBuf;

use super::output::Target;
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
