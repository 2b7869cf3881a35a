//! 1-D convolution, "same" padding, stride 1, any kernel width: forward,
//! input gradient, weight and bias gradients.
//!
//! Layouts: x `[batch, cin, len]`, w `[cout, cin, kw]`, bias `[cout]`,
//! y `[batch, cout, len]`; left padding `(kw - 1) / 2`. The GPU passes are
//! implicit GEMMs over the shared tiled body (see `shaders/conv1d.wgsl`); the
//! batch is split so that no binding exceeds the device limit.

use std::sync::OnceLock;

use super::gemm::{choose_splits, reduce_splits};
use super::{chunk_rows, fits, need, Real};
use crate::error::{CrestError, Result};
use crate::gpu::{Arg, Gpu, GpuBuf, Kernel};

const TILE: &str = include_str!("../../shaders/tile_gemm.wgsl");
const CONV: &str = include_str!("../../shaders/conv1d.wgsl");

/// The three conv1d passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvPass {
    /// y = conv(x, w) + bias.
    Forward,
    /// dx from dy and w.
    InputGrad,
    /// dw from dy and x.
    WeightGrad,
}

impl ConvPass {
    /// All passes.
    pub const ALL: [ConvPass; 3] = [ConvPass::Forward, ConvPass::InputGrad, ConvPass::WeightGrad];

    fn mode(self) -> u32 {
        match self {
            ConvPass::Forward => 0,
            ConvPass::InputGrad => 1,
            ConvPass::WeightGrad => 2,
        }
    }

    /// Pipeline-cache name of the pass's shader.
    pub fn shader_name(self) -> &'static str {
        match self {
            ConvPass::Forward => "conv1d_fwd",
            ConvPass::InputGrad => "conv1d_dx",
            ConvPass::WeightGrad => "conv1d_dw",
        }
    }
}

/// Full WGSL of one pass: the family file with its MODE set (a
/// [`crate::gpu::variant`]) and the tiled body.
pub fn source(pass: ConvPass) -> &'static str {
    variant(pass).source
}

fn variant(pass: ConvPass) -> crate::gpu::variant::Variant {
    static S: OnceLock<String> = OnceLock::new();
    let family = S.get_or_init(|| format!("{CONV}\n{TILE}"));
    crate::gpu::variant::variant("conv1d", family, &[("MODE", pass.mode())])
}

/// Shape of a conv1d layer applied to a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvDims {
    /// Batch size.
    pub batch: usize,
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Sequence length (input = output length).
    pub len: usize,
    /// Kernel width (odd or even; left pad is (kw - 1) / 2).
    pub kw: usize,
}

impl ConvDims {
    /// Left padding.
    pub fn pad(&self) -> usize {
        (self.kw.max(1) - 1) / 2
    }
    /// Elements of x.
    pub fn x_len(&self) -> usize {
        self.batch * self.cin * self.len
    }
    /// Elements of y.
    pub fn y_len(&self) -> usize {
        self.batch * self.cout * self.len
    }
    /// Elements of w.
    pub fn w_len(&self) -> usize {
        self.cout * self.cin * self.kw
    }
    /// FLOPs of one pass (forward, input grad and weight grad each cost the same).
    pub fn flops(&self) -> f64 {
        2.0 * (self.batch * self.len) as f64 * self.cout as f64 * (self.cin * self.kw) as f64
    }
    fn check(&self) -> Result<()> {
        if self.kw == 0 || self.cin == 0 || self.cout == 0 {
            return Err(CrestError::shape("conv1d", format!("{self:?}")));
        }
        Ok(())
    }
}

