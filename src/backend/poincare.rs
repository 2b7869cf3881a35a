//! Poincaré-ball ops and Riemannian Adam on a [`Backend`] (see
//! [`crate::ops::poincare`] and [`crate::ops::radam`]). The curvature is a
//! one-element tensor on the backend.

use super::{c, cm, g, Backend, Tensor};
use crate::error::{CrestError, Result};
use crate::ops::optim::{self, AdamConfig, AdamStep};
use crate::ops::poincare::{self as pc, Radial};
use crate::ops::radam;

fn c0(t: &Tensor) -> Result<f32> {
    c(t)?
        .first()
        .copied()
        .ok_or_else(|| CrestError::Invalid("curvature tensor is empty".into()))
}

impl Backend {
    /// exp₀ or log₀ of each row.
    pub fn radial(
        &self,
        map: Radial,
        curv: &Tensor,
        x: &Tensor,
        rows: usize,
        dim: usize,
        out: &mut Tensor,
    ) -> Result<()> {
        gpu_or_cpu!(self, gpu => pc::radial_gpu(gpu, map, g(curv)?, g(x)?, rows, dim, g(out)?),
            pc::radial_cpu(map, c0(curv)?, c(x)?, rows, dim, cm(out)?))
    }

    /// Backward of [`Backend::radial`]: dx and per-row ∂L/∂c.
    #[allow(clippy::too_many_arguments)]
    pub fn radial_bwd(
        &self,
        map: Radial,
        curv: &Tensor,
        x: &Tensor,
        dy: &Tensor,
        rows: usize,
        dim: usize,
        dx: &mut Tensor,
        dc: &mut Tensor,
    ) -> Result<()> {
        gpu_or_cpu!(self, gpu => pc::radial_bwd_gpu(gpu, map, g(curv)?, g(x)?, g(dy)?, rows, dim, g(dx)?, g(dc)?),
            pc::radial_bwd_cpu(map, c0(curv)?, c(x)?, c(dy)?, rows, dim, cm(dx)?, cm(dc)?))
    }

    /// Projection of each row into the ball of radius (1 − eps)/√c.
    #[allow(clippy::too_many_arguments)]
    pub fn project(
        &self,
        curv: &Tensor,
        eps: f32,
        x: &Tensor,
        rows: usize,
        dim: usize,
        out: &mut Tensor,
    ) -> Result<()> {
        gpu_or_cpu!(self, gpu => pc::project_gpu(gpu, g(curv)?, eps, g(x)?, rows, dim, g(out)?),
            pc::project_cpu(c0(curv)?, eps, c(x)?, rows, dim, cm(out)?))
    }

    /// Backward of [`Backend::project`].
    #[allow(clippy::too_many_arguments)]
    pub fn project_bwd(
        &self,
        curv: &Tensor,
        eps: f32,
        x: &Tensor,
        dy: &Tensor,
        rows: usize,
        dim: usize,
        dx: &mut Tensor,
        dc: &mut Tensor,
    ) -> Result<()> {
        gpu_or_cpu!(self, gpu => pc::project_bwd_gpu(gpu, g(curv)?, eps, g(x)?, g(dy)?, rows, dim, g(dx)?, g(dc)?),
            pc::project_bwd_cpu(c0(curv)?, eps, c(x)?, c(dy)?, rows, dim, cm(dx)?, cm(dc)?))
    }

    /// Möbius addition x ⊕ y (`y_rows` = rows, or 1 to broadcast).
    #[allow(clippy::too_many_arguments)]
    pub fn mobius_add(
        &self,
        curv: &Tensor,
        x: &Tensor,
        y: &Tensor,
        rows: usize,
        y_rows: usize,
        dim: usize,
        out: &mut Tensor,
    ) -> Result<()> {
        gpu_or_cpu!(self, gpu => pc::mobius_add_gpu(gpu, g(curv)?, g(x)?, g(y)?, rows, y_rows, dim, g(out)?),
            pc::mobius_add_cpu(c0(curv)?, c(x)?, c(y)?, rows, y_rows, dim, cm(out)?))
    }

