//! The training loop.

use std::time::Instant;

use crate::backend::{Backend, Tensor};
use crate::error::{CrestError, Result};
use crate::io::Reference;
use crate::model::{Checkpoint, Encoder, EncoderConfig, Geometry, ModelMeta};
use crate::ops::gemm::GemmDims;
use crate::ops::optim::{lr_at, AdamConfig, AdamStep, SUMSQ_STRIDE};
use crate::ops::poincare::{PdistDims, PdistGrads, PointSets};

use super::augment::AugmentConfig;
use super::sampler::{reads_batch, step_rng, Batch, ReferenceSampler};

/// Training hyper-parameters (saved in the model).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    /// Anchors per step (the batch holds 2 views per anchor).
    pub anchors: usize,
    /// Total optimiser steps (the learning-rate schedule spans these).
    pub steps: u64,
    /// Γ: views on the same contig within Γ bp are positives.
    pub gamma: u32,
    /// d: the positive view starts U[0, d] bp from its anchor.
    pub d: usize,
    /// Temperature τ.
    pub tau: f32,
    /// Largest fraction of N in a sampled reference window.
    pub max_n_frac: f64,
    /// Augmentation.
    pub augment: AugmentConfig,
    /// Optimiser.
    pub adam: AdamConfig,
    /// Self-supervised from reads (only the augmented pair is positive).
    pub self_supervised: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            anchors: 128,
            steps: 1000,
            gamma: 16,
            d: 8,
            tau: 0.1,
            max_n_frac: 0.1,
            augment: AugmentConfig::adna(),
            adam: AdamConfig::default(),
            self_supervised: false,
        }
    }
}

/// What one logged step reports.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StepReport {
    /// Step (1-based).
    pub step: u64,
    /// Mean loss over the last logged steps' batches (read back from the device).
    pub loss: f64,
    /// Learning rate.
    pub lr: f32,
    /// Views per second since the previous report.
    pub samples_per_s: f64,
    /// Achieved GFLOP/s of the encoder (forward + backward ≈ 3× forward) plus the loss GEMMs.
    pub gflops: f64,
    /// Seconds since training started.
    pub elapsed_s: f64,
}

/// Callback interface for progress (the CLI draws a bar; tests ignore it).
pub trait Progress {
    /// Called after every step.
    fn step(&mut self, _step: u64, _total: u64) {}
    /// Called at every log point.
    fn report(&mut self, _r: &StepReport) {}
}

impl Progress for () {}

enum Source<'a> {
    Reference(ReferenceSampler<'a>),
    Reads(&'a [Vec<u8>]),
}

/// Trains an encoder.
pub struct Trainer<'a> {
    backend: &'a Backend,
    /// The model being trained.
    pub encoder: Encoder,
    /// Training configuration.
    pub cfg: TrainConfig,
    /// Seed.
    pub seed: u64,
    /// Steps completed.
    pub step: u64,
    source: Source<'a>,
    reference_info: Vec<crate::model::ContigInfo>,
    sumsq: Tensor,
    loss_rows: Vec<Tensor>,
}

impl<'a> Trainer<'a> {
    /// A fresh model trained on a reference.
    pub fn on_reference(
        backend: &'a Backend,
        reference: &'a Reference,
        enc: &EncoderConfig,
        cfg: TrainConfig,
        seed: u64,
    ) -> Result<Self> {
        let sampler = ReferenceSampler::new(reference, enc.k, cfg.d, cfg.max_n_frac)?;
        let encoder = Encoder::init(backend, enc, seed)?;
        Self::new(
            backend,
            encoder,
            cfg,
            seed,
            Source::Reference(sampler),
            ModelMeta::contigs_of(reference),
        )
    }

    /// A fresh model trained self-supervised on reads.
    pub fn on_reads(
        backend: &'a Backend,
        reads: &'a [Vec<u8>],
        enc: &EncoderConfig,
        mut cfg: TrainConfig,
        seed: u64,
    ) -> Result<Self> {
        if reads.is_empty() {
            return Err(CrestError::Invalid("no reads to train on".into()));
        }
        cfg.self_supervised = true;
        let encoder = Encoder::init(backend, enc, seed)?;
        Self::new(
            backend,
            encoder,
            cfg,
            seed,
            Source::Reads(reads),
            Vec::new(),
        )
    }

