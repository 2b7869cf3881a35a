//! Index ops on a [`Backend`] (see [`crate::ops::index`]): k-means assignment
//! and accumulation, beam steps and leaf scans. Integer operands (groups,
//! beams, offsets, ids) live in [`Words`].

use super::{c, cm, g, Backend, Tensor};
use crate::error::{CrestError, Result};
use crate::gpu::GpuBuf;
use crate::ops::index::{
    self as ix, AssignDims, AssignInputs, BeamDims, BeamInputs, LeafDims, LeafInputs, Metric,
    Ranked,
};
use crate::ops::list_scan::{self as ls, ListDims, ListPlan};
use crate::ops::pq::{self, PqDims};
use crate::ops::window_scan::{self as ws, ScanInputs, WindowDims, WindowPlan};

/// A u32 tensor living on a backend.
#[derive(Clone, Debug)]
pub enum Words {
    /// On the wgpu device.
    Gpu(GpuBuf),
    /// In host memory.
    Cpu(Vec<u32>),
}

impl Words {
    /// Number of words.
    pub fn len(&self) -> usize {
        match self {
            Words::Gpu(b) => b.len,
            Words::Cpu(v) => v.len(),
        }
    }
    /// Whether it has no words.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn gw(w: &Words) -> Result<&GpuBuf> {
    match w {
        Words::Gpu(b) => Ok(b),
        Words::Cpu(_) => Err(CrestError::MixedBackends { what: "words" }),
    }
}

fn cw(w: &Words) -> Result<&[u32]> {
    match w {
        Words::Cpu(v) => Ok(v),
        Words::Gpu(_) => Err(CrestError::MixedBackends { what: "words" }),
    }
}

fn cwm(w: &mut Words) -> Result<&mut Vec<u32>> {
    match w {
        Words::Cpu(v) => Ok(v),
        Words::Gpu(_) => Err(CrestError::MixedBackends { what: "words" }),
    }
}

/// The rows a windowed scan reads, on a backend.
#[derive(Clone, Debug)]
pub enum ScanData {
    /// Float rows ([`ws::to_windows`]).
    F32(Tensor),
    /// Product-quantized rows: code words ([`ws::codes_to_windows`]) and
    /// the codebook (`[m][256][dim / m]`).
    Pq {
        /// Code words.
        codes: Words,
        /// Codebook.
        codebook: Tensor,
    },
}

/// A search's outputs as device buffers.
fn ranked_gpu<'a>(
    out: &'a Ranked<&mut Tensor, &mut Words>,
) -> Result<Ranked<&'a GpuBuf, &'a GpuBuf>> {
    Ok(Ranked {
        scores: g(out.scores)?,
        ids: gw(out.ids)?,
    })
}

/// A search's outputs as host slices.
fn ranked_cpu<'a>(
    out: Ranked<&'a mut Tensor, &'a mut Words>,
) -> Result<Ranked<&'a mut [f32], &'a mut [u32]>> {
    Ok(Ranked {
        scores: cm(out.scores)?,
        ids: cwm(out.ids)?,
    })
}

/// A scan's inputs as device buffers.
fn scan_gpu<'a>(
    inp: &ScanInputs<&'a Tensor, &'a ScanData, &'a Words>,
) -> Result<ScanInputs<&'a GpuBuf, ws::GpuRows<'a>, &'a GpuBuf>> {
    let data = match inp.data {
        ScanData::F32(t) => ws::GpuRows::F32(g(t)?),
        ScanData::Pq { codes, codebook } => ws::GpuRows::Pq {
            codes: gw(codes)?,
            codebook: g(codebook)?,
        },
    };
    Ok(ScanInputs {
        queries: g(inp.queries)?,
        data,
        ids: gw(inp.ids)?,
    })
}

/// A scan's inputs as host slices.
fn scan_cpu<'a>(
    inp: &ScanInputs<&'a Tensor, &'a ScanData, &'a Words>,
) -> Result<ScanInputs<&'a [f32], ws::ScanRows<'a>, &'a [u32]>> {
    let data = match inp.data {
        ScanData::F32(t) => ws::ScanRows::F32(c(t)?),
        ScanData::Pq { codes, codebook } => ws::ScanRows::Pq {
            codes: cw(codes)?,
            codebook: c(codebook)?,
        },
    };
    Ok(ScanInputs {
        queries: c(inp.queries)?,
        data,
        ids: cw(inp.ids)?,
    })
}

