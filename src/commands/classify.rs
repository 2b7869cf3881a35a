//! `crest classify train|search`: hierarchical classification by embedding
//! search with a confidence score (see [`crate::classify`]).

use std::path::{Path, PathBuf};

use crate::backend::Backend;
use crate::classify::confidence::{calibration, Calibration};
use crate::classify::plot::plot_precision;
use crate::classify::search::decide;
use crate::classify::train::EpochReport;
use crate::classify::{
    build_database, Database, EncoderKind, EncoderSpec, LabelSource, LabelTable, Labelled,
    PooledConfig, SeqEncoder, SeqSet, TripletOptions,
};
use crate::error::{CrestError, Result};
use crate::index::L2Index;
use crate::io::{Output, Target};
use crate::ops::optim::AdamConfig;

pub use super::classify_args::{LabelArgs, Objective, TrainArgs};

/// `crest classify` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum ClassifyCmd {
    /// Train an encoder on labelled sequences and write a searchable database,
    /// or (with --model) a CNN classifier.
    Train(Box<TrainArgs>),
    /// Score a CNN classifier on labelled sequences: MCC, accuracy, macro F1, confusion matrix.
    Eval(super::classify_cnn::EvalArgs),
    /// Class probabilities of sequences from a CNN classifier (TSV).
    Predict(super::classify_cnn::PredictArgs),
    /// Classify query sequences against a database, with a confidence per level.
    Search(SearchArgs),
}

/// Options of `crest classify search`.
#[derive(clap::Args, Debug)]
pub struct SearchArgs {
    /// Database from `crest classify train`.
    #[arg(long)]
    pub db: PathBuf,
    /// Query sequences (FASTA, .gz allowed).
    #[arg(long)]
    pub query: PathBuf,
    /// Truth for the queries (optional): accuracy and calibration are printed.
    #[command(flatten)]
    pub labels: LabelArgs,
    /// Hits per query (default: the database's) (1 to 1000).
    #[arg(long, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_HITS))]
    pub hits: Option<usize>,
    /// Confidence at which an answer counts as confident.
    #[arg(long, default_value_t = 0.9)]
    pub threshold: f32,
    /// Precision vs fraction classified, per level (SVG; needs truth).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Output TSV (one line per query and level; `-` for stdout).
    #[arg(short, long)]
    pub out: PathBuf,
}

/// Run `crest classify`.
pub fn classify(be: &Backend, cmd: &ClassifyCmd) -> Result<()> {
    match cmd {
        ClassifyCmd::Train(a) if a.model.is_some() => super::classify_cnn::train(be, a).map(|_| ()),
        ClassifyCmd::Train(a) => train(be, a).map(|_| ()),
        ClassifyCmd::Eval(a) => super::classify_cnn::eval(be, a).map(|_| ()),
        ClassifyCmd::Predict(a) => super::classify_cnn::predict(be, a),
        ClassifyCmd::Search(a) => search(be, a).map(|_| ()),
    }
}

fn label_source(a: &LabelArgs, levels: &[String]) -> Result<LabelSource> {
    LabelSource::from_options(
        a.labels.as_deref(),
        a.id_column.as_deref(),
        a.label_regex.as_deref(),
        levels,
    )
}

/// The database and `--metrics` outputs, checked and opened before any work.
fn open_train_outputs(a: &TrainArgs, val: &Path) -> Result<(Output, Option<Output>)> {
    let mut inputs: Vec<&Path> = vec![&a.train, val];
    if let Some(l) = &a.labels.labels {
        inputs.push(l);
    }
    let mut outputs = vec![("--out", Some(a.out.as_path()))];
    outputs.extend(a.metrics.as_deref().map(|p| ("--metrics", Some(p))));
    crate::io::output::refuse_collisions(&outputs)?;
    let out = Database::open_output(&a.out, &inputs)?;
    let metrics = match &a.metrics {
        Some(p) => Some(Output::open(Target::resolve(Some(p), &inputs)?)?),
        None => None,
    };
    Ok((out, metrics))
}

/// The labelled training and validation sets, every sequence usable by `spec`.
fn load_sets(
    a: &TrainArgs,
    val: &Path,
    spec: &EncoderSpec,
) -> Result<(Vec<String>, SeqSet, SeqSet)> {
    let table = label_source(&a.labels, &a.levels)?.load()?;
    let levels = table.levels().to_vec();
    let train = SeqSet::load(&a.train, Some(&table), Labelled::Required)?;
    let val = SeqSet::load(val, Some(&table), Labelled::Required)?;
    for set in [&train, &val] {
        if let Some(i) = (0..set.len()).find(|&i| !spec.usable(&set.seqs[i])) {
            return Err(CrestError::Format {
                path: set.path.clone(),
                record: i as u64 + 1,
                message: format!("'{}' has {}", set.name(i), spec.needs()),
            });
        }
    }
    Ok((levels, train, val))
}