    fn new(
        backend: &'a Backend,
        encoder: Encoder,
        cfg: TrainConfig,
        seed: u64,
        source: Source<'a>,
        reference_info: Vec<crate::model::ContigInfo>,
    ) -> Result<Self> {
        if cfg.anchors < 2 {
            return Err(CrestError::option(
                "--batch",
                "--batch must be at least 2 anchors",
            ));
        }
        if cfg.tau <= 0.0 {
            return Err(CrestError::option("--tau", "--tau must be positive"));
        }
        let sumsq = backend.zeros(encoder.params.len() * SUMSQ_STRIDE)?;
        Ok(Trainer {
            backend,
            encoder,
            cfg,
            seed,
            step: 0,
            source,
            reference_info,
            sumsq,
            loss_rows: Vec::new(),
        })
    }

    /// Continue from a checkpoint saved with optimiser state.
    pub fn resume(&mut self, ck: &Checkpoint) -> Result<()> {
        if ck.meta.encoder != self.encoder.cfg {
            return Err(CrestError::option(
                "--resume",
                "--resume: the checkpoint's architecture differs from the options given",
            ));
        }
        if ck.meta.reference != self.reference_info {
            return Err(CrestError::option(
                "--resume",
                "--resume: the checkpoint was trained on a different reference",
            ));
        }
        self.encoder = Encoder::from_values(self.backend, &ck.meta.encoder, ck.weights())?;
        self.encoder.set_moments(self.backend, &ck.moments())?;
        self.seed = ck.meta.seed;
        self.step = ck.meta.step;
        Ok(())
    }

    /// Start from another model's encoder weights (fine-tuning): same
    /// architecture, fresh optimiser state, step 0 (the schedule starts over).
    pub fn init_from(&mut self, ck: &Checkpoint) -> Result<()> {
        if ck.meta.encoder != self.encoder.cfg {
            return Err(CrestError::option("--init", 
                "--init: the model's architecture differs from the options given (k, channels, blocks, kernel, embedding, projection and geometry must match)",
            ));
        }
        self.encoder = Encoder::from_values(self.backend, &ck.meta.encoder, ck.weights())?;
        Ok(())
    }

    /// The batch of a step (pure function of seed and step).
    pub fn batch(&self, step: u64) -> Batch {
        let mut rng = step_rng(self.seed, step, 0);
        match &self.source {
            Source::Reference(s) => s.batch(self.cfg.anchors, &self.cfg.augment, &mut rng),
            Source::Reads(r) => reads_batch(
                r,
                self.encoder.cfg.k,
                self.cfg.d,
                self.cfg.anchors,
                &self.cfg.augment,
                &mut rng,
            ),
        }
    }

    fn gamma(&self) -> u32 {
        if self.cfg.self_supervised {
            0
        } else {
            self.cfg.gamma
        }
    }

    /// One optimiser step. The loss rows stay on the device until [`Trainer::take_loss`].
    pub fn train_step(&mut self) -> Result<()> {
        let be = self.backend;
        let step = self.step + 1;
        let batch = self.batch(step);
        let (n, k, p) = (batch.len(), self.encoder.cfg.k, self.encoder.cfg.proj_dim);
        let mut x = be.zeros(n * 4 * k)?;
        be.onehot(&batch.seq, &batch.windows, k, &mut x)?;
        let act = self.encoder.forward(be, x, n)?;
        let inv_tau = 1.0 / self.cfg.tau;
        let mut s = be.zeros(n * n)?;
        let mut ds = be.zeros(n * n)?;
        let mut rows = be.zeros(n)?;
        let mut dz = be.zeros(n * p)?;
        match self.encoder.cfg.geometry {
            Geometry::Euclidean => {
                // S = z zᵀ / τ
                let mut sd = GemmDims::new(n, n, p, false, true);
                sd.alpha = inv_tau;
                be.gemm(&sd, &act.z, &act.z, &mut s)?;
                be.supcon(&s, &batch.labels, self.gamma(), &mut ds, &mut rows)?;
                // dz = (dS + dSᵀ) z / τ
                let mut g1 = GemmDims::new(n, p, n, false, false);
                g1.alpha = inv_tau;
                be.gemm(&g1, &ds, &act.z, &mut dz)?;
                let mut g2 = GemmDims::new(n, p, n, true, false);
                g2.alpha = inv_tau;
                g2.beta = 1.0;
                be.gemm(&g2, &ds, &act.z, &mut dz)?;
                self.encoder.backward(be, &act, &dz)?;
            }
            Geometry::Poincare => {
                // S = -d(z_i, z_j) / τ
                let curv = self
                    .encoder
                    .curvature()
                    .ok_or_else(|| CrestError::Invalid("Poincaré model has no curvature".into()))?
                    .clone();
                let pts = PointSets {
                    x: &act.z,
                    y: &act.z,
                };
                let dims = PdistDims {
                    m: n,
                    n,
                    dim: p,
                    alpha: -inv_tau,
                };
                let aux = be
                    .pdist(&curv, pts, dims, &mut s, true)?
                    .ok_or_else(|| CrestError::Invalid("pdist kept no side tensor".into()))?;
                be.supcon(&s, &batch.labels, self.gamma(), &mut ds, &mut rows)?;
                let (mut dy, mut dc) = (be.zeros(n * p)?, be.zeros(n)?);
                let mut dx = be.zeros(n * p)?;
                let grads = PdistGrads {
                    dx: &mut dx,
                    dy: &mut dy,
                    dc: &mut dc,
                };
                be.pdist_bwd(&curv, pts, &ds, &aux, dims, grads)?;
                be.add(&dx, &dy, &mut dz)?;
                self.encoder.backward_with_dc(be, &act, &dz, Some(&dc))?;
            }
        }
        let st = AdamStep {
            lr: lr_at(&self.cfg.adam, step, self.cfg.steps),
            t: step,
        };
        let learn_c = self.encoder.cfg.learn_curvature;
        super::optimizer::mixed_step(
            be,
            &self.cfg.adam,
            &st,
            &mut self.sumsq,
            &mut self.encoder.params,
            learn_c,
        )?;
        // Mean loss of this batch = Σ rows · scale; kept on the device for now.
        self.loss_rows.push(rows);
        self.step = step;
        be.end_step()
    }

