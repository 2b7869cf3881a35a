//! One AdamW step over a set of Euclidean parameters with a global
//! gradient-norm clip: the optimiser step shared by every model whose
//! parameters are all Euclidean (the bit head, the k-mer classifier).
//! [`mixed_step`] adds Riemannian Adam for points of the Poincaré ball and
//! Adam + clamp for a learned curvature (the contrastive encoder, the
//! hyperbolic sequence classifiers).

use crate::backend::{Backend, Tensor};
use crate::error::{CrestError, Result};
use crate::model::encoder::{Param, ParamKind};
use crate::ops::optim::{AdamConfig, AdamStep, AdamTensor, SUMSQ_STRIDE};
use crate::ops::poincare::Rows;
use crate::ops::radam::{RadamState, RadamStep};

/// A sum-of-squares buffer for `n` tensors.
pub fn sumsq_buffer(be: &Backend, n: usize) -> Result<Tensor> {
    be.zeros(n.max(1) * SUMSQ_STRIDE)
}

/// The optimiser's view of a parameter: its gradient, values and moments.
fn adam_tensor(p: &mut Param) -> AdamTensor<&Tensor, &mut Tensor> {
    AdamTensor {
        grad: &p.grad,
        param: &mut p.value,
        m1: &mut p.m,
        m2: &mut p.v,
    }
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
        be.adamw(cfg, st, sumsq, nt, p.decay, adam_tensor(p))?;
    }
    Ok(())
}

/// One optimiser step over a mixed parameter set, one global-norm clip:
/// AdamW for Euclidean tensors, Riemannian Adam for points of the ball
/// (rows of the tensor's last dimension), Adam (no decay) then a clamp for
/// the curvature when `learn_c` (else it stays fixed).
pub fn mixed_step(
    be: &Backend,
    cfg: &AdamConfig,
    st: &AdamStep,
    sumsq: &mut Tensor,
    params: &mut [Param],
    learn_c: bool,
) -> Result<()> {
    let nt = params.len();
    for (t, p) in params.iter().enumerate() {
        be.sumsq_into(&p.grad, sumsq, t)?;
    }
    let curv = params
        .iter()
        .find(|p| p.kind() == ParamKind::Curvature)
        .map(|p| p.value.clone());
    for p in params.iter_mut() {
        match p.kind() {
            ParamKind::Euclidean => be.adamw(cfg, st, sumsq, nt, p.decay, adam_tensor(p))?,
            ParamKind::Ball => {
                let c = curv.as_ref().ok_or_else(|| {
                    CrestError::Invalid("ball parameter without a curvature".into())
                })?;
                let dim = *p.shape.last().unwrap_or(&1);
                let shape = Rows::new(p.value.len() / dim.max(1), dim);
                let state = RadamState {
                    param: &mut p.value,
                    m1: &mut p.m,
                    m2: &mut p.v,
                };
                let step = RadamStep::new(cfg, st, shape);
                be.radam(&step, sumsq, nt, c, &p.grad, state)?
            }
            ParamKind::Curvature if learn_c => {
                be.adamw(cfg, st, sumsq, nt, false, adam_tensor(p))?;
                be.clamp_curvature(&mut p.value)?;
            }
            ParamKind::Curvature => {}
        }
    }
    Ok(())
}
