//! Row reductions over a row-major `[rows, cols]` matrix and the ops built on
//! them: sum, max, log-sum-exp (+ backward), softmax (+ backward), L2
//! normalisation (+ backward), and the per-channel sum used for bias gradients.

use super::{chunk_rows, fits, need, Real};
use crate::error::{CrestError, Result};
use crate::gpu::{Arg, Gpu, GpuBuf, Kernel};

/// Full WGSL source (shared workgroup reductions + `reduce.wgsl`).
pub fn source() -> &'static str {
    static S: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    S.get_or_init(|| {
        format!(
            "{}\n{}",
            include_str!("../../shaders/workgroup_reduce.wgsl"),
            include_str!("../../shaders/reduce.wgsl")
        )
    })
}

/// The row maximum's starting value (`NEG_BIG` in shaders/reduce.wgsl).
pub const NEG_BIG: f32 = -3.0e38;

/// Default epsilon of the L2 normalisation (norms below it are clamped).
pub const L2_EPS: f32 = 1e-12;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    inner: u32,
    eps: f32,
    accumulate: u32,
    _pad: [u32; 3],
}

/// A row-wise op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowOp {
    /// out[r] = Σ x[r, :]
    Sum,
    /// out[r] = max x[r, :]
    Max,
    /// out[r] = log Σ exp x[r, :]
    LogSumExp,
    /// out = softmax(x) per row
    Softmax,
    /// out = x / max(‖x‖, eps) per row
    L2Norm,
    /// out[r] = Σ x[r, :]²
    SumSq,
}

impl RowOp {
    fn entry(self) -> &'static str {
        match self {
            RowOp::Sum => "row_sum",
            RowOp::Max => "row_max",
            RowOp::LogSumExp => "logsumexp",
            RowOp::Softmax => "softmax",
            RowOp::L2Norm => "l2norm",
            RowOp::SumSq => "row_sumsq",
        }
    }
    /// Whether the op writes one value per row (else one per element).
    pub fn is_reduction(self) -> bool {
        matches!(
            self,
            RowOp::Sum | RowOp::Max | RowOp::LogSumExp | RowOp::SumSq
        )
    }
}

fn lse_row<T: Real>(row: &[T]) -> T {
    let m = row
        .iter()
        .fold(T::from_f64(NEG_BIG as f64), |a, &b| a.max(b));
    let mut s = T::zero();
    for &v in row {
        s += (v - m).exp();
    }
    m + s.ln()
}

/// CPU twin of a row-wise op.
pub fn row_op_cpu<T: Real>(
    op: RowOp,
    x: &[T],
    rows: usize,
    cols: usize,
    eps: f32,
    out: &mut [T],
) -> Result<()> {
    need("row_op", "x", x.len(), rows * cols)?;
    let out_len = if op.is_reduction() { rows } else { rows * cols };
    need("row_op", "out", out.len(), out_len)?;
    if cols == 0 && !matches!(op, RowOp::Sum | RowOp::SumSq) {
        return Err(CrestError::shape("row_op", "zero columns"));
    }
    for r in 0..rows {
        let row = &x[r * cols..(r + 1) * cols];
        match op {
            RowOp::Sum => {
                let mut s = T::zero();
                for &v in row {
                    s += v;
                }
                out[r] = s;
            }
            RowOp::SumSq => {
                let mut s = T::zero();
                for &v in row {
                    s += v * v;
                }
                out[r] = s;
            }
            RowOp::Max => {
                out[r] = row
                    .iter()
                    .fold(T::from_f64(NEG_BIG as f64), |a, &b| a.max(b))
            }
            RowOp::LogSumExp => out[r] = lse_row(row),
            RowOp::Softmax => {
                let l = lse_row(row);
                for j in 0..cols {
                    out[r * cols + j] = (row[j] - l).exp();
                }
            }
            RowOp::L2Norm => {
                let mut s = T::zero();
                for &v in row {
                    s += v * v;
                }
                let n = s.sqrt().max(T::from_f64(eps as f64));
                for j in 0..cols {
                    out[r * cols + j] = row[j] / n;
                }
            }
        }
    }
    Ok(())
}

/// CPU twin of the log-sum-exp backward: `dx = g[r] * exp(x - lse[r])`.
pub fn logsumexp_bwd_cpu<T: Real>(
    x: &[T],
    lse: &[T],
    g: &[T],
    rows: usize,
    cols: usize,
    dx: &mut [T],
) -> Result<()> {
    need("logsumexp_bwd", "x", x.len(), rows * cols)?;
    need("logsumexp_bwd", "dx", dx.len(), rows * cols)?;
    need("logsumexp_bwd", "lse", lse.len(), rows)?;
    need("logsumexp_bwd", "g", g.len(), rows)?;
    for r in 0..rows {
        for j in 0..cols {
            let i = r * cols + j;
            dx[i] = g[r] * (x[i] - lse[r]).exp();
        }
    }
    Ok(())
}

