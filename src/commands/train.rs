//! `crest train` and `crest eval-embed`.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::backend::Backend;
use crate::error::{CrestError, Result};
use crate::index::{reference_grid, Grid, Index, SearchKind, Searcher};
use crate::io::{Output, ReadReader, Reference};
use crate::model::{Checkpoint, EncoderConfig, Geometry};
use crate::train::eval::{neighbour_recall, query_set, recall_of, EvalConfig, EvalReport};
use crate::train::{AugmentConfig, Progress, StepReport, TrainConfig, Trainer};

/// Options of `crest train`.
#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Reference FASTA to learn (supervised by locus, Γ-thresholded); repeat it
    /// to train one encoder on several genomes (contig names must be unique).
    #[arg(long, conflicts_with = "reads")]
    pub reference: Vec<PathBuf>,
    /// Reads to learn from without a reference (self-supervised: only the augmented pair is positive).
    #[arg(long)]
    pub reads: Option<PathBuf>,
    /// Output model file.
    #[arg(short, long)]
    pub out: PathBuf,
    /// Optimiser steps (the learning-rate schedule spans them) (1 to 100000000).
    #[arg(long, default_value_t = 1000, value_parser = crate::commands::parse::u64_in(1, crate::commands::parse::MAX_STEPS))]
    pub steps: u64,
    /// Stop after this many minutes even if steps remain (the result then depends on speed).
    #[arg(long, value_parser = crate::commands::parse::positive)]
    pub minutes: Option<f64>,
    /// Seed: same seed and inputs give the identical model file.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Anchors per step (2 views each) (1 to 65536).
    #[arg(long, default_value_t = 128, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_TRAIN_BATCH))]
    pub batch: usize,
    /// k-mer length (1 to 1024).
    #[arg(short = 'k', long, default_value_t = 32, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_K))]
    pub k: usize,
    /// Conv channels (1 to 4096).
    #[arg(long, default_value_t = 32, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_DIM))]
    pub channels: usize,
    /// Conv kernel width (1 to 64).
    #[arg(long, default_value_t = 7, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_KERNEL))]
    pub kernel: usize,
    /// Residual conv blocks (0 to 64).
    #[arg(long, default_value_t = 2, value_parser = crate::commands::parse::usize_in(0, crate::commands::parse::MAX_BLOCKS))]
    pub blocks: usize,
    /// Embedding size (1 to 4096).
    #[arg(long, default_value_t = 256, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_DIM))]
    pub embed_dim: usize,
    /// Projection size (1 to 4096).
    #[arg(long, default_value_t = 128, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_DIM))]
    pub proj_dim: usize,
    /// Embedding geometry: euclidean (cosine) or poincare (hyperbolic ball, −distance).
    #[arg(long, value_enum, default_value = "euclidean")]
    pub geometry: Geometry,
    /// Curvature c of the Poincaré ball (−c); the starting value with --learn-curvature.
    #[arg(long, default_value_t = 1.0, value_parser = crate::commands::parse::positive_f32)]
    pub curvature: f32,
    /// Train the curvature with the model (Poincaré only).
    #[arg(long)]
    pub learn_curvature: bool,
    /// Γ: loci within Γ bp are positives (0 to 1000000).
    #[arg(long, default_value_t = 16, value_parser = crate::commands::parse::u32_in(0, crate::commands::parse::MAX_GAMMA))]
    pub gamma: u32,
    /// d: positives start up to d bp from the anchor (0 to 1000000).
    #[arg(long, default_value_t = 8, value_parser = crate::commands::parse::usize_in(0, crate::commands::parse::MAX_GAMMA))]
    pub d: usize,
    /// Temperature τ.
    #[arg(long, default_value_t = 0.1, value_parser = crate::commands::parse::positive_f32)]
    pub tau: f32,
    /// Peak learning rate.
    #[arg(long, default_value_t = 2e-3, value_parser = crate::commands::parse::positive_f32)]
    pub lr: f32,
    /// Warm-up steps (0 to 100000000).
    #[arg(long, default_value_t = 100, value_parser = crate::commands::parse::u64_in(0, crate::commands::parse::MAX_STEPS))]
    pub warmup: u64,
    /// Augmentation profile of the training views.
    #[arg(long, value_enum, default_value_t = AugmentProfile::Adna)]
    pub augment: AugmentProfile,
    /// Deamination at a view's terminal base (overrides the profile's 0.3);
    /// set it to the damage the reads to be mapped carry.
    #[arg(long, value_parser = crate::commands::parse::fraction)]
    pub view_deamination: Option<f64>,
    /// Share of views truncated to a shorter read (overrides the profile's
    /// 0.3): raise it when the reads are mostly shorter than k.
    #[arg(long, value_parser = crate::commands::parse::fraction)]
    pub view_truncate: Option<f64>,
    /// Report loss every N steps (1 to 100000000).
    #[arg(long, default_value_t = 50, value_parser = crate::commands::parse::u64_in(1, crate::commands::parse::MAX_STEPS))]
    pub log_every: u64,
    /// Evaluate neighbour recall every N steps (0: only at the end) (0 to 100000000).
    #[arg(long, default_value_t = 0, value_parser = crate::commands::parse::u64_in(0, crate::commands::parse::MAX_STEPS))]
    pub eval_every: u64,
    /// Queries per evaluation (0: no evaluation; up to 1000000).
    #[arg(long, default_value_t = 1000, value_parser = crate::commands::parse::usize_in(0, crate::commands::parse::MAX_QUERIES))]
    pub eval_queries: usize,
    /// Write metrics as JSON lines here.
    #[arg(long)]
    pub metrics: Option<PathBuf>,
    /// Continue a run from its checkpoint (same options).
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Start from this model's encoder (fine-tune it: same architecture,
    /// fresh optimiser, the schedule over --steps from step 0).
    #[arg(long, conflicts_with = "resume")]
    pub init: Option<PathBuf>,
    /// Leave the optimiser state out of the model file (smaller; cannot be resumed).
    #[arg(long)]
    pub no_optimizer_state: bool,
    /// Bit-head training steps after the encoder (0: no head; `crest map` needs one) (0 to 100000000).
    #[arg(long, default_value_t = 0, value_parser = crate::commands::parse::u64_in(0, crate::commands::parse::MAX_STEPS))]
    pub head_steps: u64,
    /// Bit-head hidden units (1 to 4096).
    #[arg(long, default_value_t = 512, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_DIM))]
    pub head_hidden: usize,
}

