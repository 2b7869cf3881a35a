//! The convolutional trunks: Euclidean (conv, batch norm, ReLU, residual
//! sums) and Poincaré (Poincaré convolutions, tangent ReLU, Möbius residual
//! sums). Both end in the activation the head flattens.

use super::hyp::{self, PConvActs};
use super::{Cnn, CnnKind, Mode};
use crate::backend::{Backend, Tensor};
use crate::error::Result;
use crate::ops::batchnorm::{BnDims, BnGrads, BnOut, BN_MOMENTUM};
use crate::ops::conv1d::ConvDims;
use crate::ops::elementwise::ChannelShape;
use crate::ops::permute::TransposeDims;
use crate::ops::poincare::{AddGrads, MobiusDims, Radial, RowGrads, Rows, PROJ_EPS};

/// One Euclidean residual block's saved tensors.
pub struct EBlock {
    h_in: Tensor,
    a1: Tensor,
    s1: Tensor,
    n1: Tensor,
    r1: Tensor,
    a2: Tensor,
    s2: Tensor,
    sum: Tensor,
}

/// One Poincaré residual block's saved tensors.
pub struct PBlock {
    h_in: Tensor,
    c1: PConvActs,
    p1: Tensor,
    l1: Tensor,
    c2: PConvActs,
    p2: Tensor,
    y: Tensor,
}

/// Saved trunk activations.
pub enum TrunkActs {
    /// Euclidean trunk: input, stem pre-activation, blocks, output `[B, C, L]`.
    Euclidean {
        x: Tensor,
        stem_a: Tensor,
        blocks: Vec<EBlock>,
        out: Tensor,
    },
    /// Poincaré trunk: stem, blocks, output (points `[B, L, C]`).
    Poincare {
        stem: PConvActs,
        blocks: Vec<PBlock>,
        out: Tensor,
    },
}

impl TrunkActs {
    /// The trunk's output.
    pub fn out(&self) -> &Tensor {
        match self {
            TrunkActs::Euclidean { out, .. } | TrunkActs::Poincare { out, .. } => out,
        }
    }
}

fn conv_dims(m: &Cnn, batch: usize, cin: usize) -> ConvDims {
    ConvDims {
        batch,
        cin,
        cout: m.cfg.channels,
        len: m.cfg.len,
        kw: m.cfg.kernel,
    }
}

/// Forward through the trunk of `m`'s kind.
pub fn forward(
    m: &mut Cnn,
    be: &Backend,
    x: &Tensor,
    batch: usize,
    mode: Mode,
) -> Result<TrunkActs> {
    match m.cfg.kind {
        CnnKind::Euclidean | CnnKind::Hybrid => euclidean_forward(m, be, x, batch, mode),
        CnnKind::Poincare => poincare_forward(m, be, x, batch),
    }
}

fn bn_forward(
    m: &mut Cnn,
    be: &Backend,
    layer: usize,
    name: &str,
    d: &BnDims,
    a: &Tensor,
    mode: Mode,
) -> Result<(Tensor, Tensor)> {
    let mut stats = be.zeros(2 * d.channels)?;
    let mut y = be.zeros(d.n())?;
    let gb = m.p(name)?.value.clone();
    let out = BnOut {
        stats: &mut stats,
        y: &mut y,
    };
    match mode {
        Mode::Train => be.bn_train(d, a, &gb, BN_MOMENTUM, &mut m.running[layer], out)?,
        Mode::Infer => be.bn_infer(d, a, &gb, &m.running[layer], out)?,
    }
    Ok((stats, y))
}

fn euclidean_forward(
    m: &mut Cnn,
    be: &Backend,
    x: &Tensor,
    batch: usize,
    mode: Mode,
) -> Result<TrunkActs> {
    let c = m.cfg.channels;
    let d0 = conv_dims(m, batch, 4);
    let n = d0.y_len();
    let mut stem_a = be.zeros(n)?;
    be.conv1d_forward(
        &d0,
        x,
        &m.p("stem.w")?.value,
        Some(&m.p("stem.b")?.value),
        &mut stem_a,
    )?;
    let mut h = be.zeros(n)?;
    be.relu(&stem_a, &mut h)?;
    let d = conv_dims(m, batch, c);
    let bd = BnDims {
        batch,
        channels: c,
        len: m.cfg.len,
    };
    let mut blocks = Vec::with_capacity(m.cfg.blocks);
    for j in 0..m.cfg.blocks {
        let mut a1 = be.zeros(n)?;
        be.conv1d_forward(&d, &h, &m.p(&format!("b{j}.c1.w"))?.value, None, &mut a1)?;
        let (s1, n1) = bn_forward(m, be, 2 * j, &format!("b{j}.bn1"), &bd, &a1, mode)?;
        let mut r1 = be.zeros(n)?;
        be.relu(&n1, &mut r1)?;
        let mut a2 = be.zeros(n)?;
        be.conv1d_forward(&d, &r1, &m.p(&format!("b{j}.c2.w"))?.value, None, &mut a2)?;
        let (s2, n2) = bn_forward(m, be, 2 * j + 1, &format!("b{j}.bn2"), &bd, &a2, mode)?;
        let mut sum = be.zeros(n)?;
        be.add(&h, &n2, &mut sum)?;
        let mut out = be.zeros(n)?;
        be.relu(&sum, &mut out)?;
        blocks.push(EBlock {
            h_in: std::mem::replace(&mut h, out),
            a1,
            s1,
            n1,
            r1,
            a2,
            s2,
            sum,
        });
    }
    Ok(TrunkActs::Euclidean {
        x: x.clone(),
        stem_a,
        blocks,
        out: h,
    })
}