/// CPU twin of the softmax backward: `dx = y * (dy - Σ y·dy)` per row.
pub fn softmax_bwd_cpu<T: Real>(
    y: &[T],
    dy: &[T],
    rows: usize,
    cols: usize,
    dx: &mut [T],
) -> Result<()> {
    for t in [y.len(), dy.len(), dx.len()] {
        need("softmax_bwd", "tensor", t, rows * cols)?;
    }
    for r in 0..rows {
        let b = r * cols;
        let mut d = T::zero();
        for j in 0..cols {
            d += y[b + j] * dy[b + j];
        }
        for j in 0..cols {
            dx[b + j] = y[b + j] * (dy[b + j] - d);
        }
    }
    Ok(())
}

/// CPU twin of the L2-normalise backward (x = forward input).
pub fn l2norm_bwd_cpu<T: Real>(
    x: &[T],
    dy: &[T],
    rows: usize,
    cols: usize,
    eps: f32,
    dx: &mut [T],
) -> Result<()> {
    for t in [x.len(), dy.len(), dx.len()] {
        need("l2norm_bwd", "tensor", t, rows * cols)?;
    }
    let eps = T::from_f64(eps as f64);
    for r in 0..rows {
        let b = r * cols;
        let mut s = T::zero();
        let mut d = T::zero();
        for j in 0..cols {
            s += x[b + j] * x[b + j];
            d += x[b + j] * dy[b + j];
        }
        let n = s.sqrt();
        if n > eps {
            let ydy = d / n;
            for j in 0..cols {
                let y = x[b + j] / n;
                dx[b + j] = (dy[b + j] - y * ydy) / n;
            }
        } else {
            for j in 0..cols {
                dx[b + j] = dy[b + j] / eps;
            }
        }
    }
    Ok(())
}

/// CPU twin of the per-channel sum of x viewed as `[outer, channels, inner]`.
pub fn channel_sum_cpu<T: Real>(
    x: &[T],
    outer: usize,
    channels: usize,
    inner: usize,
    out: &mut [T],
) -> Result<()> {
    need("channel_sum", "x", x.len(), outer * channels * inner)?;
    need("channel_sum", "out", out.len(), channels)?;
    for c in 0..channels {
        let mut s = T::zero();
        for o in 0..outer {
            for i in 0..inner {
                s += x[(o * channels + c) * inner + i];
            }
        }
        out[c] = s;
    }
    Ok(())
}

fn kernel(entry: &'static str) -> Kernel {
    Kernel {
        shader: "reduce",
        source: source(),
        entry,
    }
}

fn params(rows: usize, cols: usize, inner: usize, eps: f32) -> Params {
    Params {
        rows: rows as u32,
        cols: cols as u32,
        inner: inner as u32,
        eps,
        accumulate: 0,
        _pad: [0; 3],
    }
}

/// Dispatch a row kernel in row chunks. `per_row` lists, for each bound
/// buffer after the uniform (bindings 1..=4, None = unused), the words it has
/// per row.
fn run_rows(
    gpu: &Gpu,
    entry: &'static str,
    rows: usize,
    cols: usize,
    eps: f32,
    bufs: [Option<(&GpuBuf, usize)>; 4],
) -> Result<()> {
    if rows == 0 {
        return Ok(());
    }
    let words: Vec<usize> = bufs.iter().flatten().map(|(_, w)| *w).collect();
    let max_rows = gpu.max_groups() as usize * gpu.max_groups() as usize;
    let chunk = chunk_rows(gpu, entry, rows, &words, max_rows)?;
    let mut r0 = 0;
    while r0 < rows {
        let r = chunk.min(rows - r0);
        let p = params(r, cols, 1, eps);
        let mut args = vec![Arg::Uniform(bytemuck::bytes_of(&p))];
        for b in &bufs {
            args.push(match b {
                Some((buf, w)) => Arg::Slice(buf, r0 * w, r * w),
                None => Arg::Unused,
            });
        }
        gpu.dispatch(kernel(entry), &args, gpu.grid_1d(r, 1))?;
        r0 += r;
    }
    Ok(())
}

/// GPU row-wise op.
pub fn row_op_gpu(
    gpu: &Gpu,
    op: RowOp,
    x: &GpuBuf,
    rows: usize,
    cols: usize,
    eps: f32,
    out: &GpuBuf,
) -> Result<()> {
    need("row_op", "x", x.len, rows * cols)?;
    let ow = if op.is_reduction() { 1 } else { cols };
    need("row_op", "out", out.len, rows * ow)?;
    if cols == 0 && !matches!(op, RowOp::Sum | RowOp::SumSq) {
        return Err(CrestError::shape("row_op", "zero columns"));
    }
    run_rows(
        gpu,
        op.entry(),
        rows,
        cols,
        eps,
        [Some((x, cols)), None, None, Some((out, ow))],
    )
}

