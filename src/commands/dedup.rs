//! `crest dedup`: aDNA duplicate marking by both molecule ends (see
//! [`crate::dedup`]).

use std::path::PathBuf;

use crate::dedup::DedupStats;
use crate::error::Result;
use crate::io::{Output, Target};

/// Options of `crest dedup`.
#[derive(clap::Args, Debug)]
pub struct DedupArgs {
    /// Coordinate-sorted BAM of merged (single-end) reads.
    pub input: PathBuf,
    /// Output BAM (index it with `samtools index`).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Drop duplicates instead of flagging them (0x400).
    #[arg(long)]
    pub remove: bool,
}

/// Run `crest dedup`.
pub fn dedup(a: &DedupArgs, command_line: &str) -> Result<DedupStats> {
    let target = Target::resolve(Some(&a.out), &[&a.input])?;
    let out = Output::open(target)?;
    let s = crate::dedup::dedup(&a.input, out, a.remove, command_line)?;
    eprintln!(
        "crest dedup: {} records, {} primary mapped, {} duplicates ({:.2}%) {} → {}",
        s.records,
        s.mapped,
        s.duplicates,
        100.0 * s.duplicates as f64 / s.mapped.max(1) as f64,
        if a.remove { "removed" } else { "marked" },
        a.out.display()
    );
    Ok(s)
}
