//! Training the bit head on a frozen encoder: augmented windows at random
//! loci, per-bit BCE against the bits of their global coordinate, AdamW.

use crate::backend::{Backend, Tensor};
use crate::error::{CrestError, Result};
use crate::io::Reference;
use crate::model::{BitHead, Encoder, HeadConfig};
use crate::ops::optim::{lr_at, AdamConfig, AdamStep, SUMSQ_STRIDE};

use super::augment::AugmentConfig;
use super::optimizer::adamw_step;
use super::sampler::{step_rng, ReferenceSampler};

/// Start of each contig in the concatenated coordinate space.
pub fn contig_offsets(reference: &Reference) -> Vec<u64> {
    let mut off = Vec::with_capacity(reference.contigs.len());
    let mut t = 0u64;
    for c in &reference.contigs {
        off.push(t);
        t += c.seq.len() as u64;
    }
    off
}

/// Trains a bit head.
pub struct HeadTrainer<'a> {
    be: &'a Backend,
    encoder: &'a Encoder,
    /// The head being trained.
    pub head: BitHead,
    sampler: ReferenceSampler<'a>,
    offsets: Vec<u64>,
    augment: AugmentConfig,
    adam: AdamConfig,
    batch: usize,
    steps: u64,
    seed: u64,
    /// Steps done.
    pub step: u64,
    sumsq: Tensor,
    losses: Vec<Tensor>,
}

impl<'a> HeadTrainer<'a> {
    /// A fresh head for `encoder` on `reference`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        be: &'a Backend,
        encoder: &'a Encoder,
        reference: &'a Reference,
        hidden: usize,
        batch: usize,
        steps: u64,
        augment: AugmentConfig,
        seed: u64,
    ) -> Result<Self> {
        let total = reference.total_len();
        if total > u32::MAX as u64 {
            return Err(CrestError::Invalid(
                "reference longer than 2^32 bases".into(),
            ));
        }
        let cfg = HeadConfig {
            input: encoder.cfg.embed_dim,
            hidden,
            bits: HeadConfig::bits_for(total),
        };
        let head = BitHead::init(be, &cfg, seed)?;
        let adam = AdamConfig {
            lr: 2e-3,
            warmup: (steps / 20).max(1),
            ..Default::default()
        };
        Ok(HeadTrainer {
            be,
            encoder,
            sumsq: be.zeros(head.params.len() * SUMSQ_STRIDE)?,
            head,
            sampler: ReferenceSampler::new(reference, encoder.cfg.k, 0, 0.1)?,
            offsets: contig_offsets(reference),
            augment,
            adam,
            batch,
            steps,
            seed,
            step: 0,
            losses: Vec::new(),
        })
    }

    /// One step.
    pub fn train_step(&mut self) -> Result<()> {
        let be = self.be;
        let step = self.step + 1;
        let mut rng = step_rng(self.seed ^ 0x4845_4144, step, 1);
        let b = self.sampler.batch(self.batch / 2, &self.augment, &mut rng);
        let n = b.len();
        let k = self.encoder.cfg.k;
        let bits = self.head.cfg.bits;
        let mut targets = vec![0f32; n * bits];
        for (i, l) in b.labels.iter().enumerate() {
            let coord = self.offsets[l[0] as usize] + l[1] as u64;
            for j in 0..bits {
                targets[i * bits + j] = ((coord >> j) & 1) as f32;
            }
        }
        let mut x = be.zeros(n * 4 * k)?;
        be.onehot(&b.seq, &b.windows, k, &mut x)?;
        let act = self.encoder.forward(be, x, n)?;
        let h = self.head.forward(be, &act.e, n)?;
        let mut dl = be.zeros(n * bits)?;
        let mut loss = be.zeros(n)?;
        be.bce(&h.logits, &targets, n, bits, &mut dl, &mut loss)?;
        self.head.backward(be, &act.e, &h, &dl)?;
        let st = AdamStep {
            lr: lr_at(&self.adam, step, self.steps),
            t: step,
        };
        adamw_step(be, &self.adam, &st, &mut self.sumsq, &mut self.head.params)?;
        self.losses.push(loss);
        self.step = step;
        be.end_step()
    }

    /// Mean per-bit BCE since the last call.
    pub fn take_loss(&mut self) -> Result<f64> {
        let ls = std::mem::take(&mut self.losses);
        if ls.is_empty() {
            return Ok(f64::NAN);
        }
        let mut s = 0.0;
        let mut n = 0usize;
        for l in &ls {
            let v = self.be.read(l)?;
            n += v.len();
            s += v.iter().map(|&x| x as f64).sum::<f64>();
        }
        Ok(s / (n * self.head.cfg.bits).max(1) as f64)
    }

    /// Total steps.
    pub fn steps(&self) -> u64 {
        self.steps
    }
}
