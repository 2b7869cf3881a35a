//! The kernel library: one module per kernel family. Each has a typed launcher
//! for its WGSL shader (`*_gpu`) and a plain-Rust CPU twin (`*_cpu`, generic
//! over f32/f64 so that gradients can be checked in f64).

pub mod align;
pub mod batchnorm;
pub mod bithead;
pub mod conv1d;
pub mod elementwise;
pub mod encode;
pub mod gemm;
pub mod index;
pub mod infer;
pub mod kmer;
pub mod list_scan;
pub mod loss;
pub mod optim;
pub mod permute;
pub mod poincare;
pub mod pool;
pub mod pq;
pub mod radam;
pub mod reduce;
#[cfg(test)]
mod shader_constants;
pub mod triplet;
pub mod window_scan;
pub mod xent;

use crate::error::{CrestError, Result};
use crate::gpu::Gpu;

/// Floating-point element type of the CPU twins (f32 for the reference
/// backend, f64 for finite-difference gradient checks).
pub trait Real:
    Copy
    + Default
    + PartialOrd
    + std::fmt::Debug
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::Neg<Output = Self>
    + std::ops::AddAssign
    + Send
    + Sync
    + 'static
{
    /// Convert from f64.
    fn from_f64(x: f64) -> Self;
    /// Convert to f64.
    fn to_f64(self) -> f64;
    /// e^self.
    fn exp(self) -> Self;
    /// Natural log.
    fn ln(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Larger of the two.
    fn max(self, other: Self) -> Self {
        if self > other {
            self
        } else {
            other
        }
    }
    /// Zero.
    fn zero() -> Self {
        Self::default()
    }
}

macro_rules! impl_real {
    ($t:ty) => {
        impl Real for $t {
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
        }
    };
}
impl_real!(f32);
impl_real!(f64);

/// Every shader crest compiles, as (name, full WGSL source), for validation.
pub fn all_shaders() -> Vec<(&'static str, &'static str)> {
    let mut v = vec![
        ("encode", encode::SOURCE),
        ("elementwise", elementwise::SOURCE),
        ("reduce", reduce::source()),
        ("loss", loss::source()),
        ("optim", optim::SOURCE),
        ("bithead", bithead::SOURCE),
        ("align", align::SOURCE),
        ("splitk", gemm::SPLITK_SOURCE),
        ("gemm", gemm::source()),
        ("poincare", poincare::source()),
        ("radam", radam::source()),
        ("index", index::SOURCE),
        ("window_scan", window_scan::SOURCE),
        ("pq", pq::SOURCE),
        (
            "window_scan_d5",
            window_scan::kernel(5, window_scan::RowCode::F32).source,
        ),
        (
            "window_scan_d64",
            window_scan::kernel(64, window_scan::RowCode::F32).source,
        ),
        (
            "window_scan_d32_pq16",
            window_scan::kernel(32, window_scan::RowCode::Pq(16)).source,
        ),
        (
            "window_scan_d32_pq1",
            window_scan::kernel(32, window_scan::RowCode::Pq(1)).source,
        ),
        ("list_scan", list_scan::SOURCE),
        (
            "list_scan_d5",
            list_scan::kernel(5, window_scan::RowCode::F32).source,
        ),
        (
            "list_scan_d32_pq16",
            list_scan::kernel(32, window_scan::RowCode::Pq(16)).source,
        ),
        (
            "list_scan_d32_pq1",
            list_scan::kernel(32, window_scan::RowCode::Pq(1)).source,
        ),
        ("kmer", kmer::SOURCE),
        ("triplet", triplet::SOURCE),
        ("pool", pool::SOURCE),
        ("batchnorm", batchnorm::source()),
        ("xent", xent::SOURCE),
        ("permute", permute::SOURCE),
        ("infer8", infer::source(8)),
        ("infer16", infer::source(16)),
    ];
    for mode in conv1d::ConvPass::ALL {
        v.push((mode.shader_name(), conv1d::source(mode)));
    }
    v
}

/// Loop iterations one invocation may run, summed over all of its loops.
/// Mesa's llvmpipe (the CPU driver CI and GPU-less machines use) stops every
/// loop of an invocation once this many iterations have run in total
/// (`LP_MAX_TGSI_LOOP_ITERATIONS`, "shared between every loop in a shader"),
/// silently: results are then computed from a prefix of the data. Kernels
/// whose per-invocation trip count grows with the input are dispatched so
/// that it stays below this (see `reduce::topk_gpu`, `index::tree`).
pub const LOOP_BUDGET: usize = 65_535;

/// Check a buffer holds exactly/at least the words an op needs.
pub(crate) fn need(op: &'static str, what: &str, have: usize, want: usize) -> Result<()> {
    if have < want {
        return Err(CrestError::shape(
            op,
            format!("{what} has {have} elements, needs {want}"),
        ));
    }
    Ok(())
}

/// Rows per chunk when a row-major operand of `total_rows` rows is split so that
/// no binding exceeds the device's binding cap: for each operand, `row_words[i]`
/// is the words one row occupies. Chunk starts stay aligned to the storage
/// offset alignment. `max_rows` bounds the result further (dispatch limits).
pub(crate) fn chunk_rows(
    gpu: &Gpu,
    op: &str,
    total_rows: usize,
    row_words: &[usize],
    max_rows: usize,
) -> Result<usize> {
    let cap = gpu.binding_cap() as usize;
    let align = gpu.offset_align().max(4) as usize;
    let mut step = 1usize;
    let mut rows = total_rows.min(max_rows).max(1);
    for &w in row_words {
        let bytes = (w * 4).max(4);
        let need_step = align / gcd(bytes, align);
        step = lcm(step, need_step);
        rows = rows.min(cap / bytes);
    }
    if rows >= total_rows {
        return Ok(total_rows.max(1));
    }
    let rows = rows / step * step;
    if rows == 0 {
        let worst = row_words.iter().max().copied().unwrap_or(1) as u64 * 4 * step as u64;
        return Err(CrestError::Limit {
            what: format!("storage binding for {op} (one aligned chunk of rows)"),
            needs: worst,
            gives: cap as u64,
            adapter: gpu.summary.name.clone(),
        });
    }
    Ok(rows)
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn lcm(a: usize, b: usize) -> usize {
    a / gcd(a, b) * b
}

/// Error unless a whole operand fits in one binding.
pub(crate) fn fits(gpu: &Gpu, op: &str, words: usize) -> Result<()> {
    let cap = gpu.binding_cap();
    let bytes = words as u64 * 4;
    if bytes > cap {
        return Err(CrestError::Limit {
            what: format!("storage binding for {op}"),
            needs: bytes,
            gives: cap,
            adapter: gpu.summary.name.clone(),
        });
    }
    Ok(())
}
