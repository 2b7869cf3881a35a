//! `crest sv`, `crest simulate-sv` and `crest sv-eval`: structural variants
//! from embedding trajectories (see [`crate::sv`]).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::backend::Backend;
use crate::error::{CrestError, Result};
use crate::io::output::Staged;
use crate::io::{Output, ReadReader, ReadRecord, Reference, Target};
use crate::map::{MapConfig, MapStats, Mapper};
use crate::model::{Checkpoint, Encoder};
use crate::sv::plot::{dot_plot, Track};
use crate::sv::{
    absorb_partial_views, call_query, cluster_calls, eval, paf, plant, vcf, Anchor, ChainConfig,
    SvCall, SvKind,
};

/// Options of `crest sv`.
#[derive(clap::Args, Debug)]
pub struct SvArgs {
    /// Model whose encoder places the query's windows (not needed with --paf).
    #[arg(long, required_unless_present = "paf")]
    pub model: Option<PathBuf>,
    /// Reference FASTA.
    #[arg(long)]
    pub reference: PathBuf,
    /// Index of the reference for this model; built and saved when the file
    /// does not exist (without it, built in memory for this run).
    #[arg(long)]
    pub index: Option<PathBuf>,
    /// Queries: assembly contigs or long reads (FASTA/FASTQ, .gz allowed).
    #[arg(required = true)]
    pub queries: Vec<PathBuf>,
    /// Output VCF (default: stdout).
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// Also write the calls as BED here.
    #[arg(long)]
    pub bed: Option<PathBuf>,
    /// Draw the trajectory (dot plot of the placed windows) as SVG here.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Take the placements from minimap2 alignments of the queries (PAF)
    /// instead of the encoder: the alignment-based baseline, through the
    /// same chaining and calling.
    #[arg(long)]
    pub paf: Option<PathBuf>,
    /// Window length (bp) placed on the reference (1 to 10000000).
    #[arg(long, default_value_t = 64, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_LEN))]
    pub window: usize,
    /// Bases between windows (smaller: finer trajectories, more work) (1 to 65536).
    #[arg(long, default_value_t = 32, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_STRIDE))]
    pub step: usize,
    /// Windows placed with a lower MAPQ are not used.
    #[arg(long, default_value_t = 20)]
    pub min_mapq: u8,
    /// Maximum differences of a window's alignment, as `crest map -n` (a
    /// fraction or a count); raise it for noisy long reads.
    #[arg(short = 'n', long, default_value_t = 0.01, value_parser = super::parse::positive)]
    pub max_diff: f64,
    /// Candidate loci verified per window (1 to 4096).
    #[arg(long, default_value_t = 64, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_CANDIDATES))]
    pub candidates: usize,
    /// Beam width of the tree search (1 to 512).
    #[arg(long, default_value_t = crate::index::DEFAULT_BEAM, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_BEAM))]
    pub beam: usize,
    /// Smallest event reported (bp, 0 to 1000000000).
    #[arg(long, default_value_t = ChainConfig::default().min_size, value_parser = crate::commands::parse::u64_in(0, crate::commands::parse::MAX_BASES))]
    pub min_size: u64,
    /// Diagonal drift (bp) still read as one collinear segment (0 to 1000000000).
    #[arg(long, default_value_t = ChainConfig::default().tolerance, value_parser = crate::commands::parse::i64_in(0, crate::commands::parse::MAX_BASES))]
    pub tolerance: i64,
    /// Segments placed by fewer windows are dropped as misplacements (0 to 1000000).
    #[arg(long, default_value_t = ChainConfig::default().min_anchors, value_parser = crate::commands::parse::u32_in(0, crate::commands::parse::MAX_SUPPORT))]
    pub min_anchors: u32,
    /// Calls of different queries within this many bp are one event (0 to 1000000000).
    #[arg(long, default_value_t = 100, value_parser = crate::commands::parse::u64_in(0, crate::commands::parse::MAX_BASES))]
    pub merge: u64,
    /// Calls supported by fewer queries are dropped (1 for an assembly;
    /// 2–3 for long reads at some depth) (0 to 1000000).
    #[arg(long, default_value_t = 1, value_parser = crate::commands::parse::u32_in(0, crate::commands::parse::MAX_SUPPORT))]
    pub min_support: u32,
    /// Windows per batch (1 to 1048576).
    #[arg(long, default_value_t = 4096, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_BATCH))]
    pub batch: usize,
    /// How an index is built when there is none yet.
    #[command(flatten)]
    pub build: super::index::BuildArgs,
}

