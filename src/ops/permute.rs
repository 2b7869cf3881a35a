//! Layout changes and scaling (`shaders/permute.wgsl`): the transpose
//! `[outer, a, b] → [outer, b, a]` that moves activations between the
//! channels-first layout of the convolutions and the row-per-position layout
//! of the Poincaré-ball ops, and `out = alpha · x`.

use super::{fits, need, Real};
use crate::error::Result;
use crate::gpu::{Arg, Gpu, GpuBuf, Kernel};

/// WGSL source.
pub const SOURCE: &str = include_str!("../../shaders/permute.wgsl");

/// Shape of a batched transpose: `[outer, a, b] → [outer, b, a]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransposeDims {
    /// Batch of matrices.
    pub outer: usize,
    /// Rows of each input matrix.
    pub a: usize,
    /// Columns of each input matrix.
    pub b: usize,
}

impl TransposeDims {
    /// Elements.
    pub fn n(&self) -> usize {
        self.outer * self.a * self.b
    }
    /// The inverse transpose.
    pub fn inverse(&self) -> TransposeDims {
        TransposeDims {
            outer: self.outer,
            a: self.b,
            b: self.a,
        }
    }
}

/// CPU twin of the transpose.
pub fn transpose_cpu<T: Real>(d: &TransposeDims, x: &[T], out: &mut [T]) -> Result<()> {
    need("transpose", "x", x.len(), d.n())?;
    need("transpose", "out", out.len(), d.n())?;
    let ab = d.a * d.b;
    for o in 0..d.outer {
        for k in 0..d.a {
            for j in 0..d.b {
                out[o * ab + j * d.a + k] = x[o * ab + k * d.b + j];
            }
        }
    }
    Ok(())
}

/// CPU twin of `out = alpha · x` over `n` elements.
pub fn scale_cpu<T: Real>(n: usize, alpha: f32, x: &[T], out: &mut [T]) -> Result<()> {
    need("scale", "x", x.len(), n)?;
    need("scale", "out", out.len(), n)?;
    let a = T::from_f64(alpha as f64);
    for i in 0..n {
        out[i] = a * x[i];
    }
    Ok(())
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    a: u32,
    b: u32,
    alpha: f32,
}

fn run(gpu: &Gpu, entry: &'static str, p: Params, x: &GpuBuf, out: &GpuBuf) -> Result<()> {
    fits(gpu, entry, p.n as usize)?;
    gpu.dispatch(
        Kernel {
            shader: "permute",
            source: SOURCE,
            entry,
        },
        &[
            Arg::Uniform(bytemuck::bytes_of(&p)),
            Arg::Buf(x),
            Arg::Buf(out),
        ],
        gpu.grid_1d(p.n as usize, 256),
    )
}

/// GPU transpose (see [`transpose_cpu`]).
pub fn transpose_gpu(gpu: &Gpu, d: &TransposeDims, x: &GpuBuf, out: &GpuBuf) -> Result<()> {
    need("transpose", "x", x.len, d.n())?;
    need("transpose", "out", out.len, d.n())?;
    if d.n() == 0 {
        return Ok(());
    }
    let p = Params {
        n: d.n() as u32,
        a: d.a as u32,
        b: d.b as u32,
        alpha: 0.0,
    };
    run(gpu, "transpose", p, x, out)
}

/// GPU `out = alpha · x` over `n` elements.
pub fn scale_gpu(gpu: &Gpu, n: usize, alpha: f32, x: &GpuBuf, out: &GpuBuf) -> Result<()> {
    need("scale", "x", x.len, n)?;
    need("scale", "out", out.len, n)?;
    if n == 0 {
        return Ok(());
    }
    let p = Params {
        n: n as u32,
        a: 1,
        b: 1,
        alpha,
    };
    run(gpu, "scale", p, x, out)
}
