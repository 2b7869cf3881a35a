//! Product-quantization assignment (see `shaders/pq.wgsl`): the nearest of
//! the 256 codebook entries of each subspace of each point, by squared L2
//! distance. k-means training of the codebook and encoding of the index
//! both run it; [`assign_cpu`] is its twin.

use super::need;
use crate::error::{CrestError, Result};
use crate::gpu::{Arg, Gpu, GpuBuf, Kernel};

/// WGSL source.
pub const SOURCE: &str = include_str!("../../shaders/pq.wgsl");

/// Entries per subspace codebook (one-byte codes).
pub const K: usize = 256;

/// Most vec4s per subspace (the kernel's private copy of a sub-vector).
pub const MAX_SUB4: usize = 64;

/// Shape of one assignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PqDims {
    /// Points.
    pub points: usize,
    /// Dimension (a multiple of 4 and of 4·m).
    pub dim: usize,
    /// Subspaces (codes per point).
    pub m: usize,
}

impl PqDims {
    /// Reject shapes the kernel cannot run.
    pub fn validate(&self) -> Result<()> {
        if self.m == 0
            || self.dim == 0
            || !self.dim.is_multiple_of(4)
            || !(self.dim / 4).is_multiple_of(self.m)
            || self.dim / 4 / self.m > MAX_SUB4
        {
            return Err(CrestError::shape(
                "pq_assign",
                format!(
                    "{self:?}: the dimension must split into {} subspaces of whole vec4s (≤ {MAX_SUB4})",
                    self.m
                ),
            ));
        }
        Ok(())
    }

    /// Floats per subspace.
    pub fn sub(&self) -> usize {
        self.dim / self.m
    }

    /// Floating-point operations (3 per dimension per codebook entry).
    pub fn flops(&self) -> f64 {
        3.0 * self.points as f64 * self.dim as f64 * K as f64
    }

    fn check(&self, x: usize, codebook: usize) -> Result<()> {
        self.validate()?;
        need("pq_assign", "x", x, self.points * self.dim)?;
        need("pq_assign", "codebook", codebook, self.m * K * self.sub())
    }
}

/// CPU twin: (codes, squared distances), each `[points, m]`.
pub fn assign_cpu(d: &PqDims, x: &[f32], codebook: &[f32]) -> Result<(Vec<u32>, Vec<f32>)> {
    d.check(x.len(), codebook.len())?;
    let sub = d.sub();
    let mut codes = vec![0u32; d.points * d.m];
    let mut dist = vec![0f32; d.points * d.m];
    for p in 0..d.points {
        for s in 0..d.m {
            let xs = &x[p * d.dim + s * sub..p * d.dim + (s + 1) * sub];
            let (mut best, mut bc) = (3.4e38f32, 0u32);
            for c in 0..K {
                let cb = &codebook[(s * K + c) * sub..(s * K + c + 1) * sub];
                let mut acc = 0f32;
                for (a, b) in xs.chunks_exact(4).zip(cb.chunks_exact(4)) {
                    let e = [a[0] - b[0], a[1] - b[1], a[2] - b[2], a[3] - b[3]];
                    acc += e[0] * e[0] + e[1] * e[1] + e[2] * e[2] + e[3] * e[3];
                }
                if acc < best {
                    best = acc;
                    bc = c as u32;
                }
            }
            codes[p * d.m + s] = bc;
            dist[p * d.m + s] = best;
        }
    }
    Ok((codes, dist))
}

#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    points: u32,
    m: u32,
    sub4: u32,
    dim4: u32,
}

/// GPU `pq_assign` into `codes` and `dist` (`[points, m]` each).
pub fn assign_gpu(
    gpu: &Gpu,
    d: &PqDims,
    x: &GpuBuf,
    codebook: &GpuBuf,
    codes: &GpuBuf,
    dist: &GpuBuf,
) -> Result<()> {
    d.check(x.len, codebook.len)?;
    need("pq_assign", "codes", codes.len, d.points * d.m)?;
    need("pq_assign", "dist", dist.len, d.points * d.m)?;
    if d.points == 0 {
        return Ok(());
    }
    let p = Params {
        points: d.points as u32,
        m: d.m as u32,
        sub4: (d.sub() / 4) as u32,
        dim4: (d.dim / 4) as u32,
    };
    gpu.dispatch(
        Kernel {
            shader: "pq",
            source: SOURCE,
            entry: "pq_assign",
        },
        &[
            Arg::Uniform(bytemuck::bytes_of(&p)),
            Arg::Buf(x),
            Arg::Buf(codebook),
            Arg::Buf(codes),
            Arg::Buf(dist),
        ],
        gpu.grid_1d(d.points * d.m, 64),
    )
}
