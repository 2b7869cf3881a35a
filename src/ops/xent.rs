//! Softmax cross-entropy: per-row loss and the gradient of the scaled sum
//! with respect to the logits, in one kernel (`shaders/xent.wgsl`).

use super::{fits, need, Real};
use crate::error::{CrestError, Result};
use crate::gpu::{Arg, Gpu, GpuBuf, Kernel};

/// WGSL source.
pub const SOURCE: &str = include_str!("../../shaders/xent.wgsl");

/// Shape and scaling of one cross-entropy: `rows` rows of `classes` logits,
/// the gradient scaled by `scale` (e.g. 1/rows for a mean loss).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct XentDims {
    /// Rows (examples).
    pub rows: usize,
    /// Logits per row.
    pub classes: usize,
    /// Scale of the gradient.
    pub scale: f32,
}

fn check(d: &XentDims, labels: &[f32]) -> Result<()> {
    let (rows, classes) = (d.rows, d.classes);
    if classes == 0 {
        return Err(CrestError::shape("xent", "no classes"));
    }
    need("xent", "labels", labels.len(), rows)?;
    if let Some(bad) = labels[..rows]
        .iter()
        .position(|&y| !(y >= 0.0 && (y as usize) < classes && y.fract() == 0.0))
    {
        return Err(CrestError::shape(
            "xent",
            format!(
                "label {} of row {bad} is not a class in 0..{classes}",
                labels[bad]
            ),
        ));
    }
    Ok(())
}

/// CPU twin: `loss[r]` = −log softmax(z_r)[y_r]; `dz` = scale · (softmax − onehot).
pub fn xent_cpu<T: Real>(
    d: &XentDims,
    logits: &[T],
    labels: &[f32],
    loss: &mut [T],
    dz: &mut [T],
) -> Result<()> {
    check(d, labels)?;
    let (rows, classes, scale) = (d.rows, d.classes, d.scale);
    need("xent", "logits", logits.len(), rows * classes)?;
    need("xent", "loss", loss.len(), rows)?;
    need("xent", "dlogits", dz.len(), rows * classes)?;
    for r in 0..rows {
        let z = &logits[r * classes..(r + 1) * classes];
        let m = z.iter().fold(f64::MIN, |a, v| a.max(v.to_f64()));
        let s: f64 = z.iter().map(|v| (v.to_f64() - m).exp()).sum();
        let y = labels[r] as usize;
        loss[r] = T::from_f64(m + s.ln() - z[y].to_f64());
        for j in 0..classes {
            let p = (z[j].to_f64() - m).exp() / s;
            let t = if j == y { 1.0 } else { 0.0 };
            dz[r * classes + j] = T::from_f64(scale as f64 * (p - t));
        }
    }
    Ok(())
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    classes: u32,
    scale: f32,
    _pad: u32,
}

/// GPU: as [`xent_cpu`]; `labels` is a device copy of the host labels
/// (checked on the host first).
pub fn xent_gpu(
    gpu: &Gpu,
    d: &XentDims,
    logits: &GpuBuf,
    labels_host: &[f32],
    labels: &GpuBuf,
    loss: &GpuBuf,
    dz: &GpuBuf,
) -> Result<()> {
    check(d, labels_host)?;
    let (rows, classes, scale) = (d.rows, d.classes, d.scale);
    need("xent", "logits", logits.len, rows * classes)?;
    need("xent", "labels", labels.len, rows)?;
    need("xent", "loss", loss.len, rows)?;
    need("xent", "dlogits", dz.len, rows * classes)?;
    fits(gpu, "xent logits", rows * classes)?;
    let p = Params {
        rows: rows as u32,
        classes: classes as u32,
        scale,
        _pad: 0,
    };
    gpu.dispatch(
        Kernel {
            shader: "xent",
            source: SOURCE,
            entry: "xent",
        },
        &[
            Arg::Uniform(bytemuck::bytes_of(&p)),
            Arg::Buf(logits),
            Arg::Buf(labels),
            Arg::Buf(loss),
            Arg::Buf(dz),
        ],
        gpu.grid_1d(rows, 64),
    )
}
