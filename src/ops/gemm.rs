//! GEMM with optional transposes: `C = alpha * op(A) * op(B) + beta * C`.
//!
//! Row-major storage: A is `[m, k]` (or `[k, m]` when `trans_a`), B is `[k, n]`
//! (or `[n, k]` when `trans_b`), C is `[m, n]`. Large operands are split so that
//! no binding exceeds the device limit (rows of M when A is not transposed,
//! rows of K when A is transposed and B is not); small outputs with a long K
//! are split along K across workgroups (split-K) and folded by `splitk.wgsl`.

use std::sync::OnceLock;

use super::{chunk_rows, fits, need, Real};
use crate::error::{CrestError, Result};
use crate::gpu::{Arg, Gpu, GpuBuf, Kernel};

const TILE: &str = include_str!("../../shaders/tile_gemm.wgsl");
const GEMM: &str = include_str!("../../shaders/gemm.wgsl");
/// Source of the split-K reduction shader.
pub const SPLITK_SOURCE: &str = include_str!("../../shaders/splitk.wgsl");

/// Full WGSL of the GEMM kernel (family file + shared tiled body).
pub fn source() -> &'static str {
    static S: OnceLock<String> = OnceLock::new();
    S.get_or_init(|| format!("{GEMM}\n{TILE}"))
}

/// Shape and scaling of one GEMM.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GemmDims {
    /// Rows of op(A) and C.
    pub m: usize,
    /// Columns of op(B) and C.
    pub n: usize,
    /// Inner dimension.
    pub k: usize,
    /// A is stored `[k, m]`.
    pub trans_a: bool,
    /// B is stored `[n, k]`.
    pub trans_b: bool,
    /// Scale of the product.
    pub alpha: f32,
    /// Scale of the existing C (0 overwrites C without reading it).
    pub beta: f32,
}

impl GemmDims {
    /// `C = op(A) op(B)`.
    pub fn new(m: usize, n: usize, k: usize, trans_a: bool, trans_b: bool) -> Self {
        GemmDims {
            m,
            n,
            k,
            trans_a,
            trans_b,
            alpha: 1.0,
            beta: 0.0,
        }
    }

    /// Floating-point operations (2mnk).
    pub fn flops(&self) -> f64 {
        2.0 * self.m as f64 * self.n as f64 * self.k as f64
    }

    /// Row and column strides of op(A), then of op(B), in their storage.
    fn strides(&self) -> [usize; 4] {
        let a = if self.trans_a {
            [1, self.m]
        } else {
            [self.k, 1]
        };
        let b = if self.trans_b {
            [1, self.k]
        } else {
            [self.n, 1]
        };
        [a[0], a[1], b[0], b[1]]
    }

    fn validate(&self, a: usize, b: usize, c: usize) -> Result<()> {
        need("gemm", "A", a, self.m * self.k)?;
        need("gemm", "B", b, self.k * self.n)?;
        need("gemm", "C", c, self.m * self.n)
    }
}