/// GPU log-sum-exp backward.
pub fn logsumexp_bwd_gpu(
    gpu: &Gpu,
    x: &GpuBuf,
    lse: &GpuBuf,
    g: &GpuBuf,
    rows: usize,
    cols: usize,
    dx: &GpuBuf,
) -> Result<()> {
    need("logsumexp_bwd", "x", x.len, rows * cols)?;
    need("logsumexp_bwd", "dx", dx.len, rows * cols)?;
    need("logsumexp_bwd", "lse", lse.len, rows)?;
    need("logsumexp_bwd", "g", g.len, rows)?;
    run_rows(
        gpu,
        "logsumexp_bwd",
        rows,
        cols,
        0.0,
        [
            Some((x, cols)),
            Some((lse, 1)),
            Some((g, 1)),
            Some((dx, cols)),
        ],
    )
}

/// GPU softmax backward (y = softmax output).
pub fn softmax_bwd_gpu(
    gpu: &Gpu,
    y: &GpuBuf,
    dy: &GpuBuf,
    rows: usize,
    cols: usize,
    dx: &GpuBuf,
) -> Result<()> {
    for t in [y.len, dy.len, dx.len] {
        need("softmax_bwd", "tensor", t, rows * cols)?;
    }
    run_rows(
        gpu,
        "softmax_bwd",
        rows,
        cols,
        0.0,
        [Some((y, cols)), Some((dy, cols)), None, Some((dx, cols))],
    )
}

/// GPU L2-normalise backward (x = forward input).
pub fn l2norm_bwd_gpu(
    gpu: &Gpu,
    x: &GpuBuf,
    dy: &GpuBuf,
    rows: usize,
    cols: usize,
    eps: f32,
    dx: &GpuBuf,
) -> Result<()> {
    for t in [x.len, dy.len, dx.len] {
        need("l2norm_bwd", "tensor", t, rows * cols)?;
    }
    run_rows(
        gpu,
        "l2norm_bwd",
        rows,
        cols,
        eps,
        [Some((x, cols)), Some((dy, cols)), None, Some((dx, cols))],
    )
}

/// GPU per-channel sum (bias gradient) of x viewed as `[outer, channels, inner]`.
pub fn channel_sum_gpu(
    gpu: &Gpu,
    x: &GpuBuf,
    outer: usize,
    channels: usize,
    inner: usize,
    out: &GpuBuf,
) -> Result<()> {
    need("channel_sum", "x", x.len, outer * channels * inner)?;
    need("channel_sum", "out", out.len, channels)?;
    fits(gpu, "channel_sum output", channels)?;
    if channels == 0 {
        return Ok(());
    }
    let row = channels * inner;
    let chunk = if outer == 0 {
        1
    } else {
        chunk_rows(gpu, "channel_sum", outer, &[row], usize::MAX)?
    };
    let mut o0 = 0;
    loop {
        let r = chunk.min(outer - o0);
        let mut p = params(r, channels, inner, 0.0);
        p.accumulate = (o0 > 0) as u32;
        gpu.dispatch(
            kernel("channel_sum"),
            &[
                Arg::Uniform(bytemuck::bytes_of(&p)),
                Arg::Slice(x, o0 * row, (r * row).max(1).min(x.len - o0 * row)),
                Arg::Unused,
                Arg::Unused,
                Arg::Buf(out),
            ],
            gpu.grid_1d(channels, 1),
        )?;
        o0 += r;
        if o0 >= outer {
            return Ok(());
        }
    }
}

/// CPU twin of the row top-k: for each row the `k` largest (value, column)
/// pairs, by value descending then column ascending.
pub fn topk_cpu(x: &[f32], rows: usize, cols: usize, k: usize) -> Result<Vec<(f32, u32)>> {
    need("topk", "x", x.len(), rows * cols)?;
    if k > cols {
        return Err(CrestError::shape(
            "topk",
            format!("k = {k} > {cols} columns"),
        ));
    }
    let mut out = Vec::with_capacity(rows * k);
    for r in 0..rows {
        let mut idx: Vec<u32> = (0..cols as u32).collect();
        let row = &x[r * cols..(r + 1) * cols];
        idx.sort_by(|&a, &b| row[b as usize].total_cmp(&row[a as usize]).then(a.cmp(&b)));
        out.extend(idx[..k].iter().map(|&j| (row[j as usize], j)));
    }
    Ok(out)
}

