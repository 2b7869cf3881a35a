//! `crest profile`: reads and relative abundance per genome of a panel
//! (see [`crate::profile`]).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::backend::Backend;
use crate::error::{CrestError, Result};
use crate::io::output::Staged;
use crate::io::{Output, ReadReader, Reference, Target};
use crate::map::{MapConfig, MapStats, Mapper};
use crate::profile::{assign, plot, Assignment, Groups, Profile};

/// Options of `crest profile`.
#[derive(clap::Args, Debug)]
pub struct ProfileArgs {
    /// Model file (its encoder places the reads).
    #[arg(long)]
    pub model: PathBuf,
    /// The panel: one FASTA with every genome's contigs (names unique).
    #[arg(long)]
    pub reference: PathBuf,
    /// Index of the panel for this model; built and saved when the file does
    /// not exist (without it, built in memory for this run).
    #[arg(long)]
    pub index: Option<PathBuf>,
    /// Reads (FASTQ, FASTA, SAM or BAM; .gz allowed).
    #[arg(required = true)]
    pub reads: Vec<PathBuf>,
    /// Profile TSV: `name reads fraction`, one row per genome, then
    /// `ambiguous` and `unassigned` (default: stdout).
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// Contig → genome/taxon table (two tab-separated columns; every panel
    /// contig listed). Without it each contig is its own row.
    #[arg(long)]
    pub groups: Option<PathBuf>,
    /// Reads below this MAPQ count for a genome only when every tied hit is
    /// in it; otherwise they are `ambiguous`.
    #[arg(long, default_value_t = 1)]
    pub min_mapq: u8,
    /// Per-read assignments (TSV: read, genome|ambiguous|unassigned, MAPQ).
    #[arg(long)]
    pub assignments: Option<PathBuf>,
    /// Bar chart of the fractions (SVG).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Maximum differences, as `crest map -n`.
    #[arg(short = 'n', long, default_value_t = 0.01, value_parser = super::parse::positive)]
    pub max_diff: f64,
    /// Reads shorter than this are unassigned (0 to 10000000).
    #[arg(long, default_value_t = 20, value_parser = crate::commands::parse::usize_in(0, crate::commands::parse::MAX_LEN))]
    pub min_len: usize,
    /// Reads per batch (1 to 1048576).
    #[arg(long, default_value_t = 4096, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_BATCH))]
    pub batch: usize,
    /// How an index is built when there is none yet.
    #[command(flatten)]
    pub build: super::index::BuildArgs,
}

/// The outputs' targets (`-o`, `--assignments`, `--plot`), checked before any work.
fn targets(a: &ProfileArgs) -> Result<(Target, Option<Target>, Option<Target>)> {
    let mut inputs: Vec<&Path> = vec![&a.model, &a.reference];
    inputs.extend(a.reads.iter().map(|p| p.as_path()));
    inputs.extend(a.index.as_deref());
    inputs.extend(a.groups.as_deref());
    let mut outputs = vec![("-o", a.out.as_deref())];
    outputs.extend(a.assignments.as_deref().map(|p| ("--assignments", Some(p))));
    outputs.extend(a.plot.as_deref().map(|p| ("--plot", Some(p))));
    crate::io::output::refuse_collisions(&outputs)?;
    let resolve = |p: Option<&Path>| p.map(|p| Target::resolve(Some(p), &inputs)).transpose();
    let out_t = Target::resolve(a.out.as_deref(), &inputs)?;
    Ok((
        out_t,
        resolve(a.assignments.as_deref())?,
        resolve(a.plot.as_deref())?,
    ))
}

