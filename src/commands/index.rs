//! `crest index`: embed a reference's k-mer grid with a model, build the
//! k-means tree and the repeat table, and save them (see [`crate::index`]).
//! `crest map --index` loads the file, or builds and caches it when absent.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::backend::Backend;
use crate::error::Result;
use crate::index::{Index, IndexOptions};
use crate::io::Reference;
use crate::model::{Checkpoint, Encoder};
use crate::train::head::{train_router, RouteOptions};

/// Options of `crest index`.
#[derive(clap::Args, Debug)]
pub struct IndexArgs {
    /// Model file (any encoder; it need not have been trained on this reference).
    #[arg(long)]
    pub model: PathBuf,
    /// Reference FASTA to index (.gz allowed).
    #[arg(long)]
    pub reference: PathBuf,
    /// Output index file (conventionally REF.crest-index).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Tree building options.
    #[command(flatten)]
    pub build: BuildArgs,
    /// Reuse the grid, tree and repeat table of this index (built with the
    /// same model and reference): copy k-mers into other leaves anew when
    /// --spill differs from the file's, train a router with --route-steps,
    /// turn float embeddings into codes with --pq M, or drop the spilled
    /// copies of a coded index with --spill 0.
    #[arg(long)]
    pub from: Option<PathBuf>,
    /// Build chunk by chunk with bounded memory (automatic above
    /// 1,000,000 grid k-mers, about 8 Mbp at stride 8): tree and codebook
    /// from a sample, then each chunk embedded, assigned and encoded. Every
    /// finished chunk is kept in OUT.parts/ until the index is written.
    #[arg(long)]
    pub stream: bool,
    /// Continue a streamed build that was stopped (killed, out of time, or
    /// --stop-after): finished chunks in OUT.parts/ are kept, and the index
    /// is the same as an uninterrupted build's.
    #[arg(long)]
    pub resume: bool,
    /// Grid k-mers per chunk of a streamed build (1024 to 16777216).
    #[arg(long, default_value_t = crate::index::stream::DEFAULT_CHUNK, value_parser = crate::commands::parse::usize_in(1024, 16_777_216))]
    pub chunk: usize,
    /// Stop a streamed build after this many new chunks (exit status 3),
    /// to split it over several jobs; go on with --resume.
    #[arg(long, value_parser = crate::commands::parse::usize_in(1, 1_000_000_000))]
    pub stop_after: Option<usize>,
    /// Build only shard I of N (I/N, I from 0) of a streamed build into
    /// OUT.parts/ and write no index: shards run as separate jobs (one GPU
    /// each) on machines that share the folder; then --merge writes it.
    #[arg(long, value_parser = parse_shard, conflicts_with = "merge")]
    pub shard: Option<(usize, usize)>,
    /// Write the index of a sharded build from OUT.parts/ (every shard
    /// finished; a missing chunk is an error naming it). The index is the
    /// one a single build writes.
    #[arg(long)]
    pub merge: bool,
}

/// `I/N` with I < N.
fn parse_shard(s: &str) -> std::result::Result<(usize, usize), String> {
    let (i, n) = s
        .split_once('/')
        .ok_or_else(|| format!("'{s}' is not I/N (e.g. 0/4)"))?;
    let i: usize = i
        .trim()
        .parse()
        .map_err(|_| format!("'{i}' is not a shard number"))?;
    let n: usize = n
        .trim()
        .parse()
        .map_err(|_| format!("'{n}' is not a shard count"))?;
    if n == 0 || n > 100_000 || i >= n {
        return Err(format!(
            "shard {i}/{n}: I from 0 to N − 1, N from 1 to 100000"
        ));
    }
    Ok((i, n))
}

/// Grid k-mers above which `crest index` streams its build.
pub const STREAM_ABOVE: usize = 1_000_000;

