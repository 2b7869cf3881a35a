//! One AdamW step over a set of Euclidean parameters with a global
//! gradient-norm clip: the optimiser step shared by every model whose
//! parameters are all Euclidean (the bit head, the k-mer classifier).
//! The contrastive encoder's step (`trainer.rs`) adds Riemannian Adam for
//! ball parameters and the curvature.

use crate::backend::{Backend, Tensor};
use crate::error::Result;
use crate::model::encoder::Param;
use crate::ops::optim::{AdamConfig, AdamStep, SUMSQ_STRIDE};

/// A sum-of-squares buffer for `n` tensors.
pub fn sumsq_buffer(be: &Backend, n: usize) -> Result<Tensor> {
    be.zeros(n.max(1) * SUMSQ_STRIDE)
}

/// AdamW on every parameter from its `grad`, clipped by the global norm.
pub fn adamw_step(
    be: &Backend,
    cfg: &AdamConfig,
    st: &AdamStep,
    sumsq: &mut Tensor,
    params: &mut [Param],
) -> Result<()> {
    let nt = params.len();
    for (t, p) in params.iter().enumerate() {
        be.sumsq_into(&p.grad, sumsq, t)?;
    }
    for p in params.iter_mut() {
        be.adamw(
            cfg,
            st,
            sumsq,
            nt,
            p.decay,
            &p.grad,
            &mut p.value,
            &mut p.m,
            &mut p.v,
        )?;
    }
    Ok(())
}