    /// Backward of [`Backend::mobius_add`] (dy per row, before a broadcast sum).
    #[allow(clippy::too_many_arguments)]
    pub fn mobius_add_bwd(
        &self,
        curv: &Tensor,
        x: &Tensor,
        y: &Tensor,
        dout: &Tensor,
        rows: usize,
        y_rows: usize,
        dim: usize,
        dx: &mut Tensor,
        dy: &mut Tensor,
        dc: &mut Tensor,
    ) -> Result<()> {
        gpu_or_cpu!(self, gpu => pc::mobius_add_bwd_gpu(gpu, g(curv)?, g(x)?, g(y)?, g(dout)?, rows, y_rows, dim, g(dx)?, g(dy)?, g(dc)?),
            pc::mobius_add_bwd_cpu(c0(curv)?, c(x)?, c(y)?, c(dout)?, rows, y_rows, dim, cm(dx)?, cm(dy)?, cm(dc)?))
    }

    /// Möbius matrix–vector product M ⊗ x from x and mx = M x.
    #[allow(clippy::too_many_arguments)]
    pub fn matvec_scale(
        &self,
        curv: &Tensor,
        x: &Tensor,
        mx: &Tensor,
        rows: usize,
        din: usize,
        dout: usize,
        out: &mut Tensor,
    ) -> Result<()> {
        gpu_or_cpu!(self, gpu => pc::matvec_scale_gpu(gpu, g(curv)?, g(x)?, g(mx)?, rows, din, dout, g(out)?),
            pc::matvec_scale_cpu(c0(curv)?, c(x)?, c(mx)?, rows, din, dout, cm(out)?))
    }

    /// Backward of [`Backend::matvec_scale`]: dx (through the norm of x), d(mx), dc.
    #[allow(clippy::too_many_arguments)]
    pub fn matvec_scale_bwd(
        &self,
        curv: &Tensor,
        x: &Tensor,
        mx: &Tensor,
        dout: &Tensor,
        rows: usize,
        din: usize,
        dim_out: usize,
        dx: &mut Tensor,
        dmx: &mut Tensor,
        dc: &mut Tensor,
    ) -> Result<()> {
        gpu_or_cpu!(self, gpu => pc::matvec_scale_bwd_gpu(gpu, g(curv)?, g(x)?, g(mx)?, g(dout)?, rows, din, dim_out, g(dx)?, g(dmx)?, g(dc)?),
            pc::matvec_scale_bwd_cpu(c0(curv)?, c(x)?, c(mx)?, c(dout)?, rows, din, dim_out, cm(dx)?, cm(dmx)?, cm(dc)?))
    }

    /// Scaled pairwise distances `alpha · d(x_i, y_j)` (`m × n`). With
    /// `for_backward`, returns the side tensor [`Backend::pdist_bwd`] needs;
    /// retrieval passes false and skips writing it.
    #[allow(clippy::too_many_arguments)]
    pub fn pdist(
        &self,
        curv: &Tensor,
        alpha: f32,
        x: &Tensor,
        y: &Tensor,
        m: usize,
        n: usize,
        dim: usize,
        out: &mut Tensor,
        for_backward: bool,
    ) -> Result<Option<Tensor>> {
        match self {
            Backend::Gpu(gpu) => {
                let aux = if for_backward {
                    Some(gpu.zeros("pdist aux", pc::pdist_aux_len(m, n))?)
                } else {
                    None
                };
                pc::pdist_gpu(
                    gpu,
                    g(curv)?,
                    alpha,
                    g(x)?,
                    g(y)?,
                    m,
                    n,
                    dim,
                    g(out)?,
                    aux.as_ref(),
                )?;
                Ok(aux.map(Tensor::Gpu))
            }
            Backend::CpuReference => {
                pc::pdist_cpu(c0(curv)?, alpha, c(x)?, c(y)?, m, n, dim, cm(out)?)?;
                // the CPU backward recomputes what it needs from x and y
                Ok(for_backward.then(|| Tensor::Cpu(Vec::new())))
            }
        }
    }

    /// Backward of [`Backend::pdist`]: dX, dY and ∂L/∂c per row of x.
    #[allow(clippy::too_many_arguments)]
    pub fn pdist_bwd(
        &self,
        curv: &Tensor,
        alpha: f32,
        x: &Tensor,
        y: &Tensor,
        dout: &Tensor,
        aux: &Tensor,
        m: usize,
        n: usize,
        dim: usize,
        dx: &mut Tensor,
        dy: &mut Tensor,
        dc: &mut Tensor,
    ) -> Result<()> {
        gpu_or_cpu!(self, gpu => pc::pdist_bwd_gpu(gpu, g(curv)?, alpha, g(x)?, g(y)?, g(dout)?, g(aux)?, m, n, dim, g(dx)?, g(dy)?, g(dc)?),
            pc::pdist_bwd_cpu(c0(curv)?, alpha, c(x)?, c(y)?, c(dout)?, m, n, dim, cm(dx)?, cm(dy)?, cm(dc)?))
    }

