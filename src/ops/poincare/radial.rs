//! The radial maps at the origin, exp₀ (tangent space → ball) and log₀
//! (ball → tangent space).

use super::launch::{launch, one, Bind, Params};
use super::{atanh_f, atanh_h, curv_of, dot, f, t, tau_f, tau_h, Radial, Real, RowGrads, Rows};
use crate::error::Result;
use crate::gpu::{Gpu, GpuBuf};

/// CPU twin of exp₀ / log₀ (`x`: rows × dim).
pub fn radial_cpu<T: Real>(map: Radial, c: T, x: &[T], shape: Rows, out: &mut [T]) -> Result<()> {
    shape.check("radial", x, out)?;
    let Rows { rows, dim } = shape;
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

/// CPU twin of the radial maps' backward pass from the upstream gradient `g`:
/// dx and per-row dc.
pub fn radial_bwd_cpu<T: Real>(
    map: Radial,
    c: T,
    x: &[T],
    g: &[T],
    shape: Rows,
    grads: RowGrads<&mut [T]>,
) -> Result<()> {
    shape.check_bwd("radial_bwd", x, g, &grads)?;
    let (Rows { rows, dim }, RowGrads { dx, dc }) = (shape, grads);
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

/// GPU: exp₀ / log₀.
pub fn radial_gpu(
    gpu: &Gpu,
    map: Radial,
    curv: &GpuBuf,
    x: &GpuBuf,
    shape: Rows,
    out: &GpuBuf,
) -> Result<()> {
    one("radial", curv)?;
    shape.check("radial", x, out)?;
    let p = Params::new(shape.rows, shape.dim, 0, map.mode(), 0.0);
    launch(
        gpu,
        "radial",
        p,
        shape.rows,
        Bind::curv(curv).x(x).out0(out),
    )
}

/// GPU: backward of exp₀ / log₀.
pub fn radial_bwd_gpu(
    gpu: &Gpu,
    map: Radial,
    curv: &GpuBuf,
    x: &GpuBuf,
    g: &GpuBuf,
    shape: Rows,
    grads: RowGrads<&GpuBuf>,
) -> Result<()> {
    one("radial_bwd", curv)?;
    shape.check_bwd("radial_bwd", x, g, &grads)?;
    let p = Params::new(shape.rows, shape.dim, 0, map.mode(), 0.0);
    let bind = Bind::curv(curv).x(x).g(g).out0(grads.dx).out2(grads.dc);
    launch(gpu, "radial_bwd", p, shape.rows, bind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log0_inverts_exp0_and_shapes_are_checked() {
        let shape = Rows::new(2, 3);
        let v = [0.0, 0.0, 0.0, 0.3, -1.2, 2.0];
        let (mut y, mut back) = ([0.0f64; 6], [0.0f64; 6]);
        radial_cpu(Radial::Exp0, 0.8, &v, shape, &mut y).unwrap();
        radial_cpu(Radial::Log0, 0.8, &y, shape, &mut back).unwrap();
        for (a, b) in back.iter().zip(&v) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        let err = radial_cpu(Radial::Exp0, 0.8, &v[..5], shape, &mut y).unwrap_err();
        assert!(
            err.to_string().contains("x has 5 elements, needs 6"),
            "{err}"
        );
        let (mut dx, mut dc) = ([0.0f64; 6], [0.0f64; 1]);
        let grads = RowGrads {
            dx: &mut dx[..],
            dc: &mut dc[..],
        };
        let err = radial_bwd_cpu(Radial::Log0, 0.8, &v, &v, shape, grads).unwrap_err();
        assert!(
            err.to_string().contains("dc has 1 elements, needs 2"),
            "{err}"
        );
    }
}
