//! Batch normalisation of `[batch, channels, len]` activations (BatchNorm1d):
//! training forward (batch statistics, running statistics updated),
//! inference forward (running statistics) and backward (dx, dγ, dβ).
//! See `shaders/batchnorm.wgsl` for the formulas and buffer layouts.

use std::sync::OnceLock;

use super::{fits, need, Real};
use crate::error::{CrestError, Result};
use crate::gpu::{Arg, Gpu, GpuBuf, Kernel};

/// Full WGSL source (shared workgroup reductions + `batchnorm.wgsl`).
pub fn source() -> &'static str {
    static S: OnceLock<String> = OnceLock::new();
    S.get_or_init(|| {
        format!(
            "{}\n{}",
            include_str!("../../shaders/workgroup_reduce.wgsl"),
            include_str!("../../shaders/batchnorm.wgsl")
        )
    })
}

/// Variance epsilon (PyTorch's default).
pub const BN_EPS: f32 = 1e-5;
/// Running-statistics momentum (PyTorch's default).
pub const BN_MOMENTUM: f32 = 0.1;

/// Shape of a batch-normalised activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BnDims {
    /// Batch size.
    pub batch: usize,
    /// Channels (each normalised on its own).
    pub channels: usize,
    /// Positions per channel and sequence.
    pub len: usize,
}

impl BnDims {
    /// Elements of the activation.
    pub fn n(&self) -> usize {
        self.batch * self.channels * self.len
    }

    /// Values each channel's statistics are taken over.
    pub fn per_channel(&self) -> usize {
        self.batch * self.len
    }

    /// Reject empty shapes (statistics of nothing).
    pub fn validate(&self) -> Result<()> {
        if self.batch == 0 || self.channels == 0 || self.len == 0 {
            return Err(CrestError::shape(
                "batchnorm",
                format!("empty shape {self:?}"),
            ));
        }
        Ok(())
    }

    fn check(&self, x: usize, gb: usize, stats: usize, out: usize) -> Result<()> {
        self.validate()?;
        need("batchnorm", "x", x, self.n())?;
        need("batchnorm", "gamma and beta", gb, 2 * self.channels)?;
        need("batchnorm", "stats", stats, 2 * self.channels)?;
        need("batchnorm", "out", out, self.n())?;
        Ok(())
    }
}

/// Hyperparameters of a training forward pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BnConfig {
    /// Variance epsilon (see [`BN_EPS`]).
    pub eps: f32,
    /// Running-statistics momentum (see [`BN_MOMENTUM`]); 0 leaves the
    /// running statistics as they are.
    pub momentum: f32,
}

/// The outputs of a forward pass: `stats` (means, then inverse deviations,
/// `2 * channels`; the backward pass reads them) and the normalised `y`.
/// `S` is the storage: `&mut [T]` for the CPU twins, `&GpuBuf` on the device.
#[derive(Debug)]
pub struct BnOut<S> {
    /// Means, then inverse deviations (`2 * channels`).
    pub stats: S,
    /// Normalised output (`[batch, channels, len]`).
    pub y: S,
}

/// The outputs of the backward pass: `dx` and `dgb` (dγ, then dβ).
/// `S` is the storage, as for [`BnOut`].
#[derive(Debug)]
pub struct BnGrads<S> {
    /// ∂L/∂x (`[batch, channels, len]`).
    pub dx: S,
    /// ∂L/∂γ, then ∂L/∂β (`2 * channels`).
    pub dgb: S,
}

fn f<T: Real>(v: T) -> f64 {
    v.to_f64()
}

/// CPU twin of the training forward pass: writes `out.stats` (means, inverse
/// deviations), updates `running` (means, unbiased variances) with
/// `cfg.momentum` when it is positive, and writes `out.y`.
pub fn bn_train_cpu<T: Real>(
    d: &BnDims,
    cfg: &BnConfig,
    x: &[T],
    gb: &[T],
    running: &mut [T],
    out: BnOut<&mut [T]>,
) -> Result<()> {
    let BnConfig { eps, momentum } = *cfg;
    let BnOut { stats, y } = out;
    d.check(x.len(), gb.len(), stats.len(), y.len())?;
    need("batchnorm", "running", running.len(), 2 * d.channels)?;
    let n = d.per_channel() as f64;
    let idx = |c: usize, j: usize| (j / d.len) * d.channels * d.len + c * d.len + j % d.len;
    for c in 0..d.channels {
        let mean = (0..d.per_channel()).map(|j| f(x[idx(c, j)])).sum::<f64>() / n;
        let var = (0..d.per_channel())
            .map(|j| (f(x[idx(c, j)]) - mean).powi(2))
            .sum::<f64>()
            / n;
        stats[c] = T::from_f64(mean);
        stats[d.channels + c] = T::from_f64(1.0 / (var + eps as f64).sqrt());
        if momentum > 0.0 {
            let m = momentum as f64;
            let unbiased = var * n / (n.max(2.0) - 1.0);
            running[c] = T::from_f64((1.0 - m) * f(running[c]) + m * mean);
            let rv = &mut running[d.channels + c];
            *rv = T::from_f64((1.0 - m) * f(*rv) + m * unbiased);
        }
    }
    apply_cpu(d, x, gb, stats, y);
    Ok(())
}

