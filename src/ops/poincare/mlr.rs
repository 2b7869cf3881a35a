//! The HNN++ multinomial logistic regression on the ball: logits of `m`
//! points against `classes` hyperplanes, each given by a normal `a` (a row of
//! width `dim`) and an offset `r`.

use super::launch::{launch, one, Bind, Params};
use super::{asinh_s, check_rows, curv_of, dot, f, need, t, Real, Words, CONF_MIN, TANH_MAX};
use crate::error::Result;
use crate::gpu::{Gpu, GpuBuf};

/// Shape of the MLR: `m` points of width `dim` against `classes` classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MlrDims {
    /// Number of points (rows of the logits).
    pub m: usize,
    /// Number of classes (columns of the logits).
    pub classes: usize,
    /// Width of each point and normal.
    pub dim: usize,
}

impl MlrDims {
    fn check_in<W: Words + ?Sized>(
        &self,
        op: &'static str,
        x: &W,
        cls: MlrClasses<'_, W>,
    ) -> Result<()> {
        check_rows(op, "x", x.words(), self.m, self.dim)?;
        check_rows(op, "a", cls.a.words(), self.classes, self.dim)?;
        need(op, "r", cls.r.words(), self.classes)
    }

    fn check<W: Words + ?Sized>(&self, x: &W, cls: MlrClasses<'_, W>, out: &W) -> Result<()> {
        self.check_in("mlr", x, cls)?;
        need("mlr", "out", out.words(), self.m * self.classes)
    }

    fn check_bwd<W: Words + ?Sized>(&self, x: &W, cls: MlrClasses<'_, W>, g: &W) -> Result<()> {
        self.check_in("mlr_bwd", x, cls)?;
        need("mlr_bwd", "g", g.words(), self.m * self.classes)
    }

    fn check_grads<O: Words>(&self, grads: &MlrGrads<O>) -> Result<()> {
        let op = "mlr_bwd";
        check_rows(op, "dx", grads.dx.words(), self.m, self.dim)?;
        check_rows(op, "da", grads.da.words(), self.classes, self.dim)?;
        need(op, "dr", grads.dr.words(), self.classes)?;
        need(op, "dc", grads.dc.words(), self.m)
    }

    fn params(&self) -> Params {
        Params::new(self.m, self.dim, self.classes, 0, 0.0)
    }
}

/// The classes' parameters: normals `a` (classes × dim) and offsets `r`
/// (classes), slices for a twin, buffers for a launcher, a backend's tensors.
#[derive(Debug)]
pub struct MlrClasses<'a, B: ?Sized> {
    /// Normals, one row per class.
    pub a: &'a B,
    /// Offsets, one per class.
    pub r: &'a B,
}

impl<B: ?Sized> Clone for MlrClasses<'_, B> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<B: ?Sized> Copy for MlrClasses<'_, B> {}

impl<'a, B: ?Sized> MlrClasses<'a, B> {
    /// Both through `f` (e.g. a backend's tensors to slices or buffers).
    pub fn try_map<C: ?Sized, E>(
        self,
        f: impl Fn(&'a B) -> std::result::Result<&'a C, E>,
    ) -> std::result::Result<MlrClasses<'a, C>, E> {
        Ok(MlrClasses {
            a: f(self.a)?,
            r: f(self.r)?,
        })
    }
}