/// The curvature a metric carries, as the one-element tensor GPU kernels bind.
fn metric_c(metric: Metric) -> f32 {
    match metric {
        Metric::Cosine => 0.0,
        Metric::Poincare(c) => c,
    }
}

impl Backend {
    /// Copy u32 host data to the backend.
    pub fn upload_words(&self, data: &[u32]) -> Result<Words> {
        gpu_or_cpu!(self, gpu => Ok(Words::Gpu(gpu.upload("words", data)?)), Ok(Words::Cpu(data.to_vec())))
    }

    /// Copy u32 words to the host.
    pub fn read_words(&self, w: &Words) -> Result<Vec<u32>> {
        gpu_or_cpu!(self, gpu => gpu.read::<u32>(gw(w)?), Ok(cw(w)?.to_vec()))
    }

    /// Queries `[n, dim]` laid out for [`Backend::leaf_scan`] (see
    /// [`ix::pad_queries`]): on the device when rows need no padding (a copy
    /// into a longer buffer), through the host otherwise.
    pub fn padded_queries(&self, q: &Tensor, dim: usize) -> Result<Tensor> {
        match (self, q) {
            (Backend::Gpu(gpu), Tensor::Gpu(b)) if dim.is_multiple_of(4) => {
                let out = gpu.zeros("padded queries", b.len + ix::QUERY_VEC4S * 4)?;
                gpu.copy_into(b, &out, b.len)?;
                Ok(Tensor::Gpu(out))
            }
            _ => self.upload(&ix::pad_queries(&self.read(q)?, dim)),
        }
    }

    fn curv_buf(&self, metric: Metric) -> Result<Tensor> {
        self.upload(&[metric_c(metric)])
    }

    /// k-means assignment of one data chunk (see [`ix::assign_cpu`]).
    pub fn kmeans_assign(
        &self,
        d: &AssignDims,
        inp: AssignInputs<&Tensor, &Words>,
        metric: Metric,
        scores: &mut Tensor,
        best: &mut Words,
    ) -> Result<()> {
        match self {
            Backend::Gpu(gpu) => {
                let curv = self.curv_buf(metric)?;
                let inp = AssignInputs {
                    data: g(inp.data)?,
                    centroids: g(inp.centroids)?,
                    group: gw(inp.group)?,
                };
                ix::assign_gpu(gpu, d, inp, metric, g(&curv)?, g(scores)?, gw(best)?)
            }
            Backend::CpuReference => {
                let inp = AssignInputs {
                    data: c(inp.data)?,
                    centroids: c(inp.centroids)?,
                    group: cw(inp.group)?,
                };
                ix::assign_cpu(d, inp, metric, cm(scores)?, cwm(best)?)
            }
        }
    }

    /// Weighted member sums per centroid, added into `sums` (see [`ix::accumulate_cpu`]).
    pub fn kmeans_accumulate(
        &self,
        data: &Tensor,
        csr: &Words,
        weights: &Tensor,
        nc: usize,
        dim: usize,
        sums: &mut Tensor,
    ) -> Result<()> {
        gpu_or_cpu!(self, gpu => ix::accumulate_gpu(gpu, g(data)?, gw(csr)?, g(weights)?, nc, dim, g(sums)?),
            ix::accumulate_cpu(c(data)?, cw(csr)?, c(weights)?, nc, dim, cm(sums)?))
    }

    /// One beam step (see [`ix::beam_step_cpu`]).
    pub fn beam_step(
        &self,
        d: &BeamDims,
        inp: BeamInputs<&Tensor, &Words>,
        metric: Metric,
        out: Ranked<&mut Tensor, &mut Words>,
    ) -> Result<()> {
        match self {
            Backend::Gpu(gpu) => {
                let curv = self.curv_buf(metric)?;
                let inp = BeamInputs {
                    queries: g(inp.queries)?,
                    centroids: g(inp.centroids)?,
                    beam_in: gw(inp.beam_in)?,
                    leaf_offsets: gw(inp.leaf_offsets)?,
                };
                ix::beam_step_gpu(gpu, d, inp, metric, g(&curv)?, ranked_gpu(&out)?)
            }
            Backend::CpuReference => {
                let inp = BeamInputs {
                    queries: c(inp.queries)?,
                    centroids: c(inp.centroids)?,
                    beam_in: cw(inp.beam_in)?,
                    leaf_offsets: cw(inp.leaf_offsets)?,
                };
                ix::beam_step_cpu(d, inp, metric, ranked_cpu(out)?)
            }
        }
    }