/// CPU twin. Accumulates in the element type in the same k order as the GPU.
pub fn gemm_cpu<T: Real>(d: &GemmDims, a: &[T], b: &[T], c: &mut [T]) -> Result<()> {
    d.validate(a.len(), b.len(), c.len())?;
    let (alpha, beta) = (T::from_f64(d.alpha as f64), T::from_f64(d.beta as f64));
    for i in 0..d.m {
        for j in 0..d.n {
            let mut s = T::zero();
            for p in 0..d.k {
                let av = if d.trans_a {
                    a[p * d.m + i]
                } else {
                    a[i * d.k + p]
                };
                let bv = if d.trans_b {
                    b[j * d.k + p]
                } else {
                    b[p * d.n + j]
                };
                s += av * bv;
            }
            let o = &mut c[i * d.n + j];
            *o = if d.beta == 0.0 {
                alpha * s
            } else {
                alpha * s + beta * *o
            };
        }
    }
    Ok(())
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    m: u32,
    n: u32,
    k: u32,
    k_per_split: u32,
    a_rs: u32,
    a_cs: u32,
    b_rs: u32,
    b_cs: u32,
    alpha: f32,
    beta: f32,
    split_mode: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct SplitParams {
    count: u32,
    splits: u32,
    alpha: f32,
    beta: f32,
}

fn kernel() -> Kernel {
    Kernel {
        shader: "gemm",
        source: source(),
        entry: "tile_main",
    }
}

/// The split-K reduction kernel.
pub(crate) fn splitk_kernel() -> Kernel {
    Kernel {
        shader: "splitk",
        source: SPLITK_SOURCE,
        entry: "reduce_splits",
    }
}

/// How many K slices to use for an output of `tiles` 64x64 tiles and inner size `k`:
/// enough workgroups to fill a large GPU, never slices shorter than 256.
pub fn choose_splits(tiles: usize, k: usize) -> usize {
    const TARGET_GROUPS: usize = 128;
    if tiles >= TARGET_GROUPS / 2 || k < 1024 {
        return 1;
    }
    TARGET_GROUPS.div_ceil(tiles).min(k / 256).clamp(1, 32)
}

/// Fold `splits` partial results (`[splits, count]`) into `out` with alpha/beta.
pub(crate) fn reduce_splits(
    gpu: &Gpu,
    partial: &GpuBuf,
    splits: usize,
    count: usize,
    alpha: f32,
    beta: f32,
    out: Arg<'_>,
) -> Result<()> {
    let p = SplitParams {
        count: count as u32,
        splits: splits as u32,
        alpha,
        beta,
    };
    gpu.dispatch(
        splitk_kernel(),
        &[Arg::Uniform(bytemuck::bytes_of(&p)), Arg::Buf(partial), out],
        gpu.grid_1d(count, 256),
    )
}

/// One GEMM dispatch (split-K when the output is small) on operands that
/// fit one binding each: `d` is the launch's own shape (a chunk of the
/// caller's), its strides those of whole rows of A and B.
fn launch(gpu: &Gpu, d: &GemmDims, a: Arg<'_>, b: Arg<'_>, c: Arg<'_>) -> Result<()> {
    let (m, n, k, alpha, beta) = (d.m, d.n, d.k, d.alpha, d.beta);
    let strides = d.strides();
    let gx = n.div_ceil(64);
    let gy = m.div_ceil(64);
    let mut splits = choose_splits(gx * gy, k);
    // The partial buffer must itself fit one binding.
    while splits > 1 && (splits * m * n * 4) as u64 > gpu.binding_cap() {
        splits /= 2;
    }
    let mut p = Params {
        m: m as u32,
        n: n as u32,
        k: k as u32,
        k_per_split: k.max(1) as u32,
        a_rs: strides[0] as u32,
        a_cs: strides[1] as u32,
        b_rs: strides[2] as u32,
        b_cs: strides[3] as u32,
        alpha,
        beta,
        split_mode: 0,
        _pad: 0,
    };
    if splits <= 1 {
        return gpu.dispatch(
            kernel(),
            &[Arg::Uniform(bytemuck::bytes_of(&p)), a, b, c],
            [gx as u32, gy as u32, 1],
        );
    }
    let per = k.div_ceil(splits).div_ceil(16) * 16;
    let splits = k.div_ceil(per);
    p.k_per_split = per as u32;
    p.split_mode = 1;
    let partial = gpu.zeros("gemm split-K partials", splits * m * n)?;
    gpu.dispatch(
        kernel(),
        &[
            Arg::Uniform(bytemuck::bytes_of(&p)),
            a,
            b,
            Arg::Buf(&partial),
        ],
        [gx as u32, gy as u32, splits as u32],
    )?;
    reduce_splits(gpu, &partial, splits, m * n, alpha, beta, c)
}

/// GPU GEMM on device buffers (see module docs for layouts and splitting).
pub fn gemm_gpu(gpu: &Gpu, d: &GemmDims, a: &GpuBuf, b: &GpuBuf, c: &GpuBuf) -> Result<()> {
    d.validate(a.len, b.len, c.len)?;
    let (m, n, k) = (d.m, d.n, d.k);
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        // C = beta * C: a split-K reduction over zero slices.
        let dummy = gpu.zeros("empty", 1)?;
        return reduce_splits(gpu, &dummy, 0, m * n, d.alpha, d.beta, Arg::Buf(c));
    }
    let max_rows = gpu.max_groups() as usize * 64;
    if !d.trans_a {
        fits(gpu, "gemm B", k * n)?;
        let rows = chunk_rows(gpu, "gemm", m, &[k, n], max_rows)?;
        let mut r0 = 0;
        while r0 < m {
            let r = rows.min(m - r0);
            launch(
                gpu,
                &GemmDims { m: r, ..*d },
                Arg::Slice(a, r0 * k, r * k),
                Arg::Buf(b),
                Arg::Slice(c, r0 * n, r * n),
            )?;
            r0 += r;
        }
        return Ok(());
    }
    // A stored [k, m]: the output tile grid must fit one dispatch.
    fits(gpu, "gemm C", m * n)?;
    if m > max_rows {
        return Err(CrestError::Limit {
            what: "gemm rows of op(A) with trans_a (workgroups)".into(),
            needs: m as u64,
            gives: max_rows as u64,
            adapter: gpu.summary.name.clone(),
        });
    }
    if d.trans_b {
        fits(gpu, "gemm A", k * m)?;
        fits(gpu, "gemm B", k * n)?;
        return launch(gpu, d, Arg::Buf(a), Arg::Buf(b), Arg::Buf(c));
    }
    // Split K: A chunk [kc, m], B chunk [kc, n]; later chunks accumulate.
    let rows = chunk_rows(gpu, "gemm", k, &[m, n], usize::MAX)?;
    let mut k0 = 0;
    while k0 < k {
        let kc = rows.min(k - k0);
        let beta = if k0 == 0 { d.beta } else { 1.0 };
        launch(
            gpu,
            &GemmDims { k: kc, beta, ..*d },
            Arg::Slice(a, k0 * m, kc * m),
            Arg::Slice(b, k0 * n, kc * n),
            Arg::Buf(c),
        )?;
        k0 += kc;
    }
    Ok(())
}

