//! The bit head: an MLP on the 256-d embedding `e` that reads the k-mer's
//! genome coordinate bit by bit: `e → Linear(hidden) → ReLU → Linear(bits)`,
//! one logit per bit of the global coordinate (contigs concatenated in file
//! order). The coordinate is the k-mer's leftmost position on the forward
//! strand for windows from either strand: the encoder is trained to be
//! strand-invariant, so a strand bit could not be learned; verification
//! aligns both strands instead.

use crate::backend::{Backend, Tensor};
use crate::error::{CrestError, Result};
use crate::ops::elementwise::ChannelShape;
use crate::ops::gemm::GemmDims;
use crate::rng::Rng;

use super::encoder::{build_params, he_uniform, Layout, NamedTensor, Param};

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

    /// Parameter tensors: (name, shape, fan_in, weight-decayed).
    pub fn layout(&self) -> Layout {
        vec![
            (
                "head.w1".into(),
                vec![self.hidden, self.input],
                self.input,
                true,
            ),
            ("head.b1".into(), vec![self.hidden], 0, false),
            (
                "head.w2".into(),
                vec![self.bits, self.hidden],
                self.hidden,
                true,
            ),
            ("head.b2".into(), vec![self.bits], 0, false),
        ]
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
        let c = &self.cfg;
        let mut a0 = be.zeros(batch * c.hidden)?;
        be.gemm(
            &GemmDims::new(batch, c.hidden, c.input, false, true),
            e,
            &self.params[0].value,
            &mut a0,
        )?;
        let mut a = be.zeros(batch * c.hidden)?;
        be.bias_add(
            &ChannelShape {
                outer: batch,
                channels: c.hidden,
                inner: 1,
            },
            &a0,
            &self.params[1].value,
            &mut a,
        )?;
        let mut r = be.zeros(batch * c.hidden)?;
        be.relu(&a, &mut r)?;
        let mut l0 = be.zeros(batch * c.bits)?;
        be.gemm(
            &GemmDims::new(batch, c.bits, c.hidden, false, true),
            &r,
            &self.params[2].value,
            &mut l0,
        )?;
        let mut logits = be.zeros(batch * c.bits)?;
        be.bias_add(
            &ChannelShape {
                outer: batch,
                channels: c.bits,
                inner: 1,
            },
            &l0,
            &self.params[3].value,
            &mut logits,
        )?;
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
        let c = self.cfg.clone();
        let b = act.batch;
        be.gemm(
            &GemmDims::new(c.bits, c.hidden, b, true, false),
            dlogits,
            &act.r,
            &mut self.params[2].grad,
        )?;
        be.channel_sum(
            &ChannelShape {
                outer: b,
                channels: c.bits,
                inner: 1,
            },
            dlogits,
            &mut self.params[3].grad,
        )?;
        let mut dr = be.zeros(b * c.hidden)?;
        be.gemm(
            &GemmDims::new(b, c.hidden, c.bits, false, false),
            dlogits,
            &self.params[2].value,
            &mut dr,
        )?;
        let mut da = be.zeros(b * c.hidden)?;
        be.relu_bwd(&act.a, &dr, &mut da)?;
        be.gemm(
            &GemmDims::new(c.hidden, c.input, b, true, false),
            &da,
            e,
            &mut self.params[0].grad,
        )?;
        be.channel_sum(
            &ChannelShape {
                outer: b,
                channels: c.hidden,
                inner: 1,
            },
            &da,
            &mut self.params[1].grad,
        )?;
        Ok(())
    }

    /// Host copies of the parameters.
    pub fn values(&self, be: &Backend) -> Result<Vec<NamedTensor>> {
        super::encoder::param_values(be, &self.params)
    }
}