/// The triplet training's options (`--epochs`, `--lr` and `--patience`
/// default to 30, 3e-4 and 6).
fn triplet_options(a: &TrainArgs) -> Result<TripletOptions> {
    let lr = a.lr.unwrap_or(3e-4);
    if !(a.margin.is_finite() && a.margin > 0.0 && lr.is_finite() && lr > 0.0) {
        return Err(CrestError::option(
            "--margin",
            "--margin and --lr must be positive",
        ));
    }
    Ok(TripletOptions {
        batch: a.batch,
        epochs: a.epochs.unwrap_or(30),
        minutes: a.minutes,
        margin: a.margin,
        adam: AdamConfig {
            lr,
            ..TripletOptions::default().adam
        },
        seed: a.seed,
        hits: a.hits,
        patience: a.patience.unwrap_or(6),
    })
}

/// Train (when the encoder learns) and embed the training set, with a
/// progress bar, a line per epoch and `--metrics` JSON lines.
fn train_with_progress(
    be: &Backend,
    enc: SeqEncoder,
    opts: &TripletOptions,
    sets: (&SeqSet, &SeqSet, &[String]),
    metrics: &mut Option<Output>,
) -> Result<Database> {
    let (train, val, levels) = sets;
    let trainable = enc.spec.trainable();
    let pb = super::bar(0, "training");
    let mut write_err = None;
    let on_epoch = |r: &EpochReport| {
        pb.suspend(|| {
            eprintln!(
                "epoch {:>3}  step {:>6}  loss {:.4}  val accuracy {}  ({:.0} triplets/s)",
                r.epoch,
                r.steps,
                r.loss,
                fmt_levels(levels, &r.val_accuracy),
                r.triplets_per_s
            )
        });
        if let Some(m) = metrics {
            let line = serde_json::to_string(r).unwrap_or_default() + "\n";
            if let Err(e) = m.write_bytes(line.as_bytes()) {
                write_err.get_or_insert(e);
            }
        }
    };
    let on_step = |s: u64, total: u64| {
        pb.set_length(total);
        pb.set_position(s);
    };
    let db = if trainable {
        build_database(be, enc, opts, train, val, levels, (on_epoch, on_step))?
    } else {
        build_database(be, enc, opts, train, val, levels, ())?
    };
    pb.finish_and_clear();
    match write_err {
        Some(e) => Err(e),
        None => Ok(db),
    }
}

/// Run `crest classify train`; returns the database written.
pub fn train(be: &Backend, a: &TrainArgs) -> Result<Database> {
    let Objective::Triplet = a.objective;
    let val_path = a.val.as_ref().ok_or_else(|| {
        CrestError::Invalid("crest classify train: --val (--dev) is required".into())
    })?;
    let (mut out, mut metrics) = open_train_outputs(a, val_path)?;
    let enc = initial_encoder(be, a)?;
    let spec = enc.spec.clone();
    let (levels, train, val) = load_sets(a, val_path, &spec)?;
    let opts = triplet_options(a)?;
    eprintln!(
        "crest classify train: {} training and {} validation sequences, levels {}; encoder {} \
         ({} parameters); device {}",
        train.len(),
        val.len(),
        levels.join(" > "),
        spec.kind().name(),
        spec.num_params(),
        be.name()
    );
    let t0 = std::time::Instant::now();
    let db = train_with_progress(be, enc, &opts, (&train, &val, &levels), &mut metrics)?;
    out.write_bytes(&db.to_bytes()?)?;
    let mut staged = vec![crate::io::output::Staged::from(out)];
    staged.extend(metrics.map(Into::into));
    crate::io::output::commit_all(staged)?;
    let t = &db.meta.training;
    eprintln!(
        "crest classify train: {} → {} ({} sequences, {}-d); {}val accuracy {} (nearest hit); \
         {:.1} s",
        spec.kind().name(),
        a.out.display(),
        db.len(),
        spec.out_dim(),
        if t.epochs > 0 {
            format!("best epoch {} of {}, ", t.best_epoch, t.epochs)
        } else {
            "untrained, ".into()
        },
        fmt_levels(&levels, &t.val_accuracy),
        t0.elapsed().as_secs_f64()
    );
    Ok(db)
}

