//! The classifier head of a CNN: the Euclidean fully connected head, or the
//! hyperbolic one (Poincaré FC layers built from [`super::hyp`]'s tail), on
//! the trunk's output.

use super::hyp::{beta_ratio, tail_backward, tail_forward, two_mut, BallTail};
use super::trunk::TrunkActs;
use super::{Cnn, CnnKind};
use crate::backend::{Backend, Tensor};
use crate::error::Result;
use crate::model::Linear;
use crate::ops::gemm::GemmDims;
use crate::ops::poincare::{MlrClasses, MlrDims, MlrGrads, Radial, RowGrads, Rows, PROJ_EPS};

/// Saved head tensors.
pub enum HeadActs {
    /// FC → ReLU → linear.
    Euclidean { f0: Tensor, f: Tensor },
    /// (log₀, β-scale for the Poincaré trunk) → Poincaré FC → ReLU₀ → MLR.
    Hyperbolic {
        v: Tensor,
        tail: BallTail,
        l: Tensor,
        t: Tensor,
        z1: Tensor,
        z: Tensor,
    },
}

/// Forward through the head: logits `[batch, classes]`.
pub fn head_forward(
    m: &Cnn,
    be: &Backend,
    trunk: &TrunkActs,
    batch: usize,
) -> Result<(HeadActs, Tensor)> {
    let cfg = &m.cfg;
    let (flat, h, k) = (cfg.flat(), cfg.hidden, cfg.classes);
    let fc = Linear {
        input: flat,
        output: h,
    };
    if cfg.kind == CnnKind::Euclidean {
        let f0 = fc.forward(be, trunk.out(), batch, m.p("fc.w")?, m.p("fc.b")?)?;
        let mut f = be.zeros(batch * h)?;
        be.relu(&f0, &mut f)?;
        let out = Linear {
            input: h,
            output: k,
        };
        let logits = out.forward(be, &f, batch, m.p("out.w")?, m.p("out.b")?)?;
        return Ok((HeadActs::Euclidean { f0, f }, logits));
    }
    let curv = m.curvature_or_err()?.clone();
    let v = if cfg.kind == CnnKind::Poincare {
        let rows = batch * cfg.len;
        let mut lf = be.zeros(batch * flat)?;
        let shape = Rows::new(rows, cfg.channels);
        be.radial(Radial::Log0, &curv, trunk.out(), shape, &mut lf)?;
        let mut v = be.zeros(batch * flat)?;
        be.scale(batch * flat, beta_ratio(flat, cfg.channels), &lf, &mut v)?;
        v
    } else {
        trunk.out().clone()
    };
    let mut u = be.zeros(batch * h)?;
    be.gemm(
        &GemmDims::new(batch, h, flat, false, true),
        &v,
        &m.p("fc.w")?.value,
        &mut u,
    )?;
    let tail = tail_forward(m, be, &curv, u, "fc.hb", batch, h)?;
    let z0 = &tail.out;
    let shape = Rows::new(batch, h);
    let mut l = be.zeros(batch * h)?;
    be.radial(Radial::Log0, &curv, z0, shape, &mut l)?;
    let mut t = be.zeros(batch * h)?;
    be.relu(&l, &mut t)?;
    let mut z1 = be.zeros(batch * h)?;
    be.radial(Radial::Exp0, &curv, &t, shape, &mut z1)?;
    let mut z = be.zeros(batch * h)?;
    be.project(&curv, PROJ_EPS, &z1, shape, &mut z)?;
    let mut logits = be.zeros(batch * k)?;
    let cls = MlrClasses {
        a: &m.p("mlr.a")?.value,
        r: &m.p("mlr.r")?.value,
    };
    let dims = MlrDims {
        m: batch,
        classes: k,
        dim: h,
    };
    be.mlr(&curv, &z, cls, dims, &mut logits)?;
    Ok((
        HeadActs::Hyperbolic {
            v,
            tail,
            l,
            t,
            z1,
            z,
        },
        logits,
    ))
}