fn load_queries(paths: &[PathBuf]) -> Result<Vec<(PathBuf, ReadRecord)>> {
    let mut out = Vec::new();
    for p in paths {
        let mut r = ReadReader::open(p)?;
        let mut v = Vec::new();
        while r.next_batch(1024, &mut v)? > 0 {}
        out.extend(v.into_iter().map(|rec| (p.clone(), rec)));
    }
    Ok(out)
}

fn ref_span(rec: &crate::io::SamRecord) -> u64 {
    rec.cigar
        .iter()
        .filter(|(op, _)| matches!(op, b'M' | b'D' | b'=' | b'X' | b'N'))
        .map(|&(_, n)| n as u64)
        .sum()
}

/// Every window of every query at least k long, with its owner: (query,
/// offset, length).
fn query_windows(
    a: &SvArgs,
    k: usize,
    queries: &[(PathBuf, ReadRecord)],
) -> Vec<(usize, u32, u32)> {
    let mut windows = Vec::new();
    for (qi, (_, q)) in queries.iter().enumerate() {
        if q.seq.len() < k {
            continue;
        }
        let w = a.window.min(q.seq.len());
        for o in crate::seq::window_starts(q.seq.len(), w, a.step) {
            windows.push((qi, o as u32, w as u32));
        }
    }
    windows
}

/// Map a chunk of windows as reads.
fn place(
    mapper: &Mapper,
    queries: &[(PathBuf, ReadRecord)],
    chunk: &[(usize, u32, u32)],
    stats: &mut MapStats,
) -> Result<Vec<crate::io::SamRecord>> {
    let reads: Vec<ReadRecord> = chunk
        .iter()
        .map(|&(qi, o, l)| ReadRecord {
            name: format!("w{qi}_{o}"),
            seq: queries[qi].1.seq[o as usize..(o + l) as usize].to_vec(),
            qual: Vec::new(),
            rg: None,
        })
        .collect();
    mapper.map_batch(&reads, stats)
}

/// The anchor of a window's alignment, when placed with MAPQ ≥ `min_mapq`.
fn anchor_of(rec: &crate::io::SamRecord, (o, l): (u32, u32), min_mapq: u8) -> Option<Anchor> {
    let (Some(ci), Some(pos)) = (rec.contig, rec.pos) else {
        return None;
    };
    if rec.is_unmapped() || rec.mapq < min_mapq {
        return None;
    }
    Some(Anchor::from_alignment(
        o,
        l,
        ci,
        rec.is_reverse(),
        pos as u64,
        ref_span(rec),
    ))
}

/// Place every query's windows with the mapper; anchors per query.
fn embed_anchors(
    be: &Backend,
    a: &SvArgs,
    (model, ck, enc): (&Path, &Checkpoint, &Encoder),
    reference: &Reference,
    queries: &[(PathBuf, ReadRecord)],
) -> Result<Vec<Vec<Anchor>>> {
    let k = enc.cfg.k;
    let index = super::index::load_or_build(
        be,
        a.index.as_deref(),
        (ck, model, enc),
        (reference, &a.reference),
        &a.build.options(),
        &a.build.route(),
    )?;
    let cfg = MapConfig {
        max_candidates: a.candidates,
        max_diff: a.max_diff,
        beam: a.beam,
        min_len: k.min(a.window),
        ..MapConfig::default()
    };
    let mapper = Mapper::new(be, enc, None, Some(&index), reference, cfg)?;
    let windows = query_windows(a, k, queries);
    let pb = super::bar(windows.len() as u64, "sv: placing windows");
    let mut stats = MapStats::default();
    let mut anchors: Vec<Vec<Anchor>> = vec![Vec::new(); queries.len()];
    let t0 = Instant::now();
    for chunk in windows.chunks(a.batch.max(1)) {
        let recs = place(&mapper, queries, chunk, &mut stats)?;
        for (&(qi, o, l), rec) in chunk.iter().zip(&recs) {
            if let Some(an) = anchor_of(rec, (o, l), a.min_mapq) {
                anchors[qi].push(an);
            }
        }
        pb.inc(chunk.len() as u64);
    }
    pb.finish_and_clear();
    let placed: usize = anchors.iter().map(|v| v.len()).sum();
    eprintln!(
        "crest sv: {} windows of {} queries, {} placed with MAPQ ≥ {} ({:.1}%), {:.1}s on {} ({})",
        windows.len(),
        queries.len(),
        placed,
        a.min_mapq,
        100.0 * placed as f64 / windows.len().max(1) as f64,
        t0.elapsed().as_secs_f64(),
        be.name(),
        stats.stages()
    );
    Ok(anchors)
}

