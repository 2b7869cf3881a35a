//! `crest map`: stream reads through the mapper into SAM/BAM.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::backend::Backend;
use crate::damage::DamageProfile;
use crate::error::{CrestError, Result};
use crate::io::sam::ReadGroups;
use crate::io::{
    IndexFormat, Output, ReadReader, Reference, SamFormat, SamWriter, SortOptions, Target,
};
use crate::map::stream::{stream, Sinks, StreamOptions, TraceOut};
use crate::map::{MapConfig, MapStats, Mapper, Propose};
use crate::model::{BitHead, Checkpoint, Encoder};

/// Options of `crest map`.
#[derive(clap::Args, Debug)]
pub struct MapArgs {
    /// Model file (its encoder; `--propose head` also needs its bit head).
    #[arg(long)]
    pub model: PathBuf,
    /// Reference FASTA to map against.
    #[arg(long)]
    pub reference: PathBuf,
    /// Index of the reference for this model (`crest index`); built and saved
    /// here when the file does not exist. Without it, an index is built in
    /// memory for this run.
    #[arg(long)]
    pub index: Option<PathBuf>,
    /// Reads: FASTQ, FASTA, SAM or BAM (.gz allowed), one or more files.
    #[arg(required = true)]
    pub reads: Vec<PathBuf>,
    /// Output: .sam, .bam or .sam.gz (default: SAM on stdout). A special
    /// file (/dev/stdout, a FIFO) is written through; a symlink is followed.
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// Output format when the name cannot tell it (overrides the extension).
    #[arg(long, value_enum)]
    pub output_format: Option<SamFormat>,
    /// Read group line, e.g. '@RG\tID:lib1\tSM:mammoth' (RG:Z tag on every record).
    #[arg(short = 'R', long = "read-group")]
    pub read_group: Option<String>,
    /// Threads: with 2 or more, parsing and writing run beside the device work (1 to 1024).
    #[arg(short = 't', long, default_value_t = 2, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_THREADS))]
    pub threads: usize,
    /// Reads per batch (1 to 1048576).
    #[arg(long, default_value_t = 4096, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_BATCH))]
    pub batch: usize,
    /// Bases between a read's k-mer windows (1 to 65536).
    #[arg(long, default_value_t = 8, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_STRIDE))]
    pub stride: usize,
    /// Least-confident bits flipped per window (2^flip candidates, 0 to 8:
    /// the decoding kernel's limit).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(0..=crate::ops::bithead::MAX_FLIP as i64))]
    pub flip: u32,
    /// Nearest grid k-mers searched per read at least (index proposals):
    /// reads with few windows, i.e. short reads, take more than 2^flip per
    /// window to reach it (up to 256 per window on CPU adapters' tree search,
    /// 16 on GPUs') (0 to 4096).
    #[arg(long, default_value_t = 64, value_parser = crate::commands::parse::usize_in(0, crate::commands::parse::MAX_NEIGHBOURS))]
    pub read_neighbours: usize,
    /// Beam of a second, deeper search for the reads the first pass left
    /// unmapped, with shorter and masked views of each read, 64× the
    /// neighbours and 48× the candidates (0: no second pass) (0 to 512).
    #[arg(long, default_value_t = 64, value_parser = crate::commands::parse::usize_in(0, crate::commands::parse::MAX_BEAM))]
    pub rescue_beam: usize,
    /// Longest read (bp) the rescue pass searches again (0 to 10000000).
    #[arg(long, default_value_t = crate::map::DEFAULT_RESCUE_MAX_LEN, value_parser = crate::commands::parse::usize_in(0, crate::commands::parse::MAX_LEN))]
    pub rescue_max_len: usize,
    /// The rescue pass pays for itself: after 64 reads tried it goes on
    /// with every eligible read only while it places at least this share of
    /// the reads it tried, else it tries one in 32 (and reopens if the share
    /// rises). Real libraries of mostly other genomes have it place almost
    /// nothing at most of the run's cost; 0 tries every eligible read.
    #[arg(long, default_value_t = crate::map::RESCUE_MIN_YIELD, value_parser = crate::commands::parse::fraction)]
    pub rescue_min_yield: f64,
    /// Window lengths the rescue pass queries per read: min(read, k), then 3
    /// bp shorter each, every 4 bp of the read, both strands (0: only the
    /// first pass's windows, searched deeper; more: more recall on short
    /// reads, and more time on libraries with many unmapped short reads) (0 to 64).
    #[arg(long, default_value_t = crate::map::views::DEFAULT_RESCUE_VIEW_LENGTHS, value_parser = crate::commands::parse::usize_in(0, crate::commands::parse::MAX_RESCUE_VIEWS))]
    pub rescue_views: usize,
    /// The rescue pass also queries the windows of a read with one or two
    /// windows (up to k + stride bp) with N in place of each run of this many
    /// bases in turn, both strands: the view that hides a mismatch in the
    /// middle finds its locus (0: no masked views).
    #[arg(long, default_value_t = crate::map::views::DEFAULT_RESCUE_MASK, value_parser = rescue_mask)]
    pub rescue_mask: usize,
    /// Read bases with a Phred quality below this count a mismatch as half
    /// a difference, like damage (0: ignore qualities, as bwa aln does).
    #[arg(long, default_value_t = crate::map::DEFAULT_MIN_BASE_QUALITY)]
    pub min_base_quality: u8,
    /// Candidate loci verified per read (clusters of proposals, best summed
    /// similarity first; verification is cheap next to the search) (1 to 4096).
    #[arg(long, default_value_t = crate::map::DEFAULT_CANDIDATES, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_CANDIDATES))]
    pub candidates: usize,
    /// Alignment band half-width (bp, 0 to 32).
    #[arg(long, default_value_t = 16, value_parser = crate::commands::parse::u32_in(0, crate::ops::align::MAX_PAD as u64))]
    pub pad: u32,
    /// Bases from the ends where C→T / G→A mismatches cost half: a number
    /// (0 to 1000), or `auto` to fit it to the library (the first batch is
    /// mapped once with 5 and its confident alignments' damage profile decides).
    #[arg(long, default_value = "auto", value_parser = crate::commands::parse::keyword_or_upto("auto", crate::commands::parse::MAX_DAMAGE_POSITIONS, parse_damage_len))]
    pub damage_len: DamageLen,
    /// Maximum differences, as bwa aln -n: a fraction (missing-alignment rate at 2% errors) or a count.
    #[arg(short = 'n', long, default_value_t = 0.01, value_parser = crate::commands::parse::positive)]
    pub max_diff: f64,
    /// Reads shorter than this are reported unmapped (0 to 10000000).
    #[arg(long, default_value_t = 20, value_parser = crate::commands::parse::usize_in(0, crate::commands::parse::MAX_LEN))]
    pub min_len: usize,
    /// Where candidate loci come from, comma-separated: index (tree search),
    /// flat (brute force over the grid), head (raw-coordinate bit head),
    /// route (the index's router; `index,route` scans both sets of leaves).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "index")]
    pub propose: Vec<Propose>,
    /// Beam width of the tree search (nodes kept per level) (1 to 512).
    #[arg(long, default_value_t = crate::index::DEFAULT_BEAM, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_BEAM))]
    pub beam: usize,
    /// Leaves the router proposes per window (a power of two ≤ 256; with
    /// `--propose route`) (1 to 256).
    #[arg(long, default_value_t = crate::index::route::DEFAULT_WIDTH, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_ROUTE_WIDTH))]
    pub route_width: usize,
    /// Write the damage profile of the accepted alignments into this folder:
    /// misincorporation.txt and lgdistribution.txt (mapDamage 2 layout),
    /// damage.tsv and damage.svg.
    #[arg(long)]
    pub damage_profile: Option<PathBuf>,
    /// Positions from each read end in the damage profile (1 to 1000).
    #[arg(long, default_value_t = crate::damage::DEFAULT_POSITIONS, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_DAMAGE_POSITIONS))]
    pub damage_positions: usize,
    /// Write the output coordinate-sorted (samtools order; unmapped reads
    /// last), in bounded memory; a BAM file also gets its index.
    #[arg(long)]
    pub sort: bool,
    /// Memory for records held while sorting before a run is spilled to disk
    /// (K, M or G suffix).
    #[arg(long, default_value = "768M", value_parser = super::parse::bytes)]
    pub sort_memory: usize,
    /// Folder for the sort's run files (default: the output's folder, or the
    /// system's temporary folder when writing to stdout).
    #[arg(long)]
    pub tmp_dir: Option<PathBuf>,
    /// Index written beside a sorted BAM (`OUT.bam.bai` or `OUT.bam.csi`).
    #[arg(long, value_enum, default_value = "bai")]
    pub index_format: IndexFormat,
    /// Do not write an index beside a sorted BAM.
    #[arg(long)]
    pub no_index: bool,
    /// Query reads no longer than k with one window only (by default their
    /// reverse complement is queried too).
    #[arg(long)]
    pub short_one_strand: bool,
    /// Write what was tried for each read here (TSV: the candidate loci
    /// verified and their differences; `crest bench --breakdown` reads it).
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// Write run statistics here (JSON): seconds per stage and, per batch,
    /// reads, seconds and device traffic (dispatches, submissions, blocking
    /// waits, buffers created, bytes up and down), with the steady state.
    #[arg(long)]
    pub stats: Option<PathBuf>,
    /// How an index is built when there is none yet.
    #[command(flatten)]
    pub build: super::index::BuildArgs,
}

