//! `crest bench`: crest vs BWA-aln on the same reads, scored.

use std::path::PathBuf;

use crate::bench::{plot::plot_pr, run_bench, BenchPlan, BenchReport};
use crate::error::{CrestError, Result};
use crate::io::Reference;

use super::simulate::SimOpts;

/// Options of `crest bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Reference FASTA (the model's).
    #[arg(long)]
    pub reference: PathBuf,
    /// crest model (its encoder indexes the reference; `--propose head` via --crest-arg needs its bit head).
    #[arg(long)]
    pub model: PathBuf,
    /// Reads to map. Without it, reads are simulated (see the simulation options);
    /// with it, the truth must be in the read names (`crest simulate`) unless --vs-bam is given.
    #[arg(long)]
    pub reads: Option<PathBuf>,
    /// BWA executable. Default: `bwa` on the PATH, skipped with a note when
    /// absent; a bwa named here that cannot run is an error.
    #[arg(long)]
    pub bwa: Option<PathBuf>,
    /// Skip BWA-aln.
    #[arg(long)]
    pub no_bwa: bool,
    /// Threads for both mappers (1 to 1024).
    #[arg(short = 't', long, default_value_t = 2, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_THREADS))]
    pub threads: usize,
    /// A mapped read is correct when on the right contig with its start within this many bp (0 to 1000000000).
    #[arg(long, default_value_t = 5, value_parser = crate::commands::parse::u64_in(0, crate::commands::parse::MAX_BASES))]
    pub tolerance: u64,
    /// Real reads: report concordance with this BAM/SAM instead of the truth.
    #[arg(long)]
    pub vs_bam: Option<PathBuf>,
    /// Write every number as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Draw precision–recall over MAPQ for both mappers (SVG).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Keep alignments and the BWA index here (default: a temporary directory, removed).
    #[arg(long)]
    pub workdir: Option<PathBuf>,
    /// Reuse the crest and BWA indexes an earlier run left in --workdir
    /// (their build times are then not measured).
    #[arg(long, requires = "workdir")]
    pub reuse: bool,
    /// Extra option for `crest map` (repeatable), e.g. --crest-arg=--propose --crest-arg=flat.
    #[arg(long = "crest-arg", allow_hyphen_values = true)]
    pub crest_args: Vec<String>,
    /// Extra option for `crest index` (repeatable), e.g. --index-arg=--grid-stride --index-arg=16.
    #[arg(long = "index-arg", allow_hyphen_values = true)]
    pub index_args: Vec<String>,
    /// Map with this existing index (`crest index`) instead of building one
    /// (the index time column is then empty).
    #[arg(long)]
    pub index: Option<PathBuf>,
    /// Break recall down by read length, damage and mismatches, and crest's
    /// losses by stage (not proposed, rejected by the difference bound, wrong
    /// place, MAPQ < 20); with a MAPQ calibration table. Needs simulated reads.
    #[arg(long)]
    pub breakdown: bool,
    /// Draw the MAPQ calibration (observed against promised error, per MAPQ
    /// bin and mapper) as SVG; needs simulated reads.
    #[arg(long)]
    pub calibration_plot: Option<PathBuf>,
    /// Read simulation (used without --reads).
    #[command(flatten)]
    pub sim: SimOpts,
}

/// A directory removed on drop unless kept.
pub struct WorkDir {
    /// Path.
    pub path: PathBuf,
    keep: bool,
}

impl WorkDir {
    /// `given`, or a fresh directory under the system temp dir.
    pub fn new(given: Option<&PathBuf>) -> Result<Self> {
        let (path, keep) = match given {
            Some(p) => (p.clone(), true),
            None => (
                std::env::temp_dir().join(format!(
                    "crest-bench-{}-{}",
                    std::process::id(),
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_nanos())
                        .unwrap_or(0)
                )),
                false,
            ),
        };
        std::fs::create_dir_all(&path).map_err(|e| CrestError::io(&path, e))?;
        if !keep {
            crate::io::output::remove_on_signal(&path);
        }
        Ok(WorkDir { path, keep })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
            crate::io::output::forget_on_signal(&self.path);
        }
    }
}

/// The report files, checked before any work.
fn check_outputs(a: &BenchArgs) -> Result<()> {
    if a.calibration_plot.is_some() && a.vs_bam.is_some() {
        return Err(CrestError::option("--calibration-plot", 
            "--calibration-plot needs the truth in simulated read names; it does not apply with --vs-bam",
        ));
    }
    let named = [
        ("--json", &a.json),
        ("--plot", &a.plot),
        ("--calibration-plot", &a.calibration_plot),
    ];
    let given: Vec<_> = named
        .iter()
        .filter_map(|(n, p)| p.as_deref().map(|p| (*n, Some(p))))
        .collect();
    crate::io::output::refuse_collisions(&given)?;
    for p in a.json.iter().chain(&a.plot).chain(&a.calibration_plot) {
        crate::io::output::check(p, &[])?;
    }
    Ok(())
}

/// `--json`, `--plot` and `--calibration-plot`.
fn write_reports(a: &BenchArgs, report: &BenchReport) -> Result<()> {
    if let Some(j) = &a.json {
        let s =
            serde_json::to_string_pretty(report).map_err(|e| CrestError::Invalid(e.to_string()))?;
        crate::io::output::write_all(j, &[], s.as_bytes())?;
    }
    if let Some(p) = &a.plot {
        let title = format!(
            "{} — {} reads",
            a.reference
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default(),
            report.reads
        );
        plot_pr(report, &title, p)?;
    }
    if let Some(p) = &a.calibration_plot {
        crate::bench::plot::plot_calibration(report, p)?;
    }
    Ok(())
}

/// Run `crest bench`; `device` is the global --device value, `adapter` its name.
pub fn bench(a: &BenchArgs, device: &str, adapter: &str) -> Result<BenchReport> {
    check_outputs(a)?;
    let work = WorkDir::new(a.workdir.as_ref())?;
    let reads = match &a.reads {
        Some(r) => r.clone(),
        None => {
            let reference = Reference::load(&a.reference)?;
            let p = work.path.join("reads.fq");
            let (nr, nc) = a.sim.write_fastq(&reference, &p)?;
            eprintln!("simulated {nr} reference reads and {nc} contaminant reads");
            p
        }
    };
    let plan = BenchPlan {
        reference: a.reference.clone(),
        model: a.model.clone(),
        reads,
        workdir: work.path.clone(),
        threads: a.threads.max(1),
        bwa: (!a.no_bwa).then(|| a.bwa.clone().unwrap_or_else(|| "bwa".into())),
        bwa_required: a.bwa.is_some() && !a.no_bwa,
        device: device.to_string(),
        tolerance: a.tolerance,
        vs_bam: a.vs_bam.clone(),
        crest_args: a.crest_args.clone(),
        index_args: a.index_args.clone(),
        index: a.index.clone(),
        breakdown: a.breakdown,
        reuse: a.reuse,
    };
    let report = run_bench(&plan, adapter, &mut |m| eprintln!("{m}"))?;
    super::print_out(&report.markdown())?;
    write_reports(a, &report)?;
    Ok(report)
}