fn poincare_forward(m: &mut Cnn, be: &Backend, x: &Tensor, batch: usize) -> Result<TrunkActs> {
    let (c, len) = (m.cfg.channels, m.cfg.len);
    let rows = batch * len;
    let shape = Rows::new(rows, c);
    let curv = m.curvature_or_err()?.clone();
    // exp₀ of each position's one-hot column; its log₀ is the column itself,
    // so the stem convolution takes the one-hot columns as tangent vectors.
    let mut u0 = be.zeros(rows * 4)?;
    be.transpose(
        &TransposeDims {
            outer: batch,
            a: 4,
            b: len,
        },
        x,
        &mut u0,
    )?;
    let stem = hyp::pconv_forward(m, be, &curv, "stem", &u0, batch, 4)?;
    let mut h = stem.out().clone();
    let mut blocks = Vec::with_capacity(m.cfg.blocks);
    for j in 0..m.cfg.blocks {
        let mut l0 = be.zeros(rows * c)?;
        be.radial(Radial::Log0, &curv, &h, shape, &mut l0)?;
        let c1 = hyp::pconv_forward(m, be, &curv, &format!("b{j}.c1"), &l0, batch, c)?;
        let p1 = c1.out().clone();
        let mut l1 = be.zeros(rows * c)?;
        be.radial(Radial::Log0, &curv, &p1, shape, &mut l1)?;
        let mut t1 = be.zeros(rows * c)?;
        be.relu(&l1, &mut t1)?;
        let c2 = hyp::pconv_forward(m, be, &curv, &format!("b{j}.c2"), &t1, batch, c)?;
        let p2 = c2.out().clone();
        let mut y = be.zeros(rows * c)?;
        be.mobius_add(&curv, &h, &p2, MobiusDims::per_row(rows, c), &mut y)?;
        let mut out = be.zeros(rows * c)?;
        be.project(&curv, PROJ_EPS, &y, shape, &mut out)?;
        blocks.push(PBlock {
            h_in: std::mem::replace(&mut h, out),
            c1,
            p1,
            l1,
            c2,
            p2,
            y,
        });
    }
    Ok(TrunkActs::Poincare {
        stem,
        blocks,
        out: h,
    })
}

/// Backward through the trunk from dL/d(trunk output); fills the trunk's
/// parameter gradients and pushes per-row ∂L/∂c terms onto `dcs`.
pub fn backward(
    m: &mut Cnn,
    be: &Backend,
    acts: &TrunkActs,
    batch: usize,
    dout: Tensor,
    dcs: &mut Vec<Tensor>,
) -> Result<()> {
    match acts {
        TrunkActs::Euclidean {
            x, stem_a, blocks, ..
        } => euclidean_backward(m, be, x, stem_a, blocks, batch, dout),
        TrunkActs::Poincare { stem, blocks, .. } => {
            poincare_backward(m, be, stem, blocks, batch, dout, dcs)
        }
    }
}

