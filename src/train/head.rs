//! Training a bit head on a frozen encoder: augmented windows at random
//! loci, per-bit BCE against the bits of a target code, AdamW. Two targets:
//! the window's global coordinate (the raw-coordinate head, read from the
//! embedding `e`), or the path code of the index leaf that holds the grid
//! k-mer nearest the window (the router of `crest index --route-steps`,
//! read from the projection `z` that the tree partitions).

use crate::backend::{Backend, Tensor};
use crate::error::{CrestError, Result};
use crate::index::{Index, RouteMeta};
use crate::io::Reference;
use crate::model::encoder::InferPlan;
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

/// Leaf codes of an index's grid, looked up by locus.
#[derive(Clone, Debug)]
pub struct LeafCodes {
    /// First grid k-mer of each contig and how many it has.
    spans: Vec<(usize, usize)>,
    stride: usize,
    codes: Vec<u32>,
    bits: usize,
}

impl LeafCodes {
    /// Codes (`codes[j]` = leaf of grid k-mer j) of a grid whose loci are
    /// every `stride`-th start of each of `contigs` contigs, in contig order.
    pub fn new(
        loci: &[(u32, u32)],
        contigs: usize,
        stride: usize,
        codes: Vec<u32>,
        bits: usize,
    ) -> Result<Self> {
        let stride = stride.max(1);
        if codes.len() != loci.len() || bits == 0 || bits > 32 {
            return Err(CrestError::Invalid(format!(
                "{} leaf codes of {bits} bits for {} grid k-mers",
                codes.len(),
                loci.len()
            )));
        }
        let mut spans = vec![(0usize, 0usize); contigs];
        for (j, &(c, pos)) in loci.iter().enumerate() {
            let s = spans.get_mut(c as usize).ok_or_else(|| {
                CrestError::Invalid(format!("grid locus in contig {c} of {contigs}"))
            })?;
            if s.1 == 0 {
                s.0 = j;
            }
            if pos as usize != s.1 * stride || j != s.0 + s.1 {
                return Err(CrestError::Invalid(format!(
                    "grid k-mer {j} at {c}:{pos} is not on the stride-{stride} grid"
                )));
            }
            s.1 += 1;
        }
        Ok(LeafCodes {
            spans,
            stride,
            codes,
            bits,
        })
    }

    /// Path bits.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// Grid k-mer nearest to a window starting at (contig, pos).
    pub fn nearest(&self, contig: u32, pos: u32) -> Option<usize> {
        let &(first, count) = self.spans.get(contig as usize)?;
        if count == 0 {
            return None;
        }
        let i = ((pos as usize + self.stride / 2) / self.stride).min(count - 1);
        Some(first + i)
    }

    /// Leaf code of the grid k-mer nearest to (contig, pos).
    pub fn code(&self, contig: u32, pos: u32) -> Option<u32> {
        self.nearest(contig, pos).map(|j| self.codes[j])
    }
}

/// What a head learns to read from a window.
#[derive(Clone, Debug)]
pub enum HeadTarget {
    /// The window's global coordinate (contigs concatenated in file order),
    /// from the embedding `e`.
    Coordinate {
        /// Start of each contig ([`contig_offsets`]).
        offsets: Vec<u64>,
        /// ⌈log2 G⌉.
        bits: usize,
    },
    /// The leaf path code of the nearest grid k-mer, from the projection `z`.
    Leaf(LeafCodes),
}

impl HeadTarget {
    /// The raw-coordinate target of `reference`.
    pub fn coordinate(reference: &Reference) -> Result<Self> {
        let total = reference.total_len();
        if total > u32::MAX as u64 {
            return Err(CrestError::Invalid(
                "reference longer than 2^32 bases".into(),
            ));
        }
        Ok(HeadTarget::Coordinate {
            offsets: contig_offsets(reference),
            bits: HeadConfig::bits_for(total),
        })
    }

    fn bits(&self) -> usize {
        match self {
            HeadTarget::Coordinate { bits, .. } => *bits,
            HeadTarget::Leaf(l) => l.bits,
        }
    }

    fn code(&self, contig: u32, pos: u32) -> u64 {
        match self {
            HeadTarget::Coordinate { offsets, .. } => offsets[contig as usize] + pos as u64,
            HeadTarget::Leaf(l) => l.code(contig, pos).unwrap_or(0) as u64,
        }
    }
}

/// How a bit head is trained.
#[derive(Clone, Debug)]
pub struct HeadOptions {
    /// Hidden units of the head.
    pub hidden: usize,
    /// Windows per step (at least 2).
    pub batch: usize,
    /// Optimiser steps (the learning-rate schedule's length).
    pub steps: u64,
    /// Damage and noise applied to the windows.
    pub augment: AugmentConfig,
    /// Seed of the windows and the initial weights.
    pub seed: u64,
}