/// The outputs' targets (VCF, `--bed`, `--plot`), checked before any work.
type SvTargets = (Target, Option<Target>, Option<Target>);

fn sv_targets(a: &SvArgs) -> Result<SvTargets> {
    let mut inputs: Vec<&Path> = vec![&a.reference];
    inputs.extend(a.queries.iter().map(|p| p.as_path()));
    inputs.extend(a.model.as_deref());
    inputs.extend(a.paf.as_deref());
    inputs.extend(a.index.as_deref());
    let mut outputs = vec![("-o", a.out.as_deref())];
    outputs.extend(a.bed.as_deref().map(|p| ("--bed", Some(p))));
    outputs.extend(a.plot.as_deref().map(|p| ("--plot", Some(p))));
    crate::io::output::refuse_collisions(&outputs)?;
    let resolve = |p: Option<&Path>| p.map(|p| Target::resolve(Some(p), &inputs)).transpose();
    let out_t = Target::resolve(a.out.as_deref(), &inputs)?;
    let bed_t = resolve(a.bed.as_deref())?;
    let plot_t = resolve(a.plot.as_deref())?;
    if a.window == 0 || a.step == 0 {
        return Err(CrestError::option(
            "--window",
            "--window and --step must be positive",
        ));
    }
    Ok((out_t, bed_t, plot_t))
}

/// `--paf`: anchors from minimap2's alignments of the same queries.
fn paf_anchors(
    a: &SvArgs,
    p: &Path,
    reference: &Reference,
    queries: &[(PathBuf, ReadRecord)],
) -> Result<Vec<Vec<Anchor>>> {
    let mut by_name = paf::read_paf(p, reference, a.min_mapq, a.min_size)?;
    let paf_names: Vec<String> = by_name.keys().take(1).cloned().collect();
    let anchors: Vec<_> = queries
        .iter()
        .map(|(_, q)| by_name.remove(&q.name).unwrap_or_default())
        .collect();
    if anchors.iter().all(|v: &Vec<_>| v.is_empty()) {
        return Err(CrestError::Invalid(format!(
            "{}: no alignment (at --min-mapq {}) names any of the {} queries (PAF query e.g. {:?}, FASTA query e.g. '{}'): a PAF of other sequences?",
            p.display(),
            a.min_mapq,
            queries.len(),
            paf_names.first().map(String::as_str).unwrap_or("none"),
            queries[0].1.name
        )));
    }
    Ok(anchors)
}

/// Anchors from the model: every query's windows placed by the mapper.
fn model_anchors(
    be: &Backend,
    a: &SvArgs,
    model: &Path,
    reference: &Reference,
    queries: &[(PathBuf, ReadRecord)],
) -> Result<Vec<Vec<Anchor>>> {
    let (ck, enc) = super::load_model(be, model)?;
    let k = enc.cfg.k;
    let short: Vec<&(PathBuf, ReadRecord)> =
        queries.iter().filter(|(_, q)| q.seq.len() < k).collect();
    if short.len() == queries.len() {
        let (p, q) = short[0];
        return Err(CrestError::Invalid(format!(
            "{}: every query is shorter than the model's k ({k} bp), e.g. '{}' ({} bp): nothing to place",
            p.display(),
            q.name,
            q.seq.len()
        )));
    }
    if !short.is_empty() {
        eprintln!(
            "crest sv: {} queries shorter than k ({k} bp) skipped, e.g. '{}' in {}",
            short.len(),
            short[0].1.name,
            short[0].0.display()
        );
    }
    embed_anchors(be, a, (model, &ck, &enc), reference, queries)
}

/// The VCF, `--bed` and `--plot`, committed together.
fn write_outputs(
    a: &SvArgs,
    targets: SvTargets,
    calls: &[SvCall],
    reference: &Reference,
    tracks: &[Track],
    command_line: &str,
) -> Result<()> {
    let (out_t, bed_t, plot_t) = targets;
    let mut out = Output::open(out_t)?;
    let source = format!("crest {} ({command_line})", crate::VERSION);
    vcf::write_vcf(&mut out, calls, reference, &source).map_err(|e| out.error(e))?;
    let mut staged: Vec<Staged> = vec![out.into()];
    if let Some(t) = bed_t {
        let mut o = Output::open(t)?;
        vcf::write_bed(&mut o, calls, reference).map_err(|e| o.error(e))?;
        staged.push(o.into());
    }
    if let Some(t) = plot_t {
        let title = format!(
            "{} queries on {}",
            tracks.len(),
            a.reference
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default()
        );
        let svg = dot_plot(tracks, calls, reference, &title)?;
        let mut o = Output::open(t)?;
        o.write_bytes(svg.as_bytes())?;
        staged.push(o.into());
    }
    crate::io::output::commit_all(staged)
}