/// What a `--sort` run needs: the sort's options and, for a BAM file, the
/// index target. Checked before any work (the index name against the inputs,
/// the run folder exists).
type SortPlan = Option<(SortOptions, Option<(Target, IndexFormat)>)>;

fn sort_plan(
    a: &MapArgs,
    target: &Target,
    format: SamFormat,
    inputs: &[&Path],
) -> Result<SortPlan> {
    if !a.sort {
        if a.no_index || a.tmp_dir.is_some() {
            return Err(CrestError::option(
                "--no-index",
                "--no-index and --tmp-dir apply to sorted output; add --sort",
            ));
        }
        return Ok(None);
    }
    let tmp_dir = match (&a.tmp_dir, target) {
        (Some(d), _) => d.clone(),
        (None, Target::File(p)) => p
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map(|d| d.to_path_buf())
            .unwrap_or_else(|| ".".into()),
        (None, _) => std::env::temp_dir(),
    };
    let index = match (target, format, a.no_index) {
        (Target::File(p), SamFormat::Bam, false) => {
            let ip = a.index_format.path_for(p);
            Some((Target::resolve(Some(&ip), inputs)?, a.index_format))
        }
        _ => None,
    };
    let opts = SortOptions {
        memory: a.sort_memory,
        tmp_dir,
    };
    opts.check()?;
    Ok(Some((opts, index)))
}

