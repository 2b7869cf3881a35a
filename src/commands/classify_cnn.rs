//! `crest classify train --model …`, `crest classify eval`, `crest classify
//! predict`: supervised CNN classifiers (see [`crate::classify::supervised`]).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::classify_args::TrainArgs;
use crate::backend::Backend;
use crate::classify::metrics::Confusion;
use crate::classify::supervised::{self, Classifier, EpochReport, TrainOptions};
use crate::classify::table::{LabelledSeqs, TableFormat};
use crate::error::{CrestError, Result};
use crate::io::{Output, Target};
use crate::model::cnn::{CnnConfig, CnnKind};
use crate::ops::optim::AdamConfig;

/// Options of `crest classify eval`.
#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Classifier from `crest classify train --model`.
    #[arg(long)]
    pub model: PathBuf,
    /// Labelled sequences (CSV with a header, or FASTA with --label-regex; .gz allowed).
    #[arg(long)]
    pub test: PathBuf,
    /// CSV column of the sequences (default `sequence`, else `seq`).
    #[arg(long)]
    pub seq_column: Option<String>,
    /// CSV column of the integer labels.
    #[arg(long, default_value = "label")]
    pub label_column: String,
    /// FASTA: regular expression whose group `label` (or first group) is the label.
    #[arg(long)]
    pub label_regex: Option<String>,
    /// Print one JSON object instead of the text report.
    #[arg(long)]
    pub json: bool,
}

/// Options of `crest classify predict`.
#[derive(clap::Args, Debug)]
pub struct PredictArgs {
    /// Classifier from `crest classify train --model`.
    #[arg(long)]
    pub model: PathBuf,
    /// Sequences (CSV with a header or FASTA; labels, when present, are ignored).
    #[arg(long)]
    pub input: PathBuf,
    /// CSV column of the sequences (default `sequence`, else `seq`).
    #[arg(long)]
    pub seq_column: Option<String>,
    /// Output TSV: id, predicted class, one probability per class (`-` for stdout).
    #[arg(short, long)]
    pub out: PathBuf,
}

fn format_of(
    seq: &Option<String>,
    label: &str,
    regex: &Option<String>,
    optional: bool,
) -> TableFormat {
    TableFormat {
        seq_column: seq.clone(),
        label_column: Some(label.to_string()),
        label_regex: regex.clone(),
        labels_optional: optional,
    }
}

/// The classifier and `--metrics` outputs, checked and opened before any work.
fn open_outputs(a: &TrainArgs) -> Result<(Output, Option<Output>)> {
    let mut inputs: Vec<&Path> = vec![&a.train];
    inputs.extend(a.val.as_deref());
    let mut outputs = vec![("--out", Some(a.out.as_path()))];
    outputs.extend(a.metrics.as_deref().map(|p| ("--metrics", Some(p))));
    crate::io::output::refuse_collisions(&outputs)?;
    let target = Target::resolve(Some(&a.out), &inputs)?;
    if target.is_stream() {
        return Err(CrestError::Invalid(format!(
            "{} is not a regular file; a classifier must be a file crest can load again",
            a.out.display()
        )));
    }
    let out = Output::open(target)?;
    let metrics = match &a.metrics {
        Some(p) => Some(Output::open(Target::resolve(Some(p), &inputs)?)?),
        None => None,
    };
    Ok((out, metrics))
}

