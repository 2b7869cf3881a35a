//! Batch normalisation, cross-entropy, transpose and scaling on a
//! [`Backend`] (see [`crate::ops::batchnorm`], [`crate::ops::xent`],
//! [`crate::ops::permute`]): the ops the sequence classifiers add.

use super::{c, cm, g, Backend, Tensor};
use crate::error::Result;
use crate::ops::batchnorm::{self as bn, BnDims};
use crate::ops::permute::{self, TransposeDims};
use crate::ops::xent;

impl Backend {
    /// Batch norm (`gb` = γ then β), training mode: batch statistics into `stats`, running
    /// statistics updated with `momentum` (> 0), normalised output into `y`.
    #[allow(clippy::too_many_arguments)]
    pub fn bn_train(
        &self,
        d: &BnDims,
        x: &Tensor,
        gb: &Tensor,
        momentum: f32,
        running: &mut Tensor,
        stats: &mut Tensor,
        y: &mut Tensor,
    ) -> Result<()> {
        let eps = bn::BN_EPS;
        gpu_or_cpu!(self, gpu => bn::bn_train_gpu(gpu, d, g(x)?, g(gb)?, eps, momentum, g(running)?, g(stats)?, g(y)?),
            bn::bn_train_cpu(d, c(x)?, c(gb)?, eps, momentum, cm(running)?, cm(stats)?, cm(y)?))
    }

    /// Batch norm, inference mode (running statistics).
    pub fn bn_infer(
        &self,
        d: &BnDims,
        x: &Tensor,
        gb: &Tensor,
        running: &Tensor,
        stats: &mut Tensor,
        y: &mut Tensor,
    ) -> Result<()> {
        let eps = bn::BN_EPS;
        gpu_or_cpu!(self, gpu => bn::bn_infer_gpu(gpu, d, g(x)?, g(gb)?, eps, g(running)?, g(stats)?, g(y)?),
            bn::bn_infer_cpu(d, c(x)?, c(gb)?, eps, c(running)?, cm(stats)?, cm(y)?))
    }

    /// Batch-norm backward: dx and `grads` = (dγ, dβ).
    #[allow(clippy::too_many_arguments)]
    pub fn bn_backward(
        &self,
        d: &BnDims,
        x: &Tensor,
        dy: &Tensor,
        gb: &Tensor,
        stats: &Tensor,
        dx: &mut Tensor,
        grads: &mut Tensor,
    ) -> Result<()> {
        gpu_or_cpu!(self, gpu => bn::bn_backward_gpu(gpu, d, g(x)?, g(dy)?, g(gb)?, g(stats)?, g(dx)?, g(grads)?),
            bn::bn_backward_cpu(d, c(x)?, c(dy)?, c(gb)?, c(stats)?, cm(dx)?, cm(grads)?))
    }

    /// Softmax cross-entropy: per-row losses and `scale`·(softmax − onehot).
    #[allow(clippy::too_many_arguments)]
    pub fn xent(
        &self,
        logits: &Tensor,
        labels: &[f32],
        rows: usize,
        classes: usize,
        scale: f32,
        loss: &mut Tensor,
        dz: &mut Tensor,
    ) -> Result<()> {
        match self {
            Backend::Gpu(gpu) => {
                let l = gpu.upload("labels", labels)?;
                xent::xent_gpu(
                    gpu,
                    g(logits)?,
                    labels,
                    &l,
                    rows,
                    classes,
                    scale,
                    g(loss)?,
                    g(dz)?,
                )
            }
            Backend::CpuReference => {
                xent::xent_cpu(c(logits)?, labels, rows, classes, scale, cm(loss)?, cm(dz)?)
            }
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
