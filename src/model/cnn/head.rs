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
use crate::ops::poincare::{Radial, PROJ_EPS};

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
        be.radial(
            Radial::Log0,
            &curv,
            trunk.out(),
            rows,
            cfg.channels,
            &mut lf,
        )?;
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
    let mut l = be.zeros(batch * h)?;
    be.radial(Radial::Log0, &curv, z0, batch, h, &mut l)?;
    let mut t = be.zeros(batch * h)?;
    be.relu(&l, &mut t)?;
    let mut z1 = be.zeros(batch * h)?;
    be.radial(Radial::Exp0, &curv, &t, batch, h, &mut z1)?;
    let mut z = be.zeros(batch * h)?;
    be.project(&curv, PROJ_EPS, &z1, batch, h, &mut z)?;
    let mut logits = be.zeros(batch * k)?;
    be.mlr(
        &curv,
        &z,
        &m.p("mlr.a")?.value,
        &m.p("mlr.r")?.value,
        batch,
        k,
        h,
        &mut logits,
    )?;
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
            be.mlr_bwd(
                &curv, z, &av, &rv, dlogits, batch, k, h, &mut dz, &mut da, &mut dr, &mut dc0,
            )?;
            *m.grad_mut("mlr.a")? = da;
            *m.grad_mut("mlr.r")? = dr;
            let (mut dz1, mut dc1) = (be.zeros(n)?, rows()?);
            be.project_bwd(&curv, PROJ_EPS, z1, &dz, batch, h, &mut dz1, &mut dc1)?;
            let (mut dt, mut dc2) = (be.zeros(n)?, rows()?);
            be.radial_bwd(Radial::Exp0, &curv, t, &dz1, batch, h, &mut dt, &mut dc2)?;
            let mut dl = be.zeros(n)?;
            be.relu_bwd(l, &dt, &mut dl)?;
            let (mut dz0, mut dc3) = (be.zeros(n)?, rows()?);
            be.radial_bwd(
                Radial::Log0,
                &curv,
                &tail.out,
                &dl,
                batch,
                h,
                &mut dz0,
                &mut dc3,
            )?;
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
            be.radial_bwd(
                Radial::Log0,
                &curv,
                trunk.out(),
                &dlf,
                prow,
                cfg.channels,
                &mut dh,
                &mut dc7,
            )?;
            dcs.push(dc7);
            Ok(dh)
        }
    }
}