    /// Poincaré multinomial logistic regression (HNN++): logits `[m, classes]`
    /// of `m` points against class parameters `a` (`[classes, dim]`) and `r`.
    #[allow(clippy::too_many_arguments)]
    pub fn mlr(
        &self,
        curv: &Tensor,
        x: &Tensor,
        a: &Tensor,
        r: &Tensor,
        m: usize,
        classes: usize,
        dim: usize,
        out: &mut Tensor,
    ) -> Result<()> {
        gpu_or_cpu!(self, gpu => pc::mlr_gpu(gpu, g(curv)?, g(x)?, g(a)?, g(r)?, m, classes, dim, g(out)?),
            pc::mlr_cpu(c0(curv)?, c(x)?, c(a)?, c(r)?, m, classes, dim, cm(out)?))
    }

    /// Backward of [`Backend::mlr`] from dL/dlogits `gl`: dx, da, dr and ∂L/∂c per row.
    #[allow(clippy::too_many_arguments)]
    pub fn mlr_bwd(
        &self,
        curv: &Tensor,
        x: &Tensor,
        a: &Tensor,
        r: &Tensor,
        gl: &Tensor,
        m: usize,
        classes: usize,
        dim: usize,
        dx: &mut Tensor,
        da: &mut Tensor,
        dr: &mut Tensor,
        dc: &mut Tensor,
    ) -> Result<()> {
        match self {
            Backend::Gpu(gpu) => pc::mlr_bwd_gpu(
                gpu,
                g(curv)?,
                g(x)?,
                g(a)?,
                g(r)?,
                g(gl)?,
                m,
                classes,
                dim,
                g(dx)?,
                g(da)?,
                g(dr)?,
                g(dc)?,
            ),
            Backend::CpuReference => {
                let gr = pc::mlr_bwd_cpu(c0(curv)?, c(x)?, c(a)?, c(r)?, c(gl)?, m, classes, dim)?;
                cm(dx)?[..gr.dx.len()].copy_from_slice(&gr.dx);
                cm(da)?[..gr.da.len()].copy_from_slice(&gr.da);
                cm(dr)?[..gr.dr.len()].copy_from_slice(&gr.dr);
                cm(dc)?[..gr.dc.len()].copy_from_slice(&gr.dc);
                Ok(())
            }
        }
    }

    /// One Riemannian Adam step on `rows` points of the ball (global-norm clip
    /// from `sumsq` as in [`Backend::adamw`]).
    #[allow(clippy::too_many_arguments)]
    pub fn radam(
        &self,
        cfg: &AdamConfig,
        st: &AdamStep,
        sumsq: &Tensor,
        n_tensors: usize,
        curv: &Tensor,
        rows: usize,
        dim: usize,
        grad: &Tensor,
        param: &mut Tensor,
        m1: &mut Tensor,
        m2: &mut Tensor,
    ) -> Result<()> {
        let eps = pc::PROJ_EPS;
        match self {
            Backend::Gpu(gpu) => radam::radam_gpu(
                gpu,
                cfg,
                st,
                g(sumsq)?,
                n_tensors,
                g(curv)?,
                eps,
                rows,
                dim,
                g(grad)?,
                g(param)?,
                g(m1)?,
                g(m2)?,
            ),
            Backend::CpuReference => {
                let slots: Vec<f32> = (0..n_tensors)
                    .map(|t| c(sumsq).map(|v| v[t * optim::SUMSQ_STRIDE]))
                    .collect::<Result<_>>()?;
                let clip = optim::clip_factor(cfg, &slots);
                let cv = c0(curv)?;
                radam::radam_cpu(
                    cfg,
                    st,
                    clip,
                    cv,
                    eps,
                    rows,
                    dim,
                    c(grad)?,
                    cm(param)?,
                    cm(m1)?,
                    cm(m2)?,
                )
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
