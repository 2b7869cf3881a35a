//! Segment mean: pool the rows of each segment (a sequence's window
//! embeddings) into one row, forward and backward. See `shaders/pool.wgsl`.

use super::{need, Real};
use crate::error::{CrestError, Result};
use crate::gpu::{Arg, Gpu, GpuBuf, Kernel};

/// WGSL source.
pub const SOURCE: &str = include_str!("../../shaders/pool.wgsl");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    segments: u32,
    dim: u32,
    ygroups: u32,
    _pad: u32,
}

/// Shape of one pooling call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentDims {
    /// Segments (output rows).
    pub segments: usize,
    /// Input rows (all segments together).
    pub rows: usize,
    /// Columns.
    pub dim: usize,
}

impl SegmentDims {
    /// Check the offsets (`segments + 1`, from 0, non-decreasing, ending at
    /// `rows`) and buffer sizes.
    pub fn validate(&self, offsets: &[u32], x: usize, y: usize) -> Result<()> {
        let bad = |m: String| Err(CrestError::shape("segment_mean", m));
        if offsets.len() != self.segments + 1 {
            return bad(format!(
                "{} offsets for {} segments",
                offsets.len(),
                self.segments
            ));
        }
        if offsets[0] != 0 || offsets[self.segments] as usize != self.rows {
            return bad(format!(
                "offsets must run from 0 to {} rows (got {} .. {})",
                self.rows, offsets[0], offsets[self.segments]
            ));
        }
        if offsets.windows(2).any(|w| w[1] < w[0]) {
            return bad("offsets must be non-decreasing".into());
        }
        need("segment_mean", "rows", x, self.rows * self.dim)?;
        need("segment_mean", "pooled", y, self.segments * self.dim)
    }

    /// Offsets of consecutive segments of the given sizes.
    pub fn offsets(sizes: impl IntoIterator<Item = usize>) -> Vec<u32> {
        let mut v = vec![0u32];
        let mut at = 0u32;
        for n in sizes {
            at += n as u32;
            v.push(at);
        }
        v
    }
}

/// CPU twin: `y[s] = mean of x rows in segment s` (an empty segment gives 0).
pub fn segment_mean_cpu<T: Real>(
    d: &SegmentDims,
    offsets: &[u32],
    x: &[T],
    y: &mut [T],
) -> Result<()> {
    d.validate(offsets, x.len(), y.len())?;
    let p = d.dim;
    for s in 0..d.segments {
        let (a, b) = (offsets[s] as usize, offsets[s + 1] as usize);
        for j in 0..p {
            let mut acc = T::zero();
            for r in a..b {
                acc += x[r * p + j];
            }
            y[s * p + j] = if b > a {
                acc / T::from_f64((b - a) as f64)
            } else {
                T::zero()
            };
        }
    }
    Ok(())
}

/// CPU twin of the backward pass: `dx[r] = dy[s] / n_s` for each row r of segment s.
pub fn segment_mean_bwd_cpu<T: Real>(
    d: &SegmentDims,
    offsets: &[u32],
    dy: &[T],
    dx: &mut [T],
) -> Result<()> {
    d.validate(offsets, dx.len(), dy.len())?;
    let p = d.dim;
    for s in 0..d.segments {
        let (a, b) = (offsets[s] as usize, offsets[s + 1] as usize);
        if b == a {
            continue;
        }
        let inv = T::from_f64(1.0) / T::from_f64((b - a) as f64);
        for r in a..b {
            for j in 0..p {
                dx[r * p + j] = dy[s * p + j] * inv;
            }
        }
    }
    Ok(())
}

fn launch(
    gpu: &Gpu,
    entry: &'static str,
    d: &SegmentDims,
    offsets: &[u32],
    src: &GpuBuf,
    dst: &GpuBuf,
) -> Result<()> {
    if d.segments == 0 || d.dim == 0 {
        return Ok(());
    }
    let max = gpu.max_groups() as usize;
    let ygroups = d.segments.min(max);
    let zgroups = d.segments.div_ceil(ygroups);
    if zgroups > max || d.dim.div_ceil(64) > max {
        return Err(CrestError::shape(
            "segment_mean",
            format!(
                "{} segments of {} columns exceed the dispatch limits",
                d.segments, d.dim
            ),
        ));
    }
    let p = Params {
        segments: d.segments as u32,
        dim: d.dim as u32,
        ygroups: ygroups as u32,
        _pad: 0,
    };
    let off = gpu.upload("segment offsets", offsets)?;
    gpu.dispatch(
        Kernel {
            shader: "pool",
            source: SOURCE,
            entry,
        },
        &[
            Arg::Uniform(bytemuck::bytes_of(&p)),
            Arg::Buf(&off),
            Arg::Buf(src),
            Arg::Buf(dst),
        ],
        [d.dim.div_ceil(64) as u32, ygroups as u32, zgroups as u32],
    )
}

/// GPU: segment mean of `x` into `y`.
pub fn segment_mean_gpu(
    gpu: &Gpu,
    d: &SegmentDims,
    offsets: &[u32],
    x: &GpuBuf,
    y: &GpuBuf,
) -> Result<()> {
    d.validate(offsets, x.len, y.len)?;
    launch(gpu, "segment_mean", d, offsets, x, y)
}

/// GPU: backward of the segment mean (`dy` → `dx`).
pub fn segment_mean_bwd_gpu(
    gpu: &Gpu,
    d: &SegmentDims,
    offsets: &[u32],
    dy: &GpuBuf,
    dx: &GpuBuf,
) -> Result<()> {
    d.validate(offsets, dx.len, dy.len)?;
    launch(gpu, "segment_mean_bwd", d, offsets, dy, dx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_its_adjoint() {
        // segments: rows 0..2, none, row 2
        let d = SegmentDims {
            segments: 3,
            rows: 3,
            dim: 2,
        };
        let off = SegmentDims::offsets([2, 0, 1]);
        assert_eq!(off, vec![0, 2, 2, 3]);
        let x = [1.0f64, 2.0, 3.0, 6.0, -1.0, 5.0];
        let mut y = vec![9.0; 6];
        segment_mean_cpu(&d, &off, &x, &mut y).unwrap();
        assert_eq!(y, vec![2.0, 4.0, 0.0, 0.0, -1.0, 5.0]);
        // <dy, mean(x)> = <bwd(dy), x> for any dy
        let dy = [0.5f64, -1.0, 7.0, 3.0, 2.0, 0.25];
        let mut dx = vec![9.0; 6];
        segment_mean_bwd_cpu(&d, &off, &dy, &mut dx).unwrap();
        let lhs: f64 = dy.iter().zip(&y).map(|(a, b)| a * b).sum();
        let rhs: f64 = dx.iter().zip(&x).map(|(a, b)| a * b).sum();
        assert!((lhs - rhs).abs() < 1e-12);
        assert_eq!(dx, vec![0.25, -0.5, 0.25, -0.5, 2.0, 0.25]);
    }

    #[test]
    fn bad_offsets_are_refused() {
        let d = SegmentDims {
            segments: 2,
            rows: 3,
            dim: 1,
        };
        let (x, mut y) = ([0.0f32; 3], [0.0f32; 2]);
        assert!(segment_mean_cpu(&d, &[0, 2], &x, &mut y).is_err());
        assert!(segment_mean_cpu(&d, &[0, 2, 2], &x, &mut y).is_err());
        assert!(segment_mean_cpu(&d, &[0, 2, 1], &x, &mut y).is_err());
        assert!(segment_mean_cpu(&d, &[0, 1, 3], &x, &mut y).is_ok());
    }
}
