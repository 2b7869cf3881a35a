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
    /// Also write the counts as JSON (records, primary mapped, duplicates,
    /// duplication rate), e.g. for MultiQC's custom content.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Run `crest dedup`.
pub fn dedup(a: &DedupArgs, command_line: &str) -> Result<DedupStats> {
    crate::io::output::refuse_collisions(&[
        ("-o", Some(a.out.as_path())),
        ("--json", a.json.as_deref()),
    ])?;
    let json_out = match &a.json {
        Some(p) => Some(Output::create(Some(p), &[&a.input])?),
        None => None,
    };
    let target = Target::resolve(Some(&a.out), &[&a.input])?;
    let out = Output::open(target)?;
    let s = crate::dedup::dedup(&a.input, out, a.remove, command_line)?;
    if let Some(mut o) = json_out {
        let json = serde_json::json!({
            "crest": crate::VERSION,
            "input": a.input.display().to_string(),
            "output": a.out.display().to_string(),
            "records": s.records,
            "mapped": s.mapped,
            "duplicates": s.duplicates,
            "duplication_rate": s.duplicates as f64 / s.mapped.max(1) as f64,
            "removed": a.remove,
        });
        let text = serde_json::to_string_pretty(&json)
            .map_err(|e| crate::error::CrestError::option("--json", format!("--json: {e}")))?;
        o.write_bytes(text.as_bytes())?;
        o.write_bytes(b"\n")?;
        o.commit()?;
    }
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