/// Backward through the head from dL/dlogits: the head's gradients, ∂L/∂c
/// terms onto `dcs`; returns dL/d(trunk output).
pub fn head_backward(
    m: &mut Cnn,
    be: &Backend,
    acts: &HeadActs,
    trunk: &TrunkActs,
    batch: usize,
    dlogits: &Tensor,
    dcs: &mut Vec<Tensor>,
) -> Result<Tensor> {
    let cfg = m.cfg.clone();
    let (flat, h, k) = (cfg.flat(), cfg.hidden, cfg.classes);
    match acts {
        HeadActs::Euclidean { f0, f } => {
            let (wi, bi) = (m.idx("out.w")?, m.idx("out.b")?);
            let (w, b) = two_mut(&mut m.params, wi, bi);
            let out = Linear {
                input: h,
                output: k,
            };
            let df = out.backward(be, f, dlogits, batch, w, b)?;
            let mut df0 = be.zeros(batch * h)?;
            be.relu_bwd(f0, &df, &mut df0)?;
            let (wi, bi) = (m.idx("fc.w")?, m.idx("fc.b")?);
            let (w, b) = two_mut(&mut m.params, wi, bi);
            let fc = Linear {
                input: flat,
                output: h,
            };
            fc.backward(be, trunk.out(), &df0, batch, w, b)
        }
        HeadActs::Hyperbolic {
            v,
            tail,
            l,
            t,
            z1,
            z,
        } => {
            let curv = m.curvature_or_err()?.clone();
            let n = batch * h;
            let rows = || be.zeros(batch);
            let (av, rv) = (m.p("mlr.a")?.value.clone(), m.p("mlr.r")?.value.clone());
            let (mut dz, mut da, mut dr, mut dc0) =
                (be.zeros(n)?, be.zeros(k * h)?, be.zeros(k)?, rows()?);
            let cls = MlrClasses { a: &av, r: &rv };
            let dims = MlrDims {
                m: batch,
                classes: k,
                dim: h,
            };
            let grads = MlrGrads {
                dx: &mut dz,
                da: &mut da,
                dr: &mut dr,
                dc: &mut dc0,
            };
            be.mlr_bwd(&curv, z, cls, dlogits, dims, grads)?;
            *m.grad_mut("mlr.a")? = da;
            *m.grad_mut("mlr.r")? = dr;
            let (mut dz1, mut dc1) = (be.zeros(n)?, rows()?);
            let shape = Rows::new(batch, h);
            let grads = RowGrads {
                dx: &mut dz1,
                dc: &mut dc1,
            };
            be.project_bwd(&curv, PROJ_EPS, z1, &dz, shape, grads)?;
            let (mut dt, mut dc2) = (be.zeros(n)?, rows()?);
            let grads = RowGrads {
                dx: &mut dt,
                dc: &mut dc2,
            };
            be.radial_bwd(Radial::Exp0, &curv, t, &dz1, shape, grads)?;
            let mut dl = be.zeros(n)?;
            be.relu_bwd(l, &dt, &mut dl)?;
            let (mut dz0, mut dc3) = (be.zeros(n)?, rows()?);
            let grads = RowGrads {
                dx: &mut dz0,
                dc: &mut dc3,
            };
            be.radial_bwd(Radial::Log0, &curv, &tail.out, &dl, shape, grads)?;
            dcs.extend([dc0, dc1, dc2, dc3]);
            let du = tail_backward(m, be, &curv, tail, "fc.hb", &dz0, dcs)?;
            be.gemm(
                &GemmDims::new(h, flat, batch, true, false),
                &du,
                v,
                m.grad_mut("fc.w")?,
            )?;
            let mut dv = be.zeros(batch * flat)?;
            let w = m.p("fc.w")?.value.clone();
            be.gemm(
                &GemmDims::new(batch, flat, h, false, false),
                &du,
                &w,
                &mut dv,
            )?;
            if cfg.kind != CnnKind::Poincare {
                return Ok(dv);
            }
            let prow = batch * cfg.len;
            let mut dlf = be.zeros(batch * flat)?;
            be.scale(batch * flat, beta_ratio(flat, cfg.channels), &dv, &mut dlf)?;
            let (mut dh, mut dc7) = (be.zeros(batch * flat)?, be.zeros(prow)?);
            let grads = RowGrads {
                dx: &mut dh,
                dc: &mut dc7,
            };
            let pshape = Rows::new(prow, cfg.channels);
            be.radial_bwd(Radial::Log0, &curv, trunk.out(), &dlf, pshape, grads)?;
            dcs.push(dc7);
            Ok(dh)
        }
    }
}