    /// Mean loss of the steps since the last call (reads back from the device).
    pub fn take_loss(&mut self) -> Result<f64> {
        let gamma = self.gamma();
        let rows = std::mem::take(&mut self.loss_rows);
        if rows.is_empty() {
            return Ok(f64::NAN);
        }
        let mut total = 0.0;
        let first = self.step + 1 - rows.len() as u64;
        for (i, r) in rows.iter().enumerate() {
            let labels = self.batch(first + i as u64).labels;
            let scale = crate::ops::loss::anchor_scale(&labels, gamma) as f64;
            total += self.backend.read(r)?.iter().map(|&v| v as f64).sum::<f64>() * scale;
        }
        Ok(total / rows.len() as f64)
    }

    /// Train up to step `until` (at most `cfg.steps`, the schedule's length) or
    /// `deadline`, reporting every `log_every` steps.
    pub fn run(
        &mut self,
        until: u64,
        log_every: u64,
        deadline: Option<Instant>,
        progress: &mut dyn Progress,
    ) -> Result<()> {
        let until = until.min(self.cfg.steps);
        let start = Instant::now();
        let mut last = (Instant::now(), self.step);
        let n = 2 * self.cfg.anchors;
        let flops_per_step = 3.0 * self.encoder.cfg.flops_per_window() * n as f64
            + 6.0 * (n * n * self.encoder.cfg.proj_dim) as f64;
        while self.step < until {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            self.train_step()?;
            progress.step(self.step, self.cfg.steps);
            if self.step.is_multiple_of(log_every.max(1)) || self.step == until {
                let loss = self.take_loss()?;
                let dt = last.0.elapsed().as_secs_f64().max(1e-9);
                let steps = (self.step - last.1) as f64;
                let r = StepReport {
                    step: self.step,
                    loss,
                    lr: lr_at(&self.cfg.adam, self.step, self.cfg.steps),
                    samples_per_s: steps * n as f64 / dt,
                    gflops: steps * flops_per_step / dt / 1e9,
                    elapsed_s: start.elapsed().as_secs_f64(),
                };
                if !loss.is_finite() {
                    return Err(CrestError::Invalid(format!(
                        "training diverged at step {} (loss {loss}); try a lower --lr",
                        self.step
                    )));
                }
                progress.report(&r);
                last = (Instant::now(), self.step);
            }
        }
        self.backend.sync()
    }

    /// The model as a checkpoint (with optimiser moments when `with_optimizer`).
    pub fn checkpoint(&self, with_optimizer: bool) -> Result<Checkpoint> {
        let mut tensors = self.encoder.values(self.backend)?;
        if with_optimizer {
            tensors.extend(self.encoder.moments(self.backend)?);
        }
        Ok(Checkpoint {
            meta: ModelMeta {
                format: crate::model::checkpoint::FORMAT.into(),
                encoder: self.encoder.cfg.clone(),
                train: serde_json::to_value(&self.cfg)
                    .map_err(|e| CrestError::Invalid(e.to_string()))?,
                seed: self.seed,
                step: self.step,
                reference: self.reference_info.clone(),
                head: None,
                head_steps: 0,
                curvature: match self.encoder.curvature() {
                    Some(c) => self.backend.read(c)?.first().copied(),
                    None => None,
                },
            },
            tensors,
        })
    }
}
