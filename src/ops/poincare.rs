//! Poincaré-ball layers (curvature −c): exp/log maps at the origin, projection,
//! Möbius addition, Möbius scalar and matrix–vector products, pairwise
//! distances and the HNN++ multinomial logistic regression, each forward and
//! backward (including ∂/∂c, so that the curvature can be learned). See
//! `shaders/poincare.wgsl` for the formulas and `shaders/hyperbolic.wgsl` for
//! the stable forms and clamps; the CPU twins here use the same constants and
//! series thresholds and compute in f64.
//!
//! The curvature is a one-element tensor (`curv`), read on the device.
//! Backward ops return ∂L/∂c per row (`dc`); the caller sums them.

use super::{need, Real};
use crate::error::{CrestError, Result};
use crate::gpu::{Arg, Gpu, GpuBuf, Kernel};

/// Full WGSL source (helpers + `poincare.wgsl`).
pub fn source() -> &'static str {
    static S: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    S.get_or_init(|| {
        format!(
            "{}\n{}",
            include_str!("../../shaders/hyperbolic.wgsl"),
            include_str!("../../shaders/poincare.wgsl")
        )
    })
}

/// Default projection margin ε: points are kept at ‖x‖ ≤ (1 − ε)/√c
/// (geoopt's value for f32).
pub const PROJ_EPS: f32 = 4e-3;

// Constants of shaders/hyperbolic.wgsl.
pub(crate) const SERIES: f64 = 0.1;
pub(crate) const S_MAX: f64 = 0.99999;
pub(crate) const C_MIN: f64 = 1e-6;
pub(crate) const CONF_MIN: f64 = 1e-7;
pub(crate) const TANH_MAX: f64 = 15.0;

/// Which radial map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Radial {
    /// exp₀(v) = tanh(√c‖v‖) v/(√c‖v‖).
    Exp0,
    /// log₀(y) = artanh(√c‖y‖) y/(√c‖y‖).
    Log0,
}

impl Radial {
    fn mode(self) -> u32 {
        match self {
            Radial::Exp0 => 0,
            Radial::Log0 => 1,
        }
    }
}

/// Curvature as used by the kernels (clamped to at least 1e-6).
pub fn curv_of(c: f64) -> f64 {
    c.max(C_MIN)
}

fn tanh_c(x: f64) -> f64 {
    x.clamp(-TANH_MAX, TANH_MAX).tanh()
}

/// tanh(u)/u.
pub fn tau_f(u: f64) -> f64 {
    let a = u.abs();
    if a < SERIES {
        let u2 = u * u;
        return 1.0 + u2 * (-1.0 / 3.0 + u2 * (2.0 / 15.0 - u2 * (17.0 / 315.0)));
    }
    tanh_c(a) / a
}

/// (d/du tanh(u)/u) / u.
pub fn tau_h(u: f64) -> f64 {
    let a = u.abs();
    if a < SERIES {
        let u2 = u * u;
        return -2.0 / 3.0 + u2 * (8.0 / 15.0 + u2 * (-34.0 / 105.0 + u2 * (496.0 / 2835.0)));
    }
    let t = tanh_c(a);
    (a * (1.0 - t * t) - t) / (a * a * a)
}

/// artanh(s)/s for s ≥ 0 (argument clamped to 1 − 1e-5).
pub fn atanh_f(s: f64) -> f64 {
    if s < SERIES {
        let s2 = s * s;
        return 1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0)));
    }
    let sc = s.min(S_MAX);
    0.5 * ((1.0 + sc) / (1.0 - sc)).ln() / s
}

/// (d/ds artanh(s)/s) / s (past the clamp, the derivative of artanh(S_MAX)/s).
pub fn atanh_h(s: f64) -> f64 {
    if s < SERIES {
        let s2 = s * s;
        return 2.0 / 3.0 + s2 * (4.0 / 5.0 + s2 * (6.0 / 7.0 + s2 * (8.0 / 9.0)));
    }
    if s > S_MAX {
        return -atanh_f(s) / (s * s);
    }
    let at = 0.5 * ((1.0 + s) / (1.0 - s)).ln();
    (s / (1.0 - s * s) - at) / (s * s * s)
}

/// arcosh(1 + t), t ≥ 0.
pub fn acosh1p(t: f64) -> f64 {
    if t < 1e-3 {
        return (2.0 * t).sqrt() * (1.0 + t * (-1.0 / 12.0 + t * (3.0 / 160.0)));
    }
    (1.0 + t + (t * (t + 2.0)).sqrt()).ln()
}

/// asinh(w).
pub fn asinh_s(w: f64) -> f64 {
    let a = w.abs();
    let r = if a < 1e-3 {
        a * (1.0 - a * a / 6.0)
    } else if a > 1e4 {
        (2.0 * a).ln()
    } else {
        (a + (a * a + 1.0).sqrt()).ln()
    };
    if w < 0.0 {
        -r
    } else {
        r
    }
}

fn f<T: Real>(x: T) -> f64 {
    x.to_f64()
}

fn t<T: Real>(x: f64) -> T {
    T::from_f64(x)
}

fn dot<T: Real>(a: &[T], b: &[T]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| f(x) * f(y)).sum()
}

fn check_rows(op: &'static str, what: &str, have: usize, rows: usize, dim: usize) -> Result<()> {
    need(op, what, have, rows * dim)
}

// ---------------------------------------------------------------- CPU twins

/// CPU twin of exp₀ / log₀ (`x`: rows × dim).
pub fn radial_cpu<T: Real>(
    map: Radial,
    c: T,
    x: &[T],
    rows: usize,
    dim: usize,
    out: &mut [T],
) -> Result<()> {
    check_rows("radial", "x", x.len(), rows, dim)?;
    check_rows("radial", "out", out.len(), rows, dim)?;
    let c = curv_of(f(c));
    for r in 0..rows {
        let xr = &x[r * dim..(r + 1) * dim];
        let s = (c * dot(xr, xr)).sqrt();
        let phi = match map {
            Radial::Exp0 => tau_f(s),
            Radial::Log0 => atanh_f(s),
        };
        for d in 0..dim {
            out[r * dim + d] = t(phi * f(xr[d]));
        }
    }
    Ok(())
}