/// Options of `crest eval-embed`.
#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Model file.
    #[arg(long)]
    pub model: PathBuf,
    /// Reference FASTA the model was trained on.
    #[arg(long)]
    pub reference: PathBuf,
    /// Held-out queries (1 to 1000000).
    #[arg(long, default_value_t = 2000, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_QUERIES))]
    pub queries: usize,
    /// Grid stride (default Γ/2) (1 to 65536).
    #[arg(long, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_STRIDE))]
    pub stride: Option<usize>,
    /// Recall radius in bp (default: the model's Γ) (0 to 1000000).
    #[arg(long, value_parser = crate::commands::parse::u32_in(0, crate::commands::parse::MAX_GAMMA))]
    pub gamma: Option<u32>,
    /// Query augmentation profile.
    #[arg(long, value_enum, default_value_t = AugmentProfile::Adna)]
    pub augment: AugmentProfile,
    /// Seed of the queries.
    #[arg(long, default_value_t = 12345)]
    pub seed: u64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Index file (`crest index`): its grid replaces --stride, and recall is
    /// reported for flat search, the tree and (when the index has one) the
    /// router alone and with the tree, with how often each finds the flat
    /// search's best locus.
    #[arg(long)]
    pub index: Option<PathBuf>,
    /// Beam width of the tree search (with --index) (1 to 512).
    #[arg(long, default_value_t = crate::index::DEFAULT_BEAM, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_BEAM))]
    pub beam: usize,
    /// Leaves the router proposes per query (with an index that has one) (1 to 256).
    #[arg(long, default_value_t = crate::index::route::DEFAULT_WIDTH, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_ROUTE_WIDTH))]
    pub route_width: usize,
}