/// Rows from which the barrier-free one-invocation-per-row top-k is used.
pub const SERIAL_TOPK_ROWS: usize = 256;

/// Worst-case loop iterations of one invocation of each top-k kernel: the
/// serial kernel visits every column and may shift its list of k at each
/// (sorted input); the workgroup kernel makes k passes of ⌈cols/256⌉ plus an
/// 8-step reduction. Both must stay within [`super::LOOP_BUDGET`].
pub fn topk_loop_trips(cols: usize, k: usize, serial: bool) -> usize {
    if serial {
        cols * (k + 1) + k
    } else {
        k * (cols.div_ceil(256) + 9)
    }
}

/// GPU row top-k. `out` receives `rows * k * 2` words: (value, column bits).
/// Many rows (≥ [`SERIAL_TOPK_ROWS`], k ≤ 32) of modest length (within the
/// loop budget) use one invocation per row; others one workgroup per row.
pub fn topk_gpu(
    gpu: &Gpu,
    x: &GpuBuf,
    rows: usize,
    cols: usize,
    k: usize,
    out: &GpuBuf,
) -> Result<()> {
    let serial =
        rows >= SERIAL_TOPK_ROWS && k <= 32 && topk_loop_trips(cols, k, true) <= super::LOOP_BUDGET;
    topk_gpu_with(gpu, x, rows, cols, k, out, serial)
}

/// [`topk_gpu`] with the kernel chosen by the caller (both are tested).
pub fn topk_gpu_with(
    gpu: &Gpu,
    x: &GpuBuf,
    rows: usize,
    cols: usize,
    k: usize,
    out: &GpuBuf,
    serial: bool,
) -> Result<()> {
    need("topk", "x", x.len, rows * cols)?;
    need("topk", "out", out.len, rows * k * 2)?;
    if k > cols || (serial && k > 32) {
        return Err(CrestError::shape(
            "topk",
            format!("k = {k} with {cols} columns"),
        ));
    }
    if topk_loop_trips(cols, k, serial) > super::LOOP_BUDGET {
        return Err(CrestError::shape(
            "topk",
            format!(
                "k = {k} of {cols} columns ({} kernel) needs more loop iterations per invocation than {}",
                if serial { "serial" } else { "workgroup" },
                super::LOOP_BUDGET
            ),
        ));
    }
    if rows == 0 || k == 0 {
        return Ok(());
    }
    let max_rows = gpu.max_groups() as usize * gpu.max_groups() as usize;
    let chunk = chunk_rows(gpu, "row_topk", rows, &[cols, 2 * k], max_rows)?;
    let mut r0 = 0;
    while r0 < rows {
        let r = chunk.min(rows - r0);
        let p = params(r, cols, k, 0.0);
        let (entry, grid) = if serial {
            ("row_topk_serial", gpu.grid_1d(r, 64))
        } else {
            ("row_topk", gpu.grid_1d(r, 1))
        };
        gpu.dispatch(
            kernel(entry),
            &[
                Arg::Uniform(bytemuck::bytes_of(&p)),
                Arg::Slice(x, r0 * cols, r * cols),
                Arg::Unused,
                Arg::Unused,
                Arg::Slice(out, r0 * 2 * k, r * 2 * k),
            ],
            grid,
        )?;
        r0 += r;
    }
    Ok(())
}

/// Decode [`topk_gpu`]'s output words into (value, column) pairs.
pub fn decode_topk(words: &[u32]) -> Vec<(f32, u32)> {
    words
        .chunks_exact(2)
        .map(|w| (f32::from_bits(w[0]), w[1]))
        .collect()
}

/// Run a reducing row op on `rows x cols` of `x`, writing `out[at..at + rows]`
/// (`at` must be a multiple of 64 words, the storage offset alignment unit).
pub fn run_rows_at(
    gpu: &Gpu,
    op: RowOp,
    x: &GpuBuf,
    rows: usize,
    cols: usize,
    out: &GpuBuf,
    at: usize,
) -> Result<()> {
    if !op.is_reduction() {
        return Err(CrestError::shape(
            "row_op",
            "run_rows_at needs a reducing op",
        ));
    }
    need("row_op", "x", x.len, rows * cols)?;
    need("row_op", "out", out.len, at + rows)?;
    let p = params(rows, cols, 1, 0.0);
    fits(gpu, op.entry(), rows * cols)?;
    gpu.dispatch(
        kernel(op.entry()),
        &[
            Arg::Uniform(bytemuck::bytes_of(&p)),
            Arg::Buf(x),
            Arg::Unused,
            Arg::Unused,
            Arg::Slice(out, at, rows),
        ],
        gpu.grid_1d(rows, 1),
    )
}
