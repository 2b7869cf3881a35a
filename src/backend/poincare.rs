//! Poincaré-ball ops and Riemannian Adam on a [`Backend`] (see
//! [`crate::ops::poincare`] and [`crate::ops::radam`]). The curvature is a
//! one-element tensor on the backend. Shapes and gradient outputs come in
//! the kernels' own types ([`Rows`], [`RowGrads`], …), here holding tensors.

use super::{c, cm, g, Backend, Tensor};
use crate::error::{CrestError, Result};
use crate::gpu::GpuBuf;
use crate::ops::optim;
use crate::ops::poincare::{
    self as pc, AddGrads, MatvecDims, MatvecGrads, MlrClasses, MlrDims, MlrGrads, MobiusDims,
    PdistDims, PdistGrads, PointSets, Radial, RowGrads, Rows,
};
use crate::ops::radam::{self, RadamState, RadamStep};

fn c0(t: &Tensor) -> Result<f32> {
    c(t)?
        .first()
        .copied()
        .ok_or_else(|| CrestError::Invalid("curvature tensor is empty".into()))
}

/// An output tensor's buffer, for a launcher.
fn gb(t: &mut Tensor) -> Result<&GpuBuf> {
    g(t)
}

/// An output tensor's values, for a CPU twin.
fn cs(t: &mut Tensor) -> Result<&mut [f32]> {
    cm(t).map(Vec::as_mut_slice)
}

impl Backend {
    /// exp₀ or log₀ of each row.
    pub fn radial(
        &self,
        map: Radial,
        curv: &Tensor,
        x: &Tensor,
        shape: Rows,
        out: &mut Tensor,
    ) -> Result<()> {
        gpu_or_cpu!(self, gpu => pc::radial_gpu(gpu, map, g(curv)?, g(x)?, shape, g(out)?),
            pc::radial_cpu(map, c0(curv)?, c(x)?, shape, cm(out)?))
    }

    /// Backward of [`Backend::radial`] from dL/dout `dy`: dx and per-row ∂L/∂c.
    pub fn radial_bwd(
        &self,
        map: Radial,
        curv: &Tensor,
        x: &Tensor,
        dy: &Tensor,
        shape: Rows,
        grads: RowGrads<&mut Tensor>,
    ) -> Result<()> {
        gpu_or_cpu!(self, gpu => pc::radial_bwd_gpu(gpu, map, g(curv)?, g(x)?, g(dy)?, shape, grads.try_map(gb)?),
            pc::radial_bwd_cpu(map, c0(curv)?, c(x)?, c(dy)?, shape, grads.try_map(cs)?))
    }

    /// Projection of each row into the ball of radius (1 − eps)/√c.
    pub fn project(
        &self,
        curv: &Tensor,
        eps: f32,
        x: &Tensor,
        shape: Rows,
        out: &mut Tensor,
    ) -> Result<()> {
        gpu_or_cpu!(self, gpu => pc::project_gpu(gpu, g(curv)?, eps, g(x)?, shape, g(out)?),
            pc::project_cpu(c0(curv)?, eps, c(x)?, shape, cm(out)?))
    }

    /// Backward of [`Backend::project`] from dL/dout `dy`.
    pub fn project_bwd(
        &self,
        curv: &Tensor,
        eps: f32,
        x: &Tensor,
        dy: &Tensor,
        shape: Rows,
        grads: RowGrads<&mut Tensor>,
    ) -> Result<()> {
        gpu_or_cpu!(self, gpu => pc::project_bwd_gpu(gpu, g(curv)?, eps, g(x)?, g(dy)?, shape, grads.try_map(gb)?),
            pc::project_bwd_cpu(c0(curv)?, eps, c(x)?, c(dy)?, shape, grads.try_map(cs)?))
    }