/// The encoder to train (or the profile), from the options.
fn initial_encoder(be: &Backend, a: &TrainArgs) -> Result<SeqEncoder> {
    let conv_only = [
        ("--init", a.init.is_some()),
        ("--window", a.window.is_some()),
        ("--stride", a.stride.is_some()),
    ];
    if a.encoder != EncoderKind::Conv {
        if let Some((flag, _)) = conv_only.iter().find(|(_, set)| *set) {
            return Err(CrestError::Invalid(format!(
                "{flag} applies to --encoder conv only"
            )));
        }
    }
    let mut init_values = None;
    let spec = match a.encoder {
        EncoderKind::Kmer6 => EncoderSpec::scorpio(),
        EncoderKind::Profile => EncoderSpec::profile(),
        EncoderKind::Conv => {
            let window = match &a.init {
                Some(path) => {
                    if a.window.is_some() {
                        return Err(CrestError::option(
                            "--window",
                            "--window cannot change the window of an --init model",
                        ));
                    }
                    let ck = crate::model::Checkpoint::load(path)?;
                    init_values = Some(ck.tensors);
                    ck.meta.encoder
                }
                None => crate::model::EncoderConfig {
                    k: a.window.unwrap_or(crate::model::EncoderConfig::default().k),
                    ..Default::default()
                },
            };
            let mut c = PooledConfig::new(window);
            c.stride = a.stride.unwrap_or(c.stride);
            c.train_windows = a.train_windows;
            EncoderSpec::Conv(c)
        }
    };
    spec.validate()?;
    match init_values {
        Some(tensors) => {
            // the window encoder's tensors; the mapping model's bit head is left out
            let names: Vec<String> = spec.layout().into_iter().map(|l| l.0).collect();
            let values = tensors
                .into_iter()
                .filter(|(n, _, _)| names.contains(n))
                .map(|(n, _, v)| (n, v))
                .collect();
            SeqEncoder::from_values(be, &spec, values)
        }
        None => SeqEncoder::init(be, &spec, a.seed),
    }
}