/// `--damage-len`: fitted to the library, or fixed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DamageLen {
    /// Fit it to the first batch's confident alignments.
    Auto,
    /// This many bases from each end.
    Fixed(u32),
}

fn parse_damage_len(s: &str) -> std::result::Result<DamageLen, String> {
    if s == "auto" {
        return Ok(DamageLen::Auto);
    }
    s.parse::<u32>()
        .map(DamageLen::Fixed)
        .map_err(|_| format!("'{s}': expected auto or a number of bases"))
}

/// Every output of a run, checked and opened before any work: a bad name
/// fails before the model is loaded.
struct Outputs {
    alignments: Output,
    format: SamFormat,
    sorted: SortPlan,
    trace: Option<Output>,
    stats: Option<Output>,
}

impl Outputs {
    fn open(a: &MapArgs, inputs: &[&Path]) -> Result<Outputs> {
        let bam_index = match (&a.out, a.sort, a.no_index) {
            (Some(p), true, false) if p.as_os_str() != "-" => Some(a.index_format.path_for(p)),
            _ => None,
        };
        let mut outputs: Vec<(&str, Option<&Path>)> = vec![("-o", a.out.as_deref())];
        outputs.extend(bam_index.as_deref().map(|p| ("the BAM index", Some(p))));
        outputs.extend(a.trace.as_deref().map(|p| ("--trace", Some(p))));
        outputs.extend(a.stats.as_deref().map(|p| ("--stats", Some(p))));
        outputs.extend(
            a.damage_profile
                .as_deref()
                .map(|p| ("--damage-profile", Some(p))),
        );
        crate::io::output::refuse_collisions(&outputs)?;
        if let Some(rg) = &a.read_group {
            crate::io::sam::parse_read_group(rg)?;
        }
        let target = Target::resolve(a.out.as_deref(), inputs)?;
        let format = SamFormat::resolve(&target, a.output_format)?;
        let sorted = sort_plan(a, &target, format, inputs)?;
        let trace_target = match &a.trace {
            Some(p) => {
                let t = Target::resolve(Some(p), inputs)?;
                if t == target {
                    return Err(CrestError::option(
                        "--trace",
                        format!("--trace {}: the same file as the alignments", p.display()),
                    ));
                }
                Some(t)
            }
            None => None,
        };
        let alignments = Output::open(target)?;
        let trace = match trace_target {
            Some(t) => {
                let mut out = Output::open(t)?;
                crate::map::trace::write_header(&mut out, a.pad).map_err(|e| out.error(e))?;
                Some(out)
            }
            None => None,
        };
        if let Some(d) = &a.damage_profile {
            crate::damage::check_dir(d, "--damage-profile")?;
        }
        let stats = match &a.stats {
            Some(p) => Some(Output::create(Some(p), inputs)?),
            None => None,
        };
        Ok(Outputs {
            alignments,
            format,
            sorted,
            trace,
            stats,
        })
    }