/// CPU twin of the radial maps' backward pass: dx and per-row dc.
#[allow(clippy::too_many_arguments)]
pub fn radial_bwd_cpu<T: Real>(
    map: Radial,
    c: T,
    x: &[T],
    g: &[T],
    rows: usize,
    dim: usize,
    dx: &mut [T],
    dc: &mut [T],
) -> Result<()> {
    check_rows("radial_bwd", "x", x.len(), rows, dim)?;
    check_rows("radial_bwd", "g", g.len(), rows, dim)?;
    check_rows("radial_bwd", "dx", dx.len(), rows, dim)?;
    need("radial_bwd", "dc", dc.len(), rows)?;
    let c = curv_of(f(c));
    for r in 0..rows {
        let (xr, gr) = (&x[r * dim..(r + 1) * dim], &g[r * dim..(r + 1) * dim]);
        let n2 = dot(xr, xr);
        let s = (c * n2).sqrt();
        let (phi, h) = match map {
            Radial::Exp0 => (tau_f(s), tau_h(s)),
            Radial::Log0 => (atanh_f(s), atanh_h(s)),
        };
        let gx = dot(gr, xr);
        for d in 0..dim {
            dx[r * dim + d] = t(phi * f(gr[d]) + h * c * gx * f(xr[d]));
        }
        dc[r] = t(h * n2 * 0.5 * gx);
    }
    Ok(())
}

/// CPU twin of the projection into the ball of radius (1 − eps)/√c.
pub fn project_cpu<T: Real>(
    c: T,
    eps: f32,
    x: &[T],
    rows: usize,
    dim: usize,
    out: &mut [T],
) -> Result<()> {
    check_rows("project", "x", x.len(), rows, dim)?;
    check_rows("project", "out", out.len(), rows, dim)?;
    let c = curv_of(f(c));
    let maxn = (1.0 - eps as f64) / c.sqrt();
    for r in 0..rows {
        let xr = &x[r * dim..(r + 1) * dim];
        let n = dot(xr, xr).sqrt();
        let k = if n > maxn { maxn / n } else { 1.0 };
        for d in 0..dim {
            out[r * dim + d] = t(k * f(xr[d]));
        }
    }
    Ok(())
}

/// CPU twin of the projection's backward pass.
#[allow(clippy::too_many_arguments)]
pub fn project_bwd_cpu<T: Real>(
    c: T,
    eps: f32,
    x: &[T],
    g: &[T],
    rows: usize,
    dim: usize,
    dx: &mut [T],
    dc: &mut [T],
) -> Result<()> {
    check_rows("project_bwd", "x", x.len(), rows, dim)?;
    check_rows("project_bwd", "g", g.len(), rows, dim)?;
    check_rows("project_bwd", "dx", dx.len(), rows, dim)?;
    need("project_bwd", "dc", dc.len(), rows)?;
    let c = curv_of(f(c));
    let maxn = (1.0 - eps as f64) / c.sqrt();
    for r in 0..rows {
        let (xr, gr) = (&x[r * dim..(r + 1) * dim], &g[r * dim..(r + 1) * dim]);
        let n = dot(xr, xr).sqrt();
        if n > maxn {
            let gx = dot(gr, xr);
            let k = maxn / n;
            for d in 0..dim {
                dx[r * dim + d] = t(k * (f(gr[d]) - gx * f(xr[d]) / (n * n)));
            }
            dc[r] = t(-gx * maxn / (2.0 * c * n));
        } else {
            dx[r * dim..(r + 1) * dim].copy_from_slice(gr);
            dc[r] = T::zero();
        }
    }
    Ok(())
}

fn yrow(row: usize, y_rows: usize) -> usize {
    if y_rows == 1 {
        0
    } else {
        row
    }
}

/// CPU twin of x ⊕ y (`y` has `rows` rows, or 1 row broadcast).
#[allow(clippy::too_many_arguments)]
pub fn mobius_add_cpu<T: Real>(
    c: T,
    x: &[T],
    y: &[T],
    rows: usize,
    y_rows: usize,
    dim: usize,
    out: &mut [T],
) -> Result<()> {
    check_rows("mobius_add", "x", x.len(), rows, dim)?;
    check_rows("mobius_add", "y", y.len(), y_rows, dim)?;
    check_rows("mobius_add", "out", out.len(), rows, dim)?;
    let c = curv_of(f(c));
    for r in 0..rows {
        let yr0 = yrow(r, y_rows);
        let (xr, yr) = (&x[r * dim..(r + 1) * dim], &y[yr0 * dim..(yr0 + 1) * dim]);
        let (xy, x2, y2) = (dot(xr, yr), dot(xr, xr), dot(yr, yr));
        let a = 1.0 + 2.0 * c * xy + c * y2;
        let b = 1.0 - c * x2;
        let den = (1.0 + 2.0 * c * xy + c * c * x2 * y2).max(1e-15);
        for d in 0..dim {
            out[r * dim + d] = t((a * f(xr[d]) + b * f(yr[d])) / den);
        }
    }
    Ok(())
}