/// The training and dev sets: `--dev`, or a seeded `--holdout` share of the
/// training file.
fn load_splits(a: &TrainArgs) -> Result<(LabelledSeqs, LabelledSeqs)> {
    let fmt = format_of(&a.seq_column, &a.label_column, &a.labels.label_regex, false);
    let full = LabelledSeqs::load(&a.train, &fmt)?;
    let (train, dev) = match (&a.val, a.holdout) {
        (Some(v), None) => (full, LabelledSeqs::load(v, &fmt)?),
        (None, Some(f)) if f > 0.0 && f < 1.0 => {
            let (t, d) = full.split(f, a.seed);
            eprintln!(
                "crest: dev = a seeded {:.0}% of {} ({} sequences; {} left to train on)",
                f * 100.0,
                a.train.display(),
                d.len(),
                t.len()
            );
            (t, d)
        }
        (None, Some(f)) => {
            return Err(CrestError::option(
                "--holdout",
                format!("--holdout {f} is not a fraction in (0, 1)"),
            ))
        }
        (Some(_), Some(_)) => {
            return Err(CrestError::Invalid(
                "give --dev or --holdout, not both".into(),
            ))
        }
        (None, None) => return Err(CrestError::option(
            "--model",
            "--model needs a dev set for checkpoint selection: --dev FILE or --holdout FRACTION",
        )),
    };
    if train.is_empty() || dev.is_empty() {
        return Err(CrestError::Invalid(
            "the training or dev split is empty".into(),
        ));
    }
    Ok((train, dev))
}

/// The network and the training's options from the options and the data.
fn plan(
    a: &TrainArgs,
    kind: CnnKind,
    train: &LabelledSeqs,
    dev: &LabelledSeqs,
) -> Result<(CnnConfig, TrainOptions)> {
    let classes = train.classes().max(dev.classes());
    let longest = train.seqs.iter().map(Vec::len).max().unwrap_or(1);
    let mut cfg = CnnConfig::new(kind, a.len.unwrap_or(longest), classes);
    cfg.channels = a.channels.unwrap_or(cfg.channels);
    cfg.hidden = a.hidden.unwrap_or(cfg.hidden);
    cfg.validate()?;
    let lr = a.lr.unwrap_or(1e-3);
    if !(lr.is_finite() && lr > 0.0) {
        return Err(CrestError::option("--lr", "--lr must be a positive number"));
    }
    let opts = TrainOptions {
        epochs: a.epochs.unwrap_or(10),
        minutes: a.minutes,
        batch: a.batch,
        patience: a.patience.unwrap_or(3),
        adam: AdamConfig {
            lr,
            ..TrainOptions::default().adam
        },
        seed: a.seed,
    };
    Ok((cfg, opts))
}

/// What is about to be trained, on stderr.
fn describe(be: &Backend, cfg: &CnnConfig, train: &LabelledSeqs, dev: &LabelledSeqs) {
    let (len, classes) = (cfg.len, cfg.classes);
    let counts: Vec<usize> = (0..classes)
        .map(|k| train.labels.iter().filter(|&&l| l as usize == k).count())
        .collect();
    eprintln!(
        "crest: {} classifier, {} parameters, input {len} bp, {classes} classes; \
         {} training sequences (per class {counts:?}), {} dev; on {}",
        cfg.kind.name(),
        cfg.num_params(),
        train.len(),
        dev.len(),
        be.name()
    );
    let longer = dev.seqs.iter().filter(|s| s.len() > len).count();
    if longer > 0 {
        eprintln!(
            "crest: {longer} dev sequences are longer than {len} bp: classified by overlapping windows"
        );
    }
}

/// Train with a progress bar, a line per epoch and `--metrics` JSON lines.
fn train_with_progress(
    be: &Backend,
    plan: (&CnnConfig, &TrainOptions),
    train: &LabelledSeqs,
    dev: &LabelledSeqs,
    metrics: &mut Option<Output>,
) -> Result<Classifier> {
    let (cfg, opts) = plan;
    let pb = super::bar(opts.epochs as u64, "epochs");
    let mut err: Option<CrestError> = None;
    let mut report = |r: &EpochReport| {
        pb.set_position(r.epoch as u64);
        pb.suspend(|| {
            eprintln!(
                "epoch {:>3}  loss {:.4}  dev MCC {:.4}  acc {:.4}  {:.0} seq/s{}{}",
                r.epoch,
                r.loss,
                r.dev_mcc,
                r.dev_accuracy,
                r.samples_per_s,
                r.curvature
                    .map(|c| format!("  c {c:.3}"))
                    .unwrap_or_default(),
                if r.best { "  *" } else { "" }
            )
        });
        if let Some(m) = metrics.as_mut() {
            let line = serde_json::to_string(r).unwrap_or_default();
            if let Err(e) = writeln!(m, "{line}") {
                err.get_or_insert(CrestError::Invalid(format!("metrics: {e}")));
            }
        }
    };
    let clf = supervised::train(be, cfg, opts, train, dev, &mut report)?;
    pb.finish_and_clear();
    match err {
        Some(e) => Err(e),
        None => Ok(clf),
    }
}