fn euclidean_backward(
    m: &mut Cnn,
    be: &Backend,
    x: &Tensor,
    stem_a: &Tensor,
    blocks: &[EBlock],
    batch: usize,
    mut dh: Tensor,
) -> Result<()> {
    let c = m.cfg.channels;
    let d = conv_dims(m, batch, c);
    let n = d.y_len();
    let bd = BnDims {
        batch,
        channels: c,
        len: m.cfg.len,
    };
    for (j, b) in blocks.iter().enumerate().rev() {
        // out = ReLU(sum), sum = h_in + BN2(a2)
        let mut ds = be.zeros(n)?;
        be.relu_bwd(&b.sum, &dh, &mut ds)?;
        let (bn2, c2, bn1, c1) = (
            format!("b{j}.bn2"),
            format!("b{j}.c2.w"),
            format!("b{j}.bn1"),
            format!("b{j}.c1.w"),
        );
        let mut da2 = be.zeros(n)?;
        let gb2 = m.p(&bn2)?.value.clone();
        let grads = BnGrads {
            dx: &mut da2,
            dgb: m.grad_mut(&bn2)?,
        };
        be.bn_backward(&bd, &b.a2, &ds, &gb2, &b.s2, grads)?;
        let w2 = m.p(&c2)?.value.clone();
        be.conv1d_weight_grad(&d, &da2, &b.r1, m.grad_mut(&c2)?)?;
        let mut dr1 = be.zeros(n)?;
        be.conv1d_input_grad(&d, &da2, &w2, &mut dr1)?;
        let mut dn1 = be.zeros(n)?;
        be.relu_bwd(&b.n1, &dr1, &mut dn1)?;
        let mut da1 = be.zeros(n)?;
        let gb1 = m.p(&bn1)?.value.clone();
        let grads = BnGrads {
            dx: &mut da1,
            dgb: m.grad_mut(&bn1)?,
        };
        be.bn_backward(&bd, &b.a1, &dn1, &gb1, &b.s1, grads)?;
        let w1 = m.p(&c1)?.value.clone();
        be.conv1d_weight_grad(&d, &da1, &b.h_in, m.grad_mut(&c1)?)?;
        let mut dh_conv = be.zeros(n)?;
        be.conv1d_input_grad(&d, &da1, &w1, &mut dh_conv)?;
        let mut next = be.zeros(n)?;
        be.add(&ds, &dh_conv, &mut next)?;
        dh = next;
    }
    let mut da = be.zeros(n)?;
    be.relu_bwd(stem_a, &dh, &mut da)?;
    let d0 = conv_dims(m, batch, 4);
    be.conv1d_weight_grad(&d0, &da, x, m.grad_mut("stem.w")?)?;
    let s = ChannelShape {
        outer: batch,
        channels: c,
        inner: m.cfg.len,
    };
    be.channel_sum(&s, &da, m.grad_mut("stem.b")?)?;
    Ok(())
}

fn poincare_backward(
    m: &mut Cnn,
    be: &Backend,
    stem: &PConvActs,
    blocks: &[PBlock],
    batch: usize,
    mut dh: Tensor,
    dcs: &mut Vec<Tensor>,
) -> Result<()> {
    let (c, len) = (m.cfg.channels, m.cfg.len);
    let rows = batch * len;
    let n = rows * c;
    let shape = Rows::new(rows, c);
    let curv = m.curvature_or_err()?.clone();
    for (j, b) in blocks.iter().enumerate().rev() {
        // out = project(y), y = h_in ⊕ p2
        let (mut dy, mut dc1) = (be.zeros(n)?, be.zeros(rows)?);
        let grads = RowGrads {
            dx: &mut dy,
            dc: &mut dc1,
        };
        be.project_bwd(&curv, PROJ_EPS, &b.y, &dh, shape, grads)?;
        let (mut dha, mut dp2, mut dc2) = (be.zeros(n)?, be.zeros(n)?, be.zeros(rows)?);
        let grads = AddGrads {
            dx: &mut dha,
            dy: &mut dp2,
            dc: &mut dc2,
        };
        let pshape = MobiusDims::per_row(rows, c);
        be.mobius_add_bwd(&curv, &b.h_in, &b.p2, &dy, pshape, grads)?;
        let dt1 = hyp::pconv_backward_dx(m, be, &curv, &format!("b{j}.c2"), &b.c2, &dp2, dcs)?;
        let mut dl1 = be.zeros(n)?;
        be.relu_bwd(&b.l1, &dt1, &mut dl1)?;
        let (mut dp1, mut dc3) = (be.zeros(n)?, be.zeros(rows)?);
        let grads = RowGrads {
            dx: &mut dp1,
            dc: &mut dc3,
        };
        be.radial_bwd(Radial::Log0, &curv, &b.p1, &dl1, shape, grads)?;
        let dl0 = hyp::pconv_backward_dx(m, be, &curv, &format!("b{j}.c1"), &b.c1, &dp1, dcs)?;
        let (mut dhb, mut dc4) = (be.zeros(n)?, be.zeros(rows)?);
        let grads = RowGrads {
            dx: &mut dhb,
            dc: &mut dc4,
        };
        be.radial_bwd(Radial::Log0, &curv, &b.h_in, &dl0, shape, grads)?;
        dcs.extend([dc1, dc2, dc3, dc4]);
        let mut next = be.zeros(n)?;
        be.add(&dha, &dhb, &mut next)?;
        dh = next;
    }
    hyp::pconv_backward(m, be, &curv, "stem", stem, &dh, dcs)?;
    Ok(())
}