    /// The SAM/BAM writer, with the read groups of `readers` (or `--read-group`).
    fn writer(
        alignments: Output,
        format: SamFormat,
        sorted: SortPlan,
        header: (&Reference, ReadGroups, &str),
    ) -> Result<SamWriter> {
        let (reference, groups, command_line) = header;
        match sorted {
            None => SamWriter::create_with(alignments, format, reference, groups, command_line),
            Some((sort, index)) => {
                let index = match index {
                    Some((target, f)) => Some((Output::open(target)?, f)),
                    None => None,
                };
                SamWriter::create_sorted_with(
                    alignments,
                    format,
                    reference,
                    groups,
                    command_line,
                    sort,
                    index,
                )
            }
        }
    }
}

/// The bit head, when `--propose head` asks for it.
fn load_head(
    be: &Backend,
    a: &MapArgs,
    ck: &Checkpoint,
    reference: &Reference,
) -> Result<Option<BitHead>> {
    if !a.propose.contains(&Propose::Head) {
        return Ok(None);
    }
    match &ck.meta.head {
        Some(h) => {
            // the raw-coordinate head only knows the genome it was trained on
            ck.meta.check_reference(&a.model, reference, &a.reference)?;
            Ok(Some(BitHead::from_values(be, h, ck.weights())?))
        }
        None => Err(CrestError::Invalid(format!(
            "{} has no bit head: use --propose index, or train one with `crest train --head-steps N`",
            a.model.display()
        ))),
    }
}

/// The index (loaded, or built and saved), unless only the head proposes.
fn load_index(
    be: &Backend,
    a: &MapArgs,
    model: (&Checkpoint, &Encoder),
    reference: &Reference,
) -> Result<Option<crate::index::Index>> {
    if a.propose.iter().all(|p| *p == Propose::Head) {
        return Ok(None);
    }
    let (ck, enc) = model;
    let opts = crate::index::IndexOptions {
        // an index built here for flat search keeps its floats
        pq: if a.propose.contains(&Propose::Flat) {
            0
        } else {
            a.build.pq
        },
        ..a.build.options()
    };
    let route = a.build.route();
    let (index, model, refp) = (a.index.as_deref(), &a.model, &a.reference);
    super::index::load_or_build(
        be,
        index,
        (ck, model, enc),
        (reference, refp),
        &opts,
        &route,
    )
    .map(Some)
}

