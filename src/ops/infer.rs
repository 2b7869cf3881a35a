//! Inference kernels of the encoder (see `shaders/infer.wgsl`): a direct
//! conv1d with fused bias, ReLU and residual, and a dense layer reading a
//! window-minor input, both one thread per output row with vec4
//! accumulators and no workgroup barriers. Their CPU twin is the plain
//! conv1d/GEMM twin followed by the same element-wise steps.

use std::sync::OnceLock;

use super::conv1d::{conv1d_forward_cpu, ConvDims};
use super::need;
use crate::error::{CrestError, Result};
use crate::gpu::{Arg, Gpu, GpuBuf, Kernel};

const BODY: &str = include_str!("../../shaders/infer.wgsl");

/// Output vec4s per thread of the variants built (cout ≤ 4·OB4).
pub const VARIANTS: [u32; 2] = [8, 16];

/// Most output channels of the direct conv.
pub const MAX_COUT: usize = 64;

/// The shader for `ob4` output vec4s per thread (one of [`VARIANTS`]): its
/// `//ACC` lines written out once per accumulator, then `OB4` set (a
/// [`crate::gpu::variant`]).
pub fn source(ob4: u32) -> &'static str {
    variant(ob4).source
}

fn variant(ob4: u32) -> crate::gpu::variant::Variant {
    static S: [OnceLock<String>; 2] = [OnceLock::new(), OnceLock::new()];
    let i = VARIANTS.iter().position(|&v| v == ob4).unwrap_or(0);
    let ob4 = VARIANTS[i];
    let unrolled = S[i].get_or_init(|| {
        let mut out = String::new();
        for line in BODY.lines() {
            match line.trim_start().strip_prefix("//ACC ") {
                Some(stmt) => {
                    let indent = &line[..line.len() - line.trim_start().len()];
                    for j in 0..ob4 {
                        out.push_str(indent);
                        out.push_str(&stmt.replace('J', &j.to_string()));
                        out.push('\n');
                    }
                }
                None => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        out
    });
    crate::gpu::variant::variant("infer", unrolled, &[("OB4", ob4)])
}

fn kernel(ob4: u32, entry: &'static str) -> Kernel {
    let v = variant(ob4);
    Kernel {
        shader: v.name,
        source: v.source,
        entry,
    }
}

/// What the conv does after the sum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConvFlags {
    /// ReLU.
    pub relu: bool,
    /// Add the input (h + ReLU(conv h)); needs cin = cout.
    pub residual: bool,
    /// Write window-minor `[cout·L, B]` instead of `[B, cout, L]`.
    pub transpose: bool,
}

impl ConvFlags {
    fn bits(self) -> u32 {
        self.relu as u32 | (self.residual as u32) << 1 | (self.transpose as u32) << 2
    }
}

#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    batch: u32,
    cin: u32,
    len: u32,
    kw: u32,
    pad: u32,
    cout4: u32,
    cout: u32,
    flags: u32,
    k0: u32,
    kc: u32,
    _pad: [u32; 2],
}

/// vec4s of weights one dispatch reads (the uniform buffer: 64 KiB).
pub const WEIGHT_VEC4S: usize = 4096;

/// Output vec4s per thread of the conv variant for `cout` channels.
pub fn conv_ob4(cout: usize) -> usize {
    if cout <= 32 {
        8
    } else {
        16
    }
}

/// Whether a conv layer's weights fit one uniform buffer.
pub fn conv_fits(cin: usize, cout: usize, kw: usize) -> bool {
    cout <= MAX_COUT && cin * kw * conv_ob4(cout) <= WEIGHT_VEC4S
}

/// Conv weights `[cout, cin, kw]` as the kernel reads them: vec4s of output
/// channels, `[(c·kw + t)·OB4 + o4]`, zero-padded to the uniform buffer.
pub fn conv_weights_t(w: &[f32], cout: usize, cin: usize, kw: usize) -> Vec<f32> {
    let ob4 = conv_ob4(cout);
    let mut out = vec![0f32; (cin * kw * ob4).max(WEIGHT_VEC4S) * 4];
    for o in 0..cout {
        for c in 0..cin {
            for t in 0..kw {
                out[((c * kw + t) * ob4) * 4 + o] = w[(o * cin + c) * kw + t];
            }
        }
    }
    out
}

/// A conv bias padded to the variant's accumulators.
pub fn conv_bias4(b: &[f32]) -> Vec<f32> {
    let mut v = b.to_vec();
    v.resize(conv_ob4(b.len()) * 4, 0.0);
    v
}