super::tensor_group! {
    /// Gradients of the MLR (the twin returns them as vectors, a launcher
    /// writes them into buffers).
    MlrGrads {
        /// ∂L/∂x (m × dim).
        dx,
        /// ∂L/∂a (classes × dim).
        da,
        /// ∂L/∂r (classes).
        dr,
        /// ∂L/∂c per row of x.
        dc,
    }
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

/// CPU twin of the Poincaré MLR logits (m × classes).
pub fn mlr_cpu<T: Real>(
    c: T,
    x: &[T],
    cls: MlrClasses<'_, [T]>,
    dims: MlrDims,
    out: &mut [T],
) -> Result<()> {
    dims.check(x, cls, out)?;
    let (MlrClasses { a, r }, MlrDims { m, classes, dim }) = (cls, dims);
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

/// CPU twin of the MLR backward pass from dL/dlogits `g` (m × classes).
pub fn mlr_bwd_cpu<T: Real>(
    c: T,
    x: &[T],
    cls: MlrClasses<'_, [T]>,
    g: &[T],
    dims: MlrDims,
) -> Result<MlrGrads<Vec<T>>> {
    dims.check_bwd(x, cls, g)?;
    let (MlrClasses { a, r }, MlrDims { m, classes, dim }) = (cls, dims);
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

/// GPU: MLR logits.
pub fn mlr_gpu(
    gpu: &Gpu,
    curv: &GpuBuf,
    x: &GpuBuf,
    cls: MlrClasses<'_, GpuBuf>,
    dims: MlrDims,
    out: &GpuBuf,
) -> Result<()> {
    one("mlr", curv)?;
    dims.check(x, cls, out)?;
    let bind = Bind::curv(curv).x(x).y(cls.a).out0(out).aux(cls.r);
    launch(gpu, "mlr", dims.params(), dims.m * dims.classes, bind)
}

/// GPU: MLR backward from dL/dlogits `g` into `dx` (m × dim), `da`
/// (classes × dim), `dr` (classes), `dc` (per row of x).
pub fn mlr_bwd_gpu(
    gpu: &Gpu,
    curv: &GpuBuf,
    x: &GpuBuf,
    cls: MlrClasses<'_, GpuBuf>,
    g: &GpuBuf,
    dims: MlrDims,
    grads: MlrGrads<&GpuBuf>,
) -> Result<()> {
    one("mlr_bwd", curv)?;
    dims.check_bwd(x, cls, g)?;
    dims.check_grads(&grads)?;
    let MlrDims { m, classes, dim } = dims;
    let coef = gpu.zeros("mlr coefficients", 5 * m * classes)?;
    let p = dims.params();
    let coef_in = Bind::curv(curv).x(x).y(cls.a).g(g).out0(&coef).aux(cls.r);
    launch(gpu, "mlr_bwd_coef", p, m * classes, coef_in)?;
    let from_coef = Bind::default().x(x).y(cls.a).aux(&coef);
    let bind_x = from_coef.out0(grads.dx).out2(grads.dc);
    launch(gpu, "mlr_bwd_x", p, m * dim, bind_x)?;
    let bind_a = from_coef.out0(grads.da).out1(grads.dr);
    launch(gpu, "mlr_bwd_a", p, classes * dim, bind_a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logits_flip_sign_with_the_normal_and_gradients_have_their_shapes() {
        let x = [0.1f64, -0.2, 0.3, 0.05];
        let a = [1.0f64, 0.5, -1.0, -0.5];
        let r = [0.2f64, 0.2];
        let dims = MlrDims {
            m: 2,
            classes: 2,
            dim: 2,
        };
        let mut out = [0.0f64; 4];
        mlr_cpu(0.7, &x, MlrClasses { a: &a, r: &r }, dims, &mut out).unwrap();
        // with r = 0 the hyperplane passes through the origin: a and −a give
        // opposite logits
        let r0 = [0.0f64; 2];
        mlr_cpu(0.7, &x, MlrClasses { a: &a, r: &r0 }, dims, &mut out).unwrap();
        for i in 0..2 {
            assert!((out[i * 2] + out[i * 2 + 1]).abs() < 1e-12);
        }
        let g = [1.0f64; 4];
        let gr = mlr_bwd_cpu(0.7, &x, MlrClasses { a: &a, r: &r }, &g, dims).unwrap();
        let lens = (gr.dx.len(), gr.da.len(), gr.dr.len(), gr.dc.len());
        assert_eq!(lens, (4, 4, 2, 2));
    }
}
