//! Sequence encoding: one-hot k-mer windows from 2-bit packed DNA (batched
//! window extraction at given offsets, either strand) and reverse complement of
//! a packed sequence.

use super::{fits, need};
use crate::error::Result;
use crate::gpu::{Arg, Gpu, GpuBuf, Kernel};
use crate::seq::PackedSeq;

/// WGSL source.
pub const SOURCE: &str = include_str!("../../shaders/encode.wgsl");

/// One window: bases `[start, end)` of the packed stream, forward (strand 0)
/// or reverse-complemented (strand 1). Windows shorter than k are padded with
/// N (all-zero columns) at their 3' end.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Window {
    /// First base.
    pub start: u32,
    /// One past the last base.
    pub end: u32,
    /// 0 forward, 1 reverse complement.
    pub strand: u32,
    /// Padding (0).
    pub _pad: u32,
}

impl Window {
    /// A k-base window at `start` on `strand` (0/1).
    pub fn new(start: u32, len: u32, reverse: bool) -> Self {
        Window {
            start,
            end: start + len,
            strand: reverse as u32,
            _pad: 0,
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n_windows: u32,
    k: u32,
    len: u32,
    _pad: u32,
}

/// CPU twin: one-hot `[n_windows, 4, k]`.
pub fn onehot_windows_cpu(
    seq: &PackedSeq,
    windows: &[Window],
    k: usize,
    out: &mut [f32],
) -> Result<()> {
    need("onehot_windows", "out", out.len(), windows.len() * 4 * k)?;
    for (w, win) in windows.iter().enumerate() {
        let n_bases = win.end.saturating_sub(win.start) as usize;
        for j in 0..k {
            let code = if j < n_bases {
                if win.strand == 0 {
                    seq.get(win.start as usize + j)
                } else {
                    seq.get(win.end as usize - 1 - j).map(|c| 3 - c)
                }
            } else {
                None
            };
            for ch in 0..4u8 {
                out[w * 4 * k + ch as usize * k + j] = if code == Some(ch) { 1.0 } else { 0.0 };
            }
        }
    }
    Ok(())
}

/// CPU twin: reverse complement of a packed sequence.
pub fn revcomp_packed_cpu(seq: &PackedSeq) -> PackedSeq {
    let mut out = PackedSeq::with_len(seq.len);
    for i in 0..seq.len {
        out.set(i, seq.get(seq.len - 1 - i).map(|c| 3 - c));
    }
    out
}

fn kernel(entry: &'static str) -> Kernel {
    Kernel {
        shader: "encode",
        source: SOURCE,
        entry,
    }
}

/// A packed sequence on the device.
#[derive(Clone, Debug)]
pub struct GpuSeq {
    /// Number of bases.
    pub len: usize,
    /// Codes, 16 per word.
    pub codes: GpuBuf,
    /// N mask, 32 per word.
    pub nmask: GpuBuf,
}

impl GpuSeq {
    /// Upload a packed sequence.
    pub fn upload(gpu: &Gpu, seq: &PackedSeq) -> Result<Self> {
        fits(gpu, "packed sequence", seq.codes.len())?;
        Ok(GpuSeq {
            len: seq.len,
            codes: gpu.upload("seq codes", &seq.codes)?,
            nmask: gpu.upload("seq nmask", &seq.nmask)?,
        })
    }

    /// Download to the host.
    pub fn download(&self, gpu: &Gpu) -> Result<PackedSeq> {
        Ok(PackedSeq {
            len: self.len,
            codes: gpu.read(&self.codes)?,
            nmask: gpu.read(&self.nmask)?,
        })
    }
}

/// GPU: one-hot windows into `out` (`[n_windows, 4, k]`). Windows must lie inside the sequence.
pub fn onehot_windows_gpu(
    gpu: &Gpu,
    seq: &GpuSeq,
    windows: &GpuBuf,
    n_windows: usize,
    k: usize,
    out: &GpuBuf,
) -> Result<()> {
    need("onehot_windows", "windows", windows.len, n_windows * 4)?;
    need("onehot_windows", "out", out.len, n_windows * 4 * k)?;
    if n_windows == 0 || k == 0 {
        return Ok(());
    }
    let max_rows = gpu.max_groups() as usize * gpu.max_groups() as usize * 256 / k;
    let rows = super::chunk_rows(gpu, "onehot_windows", n_windows, &[4, 4 * k], max_rows)?;
    let mut w0 = 0;
    while w0 < n_windows {
        let r = rows.min(n_windows - w0);
        let p = Params {
            n_windows: r as u32,
            k: k as u32,
            len: seq.len as u32,
            _pad: 0,
        };
        gpu.dispatch(
            kernel("onehot_windows"),
            &[
                Arg::Uniform(bytemuck::bytes_of(&p)),
                Arg::Buf(&seq.codes),
                Arg::Buf(&seq.nmask),
                Arg::Slice(windows, w0 * 4, r * 4),
                Arg::Slice(out, w0 * 4 * k, r * 4 * k),
            ],
            gpu.grid_1d(r * k, 256),
        )?;
        w0 += r;
    }
    Ok(())
}

/// GPU: reverse complement of a packed sequence, into a new device sequence.
pub fn revcomp_packed_gpu(gpu: &Gpu, seq: &GpuSeq) -> Result<GpuSeq> {
    let codes = gpu.zeros("rc codes", seq.codes.len)?;
    let nmask = gpu.zeros("rc nmask", seq.nmask.len)?;
    let p = Params {
        n_windows: 0,
        k: 0,
        len: seq.len as u32,
        _pad: 0,
    };
    for (entry, out, words, uses_codes) in [
        ("revcomp_codes", &codes, seq.len.div_ceil(16), true),
        ("revcomp_nmask", &nmask, seq.len.div_ceil(32), false),
    ] {
        gpu.dispatch(
            kernel(entry),
            &[
                Arg::Uniform(bytemuck::bytes_of(&p)),
                if uses_codes {
                    Arg::Buf(&seq.codes)
                } else {
                    Arg::Unused
                },
                Arg::Buf(&seq.nmask),
                Arg::Unused,
                Arg::Unused,
                Arg::Buf(out),
            ],
            gpu.grid_1d(words, 256),
        )?;
    }
    Ok(GpuSeq {
        len: seq.len,
        codes,
        nmask,
    })
}
