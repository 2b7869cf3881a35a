//! Building a classification database: hierarchical triplet training of the
//! encoder (k-mer MLP or pooled conv; none for the raw profile), checkpoint selection by
//! validation accuracy, embedding of the training set, and the confidence
//! fit on the validation set.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use super::confidence::Isotonic;
use super::data::SeqSet;
use super::db::{content_md5, Database, DbMeta, TrainSummary, FORMAT};
use super::encoder::SeqEncoder;
use super::sampler::TripletSampler;
use super::search::decide;
use crate::backend::Backend;
use crate::error::{CrestError, Result};
use crate::index::L2Index;
use crate::model::encoder::NamedTensor;
use crate::ops::optim::{lr_at, AdamConfig, AdamStep};
use crate::ops::triplet::TripletDims;
use crate::train::optimizer::{adamw_step, sumsq_buffer};
use crate::train::sampler::step_rng;

/// Options of triplet training.
#[derive(Clone, Debug)]
pub struct TripletOptions {
    /// Triplets per step.
    pub batch: usize,
    /// Epochs (one epoch = as many anchors as training sequences).
    pub epochs: usize,
    /// Wall-clock budget in minutes (stops after the step that crosses it).
    pub minutes: Option<f64>,
    /// Triplet margin (L2 distance between unit vectors).
    pub margin: f32,
    /// Optimiser.
    pub adam: AdamConfig,
    /// Seed (initial weights and triplet draws).
    pub seed: u64,
    /// Hits per query kept in the database's defaults.
    pub hits: usize,
    /// Stop after this many epochs without a better validation accuracy.
    pub patience: usize,
}

impl Default for TripletOptions {
    fn default() -> Self {
        TripletOptions {
            batch: 64,
            epochs: 30,
            minutes: None,
            margin: 0.5,
            adam: AdamConfig {
                lr: 3e-4,
                warmup: 50,
                ..AdamConfig::default()
            },
            seed: 1,
            hits: 10,
            patience: 6,
        }
    }
}

/// Class vocabulary per level, from the training lineages (sorted names).
#[derive(Clone, Debug)]
pub struct Vocab {
    /// Class names per level.
    pub classes: Vec<Vec<String>>,
    index: Vec<HashMap<String, u32>>,
}

impl Vocab {
    /// From the training set.
    pub fn of(set: &SeqSet, levels: usize) -> Vocab {
        let mut names = vec![BTreeSet::new(); levels];
        for l in set.lineages.iter().flatten() {
            for (i, c) in l.iter().enumerate().take(levels) {
                names[i].insert(c.clone());
            }
        }
        let classes: Vec<Vec<String>> =
            names.into_iter().map(|s| s.into_iter().collect()).collect();
        let index = classes
            .iter()
            .map(|v| {
                v.iter()
                    .enumerate()
                    .map(|(i, c)| (c.clone(), i as u32))
                    .collect()
            })
            .collect();
        Vocab { classes, index }
    }

    /// Class ids of a lineage (None when a class is unknown).
    pub fn ids(&self, lineage: &[String]) -> Option<Vec<u32>> {
        lineage
            .iter()
            .zip(&self.index)
            .map(|(c, m)| m.get(c).copied())
            .collect()
    }
}

/// One epoch's report.
#[derive(Clone, Debug, serde::Serialize)]
pub struct EpochReport {
    /// 1-based epoch.
    pub epoch: usize,
    /// Steps so far.
    pub steps: u64,
    /// Mean triplet loss over the epoch.
    pub loss: f64,
    /// Validation accuracy per level (nearest-hit answers).
    pub val_accuracy: Vec<f64>,
    /// Seconds since the start.
    pub seconds: f64,
    /// Training triplets per second in this epoch (validation excluded).
    pub triplets_per_s: f64,
}

/// Per level: (distance of the nearest remaining hit, answer right?) for
/// every query with truth, and the accuracy per level.
pub struct NearestEval {
    /// Accuracy per level.
    pub accuracy: Vec<f64>,
    /// Fit points per level.
    pub points: Vec<Vec<(f32, bool)>>,
}