/// CPU twin of ⊕'s backward pass: dx, dy (per row, before any broadcast
/// reduction) and per-row dc.
#[allow(clippy::too_many_arguments)]
pub fn mobius_add_bwd_cpu<T: Real>(
    c: T,
    x: &[T],
    y: &[T],
    g: &[T],
    rows: usize,
    y_rows: usize,
    dim: usize,
    dx: &mut [T],
    dy: &mut [T],
    dc: &mut [T],
) -> Result<()> {
    check_rows("mobius_add_bwd", "x", x.len(), rows, dim)?;
    check_rows("mobius_add_bwd", "y", y.len(), y_rows, dim)?;
    check_rows("mobius_add_bwd", "g", g.len(), rows, dim)?;
    check_rows("mobius_add_bwd", "dx", dx.len(), rows, dim)?;
    check_rows("mobius_add_bwd", "dy", dy.len(), rows, dim)?;
    need("mobius_add_bwd", "dc", dc.len(), rows)?;
    let c = curv_of(f(c));
    for r in 0..rows {
        let yr0 = yrow(r, y_rows);
        let xr = &x[r * dim..(r + 1) * dim];
        let yr = &y[yr0 * dim..(yr0 + 1) * dim];
        let gr = &g[r * dim..(r + 1) * dim];
        let (xy, x2, y2) = (dot(xr, yr), dot(xr, xr), dot(yr, yr));
        let (gx, gy) = (dot(gr, xr), dot(gr, yr));
        let a = 1.0 + 2.0 * c * xy + c * y2;
        let b = 1.0 - c * x2;
        let den = (1.0 + 2.0 * c * xy + c * c * x2 * y2).max(1e-15);
        let go = (a * gx + b * gy) / den;
        for d in 0..dim {
            let (xv, yv, gv) = (f(xr[d]), f(yr[d]), f(gr[d]));
            dx[r * dim + d] = t((a * gv + 2.0 * c * gx * yv
                - 2.0 * c * gy * xv
                - go * (2.0 * c * yv + 2.0 * c * c * y2 * xv))
                / den);
            dy[r * dim + d] = t((b * gv + gx * (2.0 * c * xv + 2.0 * c * yv)
                - go * (2.0 * c * xv + 2.0 * c * c * x2 * yv))
                / den);
        }
        dc[r] = t((gx * (2.0 * xy + y2) - gy * x2 - go * (2.0 * xy + 2.0 * c * x2 * y2)) / den);
    }
    Ok(())
}

/// CPU twin of r ⊗ x (`r` has `rows` values, or 1 broadcast).
#[allow(clippy::too_many_arguments)]
pub fn mobius_scalar_cpu<T: Real>(
    c: T,
    x: &[T],
    r: &[T],
    rows: usize,
    r_rows: usize,
    dim: usize,
    out: &mut [T],
) -> Result<()> {
    check_rows("mobius_scalar", "x", x.len(), rows, dim)?;
    need("mobius_scalar", "r", r.len(), r_rows)?;
    check_rows("mobius_scalar", "out", out.len(), rows, dim)?;
    let c = curv_of(f(c));
    for row in 0..rows {
        let xr = &x[row * dim..(row + 1) * dim];
        let s = (c * dot(xr, xr)).sqrt();
        let rv = f(r[yrow(row, r_rows)]);
        let al = atanh_f(s);
        let w = rv * tau_f(rv * s * al) * al;
        for d in 0..dim {
            out[row * dim + d] = t(w * f(xr[d]));
        }
    }
    Ok(())
}

/// CPU twin of ⊗'s backward pass: dx, per-row dr and per-row dc.
#[allow(clippy::too_many_arguments)]
pub fn mobius_scalar_bwd_cpu<T: Real>(
    c: T,
    x: &[T],
    r: &[T],
    g: &[T],
    rows: usize,
    r_rows: usize,
    dim: usize,
    dx: &mut [T],
    dr: &mut [T],
    dc: &mut [T],
) -> Result<()> {
    check_rows("mobius_scalar_bwd", "x", x.len(), rows, dim)?;
    need("mobius_scalar_bwd", "r", r.len(), r_rows)?;
    check_rows("mobius_scalar_bwd", "g", g.len(), rows, dim)?;
    check_rows("mobius_scalar_bwd", "dx", dx.len(), rows, dim)?;
    need("mobius_scalar_bwd", "dr", dr.len(), rows)?;
    need("mobius_scalar_bwd", "dc", dc.len(), rows)?;
    let c = curv_of(f(c));
    for row in 0..rows {
        let xr = &x[row * dim..(row + 1) * dim];
        let gr = &g[row * dim..(row + 1) * dim];
        let n2 = dot(xr, xr);
        let s = (c * n2).sqrt();
        let rv = f(r[yrow(row, r_rows)]);
        let (al, ha) = (atanh_f(s), atanh_h(s));
        let u = rv * s * al;
        let (tt, ht) = (tau_f(u), tau_h(u));
        let w = rv * tt * al;
        let gx = dot(gr, xr);
        let kk = rv * rv * rv * ht * al * al * (al + s * s * ha) + rv * tt * ha;
        for d in 0..dim {
            dx[row * dim + d] = t(w * f(gr[d]) + gx * kk * c * f(xr[d]));
        }
        dr[row] = t(gx * al * (tt + u * u * ht));
        dc[row] = t(gx * kk * n2 * 0.5);
    }
    Ok(())
}

/// CPU twin of the Möbius matrix–vector rescale: given x (rows × din) and
/// mx = M x (rows × dout), M ⊗ x.
#[allow(clippy::too_many_arguments)]
pub fn matvec_scale_cpu<T: Real>(
    c: T,
    x: &[T],
    mx: &[T],
    rows: usize,
    din: usize,
    dout: usize,
    out: &mut [T],
) -> Result<()> {
    check_rows("matvec_scale", "x", x.len(), rows, din)?;
    check_rows("matvec_scale", "mx", mx.len(), rows, dout)?;
    check_rows("matvec_scale", "out", out.len(), rows, dout)?;
    let c = curv_of(f(c));
    for r in 0..rows {
        let xr = &x[r * din..(r + 1) * din];
        let mr = &mx[r * dout..(r + 1) * dout];
        let s = (c * dot(xr, xr)).sqrt();
        let bn = dot(mr, mr).sqrt();
        let al = atanh_f(s);
        let w = tau_f(c.sqrt() * bn * al) * al;
        for d in 0..dout {
            out[r * dout + d] = t(w * f(mr[d]));
        }
    }
    Ok(())
}

