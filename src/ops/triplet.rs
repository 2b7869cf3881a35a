//! Triplet margin ranking loss on L2 distances (Scorpio's objective), forward
//! and backward in one kernel. See `shaders/triplet.wgsl` for the layout.

use super::{need, Real};
use crate::error::{CrestError, Result};
use crate::gpu::{Arg, Gpu, GpuBuf, Kernel};

/// WGSL source.
pub const SOURCE: &str = include_str!("../../shaders/triplet.wgsl");

/// Squared distance below which a pair contributes no gradient direction.
pub const EPS: f64 = 1e-12;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    triplets: u32,
    dim: u32,
    margin: f32,
    scale: f32,
}

/// Shape and margin of one triplet batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TripletDims {
    /// Triplets B (the embedding matrix has 3B rows).
    pub triplets: usize,
    /// Embedding dimension.
    pub dim: usize,
    /// Margin.
    pub margin: f32,
}

impl TripletDims {
    fn validate(&self, e: usize, grad: usize, loss: usize) -> Result<()> {
        if !(self.margin.is_finite() && self.margin >= 0.0) {
            return Err(CrestError::shape(
                "triplet",
                format!("margin {} must be finite and ≥ 0", self.margin),
            ));
        }
        let n = 3 * self.triplets * self.dim;
        need("triplet", "embeddings", e, n)?;
        need("triplet", "grad", grad, n)?;
        need("triplet", "loss", loss, self.triplets)
    }

    fn scale(&self) -> f64 {
        1.0 / self.triplets.max(1) as f64
    }
}

/// CPU twin: per-triplet losses into `loss` and d(mean loss)/de into `grad`.
/// Returns the mean loss.
pub fn triplet_cpu<T: Real>(
    d: &TripletDims,
    e: &[T],
    grad: &mut [T],
    loss: &mut [T],
) -> Result<f64> {
    d.validate(e.len(), grad.len(), loss.len())?;
    let (b, p) = (d.triplets, d.dim);
    let scale = T::from_f64(d.scale());
    let margin = T::from_f64(d.margin as f64);
    let eps = T::from_f64(EPS);
    let mut total = 0.0;
    for (i, li) in loss.iter_mut().enumerate().take(b) {
        let (ra, rp, rn) = (i * p, (b + i) * p, (2 * b + i) * p);
        let (mut sp, mut sn) = (T::zero(), T::zero());
        for j in 0..p {
            let up = e[ra + j] - e[rp + j];
            let un = e[ra + j] - e[rn + j];
            sp += up * up;
            sn += un * un;
        }
        let (dap, dan) = (sp.sqrt(), sn.sqrt());
        let l = (dap - dan + margin).max(T::zero());
        *li = l;
        total += l.to_f64();
        let (mut cp, mut cn) = (T::zero(), T::zero());
        if l > T::zero() {
            if sp > eps {
                cp = scale / dap;
            }
            if sn > eps {
                cn = scale / dan;
            }
        }
        for j in 0..p {
            let up = e[ra + j] - e[rp + j];
            let un = e[ra + j] - e[rn + j];
            let gp = -(cp * up);
            let gn = cn * un;
            grad[rp + j] = gp;
            grad[rn + j] = gn;
            grad[ra + j] = -gp - gn;
        }
    }
    Ok(total / b.max(1) as f64)
}

/// GPU: per-triplet losses and d(mean loss)/de.
pub fn triplet_gpu(
    gpu: &Gpu,
    d: &TripletDims,
    e: &GpuBuf,
    grad: &GpuBuf,
    loss: &GpuBuf,
) -> Result<()> {
    d.validate(e.len, grad.len, loss.len)?;
    let p = Params {
        triplets: d.triplets as u32,
        dim: d.dim as u32,
        margin: d.margin,
        scale: d.scale() as f32,
    };
    gpu.dispatch(
        Kernel {
            shader: "triplet",
            source: SOURCE,
            entry: "triplet",
        },
        &[
            Arg::Uniform(bytemuck::bytes_of(&p)),
            Arg::Buf(e),
            Arg::Buf(grad),
            Arg::Buf(loss),
        ],
        [d.triplets.div_ceil(64) as u32, 1, 1],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hinge_is_zero_when_negative_is_far_enough() {
        // a = 0, p at distance 1, n at distance 3, margin 0.5 → inactive.
        let e = [0.0f64, 0.0, 1.0, 0.0, 3.0, 0.0];
        let d = TripletDims {
            triplets: 1,
            dim: 2,
            margin: 0.5,
        };
        let (mut g, mut l) = (vec![9.0; 6], vec![9.0; 1]);
        assert_eq!(triplet_cpu(&d, &e, &mut g, &mut l).unwrap(), 0.0);
        assert!(g.iter().all(|&v| v == 0.0));
        // n at distance 1.2 → loss 1 − 1.2 + 0.5 = 0.3
        let e = [0.0f64, 0.0, 1.0, 0.0, 0.0, 1.2];
        let m = triplet_cpu(&d, &e, &mut g, &mut l).unwrap();
        assert!((m - 0.3).abs() < 1e-12);
        // ∂/∂p = −(a−p)/d_ap = (1, 0); ∂/∂n = (a−n)/d_an = (0, −1)
        assert_eq!(&g[2..6], &[1.0, 0.0, 0.0, -1.0]);
        assert_eq!(&g[0..2], &[-1.0, 1.0]);
    }
}
