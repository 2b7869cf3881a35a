//! Bit head loss (per-bit BCE with logits) and batched bit-decoding of the
//! top-M coordinates per window. See `shaders/bithead.wgsl`.

use super::need;
use crate::error::{CrestError, Result};
use crate::gpu::{Arg, Gpu, GpuBuf, Kernel};

/// WGSL source.
pub const SOURCE: &str = include_str!("../../shaders/bithead.wgsl");

/// Most bits flipped by the decoder (M ≤ 2^8 candidates per window).
pub const MAX_FLIP: u32 = 8;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    bits: u32,
    flip: u32,
    limit: u32,
    scale: f32,
    _pad: [u32; 3],
}

fn kernel(entry: &'static str) -> Kernel {
    Kernel {
        shader: "bithead",
        source: SOURCE,
        entry,
    }
}

fn log_sigmoid(x: f32) -> f32 {
    x.min(0.0) - (1.0 + (-x.abs()).exp()).ln()
}

/// CPU twin of the BCE: per-row losses and gradients (scaled by 1/(rows·bits)).
pub fn bce_cpu(
    logits: &[f32],
    targets: &[f32],
    rows: usize,
    bits: usize,
    grad: &mut [f32],
    loss: &mut [f32],
) -> Result<()> {
    need("bce", "logits", logits.len(), rows * bits)?;
    need("bce", "targets", targets.len(), rows * bits)?;
    need("bce", "grad", grad.len(), rows * bits)?;
    need("bce", "loss", loss.len(), rows)?;
    let scale = 1.0 / (rows * bits).max(1) as f32;
    for (r, lr) in loss.iter_mut().enumerate().take(rows) {
        let mut l = 0.0;
        for b in 0..bits {
            let i = r * bits + b;
            let (x, t) = (logits[i], targets[i]);
            l += x.max(0.0) - t * x + (1.0 + (-x.abs()).exp()).ln();
            grad[i] = (1.0 / (1.0 + (-x).exp()) - t) * scale;
        }
        *lr = l;
    }
    Ok(())
}

/// GPU BCE.
pub fn bce_gpu(
    gpu: &Gpu,
    logits: &GpuBuf,
    targets: &GpuBuf,
    rows: usize,
    bits: usize,
    grad: &GpuBuf,
    loss: &GpuBuf,
) -> Result<()> {
    need("bce", "logits", logits.len, rows * bits)?;
    need("bce", "targets", targets.len, rows * bits)?;
    need("bce", "grad", grad.len, rows * bits)?;
    need("bce", "loss", loss.len, rows)?;
    let p = Params {
        rows: rows as u32,
        bits: bits as u32,
        flip: 0,
        limit: 0,
        scale: 1.0 / (rows * bits).max(1) as f32,
        _pad: [0; 3],
    };
    gpu.dispatch(
        kernel("bce"),
        &[
            Arg::Uniform(bytemuck::bytes_of(&p)),
            Arg::Buf(logits),
            Arg::Buf(targets),
            Arg::Buf(grad),
            Arg::Buf(loss),
        ],
        gpu.grid_1d(rows, 64),
    )
}

/// CPU twin of the decoder: `2^flip` (coordinate, log-probability) pairs per
/// row, in the same order as the GPU.
pub fn decode_cpu(
    logits: &[f32],
    rows: usize,
    bits: usize,
    flip: u32,
    limit: u32,
) -> Result<Vec<(u32, f32)>> {
    need("decode", "logits", logits.len(), rows * bits)?;
    check_decode(bits, flip)?;
    let m = 1usize << flip;
    let mut out = Vec::with_capacity(rows * m);
    for r in 0..rows {
        let row = &logits[r * bits..(r + 1) * bits];
        let mut base = 0u32;
        let mut score = 0.0f32;
        for (b, &x) in row.iter().enumerate() {
            if x > 0.0 {
                base |= 1 << b;
            }
            score += log_sigmoid(x.abs());
        }
        let mut chosen = 0u32;
        let mut flips = Vec::new();
        for _ in 0..flip {
            let (mut best, mut best_c) = (0usize, 3.0e38f32);
            for (b, &x) in row.iter().enumerate() {
                if (chosen >> b) & 1 == 0 && x.abs() < best_c {
                    best_c = x.abs();
                    best = b;
                }
            }
            chosen |= 1 << best;
            flips.push((best, best_c));
        }
        for mask in 0..m {
            let (mut c, mut s) = (base, score);
            for (f, &(b, cost)) in flips.iter().enumerate() {
                if (mask >> f) & 1 == 1 {
                    c ^= 1 << b;
                    s -= cost;
                }
            }
            if c >= limit {
                s = -3.0e38;
            }
            out.push((c, s));
        }
    }
    Ok(out)
}

fn check_decode(bits: usize, flip: u32) -> Result<()> {
    if bits == 0 || bits > 32 || flip > MAX_FLIP || flip as usize > bits {
        return Err(CrestError::shape(
            "decode",
            format!("{bits} bits, {flip} flips (≤ {MAX_FLIP})"),
        ));
    }
    Ok(())
}

/// GPU decoder; returns (coordinate, log-probability) pairs, `2^flip` per row.
pub fn decode_gpu(
    gpu: &Gpu,
    logits: &GpuBuf,
    rows: usize,
    bits: usize,
    flip: u32,
    limit: u32,
) -> Result<Vec<(u32, f32)>> {
    need("decode", "logits", logits.len, rows * bits)?;
    check_decode(bits, flip)?;
    let m = 1usize << flip;
    if rows == 0 {
        return Ok(Vec::new());
    }
    let out = gpu.zeros("decode", rows * m * 2)?;
    let p = Params {
        rows: rows as u32,
        bits: bits as u32,
        flip,
        limit,
        scale: 0.0,
        _pad: [0; 3],
    };
    gpu.dispatch(
        kernel("decode"),
        &[
            Arg::Uniform(bytemuck::bytes_of(&p)),
            Arg::Buf(logits),
            Arg::Unused,
            Arg::Unused,
            Arg::Unused,
            Arg::Buf(&out),
        ],
        gpu.grid_1d(rows, 64),
    )?;
    let words: Vec<u32> = gpu.read(&out)?;
    Ok(words
        .chunks_exact(2)
        .map(|w| (w[0], f32::from_bits(w[1])))
        .collect())
}