/// CPU twin of the forward pass: `y = conv(x, w) + bias` (bias optional).
pub fn conv1d_forward_cpu<T: Real>(
    d: &ConvDims,
    x: &[T],
    w: &[T],
    bias: Option<&[T]>,
    y: &mut [T],
) -> Result<()> {
    d.check()?;
    need("conv1d", "x", x.len(), d.x_len())?;
    need("conv1d", "w", w.len(), d.w_len())?;
    need("conv1d", "y", y.len(), d.y_len())?;
    if let Some(b) = bias {
        need("conv1d", "bias", b.len(), d.cout)?;
    }
    let pad = d.pad() as isize;
    for b in 0..d.batch {
        for o in 0..d.cout {
            for l in 0..d.len {
                let mut s = T::zero();
                for c in 0..d.cin {
                    for t in 0..d.kw {
                        let p = l as isize + t as isize - pad;
                        if p >= 0 && (p as usize) < d.len {
                            s += w[(o * d.cin + c) * d.kw + t]
                                * x[(b * d.cin + c) * d.len + p as usize];
                        }
                    }
                }
                if let Some(bias) = bias {
                    s += bias[o];
                }
                y[(b * d.cout + o) * d.len + l] = s;
            }
        }
    }
    Ok(())
}

/// CPU twin of the input gradient.
pub fn conv1d_input_grad_cpu<T: Real>(d: &ConvDims, dy: &[T], w: &[T], dx: &mut [T]) -> Result<()> {
    d.check()?;
    need("conv1d", "dy", dy.len(), d.y_len())?;
    need("conv1d", "w", w.len(), d.w_len())?;
    need("conv1d", "dx", dx.len(), d.x_len())?;
    let pad = d.pad() as isize;
    for b in 0..d.batch {
        for c in 0..d.cin {
            for l in 0..d.len {
                let mut s = T::zero();
                for o in 0..d.cout {
                    for t in 0..d.kw {
                        let p = l as isize - t as isize + pad;
                        if p >= 0 && (p as usize) < d.len {
                            s += w[(o * d.cin + c) * d.kw + t]
                                * dy[(b * d.cout + o) * d.len + p as usize];
                        }
                    }
                }
                dx[(b * d.cin + c) * d.len + l] = s;
            }
        }
    }
    Ok(())
}

/// CPU twin of the weight gradient (`dw` overwritten).
pub fn conv1d_weight_grad_cpu<T: Real>(
    d: &ConvDims,
    dy: &[T],
    x: &[T],
    dw: &mut [T],
) -> Result<()> {
    d.check()?;
    need("conv1d", "dy", dy.len(), d.y_len())?;
    need("conv1d", "x", x.len(), d.x_len())?;
    need("conv1d", "dw", dw.len(), d.w_len())?;
    let pad = d.pad() as isize;
    for o in 0..d.cout {
        for c in 0..d.cin {
            for t in 0..d.kw {
                let mut s = T::zero();
                for b in 0..d.batch {
                    for l in 0..d.len {
                        let p = l as isize + t as isize - pad;
                        if p >= 0 && (p as usize) < d.len {
                            s += dy[(b * d.cout + o) * d.len + l]
                                * x[(b * d.cin + c) * d.len + p as usize];
                        }
                    }
                }
                dw[(o * d.cin + c) * d.kw + t] = s;
            }
        }
    }
    Ok(())
}

/// CPU twin of the bias gradient: sum of dy over batch and length.
pub fn conv1d_bias_grad_cpu<T: Real>(d: &ConvDims, dy: &[T], db: &mut [T]) -> Result<()> {
    super::reduce::channel_sum_cpu(dy, d.batch, d.cout, d.len, db)
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    m: u32,
    n: u32,
    k: u32,
    k_per_split: u32,
    batch: u32,
    cin: u32,
    cout: u32,
    len: u32,
    kw: u32,
    pad: u32,
    has_bias: u32,
    split_mode: u32,
    alpha: f32,
    beta: f32,
    _pad0: u32,
    _pad1: u32,
}

fn kernel(pass: ConvPass) -> Kernel {
    let v = variant(pass);
    Kernel {
        shader: v.name,
        source: v.source,
        entry: "tile_main",
    }
}

