//! The bit head: an MLP on the 256-d embedding `e` that reads the k-mer's
//! genome coordinate bit by bit: `e → Linear(hidden) → ReLU → Linear(bits)`,
//! one logit per bit of the global coordinate (contigs concatenated in file
//! order). The coordinate is the k-mer's leftmost position on the forward
//! strand for windows from either strand: the encoder is trained to be
//! strand-invariant, so a strand bit could not be learned; verification
//! aligns both strands instead.

use crate::backend::{Backend, Tensor};
use crate::error::{CrestError, Result};
use crate::rng::Rng;

use super::encoder::{build_params, he_uniform, Layout, NamedTensor, Param};
use super::linear::Linear;

/// Bit-head architecture.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HeadConfig {
    /// Input size (the encoder's embed_dim).
    pub input: usize,
    /// Hidden units.
    pub hidden: usize,
    /// Coordinate bits (⌈log2 G⌉).
    pub bits: usize,
}

impl HeadConfig {
    /// Bits needed for a genome of `total` bases.
    pub fn bits_for(total: u64) -> usize {
        (64 - total.saturating_sub(1).leading_zeros() as usize).max(1)
    }

    /// The two layers: embedding → hidden, hidden → bits.
    pub fn layers(&self) -> (Linear, Linear) {
        (
            Linear {
                input: self.input,
                output: self.hidden,
            },
            Linear {
                input: self.hidden,
                output: self.bits,
            },
        )
    }

    /// Parameter tensors: (name, shape, fan_in, weight-decayed).
    pub fn layout(&self) -> Layout {
        let (l1, l2) = self.layers();
        let mut v = l1.layout_named("head.w1", "head.b1");
        v.extend(l2.layout_named("head.w2", "head.b2"));
        v
    }
}

/// Head activations kept for the backward pass.
pub struct HeadActivations {
    batch: usize,
    a: Tensor,
    r: Tensor,
    /// Logits `[batch, bits]`.
    pub logits: Tensor,
}

/// The bit head's parameters on a backend.
pub struct BitHead {
    /// Architecture.
    pub cfg: HeadConfig,
    /// Parameters (w1, b1, w2, b2).
    pub params: Vec<Param>,
}

impl BitHead {
    /// Fresh initialisation.
    pub fn init(be: &Backend, cfg: &HeadConfig, seed: u64) -> Result<Self> {
        let mut rng = Rng::new(seed ^ 0x4845_4144);
        let values = he_uniform(&cfg.layout(), &mut rng, |_| 1.0);
        Self::from_values(be, cfg, values)
    }

    /// Build from named host values.
    pub fn from_values(
        be: &Backend,
        cfg: &HeadConfig,
        values: Vec<(String, Vec<f32>)>,
    ) -> Result<Self> {
        if cfg.bits == 0 || cfg.bits > 32 {
            return Err(CrestError::Invalid(format!(
                "bit head with {} bits (1..=32)",
                cfg.bits
            )));
        }
        Ok(BitHead {
            cfg: cfg.clone(),
            params: build_params(be, cfg.layout(), values)?,
        })
    }

    /// Logits of a batch of embeddings `e` (`[batch, input]`).
    pub fn forward(&self, be: &Backend, e: &Tensor, batch: usize) -> Result<HeadActivations> {
        let (l1, l2) = self.cfg.layers();
        let a = l1.forward(be, e, batch, &self.params[0], &self.params[1])?;
        let mut r = be.zeros(batch * self.cfg.hidden)?;
        be.relu(&a, &mut r)?;
        let logits = l2.forward(be, &r, batch, &self.params[2], &self.params[3])?;
        Ok(HeadActivations {
            batch,
            a,
            r,
            logits,
        })
    }

    /// Gradients of the head's parameters from dL/dlogits (the encoder stays frozen).
    pub fn backward(
        &mut self,
        be: &Backend,
        e: &Tensor,
        act: &HeadActivations,
        dlogits: &Tensor,
    ) -> Result<()> {
        let (l1, l2) = self.cfg.layers();
        let b = act.batch;
        let (first, second) = self.params.split_at_mut(2);
        let [w1, b1] = first else {
            return Err(CrestError::Invalid("bit head needs 4 tensors".into()));
        };
        let [w2, b2] = second else {
            return Err(CrestError::Invalid("bit head needs 4 tensors".into()));
        };
        let dr = l2.backward(be, &act.r, dlogits, b, w2, b2)?;
        let mut da = be.zeros(b * self.cfg.hidden)?;
        be.relu_bwd(&act.a, &dr, &mut da)?;
        l1.backward_params(be, e, &da, b, w1, b1)?;
        Ok(())
    }

    /// Host copies of the parameters.
    pub fn values(&self, be: &Backend) -> Result<Vec<NamedTensor>> {
        super::encoder::param_values(be, &self.params)
    }
}
