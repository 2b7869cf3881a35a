//! `crest simulate`: ancient-DNA-like reads with their origin in the name.

use std::path::PathBuf;

use crate::error::{CrestError, Result};
use crate::io::{Output, Reference};
use crate::sim::{simulate as run_sim, SimConfig};

/// Options of `crest simulate`.
#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// Reference FASTA to draw fragments from.
    #[arg(long)]
    pub reference: PathBuf,
    /// What to simulate.
    #[command(flatten)]
    pub sim: SimOpts,
    /// Output FASTQ (default stdout).
    #[arg(short, long)]
    pub out: Option<PathBuf>,
}

/// Read-simulation options (shared by `crest simulate` and `crest bench`).
#[derive(clap::Args, Debug, Clone)]
pub struct SimOpts {
    /// Number of reads (1 to 1000000000).
    #[arg(short, long, default_value_t = 10_000, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_READS))]
    pub n: usize,
    /// Seed (same seed and options: identical reads).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Fixed fragment length instead of the log-normal (1 to 10000000).
    #[arg(long, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_LEN))]
    pub length: Option<usize>,
    /// Median fragment length (log-normal).
    #[arg(long, default_value_t = 45.0, value_parser = crate::commands::parse::positive)]
    pub median: f64,
    /// Sigma of ln(length).
    #[arg(long, default_value_t = 0.3, value_parser = crate::commands::parse::non_negative)]
    pub sigma: f64,
    /// Shortest fragment (1 to 10000000).
    #[arg(long, default_value_t = 25, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_LEN))]
    pub min_len: usize,
    /// Longest fragment (1 to 10000000).
    #[arg(long, default_value_t = 150, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_LEN))]
    pub max_len: usize,
    /// Deamination at the terminal base (p0).
    #[arg(long, default_value_t = 0.3, value_parser = crate::commands::parse::fraction)]
    pub deamination: f64,
    /// Per-base decay of deamination from the ends.
    #[arg(long, default_value_t = 0.5, value_parser = crate::commands::parse::fraction)]
    pub decay: f64,
    /// Single-stranded library: C→T at both ends (default: double-stranded, G→A at 3').
    #[arg(long)]
    pub single_stranded: bool,
    /// Per-base substitution error rate.
    #[arg(long, default_value_t = 0.001, value_parser = crate::commands::parse::fraction)]
    pub substitution: f64,
    /// Per-base 1-bp indel rate.
    #[arg(long, default_value_t = 0.0, value_parser = crate::commands::parse::fraction)]
    pub indel: f64,
    /// Contaminant genomes (FASTA); reads from them are named crest_<i>_contam_<file>.
    #[arg(long)]
    pub contaminant: Vec<PathBuf>,
    /// Fraction of reads from the contaminants.
    #[arg(long, default_value_t = 0.0, value_parser = crate::commands::parse::fraction)]
    pub contamination: f64,
}

impl SimOpts {
    /// Check the options and load the contaminant genomes.
    pub fn prepare(&self) -> Result<(SimConfig, Vec<(String, Reference)>)> {
        let a = self;
        if !(0.0..=1.0).contains(&a.contamination) {
            return Err(CrestError::option(
                "--contamination",
                "--contamination must be in [0, 1]",
            ));
        }
        if a.min_len == 0 || a.min_len > a.max_len || a.length == Some(0) {
            return Err(CrestError::Invalid(
                "fragment lengths must be positive and --min-len ≤ --max-len".into(),
            ));
        }
        if a.contamination > 0.0 && a.contaminant.is_empty() {
            return Err(CrestError::option(
                "--contamination",
                "--contamination needs at least one --contaminant FASTA",
            ));
        }
        let contaminants = a
            .contaminant
            .iter()
            .map(|p| {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default();
                Reference::load(p).map(|r| (name, r))
            })
            .collect::<Result<Vec<_>>>()?;
        let cfg = SimConfig {
            n: a.n,
            seed: a.seed,
            length: a.length,
            median: a.median,
            sigma: a.sigma,
            min_len: a.min_len,
            max_len: a.length.map_or(a.max_len, |l| l.max(a.max_len)),
            deamination: a.deamination,
            decay: a.decay,
            single_stranded: a.single_stranded,
            substitution: a.substitution,
            indel: a.indel,
            contamination: a.contamination,
        };
        Ok((cfg, contaminants))
    }

    /// Simulate into a FASTQ file; returns (reference reads, contaminant reads).
    pub fn write_fastq(
        &self,
        reference: &Reference,
        path: &std::path::Path,
    ) -> Result<(usize, usize)> {
        let (cfg, contaminants) = self.prepare()?;
        let mut w = Output::create(Some(path), &[])?;
        let n = run_sim(reference, &contaminants, &cfg, &mut w)?;
        w.commit()?;
        Ok(n)
    }
}

/// Run `crest simulate`.
pub fn simulate(a: &SimulateArgs) -> Result<()> {
    let mut inputs = vec![a.reference.as_path()];
    inputs.extend(a.sim.contaminant.iter().map(|p| p.as_path()));
    let mut w = Output::create(a.out.as_deref(), &inputs)?;
    let (cfg, contaminants) = a.sim.prepare()?;
    let reference = Reference::load(&a.reference)?;
    let (nr, nc) = run_sim(&reference, &contaminants, &cfg, &mut w)?;
    w.commit()?;
    eprintln!("simulated {nr} reference reads and {nc} contaminant reads");
    Ok(())
}