fn params(d: &ConvDims, batch: usize, pass: ConvPass) -> Params {
    let (m, n, k) = match pass {
        ConvPass::Forward => (batch * d.len, d.cout, d.cin * d.kw),
        ConvPass::InputGrad => (batch * d.len, d.cin, d.cout * d.kw),
        ConvPass::WeightGrad => (d.cout, d.cin * d.kw, batch * d.len),
    };
    Params {
        m: m as u32,
        n: n as u32,
        k: k as u32,
        k_per_split: k.max(1) as u32,
        batch: batch as u32,
        cin: d.cin as u32,
        cout: d.cout as u32,
        len: d.len as u32,
        kw: d.kw as u32,
        pad: d.pad() as u32,
        has_bias: 0,
        split_mode: 0,
        alpha: 1.0,
        beta: 0.0,
        _pad0: 0,
        _pad1: 0,
    }
}

fn tiles(p: &Params) -> [u32; 3] {
    [p.n.div_ceil(64), p.m.div_ceil(64), 1]
}

/// Rows (samples) per batch chunk for the passes that tile over batch*len.
fn batch_chunk(gpu: &Gpu, d: &ConvDims, words_in: usize, words_out: usize) -> Result<usize> {
    let max_rows = (gpu.max_groups() as usize * 64) / d.len.max(1);
    chunk_rows(
        gpu,
        "conv1d",
        d.batch,
        &[words_in, words_out],
        max_rows.max(1),
    )
}

/// GPU forward pass: `y = conv(x, w) + bias`.
pub fn conv1d_forward_gpu(
    gpu: &Gpu,
    d: &ConvDims,
    x: &GpuBuf,
    w: &GpuBuf,
    bias: Option<&GpuBuf>,
    y: &GpuBuf,
) -> Result<()> {
    d.check()?;
    need("conv1d", "x", x.len, d.x_len())?;
    need("conv1d", "w", w.len, d.w_len())?;
    need("conv1d", "y", y.len, d.y_len())?;
    fits(gpu, "conv1d weights", d.w_len())?;
    if d.batch == 0 || d.len == 0 {
        return Ok(());
    }
    let dummy;
    let bias_buf = match bias {
        Some(b) => {
            need("conv1d", "bias", b.len, d.cout)?;
            b
        }
        None => {
            dummy = gpu.zeros("no bias", 1)?;
            &dummy
        }
    };
    let (xi, yo) = (d.cin * d.len, d.cout * d.len);
    let rows = batch_chunk(gpu, d, xi, yo)?;
    let mut b0 = 0;
    while b0 < d.batch {
        let nb = rows.min(d.batch - b0);
        let mut p = params(d, nb, ConvPass::Forward);
        p.has_bias = bias.is_some() as u32;
        gpu.dispatch(
            kernel(ConvPass::Forward),
            &[
                Arg::Uniform(bytemuck::bytes_of(&p)),
                Arg::Slice(x, b0 * xi, nb * xi),
                Arg::Buf(w),
                Arg::Buf(bias_buf),
                Arg::Slice(y, b0 * yo, nb * yo),
            ],
            tiles(&p),
        )?;
        b0 += nb;
    }
    Ok(())
}

/// GPU input gradient: `dx` from `dy` and `w` (overwritten).
pub fn conv1d_input_grad_gpu(
    gpu: &Gpu,
    d: &ConvDims,
    dy: &GpuBuf,
    w: &GpuBuf,
    dx: &GpuBuf,
) -> Result<()> {
    d.check()?;
    need("conv1d", "dy", dy.len, d.y_len())?;
    need("conv1d", "w", w.len, d.w_len())?;
    need("conv1d", "dx", dx.len, d.x_len())?;
    fits(gpu, "conv1d weights", d.w_len())?;
    if d.batch == 0 || d.len == 0 {
        return Ok(());
    }
    let dummy = gpu.zeros("no bias", 1)?;
    let (yi, xo) = (d.cout * d.len, d.cin * d.len);
    let rows = batch_chunk(gpu, d, yi, xo)?;
    let mut b0 = 0;
    while b0 < d.batch {
        let nb = rows.min(d.batch - b0);
        let p = params(d, nb, ConvPass::InputGrad);
        gpu.dispatch(
            kernel(ConvPass::InputGrad),
            &[
                Arg::Uniform(bytemuck::bytes_of(&p)),
                Arg::Slice(dy, b0 * yi, nb * yi),
                Arg::Buf(w),
                Arg::Buf(&dummy),
                Arg::Slice(dx, b0 * xo, nb * xo),
            ],
            tiles(&p),
        )?;
        b0 += nb;
    }
    Ok(())
}

