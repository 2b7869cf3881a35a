//! Scaled pairwise geodesic distances `alpha · d(x_i, y_j)` between two sets
//! of points of the ball (the contrastive loss's similarities, retrieval).

use super::launch::{launch, one, Bind, Params};
use super::{acosh1p, check_rows, curv_of, dot, f, need, t, Real, Words, CONF_MIN};
use crate::error::Result;
use crate::gpu::{Gpu, GpuBuf};

/// Shape and scale of the pairwise distances: `m` points x against `n`
/// points y, each of width `dim`, distances multiplied by `alpha`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PdistDims {
    /// Rows of x (and of the output).
    pub m: usize,
    /// Rows of y (columns of the output).
    pub n: usize,
    /// Width of each point.
    pub dim: usize,
    /// Scale of the distances (e.g. −1/τ for similarities).
    pub alpha: f32,
}

impl PdistDims {
    fn check<W: Words + ?Sized>(&self, pts: PointSets<'_, W>, out: &W) -> Result<()> {
        check_rows("pdist", "x", pts.x.words(), self.m, self.dim)?;
        check_rows("pdist", "y", pts.y.words(), self.n, self.dim)?;
        need("pdist", "out", out.words(), self.m * self.n)
    }

    /// The backward pass's operands; `aux` (the launcher's side buffer) when given.
    fn check_bwd<W: Words + ?Sized, O: Words>(
        &self,
        pts: PointSets<'_, W>,
        g: &W,
        aux: Option<&W>,
        grads: &PdistGrads<O>,
    ) -> Result<()> {
        let op = "pdist_bwd";
        check_rows(op, "x", pts.x.words(), self.m, self.dim)?;
        check_rows(op, "y", pts.y.words(), self.n, self.dim)?;
        need(op, "g", g.words(), self.m * self.n)?;
        if let Some(aux) = aux {
            need(op, "aux", aux.words(), pdist_aux_len(self.m, self.n))?;
        }
        check_rows(op, "dx", grads.dx.words(), self.m, self.dim)?;
        check_rows(op, "dy", grads.dy.words(), self.n, self.dim)?;
        need(op, "dc", grads.dc.words(), self.m)
    }
}

/// The two point sets: `x` (m × dim) and `y` (n × dim), slices for a twin,
/// buffers for a launcher, a backend's tensors. They may be the same.
#[derive(Debug)]
pub struct PointSets<'a, B: ?Sized> {
    /// The rows of the output.
    pub x: &'a B,
    /// The columns of the output.
    pub y: &'a B,
}

impl<B: ?Sized> Clone for PointSets<'_, B> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<B: ?Sized> Copy for PointSets<'_, B> {}

impl<'a, B: ?Sized> PointSets<'a, B> {
    /// Both sets through `f` (e.g. a backend's tensors to slices or buffers).
    pub fn try_map<C: ?Sized, E>(
        self,
        f: impl Fn(&'a B) -> std::result::Result<&'a C, E>,
    ) -> std::result::Result<PointSets<'a, C>, E> {
        Ok(PointSets {
            x: f(self.x)?,
            y: f(self.y)?,
        })
    }
}

super::tensor_group! {
    /// Outputs of the pairwise distances' backward pass.
    PdistGrads {
        /// ∂L/∂x (m × dim).
        dx,
        /// ∂L/∂y (n × dim).
        dy,
        /// ∂L/∂c per row of x.
        dc,
    }
}

/// Words of the side buffer pdist keeps for its backward pass.
pub fn pdist_aux_len(m: usize, n: usize) -> usize {
    m * n + m + n
}