impl TrainArgs {
    /// The demo's training options: defaults, a short run, metrics off.
    pub fn for_demo(reference: &std::path::Path, out: &std::path::Path, steps: u64) -> Self {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct P {
            #[command(flatten)]
            a: TrainArgs,
        }
        let mut p = P::parse_from(["demo", "--out", "x"]).a;
        p.reference = vec![reference.to_path_buf()];
        p.out = out.to_path_buf();
        p.steps = steps;
        p.log_every = 50;
        p.warmup = 30;
        p
    }
}

/// Augmentation profiles of training views and evaluation queries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AugmentProfile {
    /// Ancient DNA: damage, short reads, sequencing errors.
    Adna,
    /// Strand only.
    None,
}

impl AugmentProfile {
    /// The profile's settings.
    pub fn config(self) -> AugmentConfig {
        match self {
            AugmentProfile::Adna => AugmentConfig::adna(),
            AugmentProfile::None => AugmentConfig::none(),
        }
    }
}

/// The training views' augmentation: the profile with the overrides given.
fn train_augment(a: &TrainArgs) -> AugmentConfig {
    let mut c = a.augment.config();
    if let Some(d) = a.view_deamination {
        c.deamination = d;
    }
    if let Some(t) = a.view_truncate {
        c.truncate = t;
    }
    c
}

struct Cli {
    pb: indicatif::ProgressBar,
    metrics: Option<Output>,
}

impl Progress for Cli {
    fn step(&mut self, step: u64, _total: u64) {
        self.pb.set_position(step);
    }
    fn report(&mut self, r: &StepReport) {
        self.pb.set_message(format!(
            "loss {:.4}  {:.0} samples/s  {:.2} GFLOP/s",
            r.loss, r.samples_per_s, r.gflops
        ));
        if self.pb.is_hidden() {
            eprintln!(
                "step {:>6}  loss {:.4}  lr {:.2e}  {:.0} samples/s  {:.2} GFLOP/s",
                r.step, r.loss, r.lr, r.samples_per_s, r.gflops
            );
        }
        if let Some(f) = &mut self.metrics {
            let _ = writeln!(
                f,
                "{}",
                serde_json::json!({"type": "train", "step": r.step, "loss": r.loss, "lr": r.lr, "samples_per_s": r.samples_per_s, "gflops": r.gflops, "elapsed_s": r.elapsed_s})
            );
        }
    }
}

fn print_eval(step: u64, r: &EvalReport, metrics: &mut Option<Output>) {
    eprintln!(
        "eval step {step}: recall@1 {:.3}  recall@10 {:.3}  ({} queries vs {} grid k-mers, {:.1}s)",
        r.recall_at_1, r.recall_at_10, r.queries, r.grid, r.seconds
    );
    if let Some(f) = metrics {
        let _ = writeln!(
            f,
            "{}",
            serde_json::json!({"type": "eval", "step": step, "recall_at_1": r.recall_at_1, "recall_at_10": r.recall_at_10, "queries": r.queries, "grid": r.grid})
        );
    }
}

/// The encoder's and the training's configuration from the options.
fn plan(a: &TrainArgs) -> Result<(EncoderConfig, TrainConfig)> {
    let enc = EncoderConfig {
        k: a.k,
        channels: a.channels,
        kernel: a.kernel,
        blocks: a.blocks,
        embed_dim: a.embed_dim,
        proj_dim: a.proj_dim,
        geometry: a.geometry,
        curvature: a.curvature,
        learn_curvature: a.learn_curvature,
    };
    if a.learn_curvature && enc.geometry != Geometry::Poincare {
        return Err(CrestError::option(
            "--learn-curvature",
            "--learn-curvature needs --geometry poincare",
        ));
    }
    enc.validate()?;
    let mut cfg = TrainConfig {
        anchors: a.batch,
        steps: a.steps,
        gamma: a.gamma,
        d: a.d,
        tau: a.tau,
        augment: train_augment(a),
        ..Default::default()
    };
    cfg.adam.lr = a.lr;
    cfg.adam.warmup = a.warmup;
    if a.d as u32 > a.gamma {
        return Err(CrestError::option(
            "--d",
            format!(
                "--d {} exceeds --gamma {}: anchor and positive would not count as positives",
                a.d, a.gamma
            ),
        ));
    }
    Ok((enc, cfg))
}