/// Options that shape an index (shared by `crest index` and `crest map`).
#[derive(clap::Args, Debug, Clone)]
pub struct BuildArgs {
    /// Reference k-mer grid stride (bp, 1 to 65536).
    #[arg(long, default_value_t = IndexOptions::default().grid_stride, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_STRIDE))]
    pub grid_stride: usize,
    /// Children per tree node (a power of two, 2 to 64).
    #[arg(long, default_value_t = IndexOptions::default().branch, value_parser = crate::commands::parse::usize_in(2, 64))]
    pub branch: usize,
    /// Target grid k-mers per leaf (sets the depth) (1 to 1048576).
    #[arg(long, default_value_t = IndexOptions::default().leaf, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_LEAF))]
    pub leaf: usize,
    /// Tree depth (overrides --leaf) (1 to 32).
    #[arg(long, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_DEPTH))]
    pub depth: Option<usize>,
    /// Lloyd iterations per level (1 to 1000).
    #[arg(long, default_value_t = IndexOptions::default().iters, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_ITERS))]
    pub iters: usize,
    /// Seed of the initial centroids.
    #[arg(long, default_value_t = IndexOptions::default().seed)]
    pub index_seed: u64,
    /// Also store each grid k-mer in its N nearest leaves other than its own
    /// (0: none). Queries near a leaf boundary then find it whichever side
    /// the beam takes; leaves grow by up to N copies per k-mer (0 to 8).
    #[arg(long, default_value_t = IndexOptions::default().spill, value_parser = crate::commands::parse::usize_in(0, crate::index::tree::MAX_SPILL as u64))]
    pub spill: usize,
    /// Store each grid k-mer's embedding as N one-byte product-quantization
    /// codes (N bytes instead of 512; a power of two dividing dim/4; 0 keeps
    /// the float embeddings: 4× to 32× larger, needed for flat search).
    #[arg(long, default_value_t = IndexOptions::default().pq, value_parser = crate::commands::parse::usize_in(0, 64))]
    pub pq: usize,
    /// Router training steps after the tree (0: no router). The router is a
    /// bit head that learns which leaf damaged read windows belong to;
    /// `crest map --propose index,route` uses it (0 to 100000000).
    #[arg(long, default_value_t = RouteOptions::default().steps, value_parser = crate::commands::parse::u64_in(0, crate::commands::parse::MAX_STEPS))]
    pub route_steps: u64,
    /// Router hidden units (1 to 4096).
    #[arg(long, default_value_t = RouteOptions::default().hidden, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_DIM))]
    pub route_hidden: usize,
    /// Router windows per step (1 to 65536).
    #[arg(long, default_value_t = RouteOptions::default().batch, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_TRAIN_BATCH))]
    pub route_batch: usize,
}

impl BuildArgs {
    /// As library options.
    pub fn options(&self) -> IndexOptions {
        IndexOptions {
            grid_stride: self.grid_stride,
            branch: self.branch,
            leaf: self.leaf,
            depth: self.depth,
            iters: self.iters,
            seed: self.index_seed,
            spill: self.spill,
            pq: self.pq,
        }
    }

    /// Router training options (seeded by --index-seed).
    pub fn route(&self) -> RouteOptions {
        RouteOptions {
            steps: self.route_steps,
            hidden: self.route_hidden,
            batch: self.route_batch,
            seed: self.index_seed,
        }
    }
}

/// Build an index with progress bars on stderr and a one-line summary.
pub fn build_with_progress(
    be: &Backend,
    ck: &Checkpoint,
    enc: &Encoder,
    reference: &Reference,
    opts: &IndexOptions,
    route: &RouteOptions,
) -> Result<Index> {
    let (index, took) = with_progress(|p| Index::build(be, ck, enc, reference, opts, p))?;
    summary(be, &index, &took);
    let mut index = index;
    if route.steps > 0 {
        let t = Instant::now();
        add_router(be, enc, reference, &mut index, route)?;
        eprintln!("crest index: router {:.1}s", t.elapsed().as_secs_f64());
    }
    Ok(index)
}