/// CPU twin of the Möbius matrix–vector rescale's backward pass: dx, dmx, per-row dc.
#[allow(clippy::too_many_arguments)]
pub fn matvec_scale_bwd_cpu<T: Real>(
    c: T,
    x: &[T],
    mx: &[T],
    g: &[T],
    rows: usize,
    din: usize,
    dout: usize,
    dx: &mut [T],
    dmx: &mut [T],
    dc: &mut [T],
) -> Result<()> {
    check_rows("matvec_scale_bwd", "x", x.len(), rows, din)?;
    check_rows("matvec_scale_bwd", "mx", mx.len(), rows, dout)?;
    check_rows("matvec_scale_bwd", "g", g.len(), rows, dout)?;
    check_rows("matvec_scale_bwd", "dx", dx.len(), rows, din)?;
    check_rows("matvec_scale_bwd", "dmx", dmx.len(), rows, dout)?;
    need("matvec_scale_bwd", "dc", dc.len(), rows)?;
    let c = curv_of(f(c));
    for r in 0..rows {
        let xr = &x[r * din..(r + 1) * din];
        let mr = &mx[r * dout..(r + 1) * dout];
        let gr = &g[r * dout..(r + 1) * dout];
        let (a2, b2) = (dot(xr, xr), dot(mr, mr));
        let s = (c * a2).sqrt();
        let (al, ha) = (atanh_f(s), atanh_h(s));
        let u = c.sqrt() * b2.sqrt() * al;
        let (tt, ht) = (tau_f(u), tau_h(u));
        let w = tt * al;
        let q = dot(gr, mr);
        let cm = q * ht * c * al * al * al;
        for d in 0..dout {
            dmx[r * dout + d] = t(w * f(gr[d]) + cm * f(mr[d]));
        }
        let cx = q * c * ha * (u * u * ht + tt);
        for d in 0..din {
            dx[r * din + d] = t(cx * f(xr[d]));
        }
        dc[r] = t(q * (ht * b2 * al * al * (al + c * a2 * ha) * 0.5 + tt * ha * a2 * 0.5));
    }
    Ok(())
}

/// CPU twin of the scaled pairwise distances `alpha · d(x_i, y_j)` (`x`: m × dim, `y`: n × dim).
#[allow(clippy::too_many_arguments)]
pub fn pdist_cpu<T: Real>(
    c: T,
    alpha: f32,
    x: &[T],
    y: &[T],
    m: usize,
    n: usize,
    dim: usize,
    out: &mut [T],
) -> Result<()> {
    check_rows("pdist", "x", x.len(), m, dim)?;
    check_rows("pdist", "y", y.len(), n, dim)?;
    need("pdist", "out", out.len(), m * n)?;
    let c = curv_of(f(c));
    for i in 0..m {
        let xr = &x[i * dim..(i + 1) * dim];
        let al = (1.0 - c * dot(xr, xr)).max(CONF_MIN);
        for j in 0..n {
            let yr = &y[j * dim..(j + 1) * dim];
            let be = (1.0 - c * dot(yr, yr)).max(CONF_MIN);
            let sq: f64 = xr
                .iter()
                .zip(yr)
                .map(|(&a, &b)| (f(a) - f(b)).powi(2))
                .sum();
            out[i * n + j] = t(alpha as f64 * acosh1p(2.0 * c * sq / (al * be)) / c.sqrt());
        }
    }
    Ok(())
}

/// CPU twin of the scaled pairwise distances' backward pass: dX, dY and per-row (of x) dc.
#[allow(clippy::too_many_arguments)]
pub fn pdist_bwd_cpu<T: Real>(
    c: T,
    alpha: f32,
    x: &[T],
    y: &[T],
    g: &[T],
    m: usize,
    n: usize,
    dim: usize,
    dx: &mut [T],
    dy: &mut [T],
    dc: &mut [T],
) -> Result<()> {
    check_rows("pdist_bwd", "x", x.len(), m, dim)?;
    check_rows("pdist_bwd", "y", y.len(), n, dim)?;
    need("pdist_bwd", "g", g.len(), m * n)?;
    check_rows("pdist_bwd", "dx", dx.len(), m, dim)?;
    check_rows("pdist_bwd", "dy", dy.len(), n, dim)?;
    need("pdist_bwd", "dc", dc.len(), m)?;
    let c = curv_of(f(c));
    let sc = c.sqrt();
    let mut gx = vec![0.0f64; m * dim];
    let mut gy = vec![0.0f64; n * dim];
    for i in 0..m {
        let xr = &x[i * dim..(i + 1) * dim];
        let nx = dot(xr, xr);
        let al = (1.0 - c * nx).max(CONF_MIN);
        let mut dci = 0.0;
        for j in 0..n {
            let yr = &y[j * dim..(j + 1) * dim];
            let ny = dot(yr, yr);
            let be = (1.0 - c * ny).max(CONF_MIN);
            let sq: f64 = xr
                .iter()
                .zip(yr)
                .map(|(&a, &b)| (f(a) - f(b)).powi(2))
                .sum();
            if sq <= 0.0 {
                continue;
            }
            let gij = alpha as f64 * f(g[i * n + j]);
            let tt = 2.0 * c * sq / (al * be);
            let ddt = 1.0 / (sc * (tt * (tt + 2.0)).sqrt());
            let w = gij * ddt * 4.0 * c / (al * be);
            for d in 0..dim {
                let (xv, yv) = (f(xr[d]), f(yr[d]));
                gx[i * dim + d] += w * ((xv - yv) + c * sq * xv / al);
                gy[j * dim + d] += w * ((yv - xv) + c * sq * yv / be);
            }
            dci +=
                gij * (-acosh1p(tt) / (2.0 * c * sc) + ddt * (tt / c + tt * (nx / al + ny / be)));
        }
        dc[i] = t(dci);
    }
    for (o, v) in dx.iter_mut().zip(&gx) {
        *o = t(*v);
    }
    for (o, v) in dy.iter_mut().zip(&gy) {
        *o = t(*v);
    }
    Ok(())
}