/// GPU weight gradient: `dw = alpha * sum_b,l dy ⊗ x + beta * dw`
/// (beta = 1 accumulates, e.g. across micro-batches).
pub fn conv1d_weight_grad_gpu(
    gpu: &Gpu,
    d: &ConvDims,
    dy: &GpuBuf,
    x: &GpuBuf,
    dw: &GpuBuf,
    beta: f32,
) -> Result<()> {
    d.check()?;
    need("conv1d", "dy", dy.len, d.y_len())?;
    need("conv1d", "x", x.len, d.x_len())?;
    need("conv1d", "dw", dw.len, d.w_len())?;
    fits(gpu, "conv1d weights", d.w_len())?;
    let dummy = gpu.zeros("no bias", 1)?;
    if d.batch == 0 || d.len == 0 {
        // dw = beta * dw
        return reduce_splits(gpu, &dummy, 0, d.w_len(), 1.0, beta, Arg::Buf(dw));
    }
    let (yi, xi) = (d.cout * d.len, d.cin * d.len);
    let rows = chunk_rows(gpu, "conv1d", d.batch, &[yi, xi], usize::MAX)?;
    let mut b0 = 0;
    while b0 < d.batch {
        let nb = rows.min(d.batch - b0);
        let mut p = params(d, nb, ConvPass::WeightGrad);
        p.beta = if b0 == 0 { beta } else { 1.0 };
        let grid = tiles(&p);
        let k = p.k as usize;
        let mut splits = choose_splits((grid[0] * grid[1]) as usize, k);
        while splits > 1 && (splits * d.w_len() * 4) as u64 > gpu.binding_cap() {
            splits /= 2;
        }
        let dy_arg = Arg::Slice(dy, b0 * yi, nb * yi);
        let x_arg = Arg::Slice(x, b0 * xi, nb * xi);
        if splits <= 1 {
            gpu.dispatch(
                kernel(ConvPass::WeightGrad),
                &[
                    Arg::Uniform(bytemuck::bytes_of(&p)),
                    dy_arg,
                    x_arg,
                    Arg::Buf(&dummy),
                    Arg::Buf(dw),
                ],
                grid,
            )?;
        } else {
            let per = k.div_ceil(splits).div_ceil(16) * 16;
            let splits = k.div_ceil(per);
            p.k_per_split = per as u32;
            p.split_mode = 1;
            let partial = gpu.zeros("conv1d split-K partials", splits * d.w_len())?;
            gpu.dispatch(
                kernel(ConvPass::WeightGrad),
                &[
                    Arg::Uniform(bytemuck::bytes_of(&p)),
                    dy_arg,
                    x_arg,
                    Arg::Buf(&dummy),
                    Arg::Buf(&partial),
                ],
                [grid[0], grid[1], splits as u32],
            )?;
            reduce_splits(gpu, &partial, splits, d.w_len(), 1.0, p.beta, Arg::Buf(dw))?;
        }
        b0 += nb;
    }
    Ok(())
}

/// GPU bias gradient: sum of dy over batch and length.
pub fn conv1d_bias_grad_gpu(gpu: &Gpu, d: &ConvDims, dy: &GpuBuf, db: &GpuBuf) -> Result<()> {
    super::reduce::channel_sum_gpu(gpu, dy, d.batch, d.cout, d.len, db)
}