/// The mapper's configuration from the options.
fn map_config(a: &MapArgs) -> MapConfig {
    MapConfig {
        stride: a.stride,
        flip: a.flip,
        max_candidates: a.candidates,
        pad: a.pad,
        damage_len: match a.damage_len {
            DamageLen::Auto => crate::map::DEFAULT_DAMAGE_LEN,
            DamageLen::Fixed(n) => n,
        },
        max_diff: a.max_diff,
        min_len: a.min_len,
        propose: a.propose.clone(),
        beam: a.beam,
        route_width: a.route_width,
        short_both_strands: !a.short_one_strand,
        read_neighbours: a.read_neighbours,
        rescue_beam: a.rescue_beam,
        rescue_max_len: a.rescue_max_len,
        rescue_min_yield: a.rescue_min_yield,
        rescue_views: crate::map::views::RescueViews {
            lengths: a.rescue_views,
            mask: a.rescue_mask,
            ..Default::default()
        },
        min_base_quality: a.min_base_quality,
        // fitted with the damage (`--damage-len auto`), else bwa's scale
        error_rate: crate::map::mapq::BWA_ERROR_RATE,
    }
}

/// Every input opened now (each once: `-` and pipes cannot be reopened), so
/// that the read groups of unaligned SAM/BAM inputs reach the header. A
/// missing or unrecognisable file fails before any output exists.
fn open_reads(a: &MapArgs) -> Result<Vec<ReadReader>> {
    for f in &a.reads {
        // (a pipe or `-` is read once, by the mapping itself)
        if crate::io::rereadable(f) {
            crate::io::detect_format(f)?;
        }
    }
    a.reads.iter().map(|f| ReadReader::open(f)).collect()
}

/// Run `crest map`.
pub fn map(be: &Backend, a: &MapArgs, command_line: &str) -> Result<MapStats> {
    let mut inputs: Vec<&Path> = vec![&a.model, &a.reference];
    inputs.extend(a.reads.iter().map(|p| p.as_path()));
    inputs.extend(a.index.as_deref());
    let outs = Outputs::open(a, &inputs)?;
    let (ck, enc) = super::load_model(be, &a.model)?;
    let reference = Reference::load(&a.reference)?;
    reference.check_contig_names(&a.reference, "SAM")?;
    let head = load_head(be, a, &ck, &reference)?;
    let index = load_index(be, a, (&ck, &enc), &reference)?;
    let cfg = map_config(a);
    let mut mapper = Mapper::new(be, &enc, head.as_ref(), index.as_ref(), &reference, cfg)?;
    let readers = open_reads(a)?;
    let input_groups = crate::io::reads::merged_read_groups(&readers);
    let groups = match (&a.read_group, input_groups.is_empty()) {
        (Some(rg), _) => ReadGroups::Given(rg),
        (None, false) => ReadGroups::Input(&input_groups),
        (None, true) => ReadGroups::None,
    };
    let header = (&reference, groups, command_line);
    let mut writer = Outputs::writer(outs.alignments, outs.format, outs.sorted, header)?;
    let mut damage = a
        .damage_profile
        .as_ref()
        .map(|_| DamageProfile::new(&reference, a.damage_positions));
    let mut trace = outs.trace.map(|out| TraceOut {
        out,
        contigs: reference.contigs.iter().map(|c| c.name.clone()).collect(),
    });
    let t0 = Instant::now();
    let sinks = Sinks {
        writer: &mut writer,
        trace: trace.as_mut(),
        damage: damage.as_mut(),
    };
    let opts = StreamOptions {
        batch: a.batch,
        threads: a.threads,
        fit_first: a.damage_len == DamageLen::Auto,
    };
    let stats = stream(&mut mapper, readers, sinks, &reference, opts)?;
    let spinner = finishing_spinner(a.sort, &stats);
    // Every output is written first and committed together: a failure in
    // any of them leaves none behind.
    let mut staged = writer.finish_staged()?;
    if let (Some(d), Some(dir)) = (&damage, &a.damage_profile) {
        let names: Vec<String> = a.reads.iter().map(|p| p.display().to_string()).collect();
        staged.push(d.write_staged(dir, &names.join(", "))?.into());
    }
    if let Some(t) = trace {
        staged.push(t.out.into());
    }
    if let Some(o) = outs.stats {
        staged.push(write_stats(o, be, command_line, t0, &stats)?.into());
    }
    crate::io::output::commit_all(staged)?;
    spinner.finish_and_clear();
    report(&stats, t0.elapsed().as_secs_f64(), be);
    Ok(stats)
}

