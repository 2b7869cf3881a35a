//! The Möbius matrix–vector product M ⊗ x: the Euclidean product M x comes
//! from a GEMM; this rescales it onto the ball.

use super::launch::{launch, one, Bind, Params};
use super::{atanh_f, atanh_h, check_rows, curv_of, dot, f, need, t, tau_f, tau_h, Real, Words};
use crate::error::Result;
use crate::gpu::{Gpu, GpuBuf};

/// Shape of the Möbius matrix–vector rescale: `rows` points x of width `din`
/// and their images M x of width `dout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatvecDims {
    /// Number of points.
    pub rows: usize,
    /// Width of x.
    pub din: usize,
    /// Width of M x and of the output.
    pub dout: usize,
}

impl MatvecDims {
    fn check<W: Words + ?Sized>(&self, x: &W, mx: &W, out: &W) -> Result<()> {
        let op = "matvec_scale";
        check_rows(op, "x", x.words(), self.rows, self.din)?;
        check_rows(op, "mx", mx.words(), self.rows, self.dout)?;
        check_rows(op, "out", out.words(), self.rows, self.dout)
    }

    fn check_bwd<W: Words + ?Sized, O: Words>(
        &self,
        x: &W,
        mx: &W,
        g: &W,
        grads: &MatvecGrads<O>,
    ) -> Result<()> {
        let op = "matvec_scale_bwd";
        check_rows(op, "x", x.words(), self.rows, self.din)?;
        check_rows(op, "mx", mx.words(), self.rows, self.dout)?;
        check_rows(op, "g", g.words(), self.rows, self.dout)?;
        check_rows(op, "dx", grads.dx.words(), self.rows, self.din)?;
        check_rows(op, "dmx", grads.dmx.words(), self.rows, self.dout)?;
        need(op, "dc", grads.dc.words(), self.rows)
    }

    fn params(&self) -> Params {
        Params::new(self.rows, self.dout, 0, self.din as u32, 0.0)
    }
}

super::tensor_group! {
    /// Outputs of the Möbius matrix–vector rescale's backward pass.
    MatvecGrads {
        /// ∂L/∂x through the norm of x (rows × din).
        dx,
        /// ∂L/∂(M x) (rows × dout).
        dmx,
        /// ∂L/∂c per row.
        dc,
    }
}

/// CPU twin of the Möbius matrix–vector rescale: given x (rows × din) and
/// mx = M x (rows × dout), M ⊗ x.
pub fn matvec_scale_cpu<T: Real>(
    c: T,
    x: &[T],
    mx: &[T],
    shape: MatvecDims,
    out: &mut [T],
) -> Result<()> {
    shape.check(x, mx, out)?;
    let MatvecDims { rows, din, dout } = shape;
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

/// CPU twin of the Möbius matrix–vector rescale's backward pass from the
/// upstream gradient `g`: dx, dmx, per-row dc.
pub fn matvec_scale_bwd_cpu<T: Real>(
    c: T,
    x: &[T],
    mx: &[T],
    g: &[T],
    shape: MatvecDims,
    grads: MatvecGrads<&mut [T]>,
) -> Result<()> {
    shape.check_bwd(x, mx, g, &grads)?;
    let MatvecDims { rows, din, dout } = shape;
    let MatvecGrads { dx, dmx, dc } = grads;
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

/// GPU: Möbius matrix–vector rescale of `mx` = M x.
pub fn matvec_scale_gpu(
    gpu: &Gpu,
    curv: &GpuBuf,
    x: &GpuBuf,
    mx: &GpuBuf,
    shape: MatvecDims,
    out: &GpuBuf,
) -> Result<()> {
    one("matvec_scale", curv)?;
    shape.check(x, mx, out)?;
    let bind = Bind::curv(curv).x(x).y(mx).out0(out);
    launch(gpu, "matvec_scale", shape.params(), shape.rows, bind)
}

/// GPU: Möbius matrix–vector rescale backward.
pub fn matvec_scale_bwd_gpu(
    gpu: &Gpu,
    curv: &GpuBuf,
    x: &GpuBuf,
    mx: &GpuBuf,
    g: &GpuBuf,
    shape: MatvecDims,
    grads: MatvecGrads<&GpuBuf>,
) -> Result<()> {
    one("matvec_scale_bwd", curv)?;
    shape.check_bwd(x, mx, g, &grads)?;
    let MatvecGrads { dx, dmx, dc } = grads;
    let bind = Bind::curv(curv).x(x).y(mx).g(g).out0(dx).out1(dmx).out2(dc);
    launch(gpu, "matvec_scale_bwd", shape.params(), shape.rows, bind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_matrix_leaves_points_in_place() {
        // M = I: M ⊗ x = x
        let x = [0.3f64, -0.1, 0.2, 0.0, 0.0, 0.0];
        let shape = MatvecDims {
            rows: 2,
            din: 3,
            dout: 3,
        };
        let mut out = [0.0f64; 6];
        matvec_scale_cpu(1.3, &x, &x, shape, &mut out).unwrap();
        for (a, b) in out.iter().zip(&x) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        let err = matvec_scale_cpu(1.3, &x, &x[..4], shape, &mut out).unwrap_err();
        assert!(
            err.to_string().contains("mx has 4 elements, needs 6"),
            "{err}"
        );
    }
}