/// Map every read and count it for its genome (or as ambiguous or
/// unassigned), writing `--assignments` lines as it goes.
fn count_reads(
    a: &ProfileArgs,
    mapper: &Mapper,
    groups: &Groups,
    per_read: &mut Option<Output>,
) -> Result<Profile> {
    let mut prof = Profile::new(groups);
    let mut stats = MapStats::default();
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "profile {spinner} {pos} reads [{elapsed_precise}] {msg}",
        )
        .expect("template"),
    );
    for f in &a.reads {
        let mut r = ReadReader::open(f)?;
        loop {
            let mut batch = Vec::with_capacity(a.batch);
            if r.next_batch(a.batch, &mut batch)? == 0 {
                break;
            }
            let (recs, ties) = mapper.map_batch_ties(&batch, &mut stats)?;
            for ((rd, rec), tied) in batch.iter().zip(&recs).zip(&ties) {
                let who = assign(rec, tied, groups, a.min_mapq);
                prof.add(who);
                if let Some(o) = per_read.as_mut() {
                    let label = match who {
                        Assignment::Group(g) => groups.names[g].as_str(),
                        Assignment::Ambiguous => "ambiguous",
                        Assignment::Unassigned => "unassigned",
                    };
                    writeln!(o, "{}\t{label}\t{}", rd.name, rec.mapq).map_err(|e| o.error(e))?;
                }
            }
            pb.set_position(prof.total());
            pb.set_message(format!("{} unassigned", prof.unassigned));
        }
    }
    pb.finish_and_clear();
    Ok(prof)
}

/// The profile TSV and `--plot`, committed with `--assignments`.
fn write_outputs(
    a: &ProfileArgs,
    prof: &Profile,
    (out_t, plot_t): (Target, Option<Target>),
    per_read: Option<Output>,
) -> Result<()> {
    let mut out = Output::open(out_t)?;
    prof.write_tsv(&mut out).map_err(|e| out.error(e))?;
    let mut staged: Vec<Staged> = vec![out.into()];
    if let Some(t) = plot_t {
        let title = format!(
            "{} reads on {}",
            prof.total(),
            a.reference
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default()
        );
        let svg = plot(prof, &title)?;
        let mut o = Output::open(t)?;
        o.write_bytes(svg.as_bytes())?;
        staged.push(o.into());
    }
    staged.extend(per_read.map(Staged::from));
    crate::io::output::commit_all(staged)
}

/// `--assignments`, with its header line.
fn open_assignments(t: Target) -> Result<Output> {
    let mut o = Output::open(t)?;
    writeln!(o, "read\tassignment\tmapq").map_err(|e| o.error(e))?;
    Ok(o)
}

/// Run `crest profile`.
pub fn profile(be: &Backend, a: &ProfileArgs) -> Result<Profile> {
    let (out_t, assign_t, plot_t) = targets(a)?;
    let reference = Reference::load(&a.reference)?;
    let groups = match &a.groups {
        Some(p) => Groups::load(p, &reference)?,
        None => Groups::per_contig(&reference),
    };
    for f in &a.reads {
        // (a pipe or `-` is read once, by the mapping itself)
        if crate::io::rereadable(f) {
            crate::io::detect_format(f)?;
        }
    }
    let (ck, enc) = super::load_model(be, &a.model)?;
    let (model, refp, route) = (&a.model, &a.reference, a.build.route());
    let opts = a.build.options();
    let index = super::index::load_or_build(
        be,
        a.index.as_deref(),
        (&ck, model, &enc),
        (&reference, refp),
        &opts,
        &route,
    )?;
    let cfg = MapConfig {
        max_diff: a.max_diff,
        min_len: a.min_len,
        ..MapConfig::default()
    };
    let mapper = Mapper::new(be, &enc, None, Some(&index), &reference, cfg)?;
    let mut per_read = assign_t.map(open_assignments).transpose()?;
    let t0 = Instant::now();
    let prof = count_reads(a, &mapper, &groups, &mut per_read)?;
    if prof.total() == 0 {
        let names: Vec<String> = a.reads.iter().map(|p| p.display().to_string()).collect();
        return Err(CrestError::Invalid(format!(
            "no reads in {}",
            names.join(", ")
        )));
    }
    write_outputs(a, &prof, (out_t, plot_t), per_read)?;
    let secs = t0.elapsed().as_secs_f64();
    eprintln!(
        "crest profile: {} reads, {} assigned to {} genomes, {} ambiguous, {} unassigned; {:.1}s ({:.0} reads/s) on {}",
        prof.total(),
        prof.reads.iter().sum::<u64>(),
        prof.names.len(),
        prof.ambiguous,
        prof.unassigned,
        secs,
        prof.total() as f64 / secs.max(1e-9),
        be.name()
    );
    Ok(prof)
}