/// Run `crest sv`.
pub fn sv(be: &Backend, a: &SvArgs, command_line: &str) -> Result<Vec<SvCall>> {
    let targets = sv_targets(a)?;
    let reference = Reference::load(&a.reference)?;
    vcf::check_contig_names(&reference, &a.reference)?;
    let queries = load_queries(&a.queries)?;
    if queries.is_empty() {
        let names: Vec<String> = a.queries.iter().map(|p| p.display().to_string()).collect();
        return Err(CrestError::Invalid(format!(
            "no query sequences in {}",
            names.join(", ")
        )));
    }
    let anchors = match (&a.paf, a.model.as_deref()) {
        (Some(p), _) => paf_anchors(a, p, &reference, &queries)?,
        (None, Some(model)) => model_anchors(be, a, model, &reference, &queries)?,
        (None, None) => return Err(CrestError::Invalid("give --model or --paf".into())),
    };
    let cfg = ChainConfig {
        tolerance: a.tolerance,
        min_anchors: a.min_anchors,
        min_size: a.min_size,
        ..ChainConfig::default()
    };
    let mut all = Vec::new();
    for ((_, q), an) in queries.iter().zip(&anchors) {
        all.extend(call_query(&q.seq, an, &reference, &cfg).calls);
    }
    let raw = all.len();
    let mut calls = absorb_partial_views(cluster_calls(all, a.merge), a.merge);
    calls.retain(|c| c.support >= a.min_support);
    let tracks: Vec<Track> = queries
        .iter()
        .zip(&anchors)
        .map(|((_, q), an)| Track {
            len: q.seq.len() as u32,
            anchors: an,
        })
        .collect();
    write_outputs(a, targets, &calls, &reference, &tracks, command_line)?;
    let per: Vec<String> = SvKind::ALL
        .iter()
        .map(|&k| (calls.iter().filter(|c| c.kind == k).count(), k))
        .filter(|(n, _)| *n > 0)
        .map(|(n, k)| format!("{n} {}", k.svtype()))
        .collect();
    let per = if per.is_empty() {
        "none".to_string()
    } else {
        per.join(", ")
    };
    eprintln!(
        "crest sv: {} calls ({per}) from {raw} breaks in {} queries",
        calls.len(),
        queries.len()
    );
    Ok(calls)
}

/// Options of `crest simulate-sv`.
#[derive(clap::Args, Debug)]
pub struct SimulateSvArgs {
    /// Reference FASTA to alter.
    #[arg(long)]
    pub reference: PathBuf,
    /// The altered genome (FASTA).
    #[arg(short, long)]
    pub out: PathBuf,
    /// The truth (VCF, original reference coordinates).
    #[arg(long)]
    pub vcf: PathBuf,
    /// Events of each kind (1 to 100000).
    #[arg(long, default_value_t = 2, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_EVENTS))]
    pub per_kind: usize,
    /// Kinds to plant, comma-separated (bnd: a translocation, cut and pasted on the same contig).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "del,ins,inv,dup,bnd"
    )]
    pub kinds: Vec<SvKind>,
    /// Smallest event (bp, 1 to 1000000000).
    #[arg(long, default_value_t = 100, value_parser = crate::commands::parse::u64_in(1, crate::commands::parse::MAX_BASES))]
    pub min_size: u64,
    /// Largest event (bp, 1 to 1000000000).
    #[arg(long, default_value_t = 5000, value_parser = crate::commands::parse::u64_in(1, crate::commands::parse::MAX_BASES))]
    pub max_size: u64,
    /// Least distance between events and from contig ends (bp, 0 to 1000000000).
    #[arg(long, default_value_t = 1000, value_parser = crate::commands::parse::u64_in(0, crate::commands::parse::MAX_BASES))]
    pub spacing: u64,
    /// Seed (same seed and options: identical genome, truth and reads).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also draw this many long reads from the altered genome (0 to 1000000)...
    #[arg(long, default_value_t = 0, value_parser = crate::commands::parse::usize_in(0, crate::commands::parse::MAX_LONG_READS))]
    pub long_reads: usize,
    /// ... of this length (bp, 1 to 10000000) ...
    #[arg(long, default_value_t = 10_000, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_LEN))]
    pub read_length: usize,
    /// ... with this per-base error rate (substitutions, insertions and deletions alike) ...
    #[arg(long, default_value_t = 0.05, value_parser = super::parse::fraction)]
    pub error_rate: f64,
    /// ... into this FASTA file.
    #[arg(long, requires = "long_reads")]
    pub reads_out: Option<PathBuf>,
}