/// CPU twin of the scaled pairwise distances `alpha · d(x_i, y_j)`.
pub fn pdist_cpu<T: Real>(
    c: T,
    pts: PointSets<'_, [T]>,
    dims: PdistDims,
    out: &mut [T],
) -> Result<()> {
    dims.check(pts, out)?;
    let (PointSets { x, y }, PdistDims { m, n, dim, alpha }) = (pts, dims);
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

/// CPU twin of the scaled pairwise distances' backward pass from the
/// upstream gradient `g` (m × n): dX, dY and per-row (of x) dc.
pub fn pdist_bwd_cpu<T: Real>(
    c: T,
    pts: PointSets<'_, [T]>,
    g: &[T],
    dims: PdistDims,
    grads: PdistGrads<&mut [T]>,
) -> Result<()> {
    dims.check_bwd(pts, g, None, &grads)?;
    let (PointSets { x, y }, PdistDims { m, n, dim, alpha }) = (pts, dims);
    let PdistGrads { dx, dy, dc } = grads;
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

/// GPU: scaled pairwise distances `alpha · d`; `aux` (≥ [`pdist_aux_len`]),
/// when given, keeps what the backward pass needs (retrieval passes None).
pub fn pdist_gpu(
    gpu: &Gpu,
    curv: &GpuBuf,
    pts: PointSets<'_, GpuBuf>,
    dims: PdistDims,
    out: &GpuBuf,
    aux: Option<&GpuBuf>,
) -> Result<()> {
    one("pdist", curv)?;
    dims.check(pts, out)?;
    let PdistDims { m, n, dim, alpha } = dims;
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
    let p = Params::new(m, dim, n, mode, alpha);
    let bind = Bind::curv(curv).x(pts.x).y(pts.y).out0(out).out1(aux);
    launch(gpu, "pdist", p, m * n, bind)
}

/// GPU: scaled pairwise-distance backward from the upstream gradient `g` and
/// the side buffer `aux` [`pdist_gpu`] kept: dX (m × dim), dY (n × dim), dc
/// per row of x.
pub fn pdist_bwd_gpu(
    gpu: &Gpu,
    curv: &GpuBuf,
    pts: PointSets<'_, GpuBuf>,
    g: &GpuBuf,
    aux: &GpuBuf,
    dims: PdistDims,
    grads: PdistGrads<&GpuBuf>,
) -> Result<()> {
    one("pdist_bwd", curv)?;
    dims.check_bwd(pts, g, Some(aux), &grads)?;
    let PdistDims { m, n, dim, alpha } = dims;
    let p = Params::new(m, dim, n, 0, alpha);
    let inputs = Bind::curv(curv).x(pts.x).y(pts.y).g(g).aux(aux);
    launch(
        gpu,
        "pdist_bwd_x",
        p,
        m * dim,
        inputs.out0(grads.dx).out2(grads.dc),
    )?;
    launch(gpu, "pdist_bwd_y", p, n * dim, inputs.out0(grads.dy))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_are_symmetric_and_zero_on_the_diagonal() {
        let x = [0.1f64, 0.2, -0.3, 0.4, 0.0, 0.0];
        let pts = PointSets {
            x: &x[..],
            y: &x[..],
        };
        let dims = PdistDims {
            m: 3,
            n: 3,
            dim: 2,
            alpha: 1.0,
        };
        let mut d = [0.0f64; 9];
        pdist_cpu(0.9, pts, dims, &mut d).unwrap();
        for i in 0..3 {
            assert_eq!(d[i * 3 + i], 0.0);
            for j in 0..3 {
                assert!((d[i * 3 + j] - d[j * 3 + i]).abs() < 1e-12);
            }
        }
        // the gradient through the diagonal (sq = 0) is skipped, not NaN
        let mut g = [0.0f64; 9];
        g[0] = 1.0;
        let (mut dx, mut dy, mut dc) = ([1.0f64; 6], [1.0f64; 6], [1.0f64; 3]);
        let grads = PdistGrads {
            dx: &mut dx[..],
            dy: &mut dy[..],
            dc: &mut dc[..],
        };
        pdist_bwd_cpu(0.9, pts, &g, dims, grads).unwrap();
        assert!(dx.iter().chain(&dy).chain(&dc).all(|&v| v == 0.0));
    }
}
