//! Möbius addition x ⊕ y and the Möbius scalar product r ⊗ x, whose second
//! operand has a row for every row of x or one row broadcast to all.

use super::launch::{launch, one, Bind, Params};
use super::{atanh_f, atanh_h, check_rows, curv_of, dot, f, need, t, tau_f, tau_h, Real, Words};
use crate::error::Result;
use crate::gpu::{Gpu, GpuBuf};

/// Shape of [`mobius_add_cpu`] and [`mobius_scalar_cpu`]: `rows` points of
/// width `dim`, and a second operand (y, or the scalars r) with `other_rows`
/// rows: `rows`, or 1 broadcast to every row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MobiusDims {
    /// Rows of x and of the output.
    pub rows: usize,
    /// Rows of the second operand (`rows` or 1).
    pub other_rows: usize,
    /// Width of each point.
    pub dim: usize,
}

impl MobiusDims {
    /// A second operand with a row for every row.
    pub fn per_row(rows: usize, dim: usize) -> Self {
        MobiusDims {
            rows,
            other_rows: rows,
            dim,
        }
    }

    /// One second-operand row broadcast to every row.
    pub fn broadcast(rows: usize, dim: usize) -> Self {
        MobiusDims {
            rows,
            other_rows: 1,
            dim,
        }
    }

    fn check_add<W: Words + ?Sized>(&self, x: &W, y: &W, out: &W) -> Result<()> {
        let op = "mobius_add";
        check_rows(op, "x", x.words(), self.rows, self.dim)?;
        check_rows(op, "y", y.words(), self.other_rows, self.dim)?;
        check_rows(op, "out", out.words(), self.rows, self.dim)
    }

    fn check_add_bwd<W: Words + ?Sized, O: Words>(
        &self,
        x: &W,
        y: &W,
        g: &W,
        grads: &AddGrads<O>,
    ) -> Result<()> {
        let op = "mobius_add_bwd";
        check_rows(op, "x", x.words(), self.rows, self.dim)?;
        check_rows(op, "y", y.words(), self.other_rows, self.dim)?;
        check_rows(op, "g", g.words(), self.rows, self.dim)?;
        check_rows(op, "dx", grads.dx.words(), self.rows, self.dim)?;
        check_rows(op, "dy", grads.dy.words(), self.rows, self.dim)?;
        need(op, "dc", grads.dc.words(), self.rows)
    }

    fn check_scalar<W: Words + ?Sized>(&self, x: &W, r: &W, out: &W) -> Result<()> {
        let op = "mobius_scalar";
        check_rows(op, "x", x.words(), self.rows, self.dim)?;
        need(op, "r", r.words(), self.other_rows)?;
        check_rows(op, "out", out.words(), self.rows, self.dim)
    }

    fn check_scalar_bwd<W: Words + ?Sized, O: Words>(
        &self,
        x: &W,
        r: &W,
        g: &W,
        grads: &ScalarGrads<O>,
    ) -> Result<()> {
        let op = "mobius_scalar_bwd";
        check_rows(op, "x", x.words(), self.rows, self.dim)?;
        need(op, "r", r.words(), self.other_rows)?;
        check_rows(op, "g", g.words(), self.rows, self.dim)?;
        check_rows(op, "dx", grads.dx.words(), self.rows, self.dim)?;
        need(op, "dr", grads.dr.words(), self.rows)?;
        need(op, "dc", grads.dc.words(), self.rows)
    }

    fn params(&self) -> Params {
        Params::new(self.rows, self.dim, self.other_rows, 0, 0.0)
    }
}

super::tensor_group! {
    /// Outputs of ⊕'s backward pass.
    AddGrads {
        /// ∂L/∂x (rows × dim).
        dx,
        /// ∂L/∂y per row of x (rows × dim), before any broadcast reduction.
        dy,
        /// ∂L/∂c per row.
        dc,
    }
}

super::tensor_group! {
    /// Outputs of ⊗'s backward pass.
    ScalarGrads {
        /// ∂L/∂x (rows × dim).
        dx,
        /// ∂L/∂r per row, before any broadcast reduction.
        dr,
        /// ∂L/∂c per row.
        dc,
    }
}

fn yrow(row: usize, y_rows: usize) -> usize {
    if y_rows == 1 {
        0
    } else {
        row
    }
}