/// Output vec4s per thread of the dense kernel.
const DENSE_OB4: usize = 8;

/// vec4s per padded weight row of a dense layer with `n` outputs.
pub fn dense_row(n: usize) -> usize {
    n.div_ceil(4).div_ceil(DENSE_OB4).max(1) * DENSE_OB4
}

/// K rows per dense slice (weights of one dispatch fit the uniform buffer).
pub fn dense_slice(n: usize) -> usize {
    (WEIGHT_VEC4S / dense_row(n)).max(1)
}

/// Dense weights `[n, k]` as the kernel reads them: slices of
/// [`dense_slice`] K-rows, each `[kk·n4 + o4]` vec4s padded to the uniform
/// buffer's size.
pub fn dense_weights_t(w: &[f32], n: usize, k: usize) -> Vec<f32> {
    let n4 = dense_row(n);
    let kc = dense_slice(n);
    let slices = k.div_ceil(kc).max(1);
    let mut out = vec![0f32; slices * WEIGHT_VEC4S * 4];
    for o in 0..n {
        for kk in 0..k {
            let (s, r) = (kk / kc, kk % kc);
            out[s * WEIGHT_VEC4S * 4 + r * n4 * 4 + o] = w[o * k + kk];
        }
    }
    out
}

/// A dense bias padded to the kernel's rows ([`dense_row`] vec4s).
pub fn bias4(b: &[f32]) -> Vec<f32> {
    let mut v = b.to_vec();
    v.resize(dense_row(b.len()) * 4, 0.0);
    v
}

fn check_conv(d: &ConvDims, flags: ConvFlags) -> Result<()> {
    if d.cout == 0 || d.cout > MAX_COUT || d.kw == 0 || d.cin == 0 || d.len == 0 {
        return Err(CrestError::shape(
            "conv_direct",
            format!("{d:?} (1 ≤ cout ≤ {MAX_COUT})"),
        ));
    }
    if flags.residual && d.cin != d.cout {
        return Err(CrestError::shape(
            "conv_direct",
            "residual needs cin = cout",
        ));
    }
    if !conv_fits(d.cin, d.cout, d.kw) {
        return Err(CrestError::shape(
            "conv_direct",
            format!("{d:?}: weights exceed {WEIGHT_VEC4S} vec4s"),
        ));
    }
    Ok(())
}

/// CPU twin of the direct conv: conv1d + bias, then ReLU, then + x, in the
/// requested output layout.
pub fn conv_cpu(
    d: &ConvDims,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    flags: ConvFlags,
    y: &mut [f32],
) -> Result<()> {
    check_conv(d, flags)?;
    need("conv_direct", "y", y.len(), d.y_len())?;
    let mut a = vec![0f32; d.y_len()];
    conv1d_forward_cpu(d, x, w, Some(bias), &mut a)?;
    let (b_, c_, l_) = (d.batch, d.cout, d.len);
    for b in 0..b_ {
        for o in 0..c_ {
            for l in 0..l_ {
                let i = (b * c_ + o) * l_ + l;
                let mut v = a[i];
                if flags.relu {
                    v = v.max(0.0);
                }
                if flags.residual {
                    v += x[(b * d.cin + o) * l_ + l];
                }
                let at = if flags.transpose {
                    (o * l_ + l) * b_ + b
                } else {
                    i
                };
                y[at] = v;
            }
        }
    }
    Ok(())
}

/// GPU direct conv (`wt` from [`conv_weights_t`], `bias` from [`conv_bias4`]).
pub fn conv_gpu(
    gpu: &Gpu,
    d: &ConvDims,
    x: &GpuBuf,
    wt: &GpuBuf,
    bias: &GpuBuf,
    flags: ConvFlags,
    y: &GpuBuf,
) -> Result<()> {
    check_conv(d, flags)?;
    let c4 = d.cout.div_ceil(4);
    need("conv_direct", "x", x.len, d.x_len())?;
    need("conv_direct", "wt", wt.len, WEIGHT_VEC4S * 4)?;
    let ob4 = conv_ob4(d.cout) as u32;
    need("conv_direct", "bias", bias.len, ob4 as usize * 4)?;
    need("conv_direct", "y", y.len, d.y_len())?;
    let p = Params {
        batch: d.batch as u32,
        cin: d.cin as u32,
        len: d.len as u32,
        kw: d.kw as u32,
        pad: ((d.kw - 1) / 2) as u32,
        cout4: c4 as u32,
        cout: d.cout as u32,
        flags: flags.bits(),
        ..Default::default()
    };
    gpu.dispatch(
        kernel(ob4, "conv"),
        &[
            Arg::Uniform(bytemuck::bytes_of(&p)),
            Arg::Buf(x),
            Arg::UniformBuf(wt, 0, WEIGHT_VEC4S * 4),
            Arg::Buf(bias),
            Arg::Buf(y),
            Arg::Unused,
            Arg::Unused,
        ],
        gpu.grid_1d(d.batch * d.len, 64),
    )
}