    /// Möbius addition x ⊕ y (`shape.other_rows` = rows, or 1 to broadcast).
    pub fn mobius_add(
        &self,
        curv: &Tensor,
        x: &Tensor,
        y: &Tensor,
        shape: MobiusDims,
        out: &mut Tensor,
    ) -> Result<()> {
        gpu_or_cpu!(self, gpu => pc::mobius_add_gpu(gpu, g(curv)?, g(x)?, g(y)?, shape, g(out)?),
            pc::mobius_add_cpu(c0(curv)?, c(x)?, c(y)?, shape, cm(out)?))
    }

    /// Backward of [`Backend::mobius_add`] from dL/dout `dout` (dy per row,
    /// before a broadcast sum).
    pub fn mobius_add_bwd(
        &self,
        curv: &Tensor,
        x: &Tensor,
        y: &Tensor,
        dout: &Tensor,
        shape: MobiusDims,
        grads: AddGrads<&mut Tensor>,
    ) -> Result<()> {
        gpu_or_cpu!(self, gpu => pc::mobius_add_bwd_gpu(gpu, g(curv)?, g(x)?, g(y)?, g(dout)?, shape, grads.try_map(gb)?),
            pc::mobius_add_bwd_cpu(c0(curv)?, c(x)?, c(y)?, c(dout)?, shape, grads.try_map(cs)?))
    }

    /// Möbius matrix–vector product M ⊗ x from x and mx = M x.
    pub fn matvec_scale(
        &self,
        curv: &Tensor,
        x: &Tensor,
        mx: &Tensor,
        shape: MatvecDims,
        out: &mut Tensor,
    ) -> Result<()> {
        gpu_or_cpu!(self, gpu => pc::matvec_scale_gpu(gpu, g(curv)?, g(x)?, g(mx)?, shape, g(out)?),
            pc::matvec_scale_cpu(c0(curv)?, c(x)?, c(mx)?, shape, cm(out)?))
    }

    /// Backward of [`Backend::matvec_scale`] from dL/dout `dout`: dx (through
    /// the norm of x), d(mx), dc.
    pub fn matvec_scale_bwd(
        &self,
        curv: &Tensor,
        x: &Tensor,
        mx: &Tensor,
        dout: &Tensor,
        shape: MatvecDims,
        grads: MatvecGrads<&mut Tensor>,
    ) -> Result<()> {
        gpu_or_cpu!(self, gpu => pc::matvec_scale_bwd_gpu(gpu, g(curv)?, g(x)?, g(mx)?, g(dout)?, shape, grads.try_map(gb)?),
            pc::matvec_scale_bwd_cpu(c0(curv)?, c(x)?, c(mx)?, c(dout)?, shape, grads.try_map(cs)?))
    }

    /// Scaled pairwise distances `alpha · d(x_i, y_j)` (`m × n`). With
    /// `for_backward`, returns the side tensor [`Backend::pdist_bwd`] needs;
    /// retrieval passes false and skips writing it.
    pub fn pdist(
        &self,
        curv: &Tensor,
        pts: PointSets<'_, Tensor>,
        dims: PdistDims,
        out: &mut Tensor,
        for_backward: bool,
    ) -> Result<Option<Tensor>> {
        match self {
            Backend::Gpu(gpu) => {
                let aux = if for_backward {
                    Some(gpu.zeros("pdist aux", pc::pdist_aux_len(dims.m, dims.n))?)
                } else {
                    None
                };
                let pts = pts.try_map(g)?;
                pc::pdist_gpu(gpu, g(curv)?, pts, dims, g(out)?, aux.as_ref())?;
                Ok(aux.map(Tensor::Gpu))
            }
            Backend::CpuReference => {
                pc::pdist_cpu(c0(curv)?, pts.try_map(c)?, dims, cm(out)?)?;
                // the CPU backward recomputes what it needs from x and y
                Ok(for_backward.then(|| Tensor::Cpu(Vec::new())))
            }
        }
    }

