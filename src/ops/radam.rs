//! Riemannian Adam for parameters that are points of the Poincaré ball, and the
//! clamp that keeps a learned curvature in range. See `shaders/radam.wgsl`.

use super::need;
use super::optim::{AdamConfig, AdamStep, SUMSQ_STRIDE};
use super::poincare::{curv_of, tau_f, Rows, PROJ_EPS};
use crate::error::{CrestError, Result};
use crate::gpu::{Arg, Gpu, GpuBuf, Kernel};

/// Full WGSL source (helpers + `radam.wgsl`).
pub fn source() -> &'static str {
    static S: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    S.get_or_init(|| {
        format!(
            "{}\n{}",
            include_str!("../../shaders/hyperbolic.wgsl"),
            include_str!("../../shaders/radam.wgsl")
        )
    })
}

/// Largest row width the kernel supports.
pub const MAX_DIM: usize = 1024;
/// Range a learned curvature is clamped to after each step.
pub const CURVATURE_RANGE: (f32, f32) = (1e-3, 100.0);

pub(crate) const CONF_MIN: f64 = 1e-7;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    dim: u32,
    n_tensors: u32,
    _p0: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    max_norm: f32,
    bc1: f32,
    bc2: f32,
    proj_eps: f32,
}

/// One Riemannian Adam step over points of the ball.
#[derive(Clone, Copy, Debug)]
pub struct RadamStep<'a> {
    /// Optimiser hyper-parameters.
    pub cfg: &'a AdamConfig,
    /// This step's learning rate and number.
    pub st: &'a AdamStep,
    /// `rows` points of width `dim`.
    pub shape: Rows,
    /// Projection margin ε the stepped points are kept inside.
    pub proj_eps: f32,
}

impl<'a> RadamStep<'a> {
    /// A step of `shape.rows` points with the default margin [`PROJ_EPS`].
    pub fn new(cfg: &'a AdamConfig, st: &'a AdamStep, shape: Rows) -> Self {
        RadamStep {
            cfg,
            st,
            shape,
            proj_eps: PROJ_EPS,
        }
    }

    fn params(&self, n_tensors: usize) -> Params {
        let (cfg, st) = (self.cfg, self.st);
        Params {
            rows: self.shape.rows as u32,
            dim: self.shape.dim as u32,
            n_tensors: n_tensors as u32,
            _p0: 0,
            lr: st.lr,
            beta1: cfg.beta1,
            beta2: cfg.beta2,
            eps: cfg.eps,
            max_norm: cfg.max_norm,
            bc1: (1.0 - (cfg.beta1 as f64).powf(st.t as f64)) as f32,
            bc2: (1.0 - (cfg.beta2 as f64).powf(st.t as f64)) as f32,
            proj_eps: self.proj_eps,
        }
    }
}

super::poincare::tensor_group! {
    /// What a step updates in place, each `rows × dim`.
    RadamState {
        /// The points.
        param,
        /// Adam's first moment.
        m1,
        /// Adam's second moment.
        m2,
    }
}

