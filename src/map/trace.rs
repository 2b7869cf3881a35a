//! What the mapper tried for each read (`crest map --trace FILE`): the loci
//! it verified and how many differences alignment found there. `crest bench
//! --breakdown` reads it back to tell a proposal miss (no candidate near the
//! truth) from a rejection by the difference bound.
//!
//! The file is TSV: a header line `#crest-trace<TAB>pad=P`, then one line per
//! read: `name<TAB>max_diffs<TAB>candidates`, where candidates is a comma-
//! separated list of `contig:pos:strand:diffs` (0-based leftmost position of
//! the candidate on its contig, `+` or `-`, differences of the best alignment
//! in the band); `.` when nothing was verified.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::Path;

use crate::error::{CrestError, Result};

/// One verified candidate locus of a read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceCandidate {
    /// Contig index (in the reference's order).
    pub contig: usize,
    /// 0-based leftmost position on the contig (before the band's slack).
    pub pos: i64,
    /// The read's reverse complement was aligned.
    pub reverse: bool,
    /// Differences of the best alignment within the band (mismatches and gaps,
    /// damage-like mismatches near the ends counting half, rounded up).
    pub diffs: u32,
}

/// What the mapper tried for one read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadTrace {
    /// The read's difference bound (bwa aln's `-n` at its length); 0 when
    /// the read was too short to map.
    pub max_diffs: u32,
    /// Candidates verified, in the order they were proposed.
    pub candidates: Vec<TraceCandidate>,
}

/// A read's trace as read back from a file (contig by name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedCandidate {
    /// Contig name.
    pub contig: String,
    /// 0-based leftmost position on the contig.
    pub pos: i64,
    /// Reverse strand.
    pub reverse: bool,
    /// Differences.
    pub diffs: u32,
}

/// A trace file read back: the band half-width and each read's candidates.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TraceFile {
    /// Alignment band half-width (bp) the mapper used: a candidate within
    /// this distance of the truth had the true locus inside its band.
    pub pad: u32,
    /// By read name: (difference bound, candidates).
    pub reads: HashMap<String, (u32, Vec<NamedCandidate>)>,
}

/// Write the header line.
pub fn write_header(w: &mut dyn Write, pad: u32) -> std::io::Result<()> {
    writeln!(w, "#crest-trace\tpad={pad}")
}

/// Write one read's line.
pub fn write_read(
    w: &mut dyn Write,
    name: &str,
    t: &ReadTrace,
    contig_names: &[String],
) -> std::io::Result<()> {
    write!(w, "{name}\t{}\t", t.max_diffs)?;
    if t.candidates.is_empty() {
        w.write_all(b".")?;
    }
    for (i, c) in t.candidates.iter().enumerate() {
        if i > 0 {
            w.write_all(b",")?;
        }
        let s = if c.reverse { '-' } else { '+' };
        write!(w, "{}:{}:{s}:{}", contig_names[c.contig], c.pos, c.diffs)?;
    }
    w.write_all(b"\n")
}

fn parse_candidate(s: &str) -> Option<NamedCandidate> {
    // contig names may hold ':' — take the last three fields from the right
    let mut it = s.rsplitn(4, ':');
    let diffs = it.next()?.parse().ok()?;
    let reverse = match it.next()? {
        "+" => false,
        "-" => true,
        _ => return None,
    };
    let pos = it.next()?.parse().ok()?;
    let contig = it.next()?.to_string();
    Some(NamedCandidate {
        contig,
        pos,
        reverse,
        diffs,
    })
}

/// Read a trace file written by `crest map --trace`.
pub fn read_trace(path: &Path) -> Result<TraceFile> {
    let f = std::fs::File::open(path).map_err(|e| CrestError::io(path, e))?;
    let bad = |line: usize, m: &str| CrestError::Format {
        path: path.to_path_buf(),
        record: line as u64,
        message: m.to_string(),
    };
    let mut out = TraceFile::default();
    let mut header = false;
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| CrestError::io(path, e))?;
        if i == 0 {
            let pad = line
                .strip_prefix("#crest-trace\tpad=")
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| bad(1, "not a crest trace (no '#crest-trace' header)"))?;
            out.pad = pad;
            header = true;
            continue;
        }
        let mut f = line.split('\t');
        let (Some(name), Some(maxd), Some(cands), None) = (f.next(), f.next(), f.next(), f.next())
        else {
            return Err(bad(i + 1, "expected 3 tab-separated fields"));
        };
        let maxd: u32 = maxd
            .parse()
            .map_err(|_| bad(i + 1, "max_diffs is not a count"))?;
        let cands = if cands == "." {
            Vec::new()
        } else {
            cands
                .split(',')
                .map(|c| {
                    parse_candidate(c).ok_or_else(|| bad(i + 1, &format!("bad candidate '{c}'")))
                })
                .collect::<Result<Vec<_>>>()?
        };
        out.reads.insert(name.to_string(), (maxd, cands));
    }
    if !header {
        return Err(bad(0, "empty trace file"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_colons_in_names() {
        let names = vec!["chrM".to_string(), "NC_1:2-3".to_string()];
        let mut buf = Vec::new();
        write_header(&mut buf, 16).unwrap();
        let t = ReadTrace {
            max_diffs: 2,
            candidates: vec![
                TraceCandidate {
                    contig: 1,
                    pos: -3,
                    reverse: true,
                    diffs: 4,
                },
                TraceCandidate {
                    contig: 0,
                    pos: 100,
                    reverse: false,
                    diffs: 0,
                },
            ],
        };
        write_read(&mut buf, "r1", &t, &names).unwrap();
        write_read(&mut buf, "r2", &ReadTrace::default(), &names).unwrap();
        let dir = std::env::temp_dir().join(format!("crest-trace-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("t.tsv");
        std::fs::write(&p, &buf).unwrap();
        let back = read_trace(&p).unwrap();
        assert_eq!(back.pad, 16);
        let (m, c) = &back.reads["r1"];
        assert_eq!(*m, 2);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].contig, "NC_1:2-3");
        assert_eq!((c[0].pos, c[0].reverse, c[0].diffs), (-3, true, 4));
        assert_eq!((c[1].pos, c[1].reverse, c[1].diffs), (100, false, 0));
        assert!(back.reads["r2"].1.is_empty());
        std::fs::write(&p, "r1\t2\t.\n").unwrap();
        assert!(read_trace(&p).is_err());
        std::fs::write(&p, "#crest-trace\tpad=16\nr1\tx\t.\n").unwrap();
        let e = read_trace(&p).unwrap_err().to_string();
        assert!(e.contains("max_diffs"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
