//! Poincaré-ball layers of the classifiers: the Poincaré convolution
//! (β-concatenation + Poincaré FC), and the heads (Euclidean MLP, or Poincaré
//! FC → tangent ReLU → Poincaré MLR).
//!
//! β-concatenation (HNN++, Shimizu et al. 2021) joins points `x_i` of balls of
//! dimension `n_i` into one of dimension `n = Σ n_i` by scaling each tangent
//! vector: `v_i = β(n/2, ½)/β(n_i/2, ½) · log₀(x_i)`, then `exp₀(concat v)`.
//! The Poincaré FC `(M ⊗ x) ⊕ b = exp₀(M log₀ x) ⊕ b` undoes that exp₀, so a
//! Poincaré convolution over windows of `k` positions with `C_in` channels is
//! `project(exp₀(conv(s · log₀ h)) ⊕ b)` with `s = β(k·C_in/2, ½)/β(C_in/2, ½)`:
//! the same implicit GEMM as the Euclidean convolution.

use super::Cnn;
use crate::backend::{Backend, Tensor};
use crate::error::{CrestError, Result};
use crate::model::encoder::Param;
use crate::ops::conv1d::ConvDims;
use crate::ops::elementwise::ChannelShape;
use crate::ops::permute::TransposeDims;
use crate::ops::poincare::{AddGrads, MobiusDims, Radial, RowGrads, Rows, PROJ_EPS};

/// ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms; ~1e-15 relative).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// β(n/2, ½) / β(part/2, ½): the β-concatenation scale of a `part`-dimensional
/// block inside an `n`-dimensional concatenation.
pub fn beta_ratio(n: usize, part: usize) -> f32 {
    let lb = |d: usize| {
        let a = d as f64 / 2.0;
        ln_gamma(a) + ln_gamma(0.5) - ln_gamma(a + 0.5)
    };
    (lb(n) - lb(part)).exp() as f32
}

impl Cnn {
    pub(super) fn curvature_or_err(&self) -> Result<&Tensor> {
        self.curvature()
            .ok_or_else(|| CrestError::Invalid("Euclidean classifier has no curvature".into()))
    }
}

pub(super) fn two_mut(params: &mut [Param], i: usize, j: usize) -> (&mut Param, &mut Param) {
    debug_assert!(i < j);
    let (a, b) = params.split_at_mut(j);
    (&mut a[i], &mut b[0])
}

/// The tail every Poincaré FC (and so every Poincaré convolution) ends in:
/// `out = project(exp₀(u) ⊕ b)` per row, `u = M · (tangent input)`.
pub struct BallTail {
    u: Tensor,
    e: Tensor,
    y: Tensor,
    /// Points of the ball, one per row.
    pub out: Tensor,
    rows: usize,
    dim: usize,
}

/// Forward of the tail with the ball bias `{bias}` (`.hb`) of `m`.
pub(super) fn tail_forward(
    m: &Cnn,
    be: &Backend,
    curv: &Tensor,
    u: Tensor,
    bias: &str,
    rows: usize,
    dim: usize,
) -> Result<BallTail> {
    let n = rows * dim;
    let shape = Rows::new(rows, dim);
    let mut e = be.zeros(n)?;
    be.radial(Radial::Exp0, curv, &u, shape, &mut e)?;
    let mut y = be.zeros(n)?;
    let bshape = MobiusDims::broadcast(rows, dim);
    be.mobius_add(curv, &e, &m.p(bias)?.value, bshape, &mut y)?;
    let mut out = be.zeros(n)?;
    be.project(curv, PROJ_EPS, &y, shape, &mut out)?;
    Ok(BallTail {
        u,
        e,
        y,
        out,
        rows,
        dim,
    })
}

/// Backward of [`tail_forward`] from dL/d(out) (of the forward's shape): the
/// bias gradient, ∂L/∂c terms onto `dcs`; returns dL/du.
pub(super) fn tail_backward(
    m: &mut Cnn,
    be: &Backend,
    curv: &Tensor,
    t: &BallTail,
    bias: &str,
    dout: &Tensor,
    dcs: &mut Vec<Tensor>,
) -> Result<Tensor> {
    let (rows, dim) = (t.rows, t.dim);
    let n = rows * dim;
    let shape = Rows::new(rows, dim);
    let (mut dy, mut dc1) = (be.zeros(n)?, be.zeros(rows)?);
    let grads = RowGrads {
        dx: &mut dy,
        dc: &mut dc1,
    };
    be.project_bwd(curv, PROJ_EPS, &t.y, dout, shape, grads)?;
    let hb = m.p(bias)?.value.clone();
    let (mut de, mut dhb, mut dc2) = (be.zeros(n)?, be.zeros(n)?, be.zeros(rows)?);
    let grads = AddGrads {
        dx: &mut de,
        dy: &mut dhb,
        dc: &mut dc2,
    };
    let bshape = MobiusDims::broadcast(rows, dim);
    be.mobius_add_bwd(curv, &t.e, &hb, &dy, bshape, grads)?;
    let sum_shape = ChannelShape {
        outer: rows,
        channels: dim,
        inner: 1,
    };
    be.channel_sum(&sum_shape, &dhb, m.grad_mut(bias)?)?;
    let (mut du, mut dc3) = (be.zeros(n)?, be.zeros(rows)?);
    let grads = RowGrads {
        dx: &mut du,
        dc: &mut dc3,
    };
    be.radial_bwd(Radial::Exp0, curv, &t.u, &de, shape, grads)?;
    dcs.extend([dc1, dc2, dc3]);
    Ok(du)
}

