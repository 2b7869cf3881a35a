//! Batch normalisation, cross-entropy, transpose and scaling on a
//! [`Backend`] (see [`crate::ops::batchnorm`], [`crate::ops::xent`],
//! [`crate::ops::permute`]): the ops the sequence classifiers add.

use super::{c, cm, g, Backend, Tensor};
use crate::error::Result;
use crate::gpu::GpuBuf;
use crate::ops::batchnorm::{self as bn, BnConfig, BnDims, BnGrads, BnOut};
use crate::ops::permute::{self, TransposeDims};
use crate::ops::xent::{self, XentDims};

impl Backend {
    /// Batch norm (`gb` = γ then β), training mode: batch statistics into `out.stats`,
    /// running statistics updated with `momentum` (> 0), normalised output into `out.y`.
    pub fn bn_train(
        &self,
        d: &BnDims,
        x: &Tensor,
        gb: &Tensor,
        momentum: f32,
        running: &mut Tensor,
        out: BnOut<&mut Tensor>,
    ) -> Result<()> {
        let cfg = BnConfig {
            eps: bn::BN_EPS,
            momentum,
        };
        gpu_or_cpu!(self, gpu => bn::bn_train_gpu(gpu, d, &cfg, g(x)?, g(gb)?, g(running)?, out_gpu(&out)?),
            bn::bn_train_cpu(d, &cfg, c(x)?, c(gb)?, cm(running)?, out_cpu(out)?))
    }

    /// Batch norm, inference mode (running statistics).
    pub fn bn_infer(
        &self,
        d: &BnDims,
        x: &Tensor,
        gb: &Tensor,
        running: &Tensor,
        out: BnOut<&mut Tensor>,
    ) -> Result<()> {
        let eps = bn::BN_EPS;
        gpu_or_cpu!(self, gpu => bn::bn_infer_gpu(gpu, d, eps, g(x)?, g(gb)?, g(running)?, out_gpu(&out)?),
            bn::bn_infer_cpu(d, eps, c(x)?, c(gb)?, c(running)?, out_cpu(out)?))
    }

    /// Batch-norm backward: `grads.dx` and `grads.dgb` = (dγ, dβ).
    pub fn bn_backward(
        &self,
        d: &BnDims,
        x: &Tensor,
        dy: &Tensor,
        gb: &Tensor,
        stats: &Tensor,
        grads: BnGrads<&mut Tensor>,
    ) -> Result<()> {
        gpu_or_cpu!(self, gpu => bn::bn_backward_gpu(gpu, d, g(x)?, g(dy)?, g(gb)?, g(stats)?, grads_gpu(&grads)?),
            bn::bn_backward_cpu(d, c(x)?, c(dy)?, c(gb)?, c(stats)?, grads_cpu(grads)?))
    }

    /// Softmax cross-entropy: per-row losses and `d.scale`·(softmax − onehot).
    pub fn xent(
        &self,
        d: &XentDims,
        logits: &Tensor,
        labels: &[f32],
        loss: &mut Tensor,
        dz: &mut Tensor,
    ) -> Result<()> {
        match self {
            Backend::Gpu(gpu) => {
                let l = gpu.upload("labels", labels)?;
                xent::xent_gpu(gpu, d, g(logits)?, labels, &l, g(loss)?, g(dz)?)
            }
            Backend::CpuReference => xent::xent_cpu(d, c(logits)?, labels, cm(loss)?, cm(dz)?),
        }
    }

    /// `[outer, a, b] → [outer, b, a]`.
    pub fn transpose(&self, d: &TransposeDims, x: &Tensor, out: &mut Tensor) -> Result<()> {
        gpu_or_cpu!(self, gpu => permute::transpose_gpu(gpu, d, g(x)?, g(out)?),
            permute::transpose_cpu(d, c(x)?, cm(out)?))
    }

    /// `out = alpha · x` over `n` elements.
    pub fn scale(&self, n: usize, alpha: f32, x: &Tensor, out: &mut Tensor) -> Result<()> {
        gpu_or_cpu!(self, gpu => permute::scale_gpu(gpu, n, alpha, g(x)?, g(out)?),
            permute::scale_cpu(n, alpha, c(x)?, cm(out)?))
    }
}

/// A forward pass's outputs as device buffers.
fn out_gpu<'a>(out: &'a BnOut<&mut Tensor>) -> Result<BnOut<&'a GpuBuf>> {
    Ok(BnOut {
        stats: g(out.stats)?,
        y: g(out.y)?,
    })
}

/// A forward pass's outputs as host slices.
fn out_cpu(out: BnOut<&mut Tensor>) -> Result<BnOut<&mut [f32]>> {
    Ok(BnOut {
        stats: cm(out.stats)?,
        y: cm(out.y)?,
    })
}

/// The backward pass's outputs as device buffers.
fn grads_gpu<'a>(grads: &'a BnGrads<&mut Tensor>) -> Result<BnGrads<&'a GpuBuf>> {
    Ok(BnGrads {
        dx: g(grads.dx)?,
        dgb: g(grads.dgb)?,
    })
}

/// The backward pass's outputs as host slices.
fn grads_cpu(grads: BnGrads<&mut Tensor>) -> Result<BnGrads<&mut [f32]>> {
    Ok(BnGrads {
        dx: cm(grads.dx)?,
        dgb: cm(grads.dgb)?,
    })
}
