//! Supervised sequence classification with the CNNs of
//! [`crate::model::cnn`]: training (cross-entropy; AdamW for Euclidean
//! parameters, Riemannian Adam for ball parameters, Adam + clamp for the
//! curvature; warm-up + cosine schedule; checkpoint and early stopping by dev
//! MCC), batched inference with class probabilities, and the model file.
//!
//! Sequences longer than the model's input length are never cut silently:
//! they are classified by overlapping windows of the input length (stride
//! half of it), whose class probabilities are averaged.

use std::path::Path;
use std::time::Instant;

use super::metrics::Confusion;
use super::table::LabelledSeqs;
use crate::backend::{Backend, Tensor};
use crate::error::{CrestError, Result};
use crate::model::checkpoint::{tensors_from_file, tensors_to_bytes};
use crate::model::cnn::{one_hot, Cnn, CnnConfig, Mode};
use crate::model::encoder::NamedTensor;
use crate::ops::optim::{lr_at, AdamConfig, AdamStep};
use crate::ops::reduce::RowOp;
use crate::ops::xent::XentDims;
use crate::train::optimizer::{mixed_step, sumsq_buffer};

/// Format tag of classifier files.
pub const FORMAT: &str = "crest-classifier/1";

/// Sequences per inference batch.
pub const INFER_BATCH: usize = 256;

/// Training options.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainOptions {
    /// Passes over the training set (the schedule spans them).
    pub epochs: usize,
    /// Stop after this many minutes (the best checkpoint so far is kept);
    /// makes the result depend on the machine's speed.
    pub minutes: Option<f64>,
    /// Sequences per step.
    pub batch: usize,
    /// Stop after this many epochs without a better dev MCC.
    pub patience: usize,
    /// Optimiser (peak learning rate, decay, warm-up, clip).
    pub adam: AdamConfig,
    /// Seed of the initial weights and the batch order.
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            epochs: 10,
            minutes: None,
            batch: 64,
            patience: 3,
            adam: AdamConfig {
                lr: 1e-3,
                weight_decay: 1e-2,
                warmup: 50,
                ..AdamConfig::default()
            },
            seed: 1,
        }
    }
}

/// One epoch's summary (a JSON line of `--metrics`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct EpochReport {
    /// 1-based epoch.
    pub epoch: usize,
    /// Optimiser steps so far.
    pub step: u64,
    /// Mean training cross-entropy of the epoch.
    pub loss: f64,
    /// Dev MCC after the epoch.
    pub dev_mcc: f64,
    /// Dev accuracy after the epoch.
    pub dev_accuracy: f64,
    /// Learning rate at the epoch's last step.
    pub lr: f32,
    /// Curvature after the epoch (hyperbolic models).
    pub curvature: Option<f32>,
    /// Training sequences per second in this epoch.
    pub samples_per_s: f64,
    /// Seconds since training began.
    pub seconds: f64,
    /// Whether this epoch is the best so far (the one kept).
    pub best: bool,
}

/// Metadata of a classifier file.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClassifierMeta {
    /// Format tag.
    pub format: String,
    /// Architecture.
    pub model: CnnConfig,
    /// Training options.
    pub train: TrainOptions,
    /// Epoch kept (best dev MCC).
    pub best_epoch: usize,
    /// Its dev MCC.
    pub dev_mcc: f64,
    /// Optimiser steps taken up to the kept epoch.
    pub steps: u64,
}

/// A trained classifier on the host.
#[derive(Clone, Debug)]
pub struct Classifier {
    /// Metadata.
    pub meta: ClassifierMeta,
    /// Weights and running statistics.
    pub tensors: Vec<NamedTensor>,
}

impl Classifier {
    /// The file's bytes (safetensors; depend only on the contents).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let meta =
            serde_json::to_string(&self.meta).map_err(|e| CrestError::Invalid(e.to_string()))?;
        tensors_to_bytes(&meta, &self.tensors)
    }

    /// Read a classifier file.
    pub fn load(path: &Path) -> Result<Classifier> {
        let (json, tensors) = tensors_from_file(path, "crest classifier")?;
        let bad = |m: String| CrestError::UnknownFormat {
            path: path.into(),
            message: m,
        };
        let meta: ClassifierMeta = serde_json::from_str(&json).map_err(|e| {
            bad(format!(
                "not a classifier from `crest classify train --model` ({e})"
            ))
        })?;
        if meta.format != FORMAT {
            return Err(bad(format!(
                "format '{}' (this crest reads {FORMAT})",
                meta.format
            )));
        }
        meta.model.validate().map_err(|e| bad(e.to_string()))?;
        if let Some((name, _, _)) = tensors.iter().find(|t| t.2.iter().any(|v| !v.is_finite())) {
            return Err(bad(format!("tensor {name} holds a non-finite value")));
        }
        Ok(Classifier { meta, tensors })
    }

    /// The model on a backend.
    pub fn to_model(&self, be: &Backend) -> Result<Cnn> {
        let values = self
            .tensors
            .iter()
            .map(|(n, _, v)| (n.clone(), v.clone()))
            .collect();
        Cnn::from_values(be, &self.meta.model, values)
    }
}