/// Shape of a dense layer on window-minor input.
#[derive(Clone, Copy, Debug)]
pub struct DenseDims {
    /// Windows.
    pub batch: usize,
    /// Inputs per window.
    pub k: usize,
    /// Outputs per window.
    pub n: usize,
}

/// CPU twin of `dense`: `y = aᵀ·Wᵀ + bias` (row-major `[B, n]`), and
/// `ReLU(y)` window-minor `[n, B]` into `y2` when given.
pub fn dense_cpu(
    d: &DenseDims,
    a_t: &[f32],
    w: &[f32],
    bias: &[f32],
    y: &mut [f32],
    y2: Option<&mut [f32]>,
) -> Result<()> {
    need("dense", "a", a_t.len(), d.k * d.batch)?;
    need("dense", "w", w.len(), d.n * d.k)?;
    need("dense", "y", y.len(), d.batch * d.n)?;
    for b in 0..d.batch {
        for o in 0..d.n {
            let mut acc = bias[o];
            for k in 0..d.k {
                acc += w[o * d.k + k] * a_t[k * d.batch + b];
            }
            y[b * d.n + o] = acc;
        }
    }
    if let Some(y2) = y2 {
        need("dense", "y2", y2.len(), d.batch * d.n)?;
        for b in 0..d.batch {
            for o in 0..d.n {
                y2[o * d.batch + b] = y[b * d.n + o].max(0.0);
            }
        }
    }
    Ok(())
}

/// GPU `dense` (`wt` from [`dense_weights_t`], `bias` from [`bias4`]).
pub fn dense_gpu(
    gpu: &Gpu,
    d: &DenseDims,
    a_t: &GpuBuf,
    wt: &GpuBuf,
    bias: &GpuBuf,
    y: &GpuBuf,
    y2: Option<&GpuBuf>,
) -> Result<()> {
    let n4 = d.n.div_ceil(4);
    let n4p = dense_row(d.n);
    let kc = dense_slice(d.n);
    let slices = d.k.div_ceil(kc).max(1);
    if n4p > WEIGHT_VEC4S {
        return Err(CrestError::shape(
            "dense",
            format!("{d:?}: too many outputs"),
        ));
    }
    need("dense", "a", a_t.len, d.k * d.batch)?;
    need("dense", "wt", wt.len, slices * WEIGHT_VEC4S * 4)?;
    need("dense", "bias", bias.len, n4p * 4)?;
    need("dense", "y", y.len, d.batch * d.n)?;
    let dummy;
    let y2b = match y2 {
        Some(b) => {
            need("dense", "y2", b.len, d.batch * d.n)?;
            b
        }
        None => {
            dummy = gpu.zeros("no y2", 1)?;
            &dummy
        }
    };
    let ob4 = DENSE_OB4 as u32;
    let blocks = n4p / DENSE_OB4;
    let acc = gpu.zeros("dense sums", n4p * 4 * d.batch)?;
    for sl in 0..slices {
        let k0 = sl * kc;
        let p = Params {
            batch: d.batch as u32,
            cin: d.k as u32,
            cout4: n4 as u32,
            cout: d.n as u32,
            flags: if y2.is_some() { 8 } else { 0 }
                | if sl == 0 { 16 } else { 0 }
                | if sl + 1 == slices { 32 } else { 0 },
            pad: n4p as u32,
            k0: k0 as u32,
            kc: kc.min(d.k - k0) as u32,
            ..Default::default()
        };
        gpu.dispatch(
            kernel(ob4, "dense"),
            &[
                Arg::Uniform(bytemuck::bytes_of(&p)),
                Arg::Buf(a_t),
                Arg::UniformBuf(wt, sl * WEIGHT_VEC4S * 4, WEIGHT_VEC4S * 4),
                Arg::Buf(bias),
                Arg::Buf(y),
                Arg::Buf(y2b),
                Arg::Buf(&acc),
            ],
            [d.batch.div_ceil(64) as u32, blocks as u32, 1],
        )?;
    }
    Ok(())
}
