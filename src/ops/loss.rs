//! The Γ-thresholded, distance-weighted supervised contrastive loss (forward
//! and gradient in one kernel). See `shaders/loss.wgsl` for the formula.
//!
//! Labels are `(group, pos)` per view: group = contig index (or a pair id for
//! the self-supervised variant, with Γ = 0), pos = forward-strand locus.

use super::need;
use crate::error::{CrestError, Result};
use crate::gpu::{Arg, Gpu, GpuBuf, Kernel};

/// Full WGSL source (shared workgroup reductions + `loss.wgsl`).
pub fn source() -> &'static str {
    static S: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    S.get_or_init(|| {
        format!(
            "{}\n{}",
            include_str!("../../shaders/workgroup_reduce.wgsl"),
            include_str!("../../shaders/loss.wgsl")
        )
    })
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    gamma: u32,
    scale: f32,
    _pad: u32,
}

/// Shape and scaling of one loss on the device.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SupconDims {
    /// Views (rows and columns of the similarity matrix).
    pub n: usize,
    /// Γ: the largest locus distance of a positive pair.
    pub gamma: u32,
    /// Scale of the gradient (see [`anchor_scale`]).
    pub scale: f32,
}

/// Positive weight of j for anchor i (0 = not a positive).
pub fn pair_weight(labels: &[[u32; 2]], i: usize, j: usize, gamma: u32) -> f64 {
    if i == j || labels[i][0] != labels[j][0] {
        return 0.0;
    }
    let d = labels[i][1].abs_diff(labels[j][1]);
    if d > gamma {
        return 0.0;
    }
    1.0 - d as f64 / (gamma as f64 + 1.0)
}

/// 1 / (number of anchors with at least one positive), or 0 if none.
pub fn anchor_scale(labels: &[[u32; 2]], gamma: u32) -> f32 {
    let n = labels.len();
    let valid = (0..n)
        .filter(|&i| (0..n).any(|j| pair_weight(labels, i, j, gamma) > 0.0))
        .count();
    if valid == 0 {
        0.0
    } else {
        1.0 / valid as f32
    }
}

/// CPU twin: per-row losses and dL/dS for an `n x n` similarity matrix.
/// Returns the mean loss over anchors with a positive.
pub fn supcon_cpu<T: super::Real>(
    s: &[T],
    labels: &[[u32; 2]],
    gamma: u32,
    ds: &mut [T],
    loss: &mut [T],
) -> Result<f64> {
    let n = labels.len();
    need("supcon", "S", s.len(), n * n)?;
    need("supcon", "dS", ds.len(), n * n)?;
    need("supcon", "loss", loss.len(), n)?;
    let scale = anchor_scale(labels, gamma) as f64;
    let mut total = 0.0;
    for i in 0..n {
        let row = &s[i * n..(i + 1) * n];
        let m = (0..n)
            .filter(|&j| j != i)
            .map(|j| row[j].to_f64())
            .fold(-3.0e38, f64::max);
        let se: f64 = (0..n)
            .filter(|&j| j != i)
            .map(|j| (row[j].to_f64() - m).exp())
            .sum();
        let lse = m + se.ln();
        let wsum: f64 = (0..n).map(|j| pair_weight(labels, i, j, gamma)).sum();
        let wss: f64 = (0..n)
            .map(|j| pair_weight(labels, i, j, gamma) * row[j].to_f64())
            .sum();
        for j in 0..n {
            ds[i * n + j] = T::from_f64(if j == i || wsum == 0.0 {
                0.0
            } else {
                scale * ((row[j].to_f64() - lse).exp() - pair_weight(labels, i, j, gamma) / wsum)
            });
        }
        let l = if wsum > 0.0 { lse - wss / wsum } else { 0.0 };
        loss[i] = T::from_f64(l);
        total += l * scale;
    }
    Ok(total)
}

/// GPU: per-row losses and dL/dS. `labels` holds `[group, pos]` pairs (2n words).
pub fn supcon_gpu(
    gpu: &Gpu,
    d: &SupconDims,
    s: &GpuBuf,
    labels: &GpuBuf,
    ds: &GpuBuf,
    loss: &GpuBuf,
) -> Result<()> {
    let SupconDims { n, gamma, scale } = *d;
    need("supcon", "S", s.len, n * n)?;
    need("supcon", "labels", labels.len, 2 * n)?;
    need("supcon", "dS", ds.len, n * n)?;
    need("supcon", "loss", loss.len, n)?;
    super::fits(gpu, "supcon similarity matrix", n * n)?;
    if n < 2 {
        return Err(CrestError::shape("supcon", "needs at least 2 views"));
    }
    let p = Params {
        n: n as u32,
        gamma,
        scale,
        _pad: 0,
    };
    gpu.dispatch(
        Kernel {
            shader: "loss",
            source: source(),
            entry: "supcon",
        },
        &[
            Arg::Uniform(bytemuck::bytes_of(&p)),
            Arg::Buf(s),
            Arg::Buf(labels),
            Arg::Buf(ds),
            Arg::Buf(loss),
        ],
        gpu.grid_1d(n, 1),
    )
}