struct MlrAt {
    na: f64,
    p: f64,
    n2: f64,
    lam: f64,
    ch: f64,
    sh: f64,
    w: f64,
    zeta: f64,
    clamped: bool,
}

fn mlr_at<T: Real>(c: f64, xr: &[T], ar: &[T], r: f64) -> MlrAt {
    let sc = c.sqrt();
    let na = dot(ar, ar).sqrt().max(1e-15);
    let p = dot(xr, ar) / na;
    let n2 = dot(xr, xr);
    let lam = 2.0 / (1.0 - c * n2).max(CONF_MIN);
    let arg0 = 2.0 * sc * r;
    let arg = arg0.clamp(-TANH_MAX, TANH_MAX);
    let (ch, sh) = (arg.cosh(), arg.sinh());
    let w = lam * sc * p * ch - (lam - 1.0) * sh;
    MlrAt {
        na,
        p,
        n2,
        lam,
        ch,
        sh,
        w,
        zeta: 2.0 * na / sc * asinh_s(w),
        clamped: arg != arg0,
    }
}

/// CPU twin of the Poincaré MLR logits (`x`: m × dim, `a`: classes × dim, `r`: classes).
#[allow(clippy::too_many_arguments)]
pub fn mlr_cpu<T: Real>(
    c: T,
    x: &[T],
    a: &[T],
    r: &[T],
    m: usize,
    classes: usize,
    dim: usize,
    out: &mut [T],
) -> Result<()> {
    check_rows("mlr", "x", x.len(), m, dim)?;
    check_rows("mlr", "a", a.len(), classes, dim)?;
    need("mlr", "r", r.len(), classes)?;
    need("mlr", "out", out.len(), m * classes)?;
    let c = curv_of(f(c));
    for i in 0..m {
        for k in 0..classes {
            let o = mlr_at(
                c,
                &x[i * dim..(i + 1) * dim],
                &a[k * dim..(k + 1) * dim],
                f(r[k]),
            );
            out[i * classes + k] = t(o.zeta);
        }
    }
    Ok(())
}

/// Gradients of the MLR: dx (m × dim), da (classes × dim), dr (classes), dc (per row of x).
#[derive(Clone, Debug)]
pub struct MlrGrads<T> {
    /// ∂L/∂x.
    pub dx: Vec<T>,
    /// ∂L/∂a.
    pub da: Vec<T>,
    /// ∂L/∂r.
    pub dr: Vec<T>,
    /// ∂L/∂c per row of x.
    pub dc: Vec<T>,
}

/// CPU twin of the MLR backward pass.
#[allow(clippy::too_many_arguments)]
pub fn mlr_bwd_cpu<T: Real>(
    c: T,
    x: &[T],
    a: &[T],
    r: &[T],
    g: &[T],
    m: usize,
    classes: usize,
    dim: usize,
) -> Result<MlrGrads<T>> {
    check_rows("mlr_bwd", "x", x.len(), m, dim)?;
    check_rows("mlr_bwd", "a", a.len(), classes, dim)?;
    need("mlr_bwd", "r", r.len(), classes)?;
    need("mlr_bwd", "g", g.len(), m * classes)?;
    let c = curv_of(f(c));
    let sc = c.sqrt();
    let mut dx = vec![0.0f64; m * dim];
    let mut da = vec![0.0f64; classes * dim];
    let mut dr = vec![0.0f64; classes];
    let mut dc = vec![0.0f64; m];
    for i in 0..m {
        let xr = &x[i * dim..(i + 1) * dim];
        for k in 0..classes {
            let ar = &a[k * dim..(k + 1) * dim];
            let rk = f(r[k]);
            let o = mlr_at(c, xr, ar, rk);
            let gv = f(g[i * classes + k]);
            let zw = 2.0 * o.na / (sc * (1.0 + o.w * o.w).sqrt());
            let wp = o.lam * sc * o.ch;
            let wl = sc * o.p * o.ch - o.sh;
            let ln = o.lam * o.lam * c * 0.5;
            let wr_arg = if o.clamped {
                0.0
            } else {
                o.lam * sc * o.p * o.sh - (o.lam - 1.0) * o.ch
            };
            let wr = wr_arg * 2.0 * sc;
            let wc = wl * o.lam * o.lam * o.n2 * 0.5
                + o.lam * o.p * o.ch / (2.0 * sc)
                + wr_arg * rk / sc;
            let cp = gv * zw * wp / o.na;
            let cn = 2.0 * gv * zw * wl * ln;
            let ca = gv * (o.zeta - zw * wp * o.p) / (o.na * o.na);
            for d in 0..dim {
                dx[i * dim + d] += cp * f(ar[d]) + cn * f(xr[d]);
                da[k * dim + d] += cp * f(xr[d]) + ca * f(ar[d]);
            }
            dr[k] += gv * zw * wr;
            dc[i] += gv * (-o.zeta / (2.0 * c) + zw * wc);
        }
    }
    let cv = |v: Vec<f64>| v.into_iter().map(t).collect();
    Ok(MlrGrads {
        dx: cv(dx),
        da: cv(da),
        dr: cv(dr),
        dc: cv(dc),
    })
}

// ---------------------------------------------------------------- GPU launchers

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    dim: u32,
    other: u32,
    mode: u32,
    eps: f32,
    _p: [u32; 3],
}

fn params(rows: usize, dim: usize, other: usize, mode: u32, eps: f32) -> Params {
    Params {
        rows: rows as u32,
        dim: dim as u32,
        other: other as u32,
        mode,
        eps,
        _p: [0; 3],
    }
}