/// Pieces of at most `len` bases covering `seq`: the sequence itself when it
/// fits, else windows of `len` every `len / 2` bases, the last one flush with
/// the end.
pub fn windows(seq: &[u8], len: usize) -> Vec<&[u8]> {
    crate::seq::window_starts(seq.len(), len, len / 2)
        .into_iter()
        .map(|s| &seq[s..(s + len).min(seq.len())])
        .collect()
}

/// Class probabilities `[n, classes]` of sequences (windows averaged for
/// sequences longer than the model's input). `pieces_over` counts the
/// sequences that needed windows.
pub fn predict_proba(be: &Backend, model: &mut Cnn, seqs: &[Vec<u8>]) -> Result<(Vec<f32>, usize)> {
    let (len, k) = (model.cfg.len, model.cfg.classes);
    let mut pieces: Vec<(usize, &[u8])> = Vec::new();
    let mut long = 0;
    for (i, s) in seqs.iter().enumerate() {
        let w = windows(s, len);
        long += (w.len() > 1) as usize;
        pieces.extend(w.into_iter().map(|p| (i, p)));
    }
    let mut sum = vec![0.0f64; seqs.len() * k];
    let mut count = vec![0usize; seqs.len()];
    for chunk in pieces.chunks(INFER_BATCH) {
        let b = chunk.len();
        let refs: Vec<&[u8]> = chunk.iter().map(|(_, p)| *p).collect();
        let x = be.upload(&one_hot(&refs, len))?;
        let act = model.forward(be, &x, b, Mode::Infer)?;
        let mut p = be.zeros(b * k)?;
        be.row_op(RowOp::Softmax, &act.logits, b, k, &mut p)?;
        let p = be.read(&p)?;
        for (j, (i, _)) in chunk.iter().enumerate() {
            for c in 0..k {
                sum[i * k + c] += p[j * k + c] as f64;
            }
            count[*i] += 1;
        }
        be.end_step()?;
    }
    let probs = sum
        .iter()
        .enumerate()
        .map(|(j, s)| (s / count[j / k].max(1) as f64) as f32)
        .collect();
    Ok((probs, long))
}

/// Arg-max class of each row of `[n, classes]` probabilities (lowest class on ties).
pub fn argmax(probs: &[f32], classes: usize) -> Vec<usize> {
    probs
        .chunks(classes)
        .map(|r| {
            r.iter()
                .enumerate()
                .fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b })
                .0
        })
        .collect()
}

/// Confusion matrix of `model` on a labelled set.
pub fn evaluate(be: &Backend, model: &mut Cnn, set: &LabelledSeqs) -> Result<Confusion> {
    set.check_labels(model.cfg.classes)?;
    let (p, _) = predict_proba(be, model, &set.seqs)?;
    let pred = argmax(&p, model.cfg.classes);
    Ok(Confusion::from_pairs(
        model.cfg.classes,
        set.labels.iter().map(|&l| l as usize).zip(pred),
    ))
}

