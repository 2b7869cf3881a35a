//! AdamW with decoupled weight decay and global-norm gradient clipping, plus
//! the warm-up + cosine learning-rate schedule. See `shaders/optim.wgsl`.

use super::need;
use crate::error::Result;
use crate::gpu::{Arg, Gpu, GpuBuf, Kernel};

/// WGSL source.
pub const SOURCE: &str = include_str!("../../shaders/optim.wgsl");

/// Words per tensor slot in the sum-of-squares buffer (keeps slots aligned).
pub const SUMSQ_STRIDE: usize = 64;

/// Optimiser hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamConfig {
    /// Peak learning rate.
    pub lr: f32,
    /// β1.
    pub beta1: f32,
    /// β2.
    pub beta2: f32,
    /// ε.
    pub eps: f32,
    /// Decoupled weight decay (applied to weights, not biases).
    pub weight_decay: f32,
    /// Global gradient-norm clip (≤ 0 disables).
    pub max_norm: f32,
    /// Linear warm-up steps.
    pub warmup: u64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 2e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 1e-4,
            max_norm: 1.0,
            warmup: 100,
        }
    }
}

/// Learning rate at 1-based `step` of `total`: linear warm-up, then cosine to 5% of peak.
pub fn lr_at(cfg: &AdamConfig, step: u64, total: u64) -> f32 {
    let w = cfg.warmup.min(total / 2).max(1);
    if step <= w {
        return cfg.lr * step as f32 / w as f32;
    }
    let t = (step - w) as f64 / (total.saturating_sub(w)).max(1) as f64;
    let cos = 0.5 * (1.0 + (std::f64::consts::PI * t.min(1.0)).cos());
    (cfg.lr as f64 * (0.05 + 0.95 * cos)) as f32
}

/// Per-step scalars shared by all tensors.
#[derive(Clone, Copy, Debug)]
pub struct AdamStep {
    /// Learning rate of this step.
    pub lr: f32,
    /// 1-based step.
    pub t: u64,
}

/// The tensor one optimiser step updates: its gradient (read) and its
/// values and first and second moment estimates (updated in place). `G` and
/// `S` are the storage: `&[f32]` and `&mut [f32]` for the CPU twin, `&GpuBuf`
/// for both on the device.
#[derive(Debug)]
pub struct AdamTensor<G, S> {
    /// The gradient.
    pub grad: G,
    /// The values.
    pub param: S,
    /// First moment estimate.
    pub m1: S,
    /// Second moment estimate.
    pub m2: S,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    n_tensors: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    max_norm: f32,
    bc1: f32,
    bc2: f32,
    _pad: [u32; 2],
}

fn params(cfg: &AdamConfig, st: &AdamStep, n: usize, n_tensors: usize, decay: bool) -> Params {
    Params {
        n: n as u32,
        n_tensors: n_tensors as u32,
        lr: st.lr,
        beta1: cfg.beta1,
        beta2: cfg.beta2,
        eps: cfg.eps,
        weight_decay: if decay { cfg.weight_decay } else { 0.0 },
        max_norm: cfg.max_norm,
        bc1: (1.0 - (cfg.beta1 as f64).powf(st.t as f64)) as f32,
        bc2: (1.0 - (cfg.beta2 as f64).powf(st.t as f64)) as f32,
        _pad: [0; 2],
    }
}

/// Global clip factor from per-tensor sums of squares.
pub fn clip_factor(cfg: &AdamConfig, sumsq: &[f32]) -> f32 {
    if cfg.max_norm <= 0.0 {
        return 1.0;
    }
    let total: f32 = sumsq.iter().sum();
    (cfg.max_norm / (total.sqrt() + 1e-6)).min(1.0)
}

/// CPU twin of one AdamW update of one tensor (f32, same operation order as the GPU).
pub fn adamw_cpu(
    cfg: &AdamConfig,
    st: &AdamStep,
    clip: f32,
    decay: bool,
    t: AdamTensor<&[f32], &mut [f32]>,
) -> Result<()> {
    let AdamTensor {
        grad,
        param,
        m1,
        m2,
    } = t;
    let n = param.len();
    need("adamw", "grad", grad.len(), n)?;
    need("adamw", "m", m1.len(), n)?;
    need("adamw", "v", m2.len(), n)?;
    let p = params(cfg, st, n, 0, decay);
    for i in 0..n {
        let g = grad[i] * clip;
        let m = p.beta1 * m1[i] + (1.0 - p.beta1) * g;
        let v = p.beta2 * m2[i] + (1.0 - p.beta2) * g * g;
        m1[i] = m;
        m2[i] = v;
        let step = (m / p.bc1) / ((v / p.bc2).sqrt() + p.eps) + p.weight_decay * param[i];
        param[i] -= p.lr * step;
    }
    Ok(())
}

/// GPU: one AdamW update of one tensor; `sumsq` holds every tensor's Σg² at
/// `t * SUMSQ_STRIDE` for the global clip.
pub fn adamw_gpu(
    gpu: &Gpu,
    cfg: &AdamConfig,
    st: &AdamStep,
    sumsq: &GpuBuf,
    n_tensors: usize,
    decay: bool,
    t: AdamTensor<&GpuBuf, &GpuBuf>,
) -> Result<()> {
    let AdamTensor {
        grad,
        param,
        m1,
        m2,
    } = t;
    let n = param.len;
    need("adamw", "grad", grad.len, n)?;
    need("adamw", "m", m1.len, n)?;
    need("adamw", "v", m2.len, n)?;
    need("adamw", "sumsq", sumsq.len, n_tensors * SUMSQ_STRIDE)?;
    let p = params(cfg, st, n, n_tensors, decay);
    gpu.dispatch(
        Kernel {
            shader: "optim",
            source: SOURCE,
            entry: "adamw",
        },
        &[
            Arg::Uniform(bytemuck::bytes_of(&p)),
            Arg::Buf(sumsq),
            Arg::Buf(grad),
            Arg::Buf(param),
            Arg::Buf(m1),
            Arg::Buf(m2),
        ],
        gpu.grid_1d(n, 256),
    )
}