fn kernel(entry: &'static str) -> Kernel {
    Kernel {
        shader: "poincare",
        source: source(),
        entry,
    }
}

/// Bindings: 0 params, 1 curv, 2 x, 3 y, 4 g, 5 out0, 6 out1, 7 out2, 8 aux.
#[allow(clippy::too_many_arguments)]
fn launch(
    gpu: &Gpu,
    entry: &'static str,
    p: Params,
    items: usize,
    bufs: [Option<&GpuBuf>; 8],
) -> Result<()> {
    for b in bufs.iter().flatten() {
        super::fits(gpu, entry, b.len)?;
    }
    let mut args = vec![Arg::Uniform(bytemuck::bytes_of(&p))];
    args.extend(bufs.iter().map(|b| match b {
        Some(b) => Arg::Buf(b),
        None => Arg::Unused,
    }));
    while matches!(args.last(), Some(Arg::Unused)) {
        args.pop();
    }
    gpu.dispatch(kernel(entry), &args, gpu.grid_1d(items, 64))
}

fn one(op: &'static str, curv: &GpuBuf) -> Result<()> {
    if curv.len < 1 {
        return Err(CrestError::shape(op, "curvature tensor is empty"));
    }
    Ok(())
}

/// GPU: exp₀ / log₀.
pub fn radial_gpu(
    gpu: &Gpu,
    map: Radial,
    curv: &GpuBuf,
    x: &GpuBuf,
    rows: usize,
    dim: usize,
    out: &GpuBuf,
) -> Result<()> {
    one("radial", curv)?;
    check_rows("radial", "x", x.len, rows, dim)?;
    check_rows("radial", "out", out.len, rows, dim)?;
    let p = params(rows, dim, 0, map.mode(), 0.0);
    launch(
        gpu,
        "radial",
        p,
        rows,
        [Some(curv), Some(x), None, None, Some(out), None, None, None],
    )
}

/// GPU: backward of exp₀ / log₀.
#[allow(clippy::too_many_arguments)]
pub fn radial_bwd_gpu(
    gpu: &Gpu,
    map: Radial,
    curv: &GpuBuf,
    x: &GpuBuf,
    g: &GpuBuf,
    rows: usize,
    dim: usize,
    dx: &GpuBuf,
    dc: &GpuBuf,
) -> Result<()> {
    one("radial_bwd", curv)?;
    check_rows("radial_bwd", "x", x.len, rows, dim)?;
    check_rows("radial_bwd", "g", g.len, rows, dim)?;
    check_rows("radial_bwd", "dx", dx.len, rows, dim)?;
    need("radial_bwd", "dc", dc.len, rows)?;
    let p = params(rows, dim, 0, map.mode(), 0.0);
    launch(
        gpu,
        "radial_bwd",
        p,
        rows,
        [
            Some(curv),
            Some(x),
            None,
            Some(g),
            Some(dx),
            None,
            Some(dc),
            None,
        ],
    )
}

/// GPU: projection into the ball.
#[allow(clippy::too_many_arguments)]
pub fn project_gpu(
    gpu: &Gpu,
    curv: &GpuBuf,
    eps: f32,
    x: &GpuBuf,
    rows: usize,
    dim: usize,
    out: &GpuBuf,
) -> Result<()> {
    one("project", curv)?;
    check_rows("project", "x", x.len, rows, dim)?;
    check_rows("project", "out", out.len, rows, dim)?;
    let p = params(rows, dim, 0, 0, eps);
    launch(
        gpu,
        "project",
        p,
        rows,
        [Some(curv), Some(x), None, None, Some(out), None, None, None],
    )
}

/// GPU: projection backward.
#[allow(clippy::too_many_arguments)]
pub fn project_bwd_gpu(
    gpu: &Gpu,
    curv: &GpuBuf,
    eps: f32,
    x: &GpuBuf,
    g: &GpuBuf,
    rows: usize,
    dim: usize,
    dx: &GpuBuf,
    dc: &GpuBuf,
) -> Result<()> {
    one("project_bwd", curv)?;
    check_rows("project_bwd", "x", x.len, rows, dim)?;
    check_rows("project_bwd", "g", g.len, rows, dim)?;
    check_rows("project_bwd", "dx", dx.len, rows, dim)?;
    need("project_bwd", "dc", dc.len, rows)?;
    let p = params(rows, dim, 0, 0, eps);
    launch(
        gpu,
        "project_bwd",
        p,
        rows,
        [
            Some(curv),
            Some(x),
            None,
            Some(g),
            Some(dx),
            None,
            Some(dc),
            None,
        ],
    )
}

/// GPU: x ⊕ y (`y_rows` = rows or 1).
#[allow(clippy::too_many_arguments)]
pub fn mobius_add_gpu(
    gpu: &Gpu,
    curv: &GpuBuf,
    x: &GpuBuf,
    y: &GpuBuf,
    rows: usize,
    y_rows: usize,
    dim: usize,
    out: &GpuBuf,
) -> Result<()> {
    one("mobius_add", curv)?;
    check_rows("mobius_add", "x", x.len, rows, dim)?;
    check_rows("mobius_add", "y", y.len, y_rows, dim)?;
    check_rows("mobius_add", "out", out.len, rows, dim)?;
    let p = params(rows, dim, y_rows, 0, 0.0);
    launch(
        gpu,
        "mobius_add",
        p,
        rows,
        [
            Some(curv),
            Some(x),
            Some(y),
            None,
            Some(out),
            None,
            None,
            None,
        ],
    )
}