/// The model and `--metrics` outputs, checked and opened before any work: a
/// missing folder, an input named as output or an unwritable place fails
/// now, not after training.
fn open_outputs(a: &TrainArgs) -> Result<(Output, Option<Output>)> {
    let mut inputs: Vec<&std::path::Path> = a.reference.iter().map(|p| p.as_path()).collect();
    inputs.extend(a.reads.as_deref());
    inputs.extend(a.resume.as_deref());
    inputs.extend(a.init.as_deref());
    let mut outputs = vec![("--out", Some(a.out.as_path()))];
    outputs.extend(a.metrics.as_deref().map(|p| ("--metrics", Some(p))));
    crate::io::output::refuse_collisions(&outputs)?;
    let out = Output::create(Some(&a.out), &inputs)?;
    if out.target().is_stream() {
        return Err(CrestError::option(
            "--out",
            format!(
                "--out {}: a model is a file; give a file name",
                a.out.display()
            ),
        ));
    }
    inputs.push(&a.out);
    let metrics = match &a.metrics {
        Some(p) => Some(Output::create(Some(p), &inputs)?),
        None => None,
    };
    Ok((out, metrics))
}

/// The references to learn, refused when no k-mer of them is free of N.
fn load_references(a: &TrainArgs) -> Result<Option<Reference>> {
    if a.reference.is_empty() {
        return Ok(None);
    }
    let r = Reference::load_many(&a.reference)?;
    let usable = r.contigs.iter().any(|c| {
        c.seq
            .windows(a.k)
            .any(|w| w.iter().all(|&b| crate::seq::base_code(b).is_some()))
    });
    if !usable {
        return Err(CrestError::Invalid(format!(
            "{}: no {}-bp window free of N (or other non-ACGT bases): nothing to learn",
            joined(&a.reference, ", "),
            a.k
        )));
    }
    eprintln!(
        "reference {}: {} contigs, {} bp",
        joined(&a.reference, " + "),
        r.contigs.len(),
        r.total_len()
    );
    Ok(Some(r))
}

fn joined(paths: &[PathBuf], sep: &str) -> String {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    names.join(sep)
}

/// The trainer on the reference, or self-supervised on `--reads`, started
/// from `--init` or resumed from `--resume`.
fn make_trainer<'a>(
    be: &'a Backend,
    a: &TrainArgs,
    data: (Option<&'a Reference>, &'a mut Vec<Vec<u8>>),
    plan: (&EncoderConfig, TrainConfig),
    init: Option<&Checkpoint>,
) -> Result<Trainer<'a>> {
    let (enc, cfg) = plan;
    let mut trainer = match (data.0, &a.reads) {
        (Some(reference), _) => Trainer::on_reference(be, reference, enc, cfg, a.seed)?,
        (None, Some(r)) => {
            *data.1 = ReadReader::open(r)?
                .map(|x| x.map(|x| x.seq))
                .filter(|x| x.as_ref().map_or(true, |s| s.len() >= 8))
                .collect::<Result<_>>()?;
            eprintln!("reads {}: {} reads of ≥ 8 bp", r.display(), data.1.len());
            Trainer::on_reads(be, data.1, enc, cfg, a.seed)?
        }
        (None, None) => {
            return Err(CrestError::Invalid(
                "give --reference REF.fa or --reads READS.fq".into(),
            ))
        }
    };
    if let (Some(ck), Some(p)) = (init, &a.init) {
        trainer.init_from(ck)?;
        eprintln!("starting from the encoder of {}", p.display());
    }
    if let Some(r) = &a.resume {
        trainer.resume(&Checkpoint::load(r)?)?;
        eprintln!("resuming {} at step {}", r.display(), trainer.step);
    }
    Ok(trainer)
}