/// Run an index build with a progress bar per stage (a line per stage
/// without a terminal); its result and the time it took, in all and per
/// stage ("12.0s (embed 10.0s, tree 2.0s)").
fn with_progress<T>(
    build: impl FnOnce(crate::index::Progress<'_>) -> Result<T>,
) -> Result<(T, String)> {
    let t0 = Instant::now();
    let mut stage = String::new();
    let mut pb: Option<indicatif::ProgressBar> = None;
    let mut t_stage = Instant::now();
    let mut times: Vec<(String, f64)> = Vec::new();
    let index = build(&mut |s, done, total| {
        if s != stage {
            if let Some(p) = pb.take() {
                p.finish_and_clear();
            }
            if !stage.is_empty() {
                times.push((stage.clone(), t_stage.elapsed().as_secs_f64()));
            }
            stage = s.to_string();
            t_stage = Instant::now();
            let bar = super::bar(total as u64, &format!("index: {s}"));
            if bar.is_hidden() {
                // no terminal (a pipeline's log): one line per stage instead
                let took = times.last().map(|(p, t)| format!(" ({p} took {t:.1}s)"));
                eprintln!("crest index: {s}…{}", took.unwrap_or_default());
            }
            pb = Some(bar);
        }
        if let Some(p) = &pb {
            p.set_length(total as u64);
            p.set_position(done as u64);
        }
    })?;
    if let Some(p) = pb.take() {
        p.finish_and_clear();
    }
    times.push((stage, t_stage.elapsed().as_secs_f64()));
    let secs = t0.elapsed().as_secs_f64();
    let per: Vec<String> = times.iter().map(|(s, t)| format!("{s} {t:.1}s")).collect();
    Ok((index, format!("{secs:.1}s ({})", per.join(", "))))
}

/// The one-line summary of a built index.
fn summary(be: &Backend, index: &Index, took: &str) {
    eprintln!(
        "crest index: {} grid k-mers (stride {}), tree branch {} depth {} ({} leaves, {} spilled copies), {} k-mers with exact copies; {took} on {}",
        index.grid.len(),
        index.meta.grid_stride,
        index.meta.tree.branch,
        index.meta.tree.depth,
        index.meta.tree.leaves(),
        index.tree.perm.len() - index.grid.len(),
        index.meta.repeated,
        be.name()
    );
}

/// Copy grid k-mers into their `spill` nearest other leaves anew, with a
/// progress bar.
fn respill(be: &Backend, index: &mut Index, spill: usize) -> Result<()> {
    let t = Instant::now();
    let metric = index.metric();
    let pb = super::bar(index.grid.len() as u64, "index: spill");
    crate::index::tree::spill(
        be,
        &mut index.tree,
        &index.grid.z,
        index.grid.dim,
        metric,
        spill,
        &mut |d, _| pb.set_position(d as u64),
    )?;
    pb.finish_and_clear();
    index.meta.spill = spill;
    eprintln!(
        "crest index: {} spilled copies (--spill {spill}) in {:.1}s",
        index.tree.perm.len() - index.grid.len(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Train a router into `index` with a progress bar.
pub fn add_router(
    be: &Backend,
    enc: &Encoder,
    reference: &Reference,
    index: &mut Index,
    route: &RouteOptions,
) -> Result<()> {
    let pb = super::bar(route.steps, "index: route");
    train_router(be, enc, reference, index, route, &mut |step, _, bce| {
        pb.set_position(step);
        pb.set_message(format!("bit BCE {bce:.4}"));
        if pb.is_hidden() {
            eprintln!("route step {step:>6}  bit BCE {bce:.4}");
        }
    })?;
    pb.finish_and_clear();
    if let Some(r) = &index.meta.route {
        eprintln!(
            "crest index: router trained ({} steps of {} windows, {} hidden, {} path bits), final bit BCE {:.4}",
            r.steps, r.batch, r.head.hidden, r.head.bits, r.final_bce
        );
    }
    Ok(())
}

/// Load `path` and check it against the model and reference, or build it
/// (and save it to `path`) when the file does not exist; without a path,
/// build it in memory for this run.
/// `model` is the checkpoint, its file and its encoder; `reference` the
/// reference and its file (an index is checked against both).
pub fn load_or_build(
    be: &Backend,
    path: Option<&Path>,
    model: (&Checkpoint, &Path, &Encoder),
    reference: (&Reference, &Path),
    opts: &IndexOptions,
    route: &RouteOptions,
) -> Result<Index> {
    let ((ck, model_path, enc), (reference, ref_path)) = (model, reference);
    let Some(path) = path else {
        return build_with_progress(be, ck, enc, reference, opts, route);
    };
    if path.exists() {
        let index = Index::load(path)?;
        index.check(path, ck, model_path, reference, ref_path)?;
        return Ok(index);
    }
    let mut out = crate::index::file::open_output(path, &[model_path, ref_path])?;
    eprintln!("crest: {} does not exist; building it", path.display());
    let index = build_with_progress(be, ck, enc, reference, opts, route)?;
    out.write_bytes(&crate::index::file::to_bytes(&index)?)?;
    out.commit()?;
    eprintln!("wrote {}", path.display());
    Ok(index)
}

/// A streamed (chunked, resumable, shardable) build; `None` when this run
/// was one shard of several, whose chunks wait for `--merge`.
fn stream_build(
    be: &Backend,
    a: &IndexArgs,
    model: (&Checkpoint, &Encoder),
    reference: &Reference,
    work: &Path,
) -> Result<Option<Index>> {
    let (ck, enc) = model;
    let (opts, route) = (a.build.options(), a.build.route());
    let so = crate::index::stream::StreamOptions {
        chunk: a.chunk,
        work: work.to_path_buf(),
        resume: a.resume,
        stop_after: a.stop_after,
        shard: a.shard,
        merge: a.merge,
    };
    let (built, took) =
        with_progress(|p| crate::index::stream::build(be, ck, enc, reference, &opts, &so, p))?;
    let Some(mut index) = built else {
        let (i, n) = a.shard.unwrap_or((0, 1));
        eprintln!(
            "crest index: shard {i}/{n} done in {took}; its chunks are in {}; when every shard is done, the same command with --merge instead of --shard writes {}",
            work.display(),
            a.out.display()
        );
        return Ok(None);
    };
    summary(be, &index, &took);
    if route.steps > 0 {
        add_router(be, enc, reference, &mut index, &route)?;
    }
    Ok(Some(index))
}

/// `--from`: an existing index with another `--spill`, `--pq` or a router.
fn rebuild_from(
    be: &Backend,
    a: &IndexArgs,
    from: &Path,
    model: (&Checkpoint, &Encoder),
    reference: &Reference,
) -> Result<Index> {
    let (ck, enc) = model;
    let route = a.build.route();
    let mut index = Index::load(from)?;
    index.check(from, ck, &a.model, reference, &a.reference)?;
    let spill = a.build.spill;
    let have_pq = index.meta.pq.map_or(0, |p| p.m);
    let pq = a.build.pq;
    if route.steps == 0 && spill == index.meta.spill && pq == have_pq {
        return Err(crate::error::CrestError::option("--from", format!(
            "--from {} changes nothing: it already has --spill {spill} and --pq {pq}; give --route-steps N to add a router, or another --spill or --pq",
            from.display()
        )));
    }
    if have_pq > 0 && (pq != have_pq || (spill != index.meta.spill && spill != 0)) {
        return Err(crate::error::CrestError::option("--from", format!(
            "--from {} holds codes (--pq {have_pq}), not float embeddings: changing --pq, or --spill other than to 0, needs a new build",
            from.display()
        )));
    }
    if have_pq > 0 && spill == 0 && index.meta.spill > 0 {
        // copies are dropped without the embeddings
        index.tree.drop_copies();
        index.meta.spill = 0;
    }
    // indexes from before the bisection numbering: renumber (same
    // partition; a no-op on a tree numbered that way already)
    crate::index::tree::order_children(&mut index.tree, index.grid.dim);
    if spill != index.meta.spill {
        respill(be, &mut index, spill)?;
    }
    if route.steps > 0 {
        add_router(be, enc, reference, &mut index, &route)?;
    }
    if pq > 0 && have_pq == 0 {
        let t = Instant::now();
        index.quantize(be, pq)?;
        eprintln!(
            "crest index: quantized to {pq} codes per k-mer in {:.1}s",
            t.elapsed().as_secs_f64()
        );
    }
    Ok(index)
}

/// Run `crest index`.
pub fn index(be: &Backend, a: &IndexArgs) -> Result<()> {
    crate::index::tree::check_spill(a.build.spill)?;
    let mut inputs: Vec<&Path> = vec![&a.model, &a.reference];
    inputs.extend(a.from.as_deref());
    let mut out = crate::index::file::open_output(&a.out, &inputs)?;
    let (ck, enc) = super::load_model(be, &a.model)?;
    let reference = Reference::load(&a.reference)?;
    let (route, opts) = (a.build.route(), a.build.options());
    let grid: usize = reference
        .contigs
        .iter()
        .filter(|c| c.seq.len() >= enc.cfg.k)
        .map(|c| (c.seq.len() - enc.cfg.k) / opts.grid_stride.max(1) + 1)
        .sum();
    let stream = a.from.is_none()
        && (a.stream || a.resume || a.merge || a.shard.is_some() || grid > STREAM_ABOVE);
    let work = crate::index::stream::StreamOptions::work_for(&a.out);
    let index = match &a.from {
        None if stream => match stream_build(be, a, (&ck, &enc), &reference, &work)? {
            Some(index) => index,
            None => {
                // one shard of several: no index file yet
                drop(out);
                return Ok(());
            }
        },
        None => build_with_progress(be, &ck, &enc, &reference, &opts, &route)?,
        Some(from) => rebuild_from(be, a, from, (&ck, &enc), &reference)?,
    };
    out.write_bytes(&crate::index::file::to_bytes(&index)?)?;
    out.commit()?;
    eprintln!("wrote {}", a.out.display());
    if stream {
        std::fs::remove_dir_all(&work).map_err(|e| crate::error::CrestError::io(&work, e))?;
    }
    report_sizes(&index)
}

/// One line per part of the index: bytes and bytes per reference base.
fn report_sizes(index: &Index) -> Result<()> {
    let bases: u64 = index
        .meta
        .reference
        .iter()
        .map(|c| c.len)
        .sum::<u64>()
        .max(1);
    let parts = index.sizes()?;
    let total: usize = parts.iter().map(|p| p.1).sum();
    let show: Vec<String> = parts
        .iter()
        .map(|(p, b)| format!("{p} {:.2}", *b as f64 / bases as f64))
        .collect();
    eprintln!(
        "crest index: {:.1} MB, {:.2} bytes per reference base ({})",
        total as f64 / 1e6,
        total as f64 / bases as f64,
        show.join(", ")
    );
    Ok(())
}
