//! Projection into the ball of radius (1 − ε)/√c (rows past it are scaled
//! back onto it, the others pass unchanged).

use super::launch::{launch, one, Bind, Params};
use super::{curv_of, dot, f, t, Real, RowGrads, Rows};
use crate::error::Result;
use crate::gpu::{Gpu, GpuBuf};

/// CPU twin of the projection into the ball of radius (1 − eps)/√c.
pub fn project_cpu<T: Real>(c: T, eps: f32, x: &[T], shape: Rows, out: &mut [T]) -> Result<()> {
    shape.check("project", x, out)?;
    let Rows { rows, dim } = shape;
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

/// CPU twin of the projection's backward pass from the upstream gradient `g`.
pub fn project_bwd_cpu<T: Real>(
    c: T,
    eps: f32,
    x: &[T],
    g: &[T],
    shape: Rows,
    grads: RowGrads<&mut [T]>,
) -> Result<()> {
    shape.check_bwd("project_bwd", x, g, &grads)?;
    let (Rows { rows, dim }, RowGrads { dx, dc }) = (shape, grads);
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

/// GPU: projection into the ball.
pub fn project_gpu(
    gpu: &Gpu,
    curv: &GpuBuf,
    eps: f32,
    x: &GpuBuf,
    shape: Rows,
    out: &GpuBuf,
) -> Result<()> {
    one("project", curv)?;
    shape.check("project", x, out)?;
    let p = Params::new(shape.rows, shape.dim, 0, 0, eps);
    launch(
        gpu,
        "project",
        p,
        shape.rows,
        Bind::curv(curv).x(x).out0(out),
    )
}

/// GPU: projection backward.
pub fn project_bwd_gpu(
    gpu: &Gpu,
    curv: &GpuBuf,
    eps: f32,
    x: &GpuBuf,
    g: &GpuBuf,
    shape: Rows,
    grads: RowGrads<&GpuBuf>,
) -> Result<()> {
    one("project_bwd", curv)?;
    shape.check_bwd("project_bwd", x, g, &grads)?;
    let p = Params::new(shape.rows, shape.dim, 0, 0, eps);
    let bind = Bind::curv(curv).x(x).g(g).out0(grads.dx).out2(grads.dc);
    launch(gpu, "project_bwd", p, shape.rows, bind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_inside_pass_and_rows_outside_land_on_the_margin() {
        let (c, eps) = (4.0f64, 0.01f32);
        let x = [0.1, 0.2, 3.0, -4.0];
        let mut out = [0.0f64; 4];
        project_cpu(c, eps, &x, Rows::new(2, 2), &mut out).unwrap();
        assert_eq!(&out[..2], &x[..2]);
        let n = (out[2] * out[2] + out[3] * out[3]).sqrt();
        assert!((n - (1.0 - eps as f64) / 2.0).abs() < 1e-12, "{n}");
        // inside rows: the gradient passes and ∂/∂c is 0
        let (mut dx, mut dc) = ([0.0f64; 4], [9.0f64; 2]);
        let g = [1.0, -2.0, 0.5, 0.25];
        let grads = RowGrads {
            dx: &mut dx[..],
            dc: &mut dc[..],
        };
        project_bwd_cpu(c, eps, &x, &g, Rows::new(2, 2), grads).unwrap();
        assert_eq!((&dx[..2], dc[0]), (&g[..2], 0.0));
    }
}