/// Train to `--steps` (or `--minutes`), evaluating every `--eval-every`.
fn run_steps(
    be: &Backend,
    a: &TrainArgs,
    trainer: &mut Trainer,
    reference: Option<&Reference>,
    cli: &mut Cli,
) -> Result<Option<EvalConfig>> {
    let deadline = a
        .minutes
        .map(|m| Instant::now() + Duration::from_secs_f64(m * 60.0));
    let eval_cfg = EvalConfig {
        stride: (a.gamma as usize / 2).max(1),
        queries: a.eval_queries,
        gamma: a.gamma,
        augment: trainer.cfg.augment.clone(),
        seed: a.seed ^ 0xE7A1,
    };
    let eval_ref = reference.filter(|_| a.eval_queries > 0);
    let chunk = match eval_ref {
        Some(_) if a.eval_every > 0 => a.eval_every,
        _ => a.steps,
    };
    loop {
        let target = (trainer.step + chunk).min(a.steps);
        trainer.run(target, a.log_every, deadline, cli)?;
        if trainer.step >= a.steps || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        if let Some(r) = eval_ref {
            let rep = eval_now(be, trainer, r, &eval_cfg)?;
            cli.pb
                .suspend(|| print_eval(trainer.step, &rep, &mut cli.metrics));
        }
    }
    cli.pb.finish_and_clear();
    Ok(eval_ref.map(|_| eval_cfg))
}

/// `--head-steps`: the raw-coordinate bit head, trained on the frozen
/// encoder and added to the checkpoint.
fn train_head(
    be: &Backend,
    a: &TrainArgs,
    trainer: &Trainer,
    reference: Option<&Reference>,
    ck: &mut Checkpoint,
    metrics: &mut Option<Output>,
) -> Result<()> {
    let reference = reference
        .ok_or_else(|| CrestError::option("--head-steps", "--head-steps needs --reference"))?;
    let mut ht = crate::train::head::HeadTrainer::new(
        be,
        &trainer.encoder,
        reference,
        crate::train::head::HeadTarget::coordinate(reference)?,
        crate::train::head::HeadOptions {
            hidden: a.head_hidden,
            batch: 2 * a.batch,
            steps: a.head_steps,
            augment: trainer.cfg.augment.clone(),
            seed: a.seed,
        },
    )?;
    let pb = super::bar(a.head_steps, "head ");
    while ht.step < a.head_steps {
        ht.train_step()?;
        pb.set_position(ht.step);
        if ht.step.is_multiple_of(a.log_every.max(1)) || ht.step == a.head_steps {
            let l = ht.take_loss()?;
            pb.set_message(format!("bit BCE {l:.4}"));
            if pb.is_hidden() {
                eprintln!("head step {:>6}  bit BCE {l:.4}", ht.step);
            }
            if let Some(f) = metrics {
                let _ = writeln!(
                    f,
                    "{}",
                    serde_json::json!({"type": "head", "step": ht.step, "bce": l})
                );
            }
        }
    }
    pb.finish_and_clear();
    ck.tensors.extend(ht.head.values(be)?);
    ck.meta.head = Some(ht.head.cfg.clone());
    ck.meta.head_steps = ht.step;
    Ok(())
}

/// Run `crest train`.
pub fn train(be: &Backend, a: &TrainArgs) -> Result<()> {
    let (enc, cfg) = plan(a)?;
    let init = match &a.init {
        Some(p) => Some(Checkpoint::load(p)?),
        None => None,
    };
    let (mut out, metrics) = open_outputs(a)?;
    let reference = load_references(a)?;
    let mut reads = Vec::new();
    let data = (reference.as_ref(), &mut reads);
    let mut trainer = make_trainer(be, a, data, (&enc, cfg), init.as_ref())?;
    eprintln!(
        "model: {} parameters, k {}, {} channels x {} blocks, kernel {}; {} views/step; device {}",
        trainer.encoder.num_params(),
        a.k,
        a.channels,
        a.blocks,
        a.kernel,
        2 * a.batch,
        be.name()
    );
    let pb = super::bar(a.steps, "train");
    pb.set_position(trainer.step);
    let mut cli = Cli { pb, metrics };
    let eval_cfg = run_steps(be, a, &mut trainer, reference.as_ref(), &mut cli)?;
    let mut ck = trainer.checkpoint(!a.no_optimizer_state)?;
    if a.head_steps > 0 {
        train_head(
            be,
            a,
            &trainer,
            reference.as_ref(),
            &mut ck,
            &mut cli.metrics,
        )?;
    }
    out.write_bytes(&ck.to_bytes()?)?;
    if let (Some(cfg), Some(r)) = (&eval_cfg, &reference) {
        let rep = eval_now(be, &trainer, r, cfg)?;
        print_eval(trainer.step, &rep, &mut cli.metrics);
    }
    // The model and its metrics land together or not at all.
    let mut staged = vec![crate::io::output::Staged::from(out)];
    staged.extend(cli.metrics.take().map(Into::into));
    crate::io::output::commit_all(staged)?;
    eprintln!("wrote {} (step {})", a.out.display(), trainer.step);
    Ok(())
}