/// A spinner while a sorted output is merged and written.
fn finishing_spinner(sort: bool, stats: &MapStats) -> indicatif::ProgressBar {
    if !sort {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_message(format!("{} mapped; writing sorted output", stats.mapped));
    pb
}

/// `--stats`: the run's counts as JSON.
fn write_stats(
    mut o: Output,
    be: &Backend,
    command_line: &str,
    t0: Instant,
    stats: &MapStats,
) -> Result<Output> {
    let json = serde_json::json!({
        "crest": crate::VERSION,
        "adapter": be.name(),
        "command": command_line,
        "seconds": t0.elapsed().as_secs_f64(),
        "steady_state_per_batch": stats.steady_state(),
        "flush_every": crate::gpu::FLUSH_EVERY,
        "stats": stats,
    });
    let text = serde_json::to_string_pretty(&json)
        .map_err(|e| CrestError::option("--stats", format!("--stats: {e}")))?;
    o.write_bytes(text.as_bytes())?;
    o.write_bytes(b"\n")?;
    Ok(o)
}

/// The summary on stderr.
fn report(stats: &MapStats, secs: f64, be: &Backend) {
    eprintln!(
        "crest map: {} reads, {} mapped ({:.1}%; {} of {} tried by the rescue pass in {:.1}s), {} with MAPQ ≥ 20, {} alignments verified, {:.1}s, {:.0} reads/s on {}",
        stats.reads,
        stats.mapped,
        100.0 * stats.mapped as f64 / stats.reads.max(1) as f64,
        stats.rescued,
        stats.rescue_tried,
        stats.rescue_s,
        stats.mapq20,
        stats.alignments,
        secs,
        stats.reads as f64 / secs.max(1e-9),
        be.name()
    );
    eprintln!("crest map: stages: {}", stats.stages());
    if stats.rescue_eligible > stats.rescue_tried {
        eprintln!(
            "crest map: the rescue pass placed {} of {} reads tried, so it probed 1 in {} of the other {} eligible reads (--rescue-beam 0 turns it off)",
            stats.rescued,
            stats.rescue_tried,
            crate::map::RESCUE_PROBE_EVERY,
            stats.rescue_eligible - stats.rescue_tried
        );
    }
    if let Some(c) = stats.steady_state() {
        tracing::info!(
            "per batch (steady state): {} dispatches, {} submissions, {} waits, {} buffers created, {} bytes up, {} bytes down",
            c.dispatches,
            c.submissions,
            c.waits,
            c.buffers_created,
            c.bytes_up,
            c.bytes_down
        );
    }
}

/// `--rescue-mask`: 0 (off) up to [`crate::map::views::MAX_RESCUE_MASK`].
fn rescue_mask(s: &str) -> std::result::Result<usize, String> {
    let max = crate::map::views::MAX_RESCUE_MASK;
    match s.parse::<usize>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(format!(
            "expected a run length from 0 (no masked views) to {max} bases"
        )),
    }
}