    /// Backward of [`Backend::pdist`] from dL/dout `dout` and the side tensor
    /// `aux` it returned: dX, dY and ∂L/∂c per row of x.
    pub fn pdist_bwd(
        &self,
        curv: &Tensor,
        pts: PointSets<'_, Tensor>,
        dout: &Tensor,
        aux: &Tensor,
        dims: PdistDims,
        grads: PdistGrads<&mut Tensor>,
    ) -> Result<()> {
        gpu_or_cpu!(self, gpu => pc::pdist_bwd_gpu(gpu, g(curv)?, pts.try_map(g)?, g(dout)?, g(aux)?, dims, grads.try_map(gb)?),
            pc::pdist_bwd_cpu(c0(curv)?, pts.try_map(c)?, c(dout)?, dims, grads.try_map(cs)?))
    }

    /// Poincaré multinomial logistic regression (HNN++): logits `[m, classes]`
    /// of `m` points against the classes' normals and offsets.
    pub fn mlr(
        &self,
        curv: &Tensor,
        x: &Tensor,
        cls: MlrClasses<'_, Tensor>,
        dims: MlrDims,
        out: &mut Tensor,
    ) -> Result<()> {
        gpu_or_cpu!(self, gpu => pc::mlr_gpu(gpu, g(curv)?, g(x)?, cls.try_map(g)?, dims, g(out)?),
            pc::mlr_cpu(c0(curv)?, c(x)?, cls.try_map(c)?, dims, cm(out)?))
    }

    /// Backward of [`Backend::mlr`] from dL/dlogits `gl`: dx, da, dr and ∂L/∂c per row.
    pub fn mlr_bwd(
        &self,
        curv: &Tensor,
        x: &Tensor,
        cls: MlrClasses<'_, Tensor>,
        gl: &Tensor,
        dims: MlrDims,
        grads: MlrGrads<&mut Tensor>,
    ) -> Result<()> {
        match self {
            Backend::Gpu(gpu) => pc::mlr_bwd_gpu(
                gpu,
                g(curv)?,
                g(x)?,
                cls.try_map(g)?,
                g(gl)?,
                dims,
                grads.try_map(gb)?,
            ),
            Backend::CpuReference => {
                let gr = pc::mlr_bwd_cpu(c0(curv)?, c(x)?, cls.try_map(c)?, c(gl)?, dims)?;
                cm(grads.dx)?[..gr.dx.len()].copy_from_slice(&gr.dx);
                cm(grads.da)?[..gr.da.len()].copy_from_slice(&gr.da);
                cm(grads.dr)?[..gr.dr.len()].copy_from_slice(&gr.dr);
                cm(grads.dc)?[..gr.dc.len()].copy_from_slice(&gr.dc);
                Ok(())
            }
        }
    }

    /// One Riemannian Adam step from `grad` (global-norm clip from `sumsq`'s
    /// `n_tensors` slots as in [`Backend::adamw`]).
    pub fn radam(
        &self,
        step: &RadamStep,
        sumsq: &Tensor,
        n_tensors: usize,
        curv: &Tensor,
        grad: &Tensor,
        state: RadamState<&mut Tensor>,
    ) -> Result<()> {
        match self {
            Backend::Gpu(gpu) => radam::radam_gpu(
                gpu,
                step,
                g(sumsq)?,
                n_tensors,
                g(curv)?,
                g(grad)?,
                state.try_map(gb)?,
            ),
            Backend::CpuReference => {
                let slots: Vec<f32> = (0..n_tensors)
                    .map(|t| c(sumsq).map(|v| v[t * optim::SUMSQ_STRIDE]))
                    .collect::<Result<_>>()?;
                let clip = optim::clip_factor(step.cfg, &slots);
                let cv = c0(curv)?;
                radam::radam_cpu(step, clip, cv, c(grad)?, state.try_map(cs)?)
            }
        }
    }

    /// Clamp a learned curvature to [`radam::CURVATURE_RANGE`].
    pub fn clamp_curvature(&self, curv: &mut Tensor) -> Result<()> {
        match self {
            Backend::Gpu(gpu) => radam::clamp_curvature_gpu(gpu, g(curv)?),
            Backend::CpuReference => {
                radam::clamp_curvature_cpu(cm(curv)?);
                Ok(())
            }
        }
    }
}