/// Top-10 search of host queries in chunks, with a progress bar.
fn search_with_progress(
    be: &Backend,
    searcher: &Searcher,
    kind: SearchKind,
    q: &[f32],
    p: usize,
    what: &str,
) -> Result<Vec<(f32, u32)>> {
    const CHUNK: usize = crate::index::flat::QUERY_BLOCK;
    let n = q.len() / p.max(1);
    let pb = super::bar(n as u64, &format!("eval: {what}"));
    let mut out = Vec::with_capacity(n * 10);
    for c in q.chunks(CHUNK * p) {
        out.extend(searcher.search_host(be, kind, c, p, 10)?);
        pb.inc((c.len() / p) as u64);
    }
    pb.finish_and_clear();
    Ok(out)
}

fn eval_now(be: &Backend, t: &Trainer, r: &Reference, cfg: &EvalConfig) -> Result<EvalReport> {
    let grid: Grid = reference_grid(be, &t.encoder, r, cfg.stride, &mut |_, _| {})?;
    let metric = crate::index::metric_of(be, &t.encoder)?;
    let searcher = Searcher::flat(be, &grid, metric)?;
    neighbour_recall(be, &t.encoder, r, &grid, &searcher, SearchKind::Flat, cfg)
}

/// `eval-embed --index`: recall of every search the index offers (flat,
/// tree, router), and how often each finds the flat search's best.
fn eval_with_index(
    be: &Backend,
    a: &EvalArgs,
    model: (&Checkpoint, &crate::model::Encoder),
    reference: &Reference,
    cfg: &EvalConfig,
    ip: &std::path::Path,
) -> Result<()> {
    let (ck, enc) = model;
    let gamma = cfg.gamma;
    let index = Index::load(ip)?;
    index.check(ip, ck, &a.model, reference, &a.reference)?;
    // flat search reads float embeddings; a coded index has none
    let mut kinds = match index.pq {
        None => vec![SearchKind::Flat, SearchKind::Tree],
        Some(_) => vec![SearchKind::Tree],
    };
    if index.meta.route.is_some() {
        kinds.extend([SearchKind::Route, SearchKind::TreeRoute]);
    }
    let mut searcher = Searcher::new(
        be,
        &index,
        &kinds,
        crate::index::BeamConfig { width: a.beam },
    )?;
    crate::index::route::width_flips(a.route_width)?;
    searcher.route_width = a.route_width;
    let (q, truth) = query_set(be, enc, reference, cfg)?;
    let p = enc.cfg.proj_dim;
    let mut flat: Vec<(f32, u32)> = Vec::new();
    let mut rows = Vec::new();
    for &kind in &kinds {
        let t0 = Instant::now();
        let r = search_with_progress(be, &searcher, kind, &q, p, kind.name())?;
        let secs = t0.elapsed().as_secs_f64();
        if kind == SearchKind::Flat {
            flat = r.clone();
        }
        let (r1, r10) = recall_of(&r, &truth, &index.grid, gamma);
        let same = (!flat.is_empty()).then(|| {
            flat.chunks(10)
                .zip(r.chunks(10))
                .filter(|(f, t)| f[0].1 == t[0].1)
                .count() as f64
                / truth.len().max(1) as f64
        });
        rows.push(serde_json::json!({
            "search": kind.name(), "recall_at_1": r1, "recall_at_10": r10,
            "finds_flat_best": same, "seconds": secs,
        }));
    }
    print_index_eval(a, ip, &index, truth.len(), &rows)
}