fn fmt_levels(levels: &[String], v: &[f64]) -> String {
    levels
        .iter()
        .zip(v)
        .map(|(l, a)| format!("{l} {a:.3}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Per-level results of a search with truth.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LevelSummary {
    /// Level name.
    pub level: String,
    /// Calibration (accuracy, ECE, confident precision and fraction, curve).
    pub calibration: Calibration,
}

/// Truth labels for the queries, when given; their levels must be the database's.
fn load_truth(a: &SearchArgs, levels: &[String]) -> Result<Option<LabelTable>> {
    if a.labels.labels.is_none() && a.labels.label_regex.is_none() {
        return Ok(None);
    }
    let t = label_source(&a.labels, levels)?.load()?;
    if t.levels() != levels {
        return Err(CrestError::Invalid(format!(
            "truth levels {} differ from the database's {}",
            t.levels().join(","),
            levels.join(",")
        )));
    }
    Ok(Some(t))
}

/// The answers file (a row per query and level) and, per level, each
/// answer's (confidence, correct) where the query has truth.
fn answer_rows(
    q: &SeqSet,
    usable: &[usize],
    found: &[Vec<crate::index::Neighbour>],
    db: &Database,
    with_truth: bool,
) -> (String, Vec<Vec<(f32, bool)>>) {
    let levels = &db.meta.levels;
    let nl = levels.len();
    let mut answers: Vec<Vec<(f32, bool)>> = vec![Vec::new(); nl];
    let mut text = String::from("query\tlevel\tlabel\tconfidence\tdistance\tbest_hit");
    if with_truth {
        text.push_str("\ttruth\tcorrect");
    }
    text.push('\n');
    let mut slot = 0usize;
    for i in 0..q.len() {
        let ans = if usable.get(slot) == Some(&i) {
            slot += 1;
            decide(&found[slot - 1], &db.labels, nl, Some(&db.meta.confidence))
        } else {
            Vec::new()
        };
        for (l, level) in levels.iter().enumerate() {
            let (label, conf, dist, hit) = match ans.get(l) {
                Some(x) => (
                    db.meta.classes[l][x.class as usize].as_str(),
                    x.confidence,
                    format!("{:.4}", x.dist),
                    db.meta.names[x.row as usize].as_str(),
                ),
                None => ("unclassified", 0.0, "NA".to_string(), "NA"),
            };
            text.push_str(&format!(
                "{}\t{level}\t{label}\t{conf:.4}\t{dist}\t{hit}",
                q.name(i)
            ));
            if with_truth {
                match &q.lineages[i] {
                    Some(t) => {
                        let ok = t[l] == label;
                        answers[l].push((conf, ok));
                        text.push_str(&format!("\t{}\t{}", t[l], ok as u8));
                    }
                    None => text.push_str("\tNA\tNA"),
                }
            }
            text.push('\n');
        }
    }
    (text, answers)
}

/// Accuracy and calibration per level on stdout, and `--plot`.
fn summarise(
    a: &SearchArgs,
    levels: &[String],
    answers: &[Vec<(f32, bool)>],
    kind: &str,
    inputs: &[&Path],
) -> Result<Vec<LevelSummary>> {
    let mut summary = Vec::new();
    let with_truth = answers.first().map_or(0, |v| v.len());
    if with_truth == 0 {
        eprintln!("crest classify search: no query has truth labels; no accuracy to report");
        return Ok(summary);
    }
    for (l, level) in levels.iter().enumerate() {
        let c = calibration(&answers[l], a.threshold);
        outln!(
            "level {level} accuracy {:.4} confident_precision {:.4} confident_fraction {:.4} \
             ece {:.4} n {}",
            c.accuracy,
            c.confident_precision,
            c.confident_fraction,
            c.ece,
            c.n
        );
        summary.push(LevelSummary {
            level: level.clone(),
            calibration: c,
        });
    }
    if let Some(p) = &a.plot {
        let curves: Vec<(String, Vec<(f64, f64)>)> = summary
            .iter()
            .map(|s| (s.level.clone(), s.calibration.curve.clone()))
            .collect();
        let title = format!(
            "{kind} on {}",
            a.query
                .file_name()
                .map_or("queries".into(), |f| f.to_string_lossy())
        );
        plot_precision(&title, &curves, p, inputs)?;
    }
    Ok(summary)
}

/// Run `crest classify search`; returns per-level summaries when the queries have truth.
pub fn search(be: &Backend, a: &SearchArgs) -> Result<Vec<LevelSummary>> {
    let mut inputs: Vec<&Path> = vec![&a.db, &a.query];
    inputs.extend(a.labels.labels.as_deref());
    let mut outputs = vec![("--out", Some(a.out.as_path()))];
    outputs.extend(a.plot.as_deref().map(|p| ("--plot", Some(p))));
    crate::io::output::refuse_collisions(&outputs)?;
    let mut out = Output::create(Some(&a.out), &inputs)?;
    if let Some(p) = &a.plot {
        crate::io::output::check(p, &inputs)?;
    }
    if !(0.0..=1.0).contains(&a.threshold) {
        return Err(CrestError::option(
            "--threshold",
            "--threshold must be in [0, 1]",
        ));
    }
    let db = Database::load(&a.db)?;
    let table = load_truth(a, &db.meta.levels)?;
    if table.is_none() && a.plot.is_some() {
        return Err(CrestError::option(
            "--plot",
            "--plot needs truth labels for the queries (--labels or --label-regex)",
        ));
    }
    let q = SeqSet::load(&a.query, table.as_ref(), Labelled::Optional)?;
    let cfg = db.meta.encoder.clone();
    let weights = db.weights.iter().map(|(n, _, v)| (n.clone(), v.clone()));
    let enc = SeqEncoder::from_values(be, &cfg, weights.collect())?;
    let t0 = std::time::Instant::now();
    let usable: Vec<usize> = (0..q.len()).filter(|&i| cfg.usable(&q.seqs[i])).collect();
    let seqs: Vec<&[u8]> = usable.iter().map(|&i| q.seqs[i].as_slice()).collect();
    let pb = super::bar(seqs.len() as u64, "embedding");
    let z = enc.embed(be, &seqs, |n| pb.inc(n as u64))?;
    pb.finish_and_clear();
    let index = L2Index::new(be, &db.z, cfg.out_dim())?;
    let found = index.search(be, &z, a.hits.unwrap_or(db.meta.hits).max(1))?;
    let seconds = t0.elapsed().as_secs_f64();
    let (text, answers) = answer_rows(&q, &usable, &found, &db, table.is_some());
    out.write_bytes(text.as_bytes())?;
    out.commit()?;
    let skipped = q.len() - usable.len();
    eprintln!(
        "crest classify search: {} queries in {:.2} s ({:.0} queries/s, embedding and search, \
         device {}){}",
        q.len(),
        seconds,
        usable.len() as f64 / seconds.max(1e-9),
        be.name(),
        if skipped > 0 {
            format!(
                "; {skipped} with {} reported as 'unclassified' (confidence 0)",
                cfg.needs()
            )
        } else {
            String::new()
        }
    );
    match table {
        Some(_) => summarise(a, &db.meta.levels, &answers, cfg.kind().name(), &inputs),
        None => Ok(Vec::new()),
    }
}