/// CPU twin of x ⊕ y (`y` has `rows` rows, or 1 row broadcast).
pub fn mobius_add_cpu<T: Real>(
    c: T,
    x: &[T],
    y: &[T],
    shape: MobiusDims,
    out: &mut [T],
) -> Result<()> {
    shape.check_add(x, y, out)?;
    let MobiusDims {
        rows,
        other_rows: y_rows,
        dim,
    } = shape;
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

/// CPU twin of ⊕'s backward pass from the upstream gradient `g`: dx, dy (per
/// row, before any broadcast reduction) and per-row dc.
pub fn mobius_add_bwd_cpu<T: Real>(
    c: T,
    x: &[T],
    y: &[T],
    g: &[T],
    shape: MobiusDims,
    grads: AddGrads<&mut [T]>,
) -> Result<()> {
    shape.check_add_bwd(x, y, g, &grads)?;
    let MobiusDims {
        rows,
        other_rows: y_rows,
        dim,
    } = shape;
    let AddGrads { dx, dy, dc } = grads;
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
pub fn mobius_scalar_cpu<T: Real>(
    c: T,
    x: &[T],
    r: &[T],
    shape: MobiusDims,
    out: &mut [T],
) -> Result<()> {
    shape.check_scalar(x, r, out)?;
    let MobiusDims {
        rows,
        other_rows: r_rows,
        dim,
    } = shape;
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

/// CPU twin of ⊗'s backward pass from the upstream gradient `g`: dx, per-row
/// dr and per-row dc.
pub fn mobius_scalar_bwd_cpu<T: Real>(
    c: T,
    x: &[T],
    r: &[T],
    g: &[T],
    shape: MobiusDims,
    grads: ScalarGrads<&mut [T]>,
) -> Result<()> {
    shape.check_scalar_bwd(x, r, g, &grads)?;
    let MobiusDims {
        rows,
        other_rows: r_rows,
        dim,
    } = shape;
    let ScalarGrads { dx, dr, dc } = grads;
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

/// GPU: x ⊕ y (`shape.other_rows` = rows or 1).
pub fn mobius_add_gpu(
    gpu: &Gpu,
    curv: &GpuBuf,
    x: &GpuBuf,
    y: &GpuBuf,
    shape: MobiusDims,
    out: &GpuBuf,
) -> Result<()> {
    one("mobius_add", curv)?;
    shape.check_add(x, y, out)?;
    let bind = Bind::curv(curv).x(x).y(y).out0(out);
    launch(gpu, "mobius_add", shape.params(), shape.rows, bind)
}

/// GPU: ⊕ backward (dy per row).
pub fn mobius_add_bwd_gpu(
    gpu: &Gpu,
    curv: &GpuBuf,
    x: &GpuBuf,
    y: &GpuBuf,
    g: &GpuBuf,
    shape: MobiusDims,
    grads: AddGrads<&GpuBuf>,
) -> Result<()> {
    one("mobius_add_bwd", curv)?;
    shape.check_add_bwd(x, y, g, &grads)?;
    let AddGrads { dx, dy, dc } = grads;
    let bind = Bind::curv(curv).x(x).y(y).g(g).out0(dx).out1(dy).out2(dc);
    launch(gpu, "mobius_add_bwd", shape.params(), shape.rows, bind)
}

/// GPU: r ⊗ x (`shape.other_rows` = rows or 1).
pub fn mobius_scalar_gpu(
    gpu: &Gpu,
    curv: &GpuBuf,
    x: &GpuBuf,
    r: &GpuBuf,
    shape: MobiusDims,
    out: &GpuBuf,
) -> Result<()> {
    one("mobius_scalar", curv)?;
    shape.check_scalar(x, r, out)?;
    let bind = Bind::curv(curv).x(x).y(r).out0(out);
    launch(gpu, "mobius_scalar", shape.params(), shape.rows, bind)
}

/// GPU: ⊗ backward (dr and dc per row).
pub fn mobius_scalar_bwd_gpu(
    gpu: &Gpu,
    curv: &GpuBuf,
    x: &GpuBuf,
    r: &GpuBuf,
    g: &GpuBuf,
    shape: MobiusDims,
    grads: ScalarGrads<&GpuBuf>,
) -> Result<()> {
    one("mobius_scalar_bwd", curv)?;
    shape.check_scalar_bwd(x, r, g, &grads)?;
    let ScalarGrads { dx, dr, dc } = grads;
    let bind = Bind::curv(curv).x(x).y(r).g(g).out0(dx).out1(dr).out2(dc);
    launch(gpu, "mobius_scalar_bwd", shape.params(), shape.rows, bind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_equals_the_repeated_row() {
        let c = 0.6f64;
        let x = [0.1, -0.2, 0.3, 0.05, 0.4, -0.1];
        let y1 = [0.2, 0.1];
        let y3 = [0.2, 0.1, 0.2, 0.1, 0.2, 0.1];
        let (mut a, mut b) = ([0.0f64; 6], [0.0f64; 6]);
        mobius_add_cpu(c, &x, &y1, MobiusDims::broadcast(3, 2), &mut a).unwrap();
        mobius_add_cpu(c, &x, &y3, MobiusDims::per_row(3, 2), &mut b).unwrap();
        assert_eq!(a, b);
        mobius_scalar_cpu(c, &x, &[1.5], MobiusDims::broadcast(3, 2), &mut a).unwrap();
        mobius_scalar_cpu(c, &x, &[1.5; 3], MobiusDims::per_row(3, 2), &mut b).unwrap();
        assert_eq!(a, b);
        // a per-row operand with too few rows is refused
        let err = mobius_add_cpu(c, &x, &y1, MobiusDims::per_row(3, 2), &mut a).unwrap_err();
        assert!(
            err.to_string().contains("y has 2 elements, needs 6"),
            "{err}"
        );
    }
}