/// CPU twin of the inference forward pass (running statistics).
pub fn bn_infer_cpu<T: Real>(
    d: &BnDims,
    eps: f32,
    x: &[T],
    gb: &[T],
    running: &[T],
    out: BnOut<&mut [T]>,
) -> Result<()> {
    let BnOut { stats, y } = out;
    d.check(x.len(), gb.len(), stats.len(), y.len())?;
    need("batchnorm", "running", running.len(), 2 * d.channels)?;
    for c in 0..d.channels {
        stats[c] = running[c];
        stats[d.channels + c] = T::from_f64(1.0 / (f(running[d.channels + c]) + eps as f64).sqrt());
    }
    apply_cpu(d, x, gb, stats, y);
    Ok(())
}

fn apply_cpu<T: Real>(d: &BnDims, x: &[T], gb: &[T], stats: &[T], y: &mut [T]) {
    let ch = d.channels;
    for (i, yi) in y.iter_mut().enumerate().take(d.n()) {
        let c = (i / d.len) % ch;
        *yi = (x[i] - stats[c]) * stats[ch + c] * gb[c] + gb[ch + c];
    }
}

/// CPU twin of the backward pass from the training forward's `stats`:
/// `grads.dx`, and `grads.dgb` = (dγ, then dβ).
pub fn bn_backward_cpu<T: Real>(
    d: &BnDims,
    x: &[T],
    dy: &[T],
    gb: &[T],
    stats: &[T],
    grads: BnGrads<&mut [T]>,
) -> Result<()> {
    let BnGrads { dx, dgb: grads } = grads;
    d.check(x.len(), gb.len(), stats.len(), dx.len())?;
    need("batchnorm", "dy", dy.len(), d.n())?;
    need("batchnorm", "grads", grads.len(), 2 * d.channels)?;
    let ch = d.channels;
    let mut dg = vec![0.0f64; ch];
    let mut db = vec![0.0f64; ch];
    for i in 0..d.n() {
        let c = (i / d.len) % ch;
        let xh = (f(x[i]) - f(stats[c])) * f(stats[ch + c]);
        db[c] += f(dy[i]);
        dg[c] += f(dy[i]) * xh;
    }
    let n = d.per_channel() as f64;
    for i in 0..d.n() {
        let c = (i / d.len) % ch;
        let inv = f(stats[ch + c]);
        let xh = (f(x[i]) - f(stats[c])) * inv;
        dx[i] = T::from_f64(f(gb[c]) * inv / n * (n * f(dy[i]) - db[c] - xh * dg[c]));
    }
    for c in 0..ch {
        grads[c] = T::from_f64(dg[c]);
        grads[ch + c] = T::from_f64(db[c]);
    }
    Ok(())
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    batch: u32,
    channels: u32,
    len: u32,
    n: u32,
    eps: f32,
    momentum: f32,
    _p: [u32; 2],
}

fn params(d: &BnDims, eps: f32, momentum: f32) -> Params {
    Params {
        batch: d.batch as u32,
        channels: d.channels as u32,
        len: d.len as u32,
        n: d.n() as u32,
        eps,
        momentum,
        _p: [0; 2],
    }
}

fn kernel(entry: &'static str) -> Kernel {
    Kernel {
        shader: "batchnorm",
        source: source(),
        entry,
    }
}

fn gpu_check(gpu: &Gpu, d: &BnDims) -> Result<()> {
    d.validate()?;
    fits(gpu, "batchnorm activation", d.n())?;
    if d.n() > u32::MAX as usize / 2 {
        return Err(CrestError::shape("batchnorm", "activation too large"));
    }
    Ok(())
}