/// Saved tensors of one Poincaré convolution.
pub struct PConvActs {
    ut: Tensor,
    tail: BallTail,
    batch: usize,
    cin: usize,
}

impl PConvActs {
    /// The layer's output, points `[B, L, C]`.
    pub fn out(&self) -> &Tensor {
        &self.tail.out
    }
}

fn pconv_dims(m: &Cnn, batch: usize, cin: usize) -> ConvDims {
    ConvDims {
        batch,
        cin,
        cout: m.cfg.channels,
        len: m.cfg.len,
        kw: m.cfg.kernel,
    }
}

/// Poincaré convolution of layer `name` (`{name}.w`, `{name}.hb`) on tangent
/// vectors `u` (`[B, L, cin]`, the log₀ of the input points).
pub fn pconv_forward(
    m: &Cnn,
    be: &Backend,
    curv: &Tensor,
    name: &str,
    u: &Tensor,
    batch: usize,
    cin: usize,
) -> Result<PConvActs> {
    let (c, len) = (m.cfg.channels, m.cfg.len);
    let rows = batch * len;
    let s = beta_ratio(m.cfg.kernel * cin, cin);
    let mut us = be.zeros(rows * cin)?;
    be.scale(rows * cin, s, u, &mut us)?;
    let mut ut = be.zeros(rows * cin)?;
    be.transpose(
        &TransposeDims {
            outer: batch,
            a: len,
            b: cin,
        },
        &us,
        &mut ut,
    )?;
    let d = pconv_dims(m, batch, cin);
    let mut a = be.zeros(rows * c)?;
    be.conv1d_forward(&d, &ut, &m.p(&format!("{name}.w"))?.value, None, &mut a)?;
    let mut at = be.zeros(rows * c)?;
    be.transpose(
        &TransposeDims {
            outer: batch,
            a: c,
            b: len,
        },
        &a,
        &mut at,
    )?;
    let tail = tail_forward(m, be, curv, at, &format!("{name}.hb"), rows, c)?;
    Ok(PConvActs {
        ut,
        tail,
        batch,
        cin,
    })
}

/// Backward of [`pconv_forward`] (of the forward's batch and input
/// channels) from dL/d(out): the layer's gradients, ∂L/∂c terms onto `dcs`;
/// returns the raw conv output gradient `[B, C, L]`.
pub fn pconv_backward(
    m: &mut Cnn,
    be: &Backend,
    curv: &Tensor,
    name: &str,
    a: &PConvActs,
    dout: &Tensor,
    dcs: &mut Vec<Tensor>,
) -> Result<Tensor> {
    let (batch, cin) = (a.batch, a.cin);
    let (c, len) = (m.cfg.channels, m.cfg.len);
    let rows = batch * len;
    let n = rows * c;
    let dat = tail_backward(m, be, curv, &a.tail, &format!("{name}.hb"), dout, dcs)?;
    let mut da = be.zeros(n)?;
    be.transpose(
        &TransposeDims {
            outer: batch,
            a: len,
            b: c,
        },
        &dat,
        &mut da,
    )?;
    let d = pconv_dims(m, batch, cin);
    be.conv1d_weight_grad(&d, &da, &a.ut, m.grad_mut(&format!("{name}.w"))?)?;
    Ok(da)
}

/// As [`pconv_backward`], also returning dL/du (`[B, L, cin]`).
pub fn pconv_backward_dx(
    m: &mut Cnn,
    be: &Backend,
    curv: &Tensor,
    name: &str,
    a: &PConvActs,
    dout: &Tensor,
    dcs: &mut Vec<Tensor>,
) -> Result<Tensor> {
    let (batch, cin) = (a.batch, a.cin);
    let da = pconv_backward(m, be, curv, name, a, dout, dcs)?;
    let rows = batch * m.cfg.len;
    let d = pconv_dims(m, batch, cin);
    let w = m.p(&format!("{name}.w"))?.value.clone();
    let mut dut = be.zeros(rows * cin)?;
    be.conv1d_input_grad(&d, &da, &w, &mut dut)?;
    let mut dus = be.zeros(rows * cin)?;
    be.transpose(
        &TransposeDims {
            outer: batch,
            a: cin,
            b: m.cfg.len,
        },
        &dut,
        &mut dus,
    )?;
    let mut du = be.zeros(rows * cin)?;
    be.scale(
        rows * cin,
        beta_ratio(m.cfg.kernel * cin, cin),
        &dus,
        &mut du,
    )?;
    Ok(du)
}