fn write_fasta<W: Write>(w: &mut W, name: &str, seq: &[u8]) -> std::io::Result<()> {
    writeln!(w, ">{name}")?;
    for line in seq.chunks(80) {
        w.write_all(line)?;
        w.write_all(b"\n")?;
    }
    Ok(())
}

/// Run `crest simulate-sv`.
pub fn simulate_sv(a: &SimulateSvArgs, command_line: &str) -> Result<()> {
    let inputs = [a.reference.as_path()];
    let mut outputs = vec![
        ("-o", Some(a.out.as_path())),
        ("--vcf", Some(a.vcf.as_path())),
    ];
    if a.long_reads > 0 {
        outputs.extend(a.reads_out.as_deref().map(|p| ("--reads-out", Some(p))));
    }
    crate::io::output::refuse_collisions(&outputs)?;
    let genome_t = Target::resolve(Some(&a.out), &inputs)?;
    let vcf_t = Target::resolve(Some(&a.vcf), &inputs)?;
    let reads_t = match (&a.reads_out, a.long_reads) {
        (Some(p), n) if n > 0 => Some(Target::resolve(Some(p), &inputs)?),
        (None, n) if n > 0 => {
            return Err(CrestError::option(
                "--long-reads",
                "--long-reads needs --reads-out FILE",
            ))
        }
        _ => None,
    };
    let reference = Reference::load(&a.reference)?;
    vcf::check_contig_names(&reference, &a.reference)?;
    let cfg = plant::PlantConfig {
        per_kind: a.per_kind,
        kinds: a.kinds.clone(),
        min_size: a.min_size,
        max_size: a.max_size,
        spacing: a.spacing,
        seed: a.seed,
    };
    let p = plant::plant(&reference, &cfg)?;
    let mut g = Output::open(genome_t)?;
    for c in &p.genome.contigs {
        write_fasta(&mut g, &c.name, &c.seq).map_err(|e| g.error(e))?;
    }
    let mut v = Output::open(vcf_t)?;
    let source = format!("crest simulate-sv ({command_line})");
    vcf::write_vcf(&mut v, &p.truth, &reference, &source).map_err(|e| v.error(e))?;
    let mut staged: Vec<Staged> = vec![g.into(), v.into()];
    if let Some(t) = reads_t {
        let reads = plant::long_reads(&p.genome, a.long_reads, a.read_length, a.error_rate, a.seed);
        let mut o = Output::open(t)?;
        for r in &reads {
            write_fasta(&mut o, &r.name, &r.seq).map_err(|e| o.error(e))?;
        }
        staged.push(o.into());
    }
    crate::io::output::commit_all(staged)?;
    eprintln!(
        "crest simulate-sv: planted {} events ({} truth records) into {} ({} → {} bp)",
        a.per_kind * a.kinds.len(),
        p.truth.len(),
        a.out.display(),
        reference.total_len(),
        p.genome.total_len()
    );
    Ok(())
}

/// Options of `crest sv-eval`.
#[derive(clap::Args, Debug)]
pub struct SvEvalArgs {
    /// Reference the VCFs refer to (for contig names).
    #[arg(long)]
    pub reference: PathBuf,
    /// Truth VCF (`crest simulate-sv --vcf`).
    #[arg(long)]
    pub truth: PathBuf,
    /// Call sets (VCF), each scored on its own.
    #[arg(required = true)]
    pub calls: Vec<PathBuf>,
    /// Breakpoint tolerance (bp) for a match (0 to 1000000000).
    #[arg(long, default_value_t = 50, value_parser = crate::commands::parse::u64_in(0, crate::commands::parse::MAX_BASES))]
    pub tolerance: u64,
    /// JSON lines (one object per call set) instead of markdown.
    #[arg(long)]
    pub json: bool,
}

/// Run `crest sv-eval`: print the table of each call set.
pub fn sv_eval(a: &SvEvalArgs) -> Result<()> {
    let reference = Reference::load(&a.reference)?;
    let truth = vcf::read_vcf(&a.truth, &reference)?;
    for p in &a.calls {
        let calls = vcf::read_vcf(p, &reference)?;
        let rows = eval::evaluate(&truth, &calls, a.tolerance);
        if a.json {
            outln!(
                "{}",
                serde_json::json!({"calls": p.display().to_string(), "truth": a.truth.display().to_string(), "tolerance": a.tolerance, "rows": rows})
            );
        } else {
            outln!(
                "### {}\n\n{}",
                p.display(),
                eval::markdown(&rows, a.tolerance)
            );
        }
    }
    Ok(())
}