/// Trains a bit head.
pub struct HeadTrainer<'a> {
    be: &'a Backend,
    encoder: &'a Encoder,
    plan: Option<InferPlan>,
    /// The head being trained.
    pub head: BitHead,
    sampler: ReferenceSampler<'a>,
    target: HeadTarget,
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
    /// A fresh head for `encoder` on `reference` learning `target`.
    pub fn new(
        be: &'a Backend,
        encoder: &'a Encoder,
        reference: &'a Reference,
        target: HeadTarget,
        opts: HeadOptions,
    ) -> Result<Self> {
        let HeadOptions {
            hidden,
            batch,
            steps,
            augment,
            seed,
        } = opts;
        let input = match target {
            HeadTarget::Coordinate { .. } => encoder.cfg.embed_dim,
            HeadTarget::Leaf(_) => encoder.cfg.proj_dim,
        };
        let cfg = HeadConfig {
            input,
            hidden,
            bits: target.bits(),
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
            plan: encoder.infer_plan(be)?,
            sumsq: be.zeros(head.params.len() * SUMSQ_STRIDE)?,
            head,
            sampler: ReferenceSampler::new(reference, encoder.cfg.k, 0, 0.1)?,
            target,
            augment,
            adam,
            batch: batch.max(2),
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
            let code = self.target.code(l[0], l[1]);
            for j in 0..bits {
                targets[i * bits + j] = ((code >> j) & 1) as f32;
            }
        }
        let mut x = be.zeros(n * 4 * k)?;
        be.onehot(&b.seq, &b.windows, k, &mut x)?;
        let (e, z) = self.encoder.embed_batch(be, self.plan.as_ref(), x, n)?;
        let input = match self.target {
            HeadTarget::Coordinate { .. } => e,
            HeadTarget::Leaf(_) => z,
        };
        let h = self.head.forward(be, &input, n)?;
        let mut dl = be.zeros(n * bits)?;
        let mut loss = be.zeros(n)?;
        be.bce(&h.logits, &targets, n, bits, &mut dl, &mut loss)?;
        self.head.backward(be, &input, &h, &dl)?;
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

/// Router training options (`crest index --route-steps`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteOptions {
    /// Optimiser steps (0: no router).
    pub steps: u64,
    /// Hidden units of the head.
    pub hidden: usize,
    /// Windows per step.
    pub batch: usize,
    /// Seed of the windows and the initial weights.
    pub seed: u64,
}

impl Default for RouteOptions {
    fn default() -> Self {
        RouteOptions {
            steps: 0,
            hidden: 256,
            batch: 256,
            seed: 1,
        }
    }
}

/// Train a router for `index` (built with `encoder` from `reference`) on
/// aDNA-augmented windows and store it in the index; `progress(step, steps,
/// mean BCE so far in this report)` every 50 steps and at the end.
pub fn train_router(
    be: &Backend,
    encoder: &Encoder,
    reference: &Reference,
    index: &mut Index,
    opts: &RouteOptions,
    progress: &mut dyn FnMut(u64, u64, f64),
) -> Result<()> {
    if opts.steps == 0 {
        return Err(CrestError::Invalid(
            "router training needs steps > 0".into(),
        ));
    }
    let codes = LeafCodes::new(
        &index.grid.loci,
        reference.contigs.len(),
        index.meta.grid_stride,
        index.tree.codes(),
        index.tree.shape.bits(),
    )?;
    let head = HeadOptions {
        hidden: opts.hidden,
        batch: opts.batch,
        steps: opts.steps,
        augment: AugmentConfig::adna(),
        seed: opts.seed,
    };
    let mut ht = HeadTrainer::new(be, encoder, reference, HeadTarget::Leaf(codes), head)?;
    let mut last = f64::NAN;
    while ht.step < opts.steps {
        ht.train_step()?;
        if ht.step.is_multiple_of(50) || ht.step == opts.steps {
            last = ht.take_loss()?;
            progress(ht.step, opts.steps, last);
        }
    }
    let tensors = ht
        .head
        .values(be)?
        .into_iter()
        .map(|(name, _, v)| (name, v))
        .collect();
    index.meta.route = Some(RouteMeta {
        head: ht.head.cfg.clone(),
        steps: ht.step,
        batch: opts.batch,
        seed: opts.seed,
        final_bce: last,
    });
    index.route = tensors;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_codes_pick_the_nearest_grid_kmer() {
        // contig 0: grid at 0, 8, 16; contig 1: none; contig 2: grid at 0, 8
        let loci = vec![(0, 0), (0, 8), (0, 16), (2, 0), (2, 8)];
        let codes = vec![10, 11, 12, 20, 21];
        let l = LeafCodes::new(&loci, 3, 8, codes, 5).unwrap();
        assert_eq!(l.code(0, 0), Some(10));
        assert_eq!(l.code(0, 3), Some(10));
        assert_eq!(l.code(0, 4), Some(11));
        assert_eq!(l.code(0, 12), Some(12));
        assert_eq!(
            l.code(0, 40),
            Some(12),
            "past the last grid k-mer: the last"
        );
        assert_eq!(l.code(1, 0), None);
        assert_eq!(l.code(2, 9), Some(21));
        assert_eq!(l.code(3, 0), None);
        assert!(LeafCodes::new(&[(0, 0), (0, 4)], 1, 8, vec![0, 1], 4).is_err());
        assert!(LeafCodes::new(&[(0, 0)], 1, 8, vec![0, 1], 4).is_err());
    }
}