/// GPU: ⊕ backward (dy per row).
#[allow(clippy::too_many_arguments)]
pub fn mobius_add_bwd_gpu(
    gpu: &Gpu,
    curv: &GpuBuf,
    x: &GpuBuf,
    y: &GpuBuf,
    g: &GpuBuf,
    rows: usize,
    y_rows: usize,
    dim: usize,
    dx: &GpuBuf,
    dy: &GpuBuf,
    dc: &GpuBuf,
) -> Result<()> {
    one("mobius_add_bwd", curv)?;
    check_rows("mobius_add_bwd", "x", x.len, rows, dim)?;
    check_rows("mobius_add_bwd", "y", y.len, y_rows, dim)?;
    check_rows("mobius_add_bwd", "g", g.len, rows, dim)?;
    check_rows("mobius_add_bwd", "dx", dx.len, rows, dim)?;
    check_rows("mobius_add_bwd", "dy", dy.len, rows, dim)?;
    need("mobius_add_bwd", "dc", dc.len, rows)?;
    let p = params(rows, dim, y_rows, 0, 0.0);
    launch(
        gpu,
        "mobius_add_bwd",
        p,
        rows,
        [
            Some(curv),
            Some(x),
            Some(y),
            Some(g),
            Some(dx),
            Some(dy),
            Some(dc),
            None,
        ],
    )
}

/// GPU: r ⊗ x (`r_rows` = rows or 1).
#[allow(clippy::too_many_arguments)]
pub fn mobius_scalar_gpu(
    gpu: &Gpu,
    curv: &GpuBuf,
    x: &GpuBuf,
    r: &GpuBuf,
    rows: usize,
    r_rows: usize,
    dim: usize,
    out: &GpuBuf,
) -> Result<()> {
    one("mobius_scalar", curv)?;
    check_rows("mobius_scalar", "x", x.len, rows, dim)?;
    need("mobius_scalar", "r", r.len, r_rows)?;
    check_rows("mobius_scalar", "out", out.len, rows, dim)?;
    let p = params(rows, dim, r_rows, 0, 0.0);
    launch(
        gpu,
        "mobius_scalar",
        p,
        rows,
        [
            Some(curv),
            Some(x),
            Some(r),
            None,
            Some(out),
            None,
            None,
            None,
        ],
    )
}

/// GPU: ⊗ backward (dr and dc per row).
#[allow(clippy::too_many_arguments)]
pub fn mobius_scalar_bwd_gpu(
    gpu: &Gpu,
    curv: &GpuBuf,
    x: &GpuBuf,
    r: &GpuBuf,
    g: &GpuBuf,
    rows: usize,
    r_rows: usize,
    dim: usize,
    dx: &GpuBuf,
    dr: &GpuBuf,
    dc: &GpuBuf,
) -> Result<()> {
    one("mobius_scalar_bwd", curv)?;
    check_rows("mobius_scalar_bwd", "x", x.len, rows, dim)?;
    need("mobius_scalar_bwd", "r", r.len, r_rows)?;
    check_rows("mobius_scalar_bwd", "g", g.len, rows, dim)?;
    check_rows("mobius_scalar_bwd", "dx", dx.len, rows, dim)?;
    need("mobius_scalar_bwd", "dr", dr.len, rows)?;
    need("mobius_scalar_bwd", "dc", dc.len, rows)?;
    let p = params(rows, dim, r_rows, 0, 0.0);
    launch(
        gpu,
        "mobius_scalar_bwd",
        p,
        rows,
        [
            Some(curv),
            Some(x),
            Some(r),
            Some(g),
            Some(dx),
            Some(dr),
            Some(dc),
            None,
        ],
    )
}

/// GPU: Möbius matrix–vector rescale of `mx` = M x.
#[allow(clippy::too_many_arguments)]
pub fn matvec_scale_gpu(
    gpu: &Gpu,
    curv: &GpuBuf,
    x: &GpuBuf,
    mx: &GpuBuf,
    rows: usize,
    din: usize,
    dout: usize,
    out: &GpuBuf,
) -> Result<()> {
    one("matvec_scale", curv)?;
    check_rows("matvec_scale", "x", x.len, rows, din)?;
    check_rows("matvec_scale", "mx", mx.len, rows, dout)?;
    check_rows("matvec_scale", "out", out.len, rows, dout)?;
    let p = params(rows, dout, 0, din as u32, 0.0);
    launch(
        gpu,
        "matvec_scale",
        p,
        rows,
        [
            Some(curv),
            Some(x),
            Some(mx),
            None,
            Some(out),
            None,
            None,
            None,
        ],
    )
}

/// GPU: Möbius matrix–vector rescale backward.
#[allow(clippy::too_many_arguments)]
pub fn matvec_scale_bwd_gpu(
    gpu: &Gpu,
    curv: &GpuBuf,
    x: &GpuBuf,
    mx: &GpuBuf,
    g: &GpuBuf,
    rows: usize,
    din: usize,
    dout: usize,
    dx: &GpuBuf,
    dmx: &GpuBuf,
    dc: &GpuBuf,
) -> Result<()> {
    one("matvec_scale_bwd", curv)?;
    check_rows("matvec_scale_bwd", "x", x.len, rows, din)?;
    check_rows("matvec_scale_bwd", "mx", mx.len, rows, dout)?;
    check_rows("matvec_scale_bwd", "g", g.len, rows, dout)?;
    check_rows("matvec_scale_bwd", "dx", dx.len, rows, din)?;
    check_rows("matvec_scale_bwd", "dmx", dmx.len, rows, dout)?;
    need("matvec_scale_bwd", "dc", dc.len, rows)?;
    let p = params(rows, dout, 0, din as u32, 0.0);
    launch(
        gpu,
        "matvec_scale_bwd",
        p,
        rows,
        [
            Some(curv),
            Some(x),
            Some(mx),
            Some(g),
            Some(dx),
            Some(dmx),
            Some(dc),
            None,
        ],
    )
}

/// Words of the side buffer pdist keeps for its backward pass.
pub fn pdist_aux_len(m: usize, n: usize) -> usize {
    m * n + m + n
}

