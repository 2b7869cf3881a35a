//! `crest scaling`: cost per read against genome size. For each reference:
//! simulated reads, `crest index` (measured), `crest map` with the tree
//! search and with flat search, and `bwa index` + `bwa aln`/`samse`, all on
//! the same reads and threads; a table (markdown, JSON) and a log-log plot of
//! CPU milliseconds per read against genome size.

use std::path::PathBuf;

use super::bench::WorkDir;
use super::simulate::SimOpts;
use crate::bench::scaling::points;
pub use crate::bench::scaling::{markdown, ScalingPoint};
use crate::bench::{run_bench, BenchPlan};
use crate::error::{CrestError, Result};
use crate::io::Reference;

/// Options of `crest scaling`.
#[derive(clap::Args, Debug)]
pub struct ScalingArgs {
    /// crest model (any encoder; the references need not be what it was trained on).
    #[arg(long)]
    pub model: PathBuf,
    /// Reference FASTA files, one point each (repeatable).
    #[arg(long = "reference", required = true)]
    pub references: Vec<PathBuf>,
    /// Flat search only on references up to this many bases (it grows with the genome) (0 to 1000000000000).
    #[arg(long, default_value_t = 6_000_000, value_parser = crate::commands::parse::u64_in(0, crate::commands::parse::MAX_GENOME))]
    pub flat_max_bp: u64,
    /// bwa executable. Default: `bwa` on the PATH, skipped with a note when
    /// absent; a bwa named here that cannot run is an error.
    #[arg(long)]
    pub bwa: Option<PathBuf>,
    /// Threads for both mappers (1 to 1024).
    #[arg(short = 't', long, default_value_t = 2, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_THREADS))]
    pub threads: usize,
    /// Extra option for `crest map` (repeatable).
    #[arg(long = "crest-arg", allow_hyphen_values = true)]
    pub crest_args: Vec<String>,
    /// Extra option for `crest index` (repeatable).
    #[arg(long = "index-arg", allow_hyphen_values = true)]
    pub index_args: Vec<String>,
    /// Write the table as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the log-log plot (SVG) here.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Keep the reads, indexes and alignments here (reference N's in
    /// subfolder N, its crest index as N/crest.crest-index).
    #[arg(long)]
    pub workdir: Option<PathBuf>,
    /// Reuse the indexes an earlier run (or a separate, resumable
    /// `crest index` of a large genome) left in --workdir; their build
    /// times are then not measured.
    #[arg(long, requires = "workdir")]
    pub reuse: bool,
    /// Read simulation (defaults: 10,000 reads; use -n to size the run).
    #[command(flatten)]
    pub sim: SimOpts,
}

/// `crest map` arguments: `--propose` and the user's `--crest-args`.
fn propose_args(a: &ScalingArgs, propose: &str) -> Vec<String> {
    let mut v = vec!["--propose".to_string(), propose.to_string()];
    v.extend(a.crest_args.iter().cloned());
    v
}

/// The tree (and, up to `--flat-max-bp`, the flat) search and bwa aln on
/// reads simulated from one reference, in `dir`.
fn scale_point(
    a: &ScalingArgs,
    rpath: &std::path::Path,
    dir: &std::path::Path,
    (device, adapter): (&str, &str),
) -> Result<Vec<ScalingPoint>> {
    let reference = Reference::load(rpath)?;
    let bp = reference.total_len();
    let name = rpath.file_name().map_or_else(
        || rpath.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    eprintln!("== {name}: {bp} bp");
    std::fs::create_dir_all(dir).map_err(|e| CrestError::io(dir, e))?;
    let reads = dir.join("reads.fq");
    a.sim.write_fastq(&reference, &reads)?;
    let bwa = Some(a.bwa.clone().unwrap_or_else(|| "bwa".into()));
    let with = |propose: &str| propose_args(a, propose);
    let plan = BenchPlan {
        reference: rpath.to_path_buf(),
        model: a.model.clone(),
        reads,
        workdir: dir.to_path_buf(),
        threads: a.threads.max(1),
        bwa,
        bwa_required: a.bwa.is_some(),
        device: device.to_string(),
        tolerance: 5,
        vs_bam: None,
        crest_args: with("index"),
        index_args: a.index_args.clone(),
        index: None,
        breakdown: false,
        reuse: a.reuse,
    };
    let tree = run_bench(&plan, adapter, &mut |m| eprintln!("{m}"))?;
    let mut all = points(&tree, &name, bp, "crest tree");
    if bp <= a.flat_max_bp {
        let flat_plan = BenchPlan {
            bwa: None,
            crest_args: with("flat"),
            // flat search reads float embeddings: an index of its own
            // (the tree's holds codes)
            index_args: [
                a.index_args.clone(),
                vec!["--pq".to_string(), "0".to_string()],
            ]
            .concat(),
            index: None,
            workdir: dir.join("flat"),
            ..plan
        };
        let flat = run_bench(&flat_plan, adapter, &mut |m| eprintln!("{m}"))?;
        all.extend(points(&flat, &name, bp, "crest flat"));
    }
    Ok(all)
}

/// Run `crest scaling`.
pub fn scaling(a: &ScalingArgs, device: &str, adapter: &str) -> Result<Vec<ScalingPoint>> {
    let named = [("--json", &a.json), ("--plot", &a.plot)];
    let given: Vec<_> = named
        .iter()
        .filter_map(|(n, p)| p.as_deref().map(|p| (*n, Some(p))))
        .collect();
    crate::io::output::refuse_collisions(&given)?;
    for p in a.json.iter().chain(&a.plot) {
        crate::io::output::check(p, &[])?;
    }
    let work = WorkDir::new(a.workdir.as_ref())?;
    let mut all = Vec::new();
    for (i, rpath) in a.references.iter().enumerate() {
        let dir = work.path.join(format!("{i}"));
        all.extend(scale_point(a, rpath, &dir, (device, adapter))?);
    }
    super::print_out(&markdown(&all))?;
    if let Some(j) = &a.json {
        let s =
            serde_json::to_string_pretty(&all).map_err(|e| CrestError::Invalid(e.to_string()))?;
        crate::io::output::write_all(j, &[], s.as_bytes())?;
    }
    if let Some(p) = &a.plot {
        let title = format!("cost per read vs genome size ({adapter})");
        crate::bench::plot::plot_scaling(&all, &title, p)?;
        eprintln!("wrote {}", p.display());
    }
    Ok(all)
}