/// Gradients of `C = op(A) op(B)` (alpha = 1, beta = 0) given dC: returns
/// (dA, dB) in A's and B's storage layouts. Written with [`gemm_cpu`] itself.
pub fn gemm_backward_cpu<T: Real>(
    d: &GemmDims,
    a: &[T],
    b: &[T],
    dc: &[T],
) -> Result<(Vec<T>, Vec<T>)> {
    let mut da = vec![T::zero(); d.m * d.k];
    let mut db = vec![T::zero(); d.k * d.n];
    let (ga, gb) = backward_dims(d);
    // dA (storage layout): no trans: dC · op(B)^T ; trans_a: op(B) · dC^T
    if d.trans_a {
        gemm_cpu(&ga, b, dc, &mut da)?;
    } else {
        gemm_cpu(&ga, dc, b, &mut da)?;
    }
    if d.trans_b {
        gemm_cpu(&gb, dc, a, &mut db)?;
    } else {
        gemm_cpu(&gb, a, dc, &mut db)?;
    }
    Ok((da, db))
}

/// GPU twin of [`gemm_backward_cpu`], writing dA and dB.
pub fn gemm_backward_gpu(
    gpu: &Gpu,
    d: &GemmDims,
    a: &GpuBuf,
    b: &GpuBuf,
    dc: &GpuBuf,
    da: &GpuBuf,
    db: &GpuBuf,
) -> Result<()> {
    let (ga, gb) = backward_dims(d);
    if d.trans_a {
        gemm_gpu(gpu, &ga, b, dc, da)?;
    } else {
        gemm_gpu(gpu, &ga, dc, b, da)?;
    }
    if d.trans_b {
        gemm_gpu(gpu, &gb, dc, a, db)
    } else {
        gemm_gpu(gpu, &gb, a, dc, db)
    }
}

/// The two GEMMs of the backward pass, in storage layout of dA and dB.
fn backward_dims(d: &GemmDims) -> (GemmDims, GemmDims) {
    let (m, n, k) = (d.m, d.n, d.k);
    // dA: stored [m,k] -> dC[m,n] · op(B)^T[n,k]; op(B)^T from B storage:
    //   B stored [k,n] (no trans) -> need trans; B stored [n,k] (trans) -> as is.
    // stored [k,m] (trans_a) -> op(B)[k,n] · dC^T[n,m]
    let ga = if d.trans_a {
        GemmDims::new(k, m, n, d.trans_b, true)
    } else {
        GemmDims::new(m, k, n, false, !d.trans_b)
    };
    // dB: stored [k,n] -> op(A)^T[k,m] · dC[m,n]; stored [n,k] (trans_b) -> dC^T[n,m] · op(A)[m,k]
    let gb = if d.trans_b {
        GemmDims::new(n, k, m, true, d.trans_a)
    } else {
        GemmDims::new(k, n, m, !d.trans_a, false)
    };
    (ga, gb)
}
