//! Element-wise ops: bias add, ReLU and its backward pass.
//!
//! Tensors with a channel axis are viewed as `[outer, channels, inner]`
//! (`inner = 1` for a `[rows, channels]` matrix, `inner = len` for a
//! `[batch, channels, len]` activation).

use super::{chunk_rows, need, Real};
use crate::error::Result;
use crate::gpu::{Arg, Gpu, GpuBuf, Kernel};

/// WGSL source.
pub const SOURCE: &str = include_str!("../../shaders/elementwise.wgsl");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    channels: u32,
    inner: u32,
    _pad: u32,
}

/// Shape of a channel-structured tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelShape {
    /// Outer (batch) extent.
    pub outer: usize,
    /// Channels.
    pub channels: usize,
    /// Inner (length) extent.
    pub inner: usize,
}

impl ChannelShape {
    /// Total elements.
    pub fn len(&self) -> usize {
        self.outer * self.channels * self.inner
    }
    /// Whether the tensor is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// CPU twin: `out = x + bias[channel]`.
pub fn bias_add_cpu<T: Real>(s: &ChannelShape, x: &[T], bias: &[T], out: &mut [T]) -> Result<()> {
    need("bias_add", "x", x.len(), s.len())?;
    need("bias_add", "bias", bias.len(), s.channels)?;
    need("bias_add", "out", out.len(), s.len())?;
    for (i, o) in out.iter_mut().take(s.len()).enumerate() {
        *o = x[i] + bias[(i / s.inner) % s.channels];
    }
    Ok(())
}

/// CPU twin: `out = max(x, 0)`.
pub fn relu_cpu<T: Real>(x: &[T], out: &mut [T]) -> Result<()> {
    need("relu", "out", out.len(), x.len())?;
    for (o, &v) in out.iter_mut().zip(x) {
        *o = if v > T::zero() { v } else { T::zero() };
    }
    Ok(())
}

/// CPU twin: `dx = dy * (x > 0)`.
pub fn relu_bwd_cpu<T: Real>(x: &[T], dy: &[T], dx: &mut [T]) -> Result<()> {
    need("relu_bwd", "dy", dy.len(), x.len())?;
    need("relu_bwd", "dx", dx.len(), x.len())?;
    for i in 0..x.len() {
        dx[i] = if x[i] > T::zero() { dy[i] } else { T::zero() };
    }
    Ok(())
}

fn kernel(entry: &'static str) -> Kernel {
    Kernel {
        shader: "elementwise",
        source: SOURCE,
        entry,
    }
}

/// Run `entry` over `s`, splitting along `outer` to respect binding limits.
fn run(
    gpu: &Gpu,
    entry: &'static str,
    s: &ChannelShape,
    x: &GpuBuf,
    other: Option<(&GpuBuf, bool)>,
    out: &GpuBuf,
) -> Result<()> {
    if s.is_empty() {
        return Ok(());
    }
    let row = s.channels * s.inner;
    let max_rows =
        (gpu.max_groups() as usize * gpu.max_groups() as usize * 256 / row.max(1)).max(1);
    let rows = chunk_rows(gpu, entry, s.outer, &[row], max_rows)?;
    let mut r0 = 0;
    while r0 < s.outer {
        let r = rows.min(s.outer - r0);
        let n = r * row;
        let p = Params {
            n: n as u32,
            channels: s.channels as u32,
            inner: s.inner as u32,
            _pad: 0,
        };
        let other_arg = match other {
            // per-element operand: same slice as x
            Some((b, true)) => Arg::Slice(b, r0 * row, n),
            // per-channel operand: whole
            Some((b, false)) => Arg::Buf(b),
            None => Arg::Unused,
        };
        gpu.dispatch(
            kernel(entry),
            &[
                Arg::Uniform(bytemuck::bytes_of(&p)),
                Arg::Slice(x, r0 * row, n),
                other_arg,
                Arg::Slice(out, r0 * row, n),
            ],
            gpu.grid_1d(n, 256),
        )?;
        r0 += r;
    }
    Ok(())
}

/// GPU: `out = x + bias[channel]`.
pub fn bias_add_gpu(
    gpu: &Gpu,
    s: &ChannelShape,
    x: &GpuBuf,
    bias: &GpuBuf,
    out: &GpuBuf,
) -> Result<()> {
    need("bias_add", "x", x.len, s.len())?;
    need("bias_add", "bias", bias.len, s.channels)?;
    need("bias_add", "out", out.len, s.len())?;
    run(gpu, "bias_add", s, x, Some((bias, false)), out)
}

/// GPU: `out = max(x, 0)` over the first `n` elements.
pub fn relu_gpu(gpu: &Gpu, n: usize, x: &GpuBuf, out: &GpuBuf) -> Result<()> {
    need("relu", "x", x.len, n)?;
    need("relu", "out", out.len, n)?;
    run(gpu, "relu", &flat(n), x, None, out)
}

/// GPU: `dx = dy * (x > 0)` over the first `n` elements.
pub fn relu_bwd_gpu(gpu: &Gpu, n: usize, x: &GpuBuf, dy: &GpuBuf, dx: &GpuBuf) -> Result<()> {
    need("relu_bwd", "x", x.len, n)?;
    need("relu_bwd", "dy", dy.len, n)?;
    need("relu_bwd", "dx", dx.len, n)?;
    run(gpu, "relu_bwd", &flat(n), x, Some((dy, true)), dx)
}

/// CPU twin: `out = a + b`.
pub fn add_cpu<T: Real>(a: &[T], b: &[T], out: &mut [T]) -> Result<()> {
    need("add", "b", b.len(), a.len())?;
    need("add", "out", out.len(), a.len())?;
    for i in 0..a.len() {
        out[i] = a[i] + b[i];
    }
    Ok(())
}

/// GPU: `out = a + b` over the first `n` elements.
pub fn add_gpu(gpu: &Gpu, n: usize, a: &GpuBuf, b: &GpuBuf, out: &GpuBuf) -> Result<()> {
    need("add", "a", a.len, n)?;
    need("add", "b", b.len, n)?;
    need("add", "out", out.len, n)?;
    run(gpu, "add", &flat(n), a, Some((b, true)), out)
}

/// A flat array of `n` elements viewed as rows of up to 4096 for splitting.
fn flat(n: usize) -> ChannelShape {
    // Split points must fall on whole rows; pick the largest row length
    // (<= 4096) dividing n, so that any n is exactly covered.
    let row = (1..=4096.min(n.max(1)))
        .rev()
        .find(|r| n.is_multiple_of(*r))
        .unwrap_or(1);
    ChannelShape {
        outer: n / row,
        channels: 1,
        inner: row,
    }
}