/// Shapes of a forward pass's buffers: x, gb, running, stats, y.
fn forward_check(gpu: &Gpu, d: &BnDims, [x, gb, running, stats, y]: [&GpuBuf; 5]) -> Result<()> {
    gpu_check(gpu, d)?;
    d.check(x.len, gb.len, stats.len, y.len)?;
    need("batchnorm", "running", running.len, 2 * d.channels)
}

/// GPU: training forward (see [`bn_train_cpu`]).
pub fn bn_train_gpu(
    gpu: &Gpu,
    d: &BnDims,
    cfg: &BnConfig,
    x: &GpuBuf,
    gb: &GpuBuf,
    running: &GpuBuf,
    out: BnOut<&GpuBuf>,
) -> Result<()> {
    let BnOut { stats, y } = out;
    forward_check(gpu, d, [x, gb, running, stats, y])?;
    let p = params(d, cfg.eps, cfg.momentum);
    gpu.dispatch(
        kernel("bn_stats"),
        &[
            Arg::Uniform(bytemuck::bytes_of(&p)),
            Arg::Buf(x),
            Arg::Unused,
            Arg::Unused,
            Arg::Unused,
            Arg::Buf(stats),
            Arg::Buf(running),
            Arg::Unused,
        ],
        [d.channels as u32, 1, 1],
    )?;
    apply_gpu(gpu, d, &p, x, gb, stats, y)
}

/// GPU: inference forward from running statistics (see [`bn_infer_cpu`]).
pub fn bn_infer_gpu(
    gpu: &Gpu,
    d: &BnDims,
    eps: f32,
    x: &GpuBuf,
    gb: &GpuBuf,
    running: &GpuBuf,
    out: BnOut<&GpuBuf>,
) -> Result<()> {
    let BnOut { stats, y } = out;
    forward_check(gpu, d, [x, gb, running, stats, y])?;
    let p = params(d, eps, 0.0);
    gpu.dispatch(
        kernel("bn_infer_stats"),
        &[
            Arg::Uniform(bytemuck::bytes_of(&p)),
            Arg::Unused,
            Arg::Unused,
            Arg::Unused,
            Arg::Unused,
            Arg::Buf(stats),
            Arg::Buf(running),
            Arg::Unused,
        ],
        gpu.grid_1d(d.channels, 64),
    )?;
    apply_gpu(gpu, d, &p, x, gb, stats, y)
}

fn apply_gpu(
    gpu: &Gpu,
    d: &BnDims,
    p: &Params,
    x: &GpuBuf,
    gb: &GpuBuf,
    stats: &GpuBuf,
    y: &GpuBuf,
) -> Result<()> {
    gpu.dispatch(
        kernel("bn_apply"),
        &[
            Arg::Uniform(bytemuck::bytes_of(p)),
            Arg::Buf(x),
            Arg::Unused,
            Arg::Buf(gb),
            Arg::Unused,
            Arg::Buf(stats),
            Arg::Unused,
            Arg::Buf(y),
        ],
        gpu.grid_1d(d.n(), 256),
    )
}

/// GPU: backward (see [`bn_backward_cpu`]).
pub fn bn_backward_gpu(
    gpu: &Gpu,
    d: &BnDims,
    x: &GpuBuf,
    dy: &GpuBuf,
    gb: &GpuBuf,
    stats: &GpuBuf,
    grads: BnGrads<&GpuBuf>,
) -> Result<()> {
    let BnGrads { dx, dgb: grads } = grads;
    gpu_check(gpu, d)?;
    d.check(x.len, gb.len, stats.len, dx.len)?;
    need("batchnorm", "dy", dy.len, d.n())?;
    need("batchnorm", "grads", grads.len, 2 * d.channels)?;
    let p = params(d, 0.0, 0.0);
    gpu.dispatch(
        kernel("bn_bwd_reduce"),
        &[
            Arg::Uniform(bytemuck::bytes_of(&p)),
            Arg::Buf(x),
            Arg::Buf(dy),
            Arg::Unused,
            Arg::Unused,
            Arg::Buf(stats),
            Arg::Unused,
            Arg::Buf(grads),
        ],
        [d.channels as u32, 1, 1],
    )?;
    gpu.dispatch(
        kernel("bn_bwd_dx"),
        &[
            Arg::Uniform(bytemuck::bytes_of(&p)),
            Arg::Buf(x),
            Arg::Buf(dy),
            Arg::Buf(gb),
            Arg::Buf(grads),
            Arg::Buf(stats),
            Arg::Unused,
            Arg::Buf(dx),
        ],
        gpu.grid_1d(d.n(), 256),
    )
}