/// Run `crest classify train --model`; returns the classifier written.
pub fn train(be: &Backend, a: &TrainArgs) -> Result<Classifier> {
    let kind = a
        .model
        .ok_or_else(|| CrestError::option("--model", "--model is required here"))?;
    let (mut out, mut metrics) = open_outputs(a)?;
    let (train, dev) = load_splits(a)?;
    let (cfg, opts) = plan(a, kind, &train, &dev)?;
    describe(be, &cfg, &train, &dev);
    let clf = train_with_progress(be, (&cfg, &opts), &train, &dev, &mut metrics)?;
    eprintln!(
        "crest: kept epoch {} (dev MCC {:.4}); writing {}",
        clf.meta.best_epoch,
        clf.meta.dev_mcc,
        a.out.display()
    );
    out.write_bytes(&clf.to_bytes()?)?;
    let mut staged = vec![crate::io::output::Staged::from(out)];
    staged.extend(metrics.map(Into::into));
    crate::io::output::commit_all(staged)?;
    Ok(clf)
}

/// Run `crest classify eval`; returns the confusion matrix.
pub fn eval(be: &Backend, a: &EvalArgs) -> Result<Confusion> {
    let clf = Classifier::load(&a.model)?;
    let fmt = format_of(&a.seq_column, &a.label_column, &a.label_regex, false);
    let test = LabelledSeqs::load(&a.test, &fmt)?;
    test.check_labels(clf.meta.model.classes)?;
    let mut model = clf.to_model(be)?;
    let conf = supervised::evaluate(be, &mut model, &test)?;
    let long = test
        .seqs
        .iter()
        .filter(|s| s.len() > clf.meta.model.len)
        .count();
    if long > 0 {
        eprintln!(
            "crest: {long} sequences are longer than the model's {} bp: classified by overlapping windows",
            clf.meta.model.len
        );
    }
    let text = if a.json {
        serde_json::json!({
            "model": a.model.display().to_string(),
            "test": a.test.display().to_string(),
            "mcc": conf.mcc(),
            "accuracy": conf.accuracy(),
            "macro_f1": conf.macro_f1(),
            "confusion": conf.m,
        })
        .to_string()
            + "\n"
    } else {
        conf.report()
    };
    super::print_out(&text)?;
    Ok(conf)
}

/// Run `crest classify predict`.
pub fn predict(be: &Backend, a: &PredictArgs) -> Result<()> {
    let clf = Classifier::load(&a.model)?;
    let fmt = format_of(&a.seq_column, "label", &None, true);
    let inputs: Vec<&Path> = vec![&a.input, &a.model];
    let mut out = Output::create(Some(&a.out), &inputs)?;
    let set = LabelledSeqs::load(&a.input, &fmt)?;
    let mut model = clf.to_model(be)?;
    let k = clf.meta.model.classes;
    let (probs, long) = supervised::predict_proba(be, &mut model, &set.seqs)?;
    if long > 0 {
        eprintln!(
            "crest: {long} sequences are longer than the model's {} bp: probabilities averaged over overlapping windows",
            clf.meta.model.len
        );
    }
    let pred = supervised::argmax(&probs, k);
    let mut text = String::from("id\tpredicted");
    for c in 0..k {
        text.push_str(&format!("\tp{c}"));
    }
    text.push('\n');
    for (i, id) in set.ids.iter().enumerate() {
        text.push_str(&format!("{id}\t{}", pred[i]));
        for c in 0..k {
            text.push_str(&format!("\t{:.6}", probs[i * k + c]));
        }
        text.push('\n');
    }
    out.write_bytes(text.as_bytes())?;
    out.commit()
}