/// GPU: scaled pairwise distances `alpha · d`; `aux` (≥ [`pdist_aux_len`]),
/// when given, keeps what the backward pass needs (retrieval passes None).
#[allow(clippy::too_many_arguments)]
pub fn pdist_gpu(
    gpu: &Gpu,
    curv: &GpuBuf,
    alpha: f32,
    x: &GpuBuf,
    y: &GpuBuf,
    m: usize,
    n: usize,
    dim: usize,
    out: &GpuBuf,
    aux: Option<&GpuBuf>,
) -> Result<()> {
    one("pdist", curv)?;
    check_rows("pdist", "x", x.len, m, dim)?;
    check_rows("pdist", "y", y.len, n, dim)?;
    need("pdist", "out", out.len, m * n)?;
    let dummy;
    let (aux, mode) = match aux {
        Some(a) => {
            need("pdist", "aux", a.len, pdist_aux_len(m, n))?;
            (a, 1)
        }
        None => {
            dummy = gpu.zeros("pdist (no aux)", 1)?;
            (&dummy, 0)
        }
    };
    let p = params(m, dim, n, mode, alpha);
    launch(
        gpu,
        "pdist",
        p,
        m * n,
        [
            Some(curv),
            Some(x),
            Some(y),
            None,
            Some(out),
            Some(aux),
            None,
            None,
        ],
    )
}

/// GPU: scaled pairwise-distance backward: dX (m × dim), dY (n × dim), dc per row of x.
#[allow(clippy::too_many_arguments)]
pub fn pdist_bwd_gpu(
    gpu: &Gpu,
    curv: &GpuBuf,
    alpha: f32,
    x: &GpuBuf,
    y: &GpuBuf,
    g: &GpuBuf,
    aux: &GpuBuf,
    m: usize,
    n: usize,
    dim: usize,
    dx: &GpuBuf,
    dy: &GpuBuf,
    dc: &GpuBuf,
) -> Result<()> {
    one("pdist_bwd", curv)?;
    check_rows("pdist_bwd", "x", x.len, m, dim)?;
    check_rows("pdist_bwd", "y", y.len, n, dim)?;
    need("pdist_bwd", "g", g.len, m * n)?;
    need("pdist_bwd", "aux", aux.len, pdist_aux_len(m, n))?;
    check_rows("pdist_bwd", "dx", dx.len, m, dim)?;
    check_rows("pdist_bwd", "dy", dy.len, n, dim)?;
    need("pdist_bwd", "dc", dc.len, m)?;
    let p = params(m, dim, n, 0, alpha);
    launch(
        gpu,
        "pdist_bwd_x",
        p,
        m * dim,
        [
            Some(curv),
            Some(x),
            Some(y),
            Some(g),
            Some(dx),
            None,
            Some(dc),
            Some(aux),
        ],
    )?;
    launch(
        gpu,
        "pdist_bwd_y",
        p,
        n * dim,
        [
            Some(curv),
            Some(x),
            Some(y),
            Some(g),
            Some(dy),
            None,
            None,
            Some(aux),
        ],
    )
}

/// GPU: MLR logits.
#[allow(clippy::too_many_arguments)]
pub fn mlr_gpu(
    gpu: &Gpu,
    curv: &GpuBuf,
    x: &GpuBuf,
    a: &GpuBuf,
    r: &GpuBuf,
    m: usize,
    classes: usize,
    dim: usize,
    out: &GpuBuf,
) -> Result<()> {
    one("mlr", curv)?;
    check_rows("mlr", "x", x.len, m, dim)?;
    check_rows("mlr", "a", a.len, classes, dim)?;
    need("mlr", "r", r.len, classes)?;
    need("mlr", "out", out.len, m * classes)?;
    let p = params(m, dim, classes, 0, 0.0);
    launch(
        gpu,
        "mlr",
        p,
        m * classes,
        [
            Some(curv),
            Some(x),
            Some(a),
            None,
            Some(out),
            None,
            None,
            Some(r),
        ],
    )
}

/// GPU: MLR backward into `dx` (m × dim), `da` (classes × dim), `dr` (classes),
/// `dc` (per row of x).
#[allow(clippy::too_many_arguments)]
pub fn mlr_bwd_gpu(
    gpu: &Gpu,
    curv: &GpuBuf,
    x: &GpuBuf,
    a: &GpuBuf,
    r: &GpuBuf,
    g: &GpuBuf,
    m: usize,
    classes: usize,
    dim: usize,
    dx: &GpuBuf,
    da: &GpuBuf,
    dr: &GpuBuf,
    dc: &GpuBuf,
) -> Result<()> {
    one("mlr_bwd", curv)?;
    check_rows("mlr_bwd", "x", x.len, m, dim)?;
    check_rows("mlr_bwd", "a", a.len, classes, dim)?;
    need("mlr_bwd", "r", r.len, classes)?;
    need("mlr_bwd", "g", g.len, m * classes)?;
    check_rows("mlr_bwd", "dx", dx.len, m, dim)?;
    check_rows("mlr_bwd", "da", da.len, classes, dim)?;
    need("mlr_bwd", "dr", dr.len, classes)?;
    need("mlr_bwd", "dc", dc.len, m)?;
    let coef = gpu.zeros("mlr coefficients", 5 * m * classes)?;
    let p = params(m, dim, classes, 0, 0.0);
    launch(
        gpu,
        "mlr_bwd_coef",
        p,
        m * classes,
        [
            Some(curv),
            Some(x),
            Some(a),
            Some(g),
            Some(&coef),
            None,
            None,
            Some(r),
        ],
    )?;
    launch(
        gpu,
        "mlr_bwd_x",
        p,
        m * dim,
        [
            None,
            Some(x),
            Some(a),
            None,
            Some(dx),
            None,
            Some(dc),
            Some(&coef),
        ],
    )?;
    launch(
        gpu,
        "mlr_bwd_a",
        p,
        classes * dim,
        [
            None,
            Some(x),
            Some(a),
            None,
            Some(da),
            Some(dr),
            None,
            Some(&coef),
        ],
    )
}