/// Answer `queries` from the nearest hits in (`z`, `labels`) and score them.
pub fn nearest_eval(
    be: &Backend,
    index: &L2Index,
    labels: &[u32],
    vocab: &Vocab,
    query_z: &[f32],
    queries: &SeqSet,
    hits: usize,
) -> Result<NearestEval> {
    let levels = vocab.classes.len();
    let found = index.search(be, query_z, hits)?;
    let mut points = vec![Vec::new(); levels];
    for (q, nb) in found.iter().enumerate() {
        let Some(truth) = &queries.lineages[q] else {
            continue;
        };
        let ans = decide(nb, labels, levels, None);
        for l in 0..levels {
            match ans.get(l) {
                Some(a) => points[l].push((a.dist, vocab.classes[l][a.class as usize] == truth[l])),
                None => points[l].push((f32::INFINITY, false)),
            }
        }
    }
    let accuracy = points
        .iter()
        .map(|p| p.iter().filter(|x| x.1).count() as f64 / p.len().max(1) as f64)
        .collect();
    Ok(NearestEval { accuracy, points })
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// What [`build_database`] tells its caller while it trains: every epoch's
/// report, and (steps done, total steps) after every step. `()` ignores both;
/// a pair of closures `(on_epoch, on_step)` receives them.
pub trait TrainProgress {
    /// An epoch ended.
    fn epoch(&mut self, _report: &EpochReport) {}
    /// A step ended: (steps done, total steps).
    fn step(&mut self, _done: u64, _total: u64) {}
}

impl TrainProgress for () {}

impl<E: FnMut(&EpochReport), S: FnMut(u64, u64)> TrainProgress for (E, S) {
    fn epoch(&mut self, report: &EpochReport) {
        (self.0)(report)
    }
    fn step(&mut self, done: u64, total: u64) {
        (self.1)(done, total)
    }
}

/// Train `enc` (unless it is the raw profile) and build the database;
/// `progress` hears of every epoch and step (see [`TrainProgress`]).
pub fn build_database(
    be: &Backend,
    mut enc: SeqEncoder,
    opts: &TripletOptions,
    train: &SeqSet,
    val: &SeqSet,
    levels: &[String],
    mut progress: impl TrainProgress,
) -> Result<Database> {
    let nl = levels.len();
    let vocab = Vocab::of(train, nl);
    let ids: Vec<Vec<u32>> = train
        .lineages
        .iter()
        .map(|l| l.as_ref().and_then(|l| vocab.ids(l)))
        .collect::<Option<_>>()
        .ok_or_else(|| CrestError::Invalid("a training sequence has no labels".into()))?;
    let labels: Vec<u32> = ids.iter().flatten().copied().collect();
    let seqs: Vec<&[u8]> = train.seqs.iter().map(|s| s.as_slice()).collect();
    let val_seqs: Vec<&[u8]> = val.seqs.iter().map(|s| s.as_slice()).collect();
    let start = Instant::now();
    let mut summary = TrainSummary {
        objective: "none".into(),
        batch: opts.batch,
        margin: opts.margin,
        seed: opts.seed,
        adapter: be.name(),
        ..Default::default()
    };
    // training embeddings → database; validation answered from them
    let spec = enc.spec.clone();
    let evaluate = |enc: &SeqEncoder| -> Result<(Vec<f32>, NearestEval)> {
        let z = enc.embed(be, &seqs, |_| {})?;
        let index = L2Index::new(be, &z, spec.out_dim())?;
        let vz = enc.embed(be, &val_seqs, |_| {})?;
        let ev = nearest_eval(be, &index, &labels, &vocab, &vz, val, opts.hits)?;
        Ok((z, ev))
    };
    if spec.trainable() {
        if opts.batch == 0 || opts.epochs == 0 {
            return Err(CrestError::option(
                "--batch",
                "--batch and --epochs must be positive",
            ));
        }
        let sampler = TripletSampler::new(ids.clone());
        if sampler.sample(1, &mut step_rng(opts.seed, 0, 7)).is_empty() {
            return Err(CrestError::Invalid(format!(
                "no triplets can be drawn: level '{}' has a single class in the training set",
                levels[0]
            )));
        }
        let per_epoch = train.len().div_ceil(opts.batch) as u64;
        let total = per_epoch * opts.epochs as u64;
        let mut sumsq = sumsq_buffer(be, enc.params().len())?;
        let dim = spec.out_dim();
        let mut best: Option<(f64, usize, Vec<NamedTensor>, Vec<f64>)> = None;
        let mut step = 0u64;
        'epochs: for epoch in 1..=opts.epochs {
            let t0 = Instant::now();
            let mut losses = Vec::with_capacity(per_epoch as usize);
            let mut out_of_time = false;
            for _ in 0..per_epoch {
                step += 1;
                let trips =
                    TripletSampler::sample(&sampler, opts.batch, &mut step_rng(opts.seed, step, 7));
                let b = trips.len();
                let mut batch: Vec<&[u8]> = Vec::with_capacity(3 * b);
                batch.extend(trips.iter().map(|t| seqs[t.anchor as usize]));
                batch.extend(trips.iter().map(|t| seqs[t.positive as usize]));
                batch.extend(trips.iter().map(|t| seqs[t.negative as usize]));
                let act = enc.forward(be, &batch, Some(&mut step_rng(opts.seed, step, 9)))?;
                let mut grad = be.zeros(3 * b * dim)?;
                let mut loss = be.zeros(b)?;
                let d = TripletDims {
                    triplets: b,
                    dim,
                    margin: opts.margin,
                };
                be.triplet(&d, &act.z, &mut grad, &mut loss)?;
                enc.backward(be, &act, &grad)?;
                let st = AdamStep {
                    lr: lr_at(&opts.adam, step, total),
                    t: step,
                };
                adamw_step(be, &opts.adam, &st, &mut sumsq, enc.params_mut())?;
                losses.push(loss);
                be.end_step()?;
                progress.step(step, total);
                if opts
                    .minutes
                    .is_some_and(|m| start.elapsed().as_secs_f64() > m * 60.0)
                {
                    out_of_time = true;
                    break;
                }
            }
            let train_s = t0.elapsed().as_secs_f64();
            let mut sum = 0.0;
            let mut cnt = 0usize;
            for l in &losses {
                let v = be.read(l)?;
                cnt += v.len();
                sum += v.iter().map(|&x| x as f64).sum::<f64>();
            }
            let (_, ev) = evaluate(&enc)?;
            let report = EpochReport {
                epoch,
                steps: step,
                loss: sum / cnt.max(1) as f64,
                val_accuracy: ev.accuracy.clone(),
                seconds: start.elapsed().as_secs_f64(),
                triplets_per_s: (losses.len() * opts.batch) as f64 / train_s.max(1e-9),
            };
            progress.epoch(&report);
            summary.epochs = epoch;
            summary.steps = step;
            let score = mean(&ev.accuracy);
            if best.as_ref().is_none_or(|b| score > b.0) {
                best = Some((score, epoch, enc.values(be)?, ev.accuracy));
            } else if best.as_ref().is_some_and(|b| epoch - b.1 >= opts.patience) {
                break 'epochs;
            }
            if out_of_time {
                break;
            }
        }
        let (_, best_epoch, values, acc) =
            best.ok_or_else(|| CrestError::Invalid("training ran no epoch".into()))?;
        summary.objective = "triplet".into();
        summary.best_epoch = best_epoch;
        summary.val_accuracy = acc;
        enc = SeqEncoder::from_values(
            be,
            &spec,
            values.into_iter().map(|(n, _, v)| (n, v)).collect(),
        )?;
    }
    let (z, ev) = evaluate(&enc)?;
    if summary.objective == "none" {
        summary.val_accuracy = ev.accuracy.clone();
    }
    let confidence = ev.points.iter().map(|p| Isotonic::fit(p)).collect();
    let weights = enc.values(be)?;
    let meta = DbMeta {
        format: FORMAT.into(),
        encoder: spec.clone(),
        levels: levels.to_vec(),
        classes: vocab.classes.clone(),
        names: (0..train.len())
            .map(|i| train.name(i).to_string())
            .collect(),
        hits: opts.hits,
        confidence,
        training: summary,
        content_md5: content_md5(&weights, &z, &labels),
    };
    Ok(Database {
        meta,
        weights,
        z,
        labels,
    })
}