/// Train a classifier of architecture `cfg`; `report` sees every epoch.
pub fn train(
    be: &Backend,
    cfg: &CnnConfig,
    opts: &TrainOptions,
    train: &LabelledSeqs,
    dev: &LabelledSeqs,
    report: &mut dyn FnMut(&EpochReport),
) -> Result<Classifier> {
    if opts.batch < 2 {
        return Err(CrestError::option(
            "--batch",
            "--batch must be at least 2 (batch statistics)",
        ));
    }
    train.check_labels(cfg.classes)?;
    dev.check_labels(cfg.classes)?;
    let mut model = Cnn::init(be, cfg, opts.seed)?;
    let per_epoch = train.len().div_ceil(opts.batch) as u64;
    let total = per_epoch * opts.epochs as u64;
    let mut sumsq = sumsq_buffer(be, model.params.len())?;
    let t0 = Instant::now();
    let mut best: Option<Classifier> = None;
    let mut since_best = 0;
    let mut step = 0u64;
    let mut rng = crate::rng::Rng::new(opts.seed ^ 0x004f_5244_4552);
    let mut order: Vec<usize> = (0..train.len()).collect();
    for epoch in 1..=opts.epochs {
        let te = Instant::now();
        for i in (1..order.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            order.swap(i, j);
        }
        let mut losses: Vec<Tensor> = Vec::new();
        let mut seen = 0usize;
        let mut lr = 0.0;
        let mut out_of_time = false;
        for idx in order.chunks(opts.batch) {
            // a last batch of one has no batch statistics: fold it into the next epoch
            if idx.len() < 2 {
                continue;
            }
            step += 1;
            let b = idx.len();
            let refs: Vec<&[u8]> = idx.iter().map(|&i| train.seqs[i].as_slice()).collect();
            let labels: Vec<f32> = idx.iter().map(|&i| train.labels[i] as f32).collect();
            let x = be.upload(&one_hot(&refs, cfg.len))?;
            let act = model.forward(be, &x, b, Mode::Train)?;
            let (mut loss, mut dz) = (be.zeros(b)?, be.zeros(b * cfg.classes)?);
            let xd = XentDims {
                rows: b,
                classes: cfg.classes,
                scale: 1.0 / b as f32,
            };
            be.xent(&xd, &act.logits, &labels, &mut loss, &mut dz)?;
            model.backward(be, &act, &dz)?;
            lr = lr_at(&opts.adam, step, total);
            let st = AdamStep { lr, t: step };
            mixed_step(
                be,
                &opts.adam,
                &st,
                &mut sumsq,
                &mut model.params,
                cfg.learn_curvature,
            )?;
            losses.push(loss);
            seen += b;
            be.end_step()?;
            if opts
                .minutes
                .is_some_and(|m| t0.elapsed().as_secs_f64() > m * 60.0)
            {
                out_of_time = true;
                break;
            }
        }
        let progress = Progress {
            epoch,
            step,
            losses: &losses,
            seen,
            lr,
            te,
            t0,
        };
        let r = finish_epoch(be, &mut model, cfg, opts, dev, &progress, &mut best)?;
        report(&r);
        if out_of_time {
            break;
        }
        since_best = if r.best { 0 } else { since_best + 1 };
        if since_best >= opts.patience {
            break;
        }
    }
    best.ok_or_else(|| CrestError::Invalid("training ran no epoch".into()))
}

/// Where a training run stands at the end of an epoch (what its report is
/// made of).
struct Progress<'a> {
    /// The epoch, from 1.
    epoch: usize,
    /// Optimiser steps so far in the run.
    step: u64,
    /// The epoch's per-row training losses, one tensor a batch.
    losses: &'a [Tensor],
    /// Training sequences the epoch saw.
    seen: usize,
    /// The learning rate of the epoch's last step.
    lr: f32,
    /// When the epoch began.
    te: Instant,
    /// When the run began.
    t0: Instant,
}

/// Evaluate on `dev` at the end of an epoch, keep the model in `best` when
/// its dev MCC is the best yet, and report the epoch.
fn finish_epoch(
    be: &Backend,
    model: &mut Cnn,
    cfg: &CnnConfig,
    opts: &TrainOptions,
    dev: &LabelledSeqs,
    progress: &Progress,
    best: &mut Option<Classifier>,
) -> Result<EpochReport> {
    let Progress {
        epoch,
        step,
        losses,
        seen,
        lr,
        te,
        t0,
    } = *progress;
    let train_s = te.elapsed().as_secs_f64();
    let mut total = 0.0f64;
    let mut n = 0usize;
    for l in losses {
        let v = be.read(l)?;
        total += v.iter().map(|&x| x as f64).sum::<f64>();
        n += v.len();
    }
    let conf = evaluate(be, model, dev)?;
    let mcc = conf.mcc();
    let is_best = best.as_ref().is_none_or(|b| mcc > b.meta.dev_mcc);
    if is_best {
        *best = Some(Classifier {
            meta: ClassifierMeta {
                format: FORMAT.into(),
                model: cfg.clone(),
                train: opts.clone(),
                best_epoch: epoch,
                dev_mcc: mcc,
                steps: step,
            },
            tensors: model.values(be)?,
        });
    }
    let curvature = match model.curvature() {
        Some(c) => be.read(c)?.first().copied(),
        None => None,
    };
    Ok(EpochReport {
        epoch,
        step,
        loss: if n == 0 { f64::NAN } else { total / n as f64 },
        dev_mcc: mcc,
        dev_accuracy: conf.accuracy(),
        lr,
        curvature,
        samples_per_s: seen as f64 / train_s.max(1e-9),
        seconds: t0.elapsed().as_secs_f64(),
        best: is_best,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_sequences_become_overlapping_windows_covering_the_end() {
        let s = b"ACGTACGTAC";
        assert_eq!(windows(s, 20), vec![&s[..]]);
        let w = windows(s, 4);
        assert_eq!(w, vec![&s[0..4], &s[2..6], &s[4..8], &s[6..10]]);
        let w = windows(&s[..9], 4);
        assert_eq!(w.last().unwrap(), &&s[5..9]);
        assert_eq!(argmax(&[0.2, 0.8, 0.5, 0.5], 2), vec![1, 0]);
    }
}