/// CPU twin of one Riemannian Adam step from the gradient `grad`
/// (`clip` = the global-norm clip factor, see [`super::optim::clip_factor`]).
pub fn radam_cpu(
    step: &RadamStep,
    clip: f32,
    c: f32,
    grad: &[f32],
    state: RadamState<&mut [f32]>,
) -> Result<()> {
    let (Rows { rows, dim }, proj_eps) = (step.shape, step.proj_eps);
    let RadamState { param, m1, m2 } = state;
    let n = rows * dim;
    need("radam", "grad", grad.len(), n)?;
    need("radam", "param", param.len(), n)?;
    need("radam", "m", m1.len(), n)?;
    need("radam", "v", m2.len(), n)?;
    let p = step.params(0);
    let c = curv_of(c as f64);
    let sc = c.sqrt();
    let (b1, b2) = (p.beta1 as f64, p.beta2 as f64);
    for r in 0..rows {
        let rg = r * dim..(r + 1) * dim;
        let xo: Vec<f64> = param[rg.clone()].iter().map(|&v| v as f64).collect();
        let x2: f64 = xo.iter().map(|v| v * v).sum();
        let conf = (1.0 - c * x2).max(CONF_MIN);
        let lam = 2.0 / conf;
        let rs = conf * conf * 0.25;
        let mut u = vec![0.0f64; dim];
        for (d, ud) in u.iter_mut().enumerate() {
            let i = r * dim + d;
            let g = grad[i] as f64 * clip as f64 * rs;
            let m = b1 * m1[i] as f64 + (1.0 - b1) * g;
            let v = b2 * m2[i] as f64 + (1.0 - b2) * g * g;
            m1[i] = m as f32;
            m2[i] = v as f32;
            *ud = -(p.lr as f64) * (m / p.bc1 as f64) / ((v / p.bc2 as f64).sqrt() + p.eps as f64);
        }
        let un: f64 = u.iter().map(|v| v * v).sum::<f64>().sqrt();
        let k = tau_f(sc * lam * un * 0.5) * lam * 0.5;
        let w: Vec<f64> = u.iter().map(|v| k * v).collect();
        let xw: f64 = xo.iter().zip(&w).map(|(a, b)| a * b).sum();
        let w2: f64 = w.iter().map(|v| v * v).sum();
        let a = 1.0 + 2.0 * c * xw + c * w2;
        let bb = 1.0 - c * x2;
        let den = (1.0 + 2.0 * c * xw + c * c * x2 * w2).max(1e-15);
        let mut y: Vec<f64> = (0..dim).map(|d| (a * xo[d] + bb * w[d]) / den).collect();
        let mut y2: f64 = y.iter().map(|v| v * v).sum();
        let maxn = (1.0 - proj_eps as f64) / sc;
        if y2.sqrt() > maxn {
            let ps = maxn / y2.sqrt();
            y.iter_mut().for_each(|v| *v *= ps);
            y2 *= ps * ps;
        }
        let m: Vec<f64> = m1[rg.clone()].iter().map(|&v| v as f64).collect();
        let dotp = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let (ab, aw, bw) = (-dotp(&y, &xo), dotp(&y, &m), -dotp(&xo, &m));
        let ga = -c * c * aw * x2 - c * bw + 2.0 * c * c * ab * bw;
        let gb = -c * c * bw * y2 + c * aw;
        let gd = (1.0 - 2.0 * c * ab + c * c * y2 * x2).max(1e-15);
        let ratio = lam / (2.0 / (1.0 - c * y2).max(CONF_MIN));
        for d in 0..dim {
            let i = r * dim + d;
            m1[i] = (ratio * (m[d] + 2.0 * (ga * y[d] - gb * xo[d]) / gd)) as f32;
            param[i] = y[d] as f32;
        }
    }
    Ok(())
}

/// GPU: one Riemannian Adam step; `sumsq` (`n_tensors` slots) as for
/// [`super::optim::adamw_gpu`].
pub fn radam_gpu(
    gpu: &Gpu,
    step: &RadamStep,
    sumsq: &GpuBuf,
    n_tensors: usize,
    curv: &GpuBuf,
    grad: &GpuBuf,
    state: RadamState<&GpuBuf>,
) -> Result<()> {
    let Rows { rows, dim } = step.shape;
    let RadamState { param, m1, m2 } = state;
    if dim > MAX_DIM {
        return Err(CrestError::shape(
            "radam",
            format!("points of width {dim}; the kernel supports at most {MAX_DIM}"),
        ));
    }
    let n = rows * dim;
    need("radam", "grad", grad.len, n)?;
    need("radam", "param", param.len, n)?;
    need("radam", "m", m1.len, n)?;
    need("radam", "v", m2.len, n)?;
    need("radam", "sumsq", sumsq.len, n_tensors * SUMSQ_STRIDE)?;
    need("radam", "curv", curv.len, 1)?;
    let p = step.params(n_tensors);
    gpu.dispatch(
        Kernel {
            shader: "radam",
            source: source(),
            entry: "radam",
        },
        &[
            Arg::Uniform(bytemuck::bytes_of(&p)),
            Arg::Buf(curv),
            Arg::Buf(sumsq),
            Arg::Buf(grad),
            Arg::Buf(param),
            Arg::Buf(m1),
            Arg::Buf(m2),
        ],
        gpu.grid_1d(rows, 64),
    )
}

/// GPU: clamp a learned curvature (one value) to [`CURVATURE_RANGE`].
pub fn clamp_curvature_gpu(gpu: &Gpu, curv: &GpuBuf) -> Result<()> {
    need("clamp_curvature", "curv", curv.len, 1)?;
    gpu.dispatch(
        Kernel {
            shader: "radam",
            source: source(),
            entry: "clamp_curvature",
        },
        &[
            Arg::Unused,
            Arg::Unused,
            Arg::Unused,
            Arg::Unused,
            Arg::Buf(curv),
        ],
        [1, 1, 1],
    )
}

/// CPU twin of [`clamp_curvature_gpu`].
pub fn clamp_curvature_cpu(curv: &mut [f32]) {
    if let Some(c) = curv.first_mut() {
        *c = c.clamp(CURVATURE_RANGE.0, CURVATURE_RANGE.1);
    }
}