    /// Exact scan of chosen leaves in one data chunk (see [`ix::leaf_scan_cpu`]).
    pub fn leaf_scan(
        &self,
        d: &LeafDims,
        inp: LeafInputs<&Tensor, &Words>,
        metric: Metric,
        out: Ranked<&mut Tensor, &mut Words>,
    ) -> Result<()> {
        match self {
            Backend::Gpu(gpu) => {
                let curv = self.curv_buf(metric)?;
                let inp = LeafInputs {
                    queries: g(inp.queries)?,
                    data: g(inp.data)?,
                    leaves: gw(inp.leaves)?,
                    offsets_perm: gw(inp.offsets_perm)?,
                };
                ix::leaf_scan_gpu(gpu, d, inp, metric, g(&curv)?, ranked_gpu(&out)?)
            }
            Backend::CpuReference => {
                let inp = LeafInputs {
                    queries: c(inp.queries)?,
                    data: c(inp.data)?,
                    leaves: cw(inp.leaves)?,
                    offsets_perm: cw(inp.offsets_perm)?,
                };
                ix::leaf_scan_cpu(d, inp, metric, ranked_cpu(out)?)
            }
        }
    }

    /// Exact scan of chosen leaves, one window of rows per dispatch (see
    /// [`crate::ops::window_scan`]): `inp.data` from `to_windows`, `inp.ids`
    /// from `ids_windows`; merges into what `out` holds.
    pub fn window_scan(
        &self,
        d: &WindowDims,
        plan: &WindowPlan,
        inp: ScanInputs<&Tensor, &ScanData, &Words>,
        metric: Metric,
        out: Ranked<&mut Tensor, &mut Words>,
    ) -> Result<()> {
        match self {
            Backend::Gpu(gpu) => {
                let curv = self.curv_buf(metric)?;
                let inp = scan_gpu(&inp)?;
                ws::window_scan_gpu(gpu, d, plan, inp, metric, g(&curv)?, ranked_gpu(&out)?)
            }
            Backend::CpuReference => {
                ws::window_scan_cpu(d, plan, scan_cpu(&inp)?, metric, ranked_cpu(out)?)
            }
        }
    }

    /// Exact scan of chosen leaves, leaf-major, one dispatch per pass (see
    /// [`crate::ops::list_scan`]): the rows of the windowed scan; merges into
    /// what `out` holds.
    pub fn list_scan(
        &self,
        d: &ListDims,
        plan: &ListPlan,
        inp: ScanInputs<&Tensor, &ScanData, &Words>,
        metric: Metric,
        out: Ranked<&mut Tensor, &mut Words>,
    ) -> Result<()> {
        gpu_or_cpu!(self, gpu => ls::list_scan_gpu(gpu, d, plan, scan_gpu(&inp)?, metric, ranked_gpu(&out)?),
            ls::list_scan_cpu(d, plan, scan_cpu(&inp)?, metric, ranked_cpu(out)?))
    }

    /// Nearest codebook entry of every subspace of every point (see
    /// [`crate::ops::pq`]): codes and squared distances, `[points, m]` each.
    pub fn pq_assign(
        &self,
        d: &PqDims,
        x: &Tensor,
        codebook: &Tensor,
        codes: &mut Words,
        dist: &mut Tensor,
    ) -> Result<()> {
        match self {
            Backend::Gpu(gpu) => pq::assign_gpu(gpu, d, g(x)?, g(codebook)?, gw(codes)?, g(dist)?),
            Backend::CpuReference => {
                let (c, s) = pq::assign_cpu(d, c(x)?, c(codebook)?)?;
                *cwm(codes)? = c;
                *cm(dist)? = s;
                Ok(())
            }
        }
    }
}
