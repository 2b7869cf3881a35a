//! `crest stats`: records and bases of sequence files.

use std::path::PathBuf;

use clap::Args;

use crate::error::{CrestError, Result};

/// Arguments of `crest stats`.
#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Files to read.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Treat FASTA files as references: list contigs with length and MD5.
    #[arg(long)]
    pub reference: bool,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Run `crest stats`.
pub fn stats(a: &StatsArgs) -> Result<()> {
    if !a.json {
        outln!("file\tformat\trecords\tbases\tmin_len\tmax_len\tN_bases");
    }
    for f in &a.files {
        let s = crate::stats::file_stats(f, a.reference)?;
        if a.json {
            let line = serde_json::to_string(&s)
                .map_err(|e| CrestError::Invalid(format!("stats: {e}")))?;
            outln!("{line}");
            continue;
        }
        outln!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            s.path,
            s.format,
            s.records,
            s.bases,
            s.min_len,
            s.max_len,
            s.n_bases
        );
        for (name, len, md5) in &s.contigs {
            outln!("  @SQ\tSN:{name}\tLN:{len}\tM5:{md5}");
        }
    }
    Ok(())
}