/// The table (or JSON) of `eval-embed --index`.
fn print_index_eval(
    a: &EvalArgs,
    ip: &std::path::Path,
    index: &Index,
    queries: usize,
    rows: &[serde_json::Value],
) -> Result<()> {
    let report = serde_json::json!({
        "queries": queries, "grid": index.grid.len(), "grid_stride": index.meta.grid_stride,
        "tree": index.meta.tree, "beam": a.beam, "route_width": a.route_width,
        "router": index.meta.route, "searches": rows,
    });
    if a.json {
        outln!("{report:#}");
    } else {
        outln!(
            "model\t{}\nindex\t{}\nqueries\t{}\ngrid\t{} (stride {})\ntree\tbranch {} depth {} beam {}{}",
            a.model.display(),
            ip.display(),
            queries,
            index.grid.len(),
            index.meta.grid_stride,
            index.meta.tree.branch,
            index.meta.tree.depth,
            a.beam,
            if index.meta.route.is_some() {
                format!(", router width {}", a.route_width)
            } else {
                String::new()
            }
        );
        outln!("search\trecall@1\trecall@10\tfinds flat's best\tseconds");
        for r in rows {
            outln!(
                "{}\t{:.4}\t{:.4}\t{}\t{:.2}",
                r["search"].as_str().unwrap_or(""),
                r["recall_at_1"].as_f64().unwrap_or(f64::NAN),
                r["recall_at_10"].as_f64().unwrap_or(f64::NAN),
                r["finds_flat_best"]
                    .as_f64()
                    .map_or("n/a (coded index)".to_string(), |v| format!("{v:.4}")),
                r["seconds"].as_f64().unwrap_or(f64::NAN)
            );
        }
    }
    Ok(())
}

/// Run `crest eval-embed`.
pub fn eval_embed(be: &Backend, a: &EvalArgs) -> Result<()> {
    let (ck, enc) = super::load_model(be, &a.model)?;
    let reference = Reference::load(&a.reference)?;
    if ck.meta.reference != crate::model::ModelMeta::contigs_of(&reference) {
        eprintln!(
            "note: {} was trained on another reference; this measures how its encoder generalises to {}",
            a.model.display(),
            a.reference.display()
        );
    }
    let model_gamma = ck
        .meta
        .train
        .get("gamma")
        .and_then(|g| g.as_u64())
        .unwrap_or(16) as u32;
    let gamma = a.gamma.unwrap_or(model_gamma);
    let cfg = EvalConfig {
        stride: a.stride.unwrap_or((gamma as usize / 2).max(1)),
        queries: a.queries,
        gamma,
        augment: a.augment.config(),
        seed: a.seed,
    };
    if let Some(ip) = &a.index {
        return eval_with_index(be, a, (&ck, &enc), &reference, &cfg, ip);
    }
    let pb = super::bar(0, "eval: embed grid");
    let grid = reference_grid(be, &enc, &reference, cfg.stride, &mut |done, total| {
        pb.set_length(total as u64);
        pb.set_position(done as u64);
    })?;
    pb.finish_and_clear();
    let metric = crate::index::metric_of(be, &enc)?;
    let searcher = Searcher::flat(be, &grid, metric)?;
    let r = neighbour_recall(
        be,
        &enc,
        &reference,
        &grid,
        &searcher,
        SearchKind::Flat,
        &cfg,
    )?;
    if a.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&r).map_err(|e| CrestError::Invalid(e.to_string()))?
        );
    } else {
        outln!("model\t{}\nstep\t{}\nreference\t{}\nqueries\t{}\ngrid\t{} (stride {})\nrecall@1\t{:.4}\nrecall@10\t{:.4}", a.model.display(), ck.meta.step, a.reference.display(), r.queries, r.grid, cfg.stride, r.recall_at_1, r.recall_at_10);
    }
    Ok(())
}
