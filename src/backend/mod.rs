//! One API over the two ways crest computes: the wgpu device, or the CPU twins
//! (`--device cpu-reference`, for machines with no driver at all). Higher
//! layers (model, training, mapping) are written once against [`Backend`].

use std::sync::Arc;

use crate::error::{CrestError, Result};
use crate::gpu::{DeviceChoice, Gpu, GpuBuf, Requirements};
use crate::ops::bithead;
use crate::ops::conv1d::{self, ConvDims};
use crate::ops::elementwise::{self, ChannelShape};
use crate::ops::encode::{self, GpuSeq, Window};
use crate::ops::gemm::{self, GemmDims};
use crate::ops::kmer::{self, KmerDims};
use crate::ops::loss;
use crate::ops::optim::{self, AdamConfig, AdamStep, AdamTensor};
use crate::ops::pool::{self, SegmentDims};
use crate::ops::reduce::{self, RowOp};
use crate::ops::triplet::{self, TripletDims};
use crate::seq::PackedSeq;

/// A float tensor living on a backend.
#[derive(Clone, Debug)]
pub enum Tensor {
    /// On the wgpu device.
    Gpu(GpuBuf),
    /// In host memory (cpu-reference).
    Cpu(Vec<f32>),
}

impl Tensor {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Tensor::Gpu(b) => b.len,
            Tensor::Cpu(v) => v.len(),
        }
    }
    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where crest computes.
#[derive(Clone, Debug)]
pub enum Backend {
    /// A wgpu adapter.
    Gpu(Arc<Gpu>),
    /// The CPU twins (f32).
    CpuReference,
}

fn mixed() -> CrestError {
    CrestError::MixedBackends { what: "tensor" }
}

macro_rules! gpu_or_cpu {
    ($self:expr, $gpu:ident => $g:expr, $cpu:expr) => {
        match $self {
            Backend::Gpu($gpu) => $g,
            Backend::CpuReference => $cpu,
        }
    };
}

mod cnn;
mod index;
mod poincare;

pub use index::{ScanData, Words};

fn g(t: &Tensor) -> Result<&GpuBuf> {
    match t {
        Tensor::Gpu(b) => Ok(b),
        Tensor::Cpu(_) => Err(mixed()),
    }
}

fn c(t: &Tensor) -> Result<&[f32]> {
    match t {
        Tensor::Cpu(v) => Ok(v),
        Tensor::Gpu(_) => Err(mixed()),
    }
}

fn cm(t: &mut Tensor) -> Result<&mut Vec<f32>> {
    match t {
        Tensor::Cpu(v) => Ok(v),
        Tensor::Gpu(_) => Err(mixed()),
    }
}

impl Backend {
    /// Open the backend `choice` names. Returns a notice to print, if any.
    pub fn open(choice: &DeviceChoice, req: &Requirements) -> Result<(Backend, Option<String>)> {
        if *choice == DeviceChoice::CpuReference {
            return Ok((Backend::CpuReference, None));
        }
        let (gpu, notice) = Gpu::new(choice, req)?;
        Ok((Backend::Gpu(gpu), notice))
    }

    /// Human-readable name: adapter name and backend, or "cpu-reference".
    pub fn name(&self) -> String {
        match self {
            Backend::Gpu(g) => format!(
                "{} ({}, {})",
                g.summary.name, g.summary.backend, g.summary.device_type
            ),
            Backend::CpuReference => "cpu-reference (plain Rust twins)".into(),
        }
    }

    /// Copy host data to the backend.
    pub fn upload(&self, data: &[f32]) -> Result<Tensor> {
        gpu_or_cpu!(self, gpu => Ok(Tensor::Gpu(gpu.upload("tensor", data)?)), Ok(Tensor::Cpu(data.to_vec())))
    }

    /// A zero tensor.
    pub fn zeros(&self, len: usize) -> Result<Tensor> {
        gpu_or_cpu!(self, gpu => Ok(Tensor::Gpu(gpu.zeros("tensor", len)?)), Ok(Tensor::Cpu(vec![0.0; len])))
    }

    /// The first `len` values of a tensor, on the host.
    pub fn read_prefix(&self, t: &Tensor, len: usize) -> Result<Vec<f32>> {
        match (self, t) {
            (Backend::Gpu(gpu), Tensor::Gpu(b)) => gpu.read_prefix(b, len),
            (Backend::CpuReference, Tensor::Cpu(v)) => {
                v.get(..len).map(<[f32]>::to_vec).ok_or_else(|| {
                    CrestError::shape("read", format!("{len} values of a tensor of {}", v.len()))
                })
            }
            _ => Err(CrestError::MixedBackends {
                what: "tensor read",
            }),
        }
    }

    /// Copy all of `src` into `dst` from element `at` on (on the device for
    /// GPU tensors: no read-back), e.g. to gather a batch's embeddings in
    /// one tensor that is read once.
    pub fn copy_into_at(&self, src: &Tensor, dst: &mut Tensor, at: usize) -> Result<()> {
        match (self, src, dst) {
            (Backend::Gpu(gpu), Tensor::Gpu(s), Tensor::Gpu(d)) => {
                gpu.copy_range(s, 0, d, at, s.len)
            }
            (Backend::CpuReference, Tensor::Cpu(s), Tensor::Cpu(d)) => {
                let end = at + s.len();
                if end > d.len() {
                    return Err(CrestError::shape(
                        "copy",
                        format!("{} values into {at} of {}", s.len(), d.len()),
                    ));
                }
                d[at..end].copy_from_slice(s);
                Ok(())
            }
            _ => Err(CrestError::MixedBackends {
                what: "tensor copied",
            }),
        }
    }

    /// The sum of every element of every tensor, as a one-element tensor (on
    /// the backend: per-row ∂L/∂c terms summed into the curvature gradient).
    pub fn sum_all(&self, ts: &[Tensor]) -> Result<Tensor> {
        let mut total = self.zeros(1)?;
        for t in ts {
            let mut s = self.zeros(1)?;
            self.row_op(RowOp::Sum, t, 1, t.len(), &mut s)?;
            let mut next = self.zeros(1)?;
            self.add(&total, &s, &mut next)?;
            total = next;
        }
        Ok(total)
    }

    /// Copy a tensor to the host.
    pub fn read(&self, t: &Tensor) -> Result<Vec<f32>> {
        gpu_or_cpu!(self, gpu => gpu.read(g(t)?), Ok(c(t)?.to_vec()))
    }

    /// End of one loop step: bounds work in flight and frees dropped buffers
    /// (see [`Gpu::end_step`]); nothing to do on the CPU.
    pub fn end_step(&self) -> Result<()> {
        gpu_or_cpu!(self, gpu => gpu.end_step(), Ok(()))
    }

    /// Wait for queued work.
    pub fn sync(&self) -> Result<()> {
        gpu_or_cpu!(self, gpu => gpu.sync(), Ok(()))
    }

    /// `C = alpha op(A) op(B) + beta C`.
    pub fn gemm(&self, d: &GemmDims, a: &Tensor, b: &Tensor, out: &mut Tensor) -> Result<()> {
        gpu_or_cpu!(self, gpu => gemm::gemm_gpu(gpu, d, g(a)?, g(b)?, g(out)?),
            gemm::gemm_cpu(d, c(a)?, c(b)?, cm(out)?))
    }

    /// conv1d forward.
    pub fn conv1d_forward(
        &self,
        d: &ConvDims,
        x: &Tensor,
        w: &Tensor,
        bias: Option<&Tensor>,
        y: &mut Tensor,
    ) -> Result<()> {
        gpu_or_cpu!(self, gpu => conv1d::conv1d_forward_gpu(gpu, d, g(x)?, g(w)?, bias.map(g).transpose()?, g(y)?),
            conv1d::conv1d_forward_cpu(d, c(x)?, c(w)?, bias.map(c).transpose()?, cm(y)?))
    }

    /// conv1d input gradient.
    pub fn conv1d_input_grad(
        &self,
        d: &ConvDims,
        dy: &Tensor,
        w: &Tensor,
        dx: &mut Tensor,
    ) -> Result<()> {
        gpu_or_cpu!(self, gpu => conv1d::conv1d_input_grad_gpu(gpu, d, g(dy)?, g(w)?, g(dx)?),
            conv1d::conv1d_input_grad_cpu(d, c(dy)?, c(w)?, cm(dx)?))
    }

    /// conv1d weight gradient (overwrites dw).
    pub fn conv1d_weight_grad(
        &self,
        d: &ConvDims,
        dy: &Tensor,
        x: &Tensor,
        dw: &mut Tensor,
    ) -> Result<()> {
        gpu_or_cpu!(self, gpu => conv1d::conv1d_weight_grad_gpu(gpu, d, g(dy)?, g(x)?, g(dw)?, 0.0),
            conv1d::conv1d_weight_grad_cpu(d, c(dy)?, c(x)?, cm(dw)?))
    }

    /// Per-channel sum (bias gradient).
    pub fn channel_sum(&self, s: &ChannelShape, x: &Tensor, out: &mut Tensor) -> Result<()> {
        gpu_or_cpu!(self, gpu => reduce::channel_sum_gpu(gpu, g(x)?, s.outer, s.channels, s.inner, g(out)?),
            reduce::channel_sum_cpu(c(x)?, s.outer, s.channels, s.inner, cm(out)?))
    }

    /// Bias add.
    pub fn bias_add(
        &self,
        s: &ChannelShape,
        x: &Tensor,
        bias: &Tensor,
        out: &mut Tensor,
    ) -> Result<()> {
        gpu_or_cpu!(self, gpu => elementwise::bias_add_gpu(gpu, s, g(x)?, g(bias)?, g(out)?),
            elementwise::bias_add_cpu(s, c(x)?, c(bias)?, cm(out)?))
    }

    /// ReLU.
    pub fn relu(&self, x: &Tensor, out: &mut Tensor) -> Result<()> {
        gpu_or_cpu!(self, gpu => elementwise::relu_gpu(gpu, x.len(), g(x)?, g(out)?),
            elementwise::relu_cpu(c(x)?, cm(out)?))
    }

    /// ReLU backward.
    pub fn relu_bwd(&self, x: &Tensor, dy: &Tensor, dx: &mut Tensor) -> Result<()> {
        gpu_or_cpu!(self, gpu => elementwise::relu_bwd_gpu(gpu, x.len(), g(x)?, g(dy)?, g(dx)?),
            elementwise::relu_bwd_cpu(c(x)?, c(dy)?, cm(dx)?))
    }

    /// A row-wise op (sum, max, log-sum-exp, softmax, L2 normalise).
    pub fn row_op(
        &self,
        op: RowOp,
        x: &Tensor,
        rows: usize,
        cols: usize,
        out: &mut Tensor,
    ) -> Result<()> {
        gpu_or_cpu!(self, gpu => reduce::row_op_gpu(gpu, op, g(x)?, rows, cols, reduce::L2_EPS, g(out)?),
            reduce::row_op_cpu(op, c(x)?, rows, cols, reduce::L2_EPS, cm(out)?))
    }

    /// Softmax backward (y = softmax output).
    pub fn softmax_bwd(
        &self,
        y: &Tensor,
        dy: &Tensor,
        rows: usize,
        cols: usize,
        dx: &mut Tensor,
    ) -> Result<()> {
        gpu_or_cpu!(self, gpu => reduce::softmax_bwd_gpu(gpu, g(y)?, g(dy)?, rows, cols, g(dx)?),
            reduce::softmax_bwd_cpu(c(y)?, c(dy)?, rows, cols, cm(dx)?))
    }

    /// L2-normalise backward (x = forward input).
    pub fn l2norm_bwd(
        &self,
        x: &Tensor,
        dy: &Tensor,
        rows: usize,
        cols: usize,
        dx: &mut Tensor,
    ) -> Result<()> {
        gpu_or_cpu!(self, gpu => reduce::l2norm_bwd_gpu(gpu, g(x)?, g(dy)?, rows, cols, reduce::L2_EPS, g(dx)?),
            reduce::l2norm_bwd_cpu(c(x)?, c(dy)?, rows, cols, reduce::L2_EPS, cm(dx)?))
    }

    /// Overwrite a tensor with host data (same length).
    pub fn write(&self, t: &mut Tensor, data: &[f32]) -> Result<()> {
        match (self, t) {
            (Backend::Gpu(gpu), Tensor::Gpu(b)) => gpu.write(b, data),
            (Backend::CpuReference, Tensor::Cpu(v)) => {
                v.clear();
                v.extend_from_slice(data);
                Ok(())
            }
            _ => Err(mixed()),
        }
    }

    /// Element-wise `out = a + b`.
    pub fn add(&self, a: &Tensor, b: &Tensor, out: &mut Tensor) -> Result<()> {
        gpu_or_cpu!(self, gpu => elementwise::add_gpu(gpu, a.len(), g(a)?, g(b)?, g(out)?),
            elementwise::add_cpu(c(a)?, c(b)?, cm(out)?))
    }

    /// One-hot `[windows, 4, k]` of windows of a packed sequence (see [`encode`]).
    pub fn onehot(
        &self,
        seq: &PackedSeq,
        windows: &[Window],
        k: usize,
        out: &mut Tensor,
    ) -> Result<()> {
        match self {
            Backend::Gpu(gpu) => {
                let gs = GpuSeq::upload(gpu, seq)?;
                let w = gpu.upload("windows", bytemuck::cast_slice::<Window, u32>(windows))?;
                encode::onehot_windows_gpu(gpu, &gs, &w, windows.len(), k, g(out)?)
            }
            Backend::CpuReference => encode::onehot_windows_cpu(seq, windows, k, cm(out)?),
        }
    }

    /// Contrastive loss rows and dL/dS for an `n x n` similarity matrix.
    pub fn supcon(
        &self,
        s: &Tensor,
        labels: &[[u32; 2]],
        gamma: u32,
        ds: &mut Tensor,
        rows: &mut Tensor,
    ) -> Result<()> {
        let n = labels.len();
        match self {
            Backend::Gpu(gpu) => {
                let d = loss::SupconDims {
                    n,
                    gamma,
                    scale: loss::anchor_scale(labels, gamma),
                };
                let l = gpu.upload("labels", bytemuck::cast_slice::<[u32; 2], u32>(labels))?;
                loss::supcon_gpu(gpu, &d, g(s)?, &l, g(ds)?, g(rows)?)
            }
            Backend::CpuReference => {
                loss::supcon_cpu(c(s)?, labels, gamma, cm(ds)?, cm(rows)?).map(|_| ())
            }
        }
    }

    /// Σ x² of a whole tensor into slot `slot` (of stride [`optim::SUMSQ_STRIDE`]) of `out`.
    pub fn sumsq_into(&self, x: &Tensor, out: &mut Tensor, slot: usize) -> Result<()> {
        let o = slot * optim::SUMSQ_STRIDE;
        match self {
            Backend::Gpu(gpu) => {
                reduce::run_rows_at(gpu, RowOp::SumSq, g(x)?, 1, x.len(), g(out)?, o)
            }
            Backend::CpuReference => {
                let v = c(x)?.iter().map(|&a| a * a).sum();
                cm(out)?[o] = v;
                Ok(())
            }
        }
    }

    /// One AdamW update of `t` (see [`optim`]); `sumsq` holds all `n_tensors`
    /// tensors' Σg² slots.
    pub fn adamw(
        &self,
        cfg: &AdamConfig,
        st: &AdamStep,
        sumsq: &Tensor,
        n_tensors: usize,
        decay: bool,
        t: AdamTensor<&Tensor, &mut Tensor>,
    ) -> Result<()> {
        match self {
            Backend::Gpu(gpu) => {
                let t = AdamTensor {
                    grad: g(t.grad)?,
                    param: g(t.param)?,
                    m1: g(t.m1)?,
                    m2: g(t.m2)?,
                };
                optim::adamw_gpu(gpu, cfg, st, g(sumsq)?, n_tensors, decay, t)
            }
            Backend::CpuReference => {
                let slots: Vec<f32> = (0..n_tensors)
                    .map(|t| c(sumsq).map(|v| v[t * optim::SUMSQ_STRIDE]))
                    .collect::<Result<_>>()?;
                let clip = optim::clip_factor(cfg, &slots);
                let t = AdamTensor {
                    grad: c(t.grad)?,
                    param: cm(t.param)?.as_mut_slice(),
                    m1: cm(t.m1)?.as_mut_slice(),
                    m2: cm(t.m2)?.as_mut_slice(),
                };
                optim::adamw_cpu(cfg, st, clip, decay, t)
            }
        }
    }

    /// k-mer frequency profiles of `seqs` (ASCII) into `out` (`[seqs, 4^k]`).
    pub fn kmer_profile(&self, k: usize, seqs: &[&[u8]], out: &mut Tensor) -> Result<()> {
        let d = KmerDims {
            k,
            seqs: seqs.len(),
        };
        let (codes, offsets) = kmer::pack(seqs);
        match self {
            Backend::Gpu(gpu) => {
                // an empty binding is not allowed: keep one word
                let codes = if codes.is_empty() {
                    vec![kmer::INVALID]
                } else {
                    codes
                };
                let gc = gpu.upload("kmer codes", &codes)?;
                let go = gpu.upload("kmer offsets", &offsets)?;
                kmer::kmer_profile_gpu(gpu, &d, &gc, &go, g(out)?)
            }
            Backend::CpuReference => kmer::kmer_profile_cpu(&d, &codes, &offsets, cm(out)?),
        }
    }

    /// Triplet margin loss: per-triplet losses and d(mean loss)/d(embeddings).
    pub fn triplet(
        &self,
        d: &TripletDims,
        e: &Tensor,
        grad: &mut Tensor,
        loss: &mut Tensor,
    ) -> Result<()> {
        match self {
            Backend::Gpu(gpu) => triplet::triplet_gpu(gpu, d, g(e)?, g(grad)?, g(loss)?),
            Backend::CpuReference => {
                triplet::triplet_cpu(d, c(e)?, cm(grad)?, cm(loss)?).map(|_| ())
            }
        }
    }

    /// Segment mean of rows (`offsets`: `segments + 1` row bounds).
    pub fn segment_mean(
        &self,
        d: &SegmentDims,
        offsets: &[u32],
        x: &Tensor,
        y: &mut Tensor,
    ) -> Result<()> {
        gpu_or_cpu!(self, gpu => pool::segment_mean_gpu(gpu, d, offsets, g(x)?, g(y)?),
            pool::segment_mean_cpu(d, offsets, c(x)?, cm(y)?))
    }

    /// Backward of [`Backend::segment_mean`]: `dx` from `dy`.
    pub fn segment_mean_bwd(
        &self,
        d: &SegmentDims,
        offsets: &[u32],
        dy: &Tensor,
        dx: &mut Tensor,
    ) -> Result<()> {
        gpu_or_cpu!(self, gpu => pool::segment_mean_bwd_gpu(gpu, d, offsets, g(dy)?, g(dx)?),
            pool::segment_mean_bwd_cpu(d, offsets, c(dy)?, cm(dx)?))
    }

    /// Row top-k of an `rows x cols` matrix: (value, column) pairs, k per row.
    pub fn topk(&self, x: &Tensor, rows: usize, cols: usize, k: usize) -> Result<Vec<(f32, u32)>> {
        match self {
            Backend::Gpu(gpu) => {
                let out = gpu.zeros("topk", rows * k * 2)?;
                reduce::topk_gpu(gpu, g(x)?, rows, cols, k, &out)?;
                Ok(reduce::decode_topk(&gpu.read::<u32>(&out)?))
            }
            Backend::CpuReference => reduce::topk_cpu(c(x)?, rows, cols, k),
        }
    }

    /// Per-bit BCE with logits: gradient (scaled by 1/(rows·bits)) and per-row losses.
    pub fn bce(
        &self,
        logits: &Tensor,
        targets: &[f32],
        rows: usize,
        bits: usize,
        grad: &mut Tensor,
        loss: &mut Tensor,
    ) -> Result<()> {
        match self {
            Backend::Gpu(gpu) => {
                let t = gpu.upload("targets", targets)?;
                bithead::bce_gpu(gpu, g(logits)?, &t, rows, bits, g(grad)?, g(loss)?)
            }
            Backend::CpuReference => {
                bithead::bce_cpu(c(logits)?, targets, rows, bits, cm(grad)?, cm(loss)?)
            }
        }
    }

    /// Top `2^flip` coordinates per row of bit logits (see [`bithead`]).
    pub fn decode(
        &self,
        logits: &Tensor,
        rows: usize,
        bits: usize,
        flip: u32,
        limit: u32,
    ) -> Result<Vec<(u32, f32)>> {
        gpu_or_cpu!(self, gpu => bithead::decode_gpu(gpu, g(logits)?, rows, bits, flip, limit),
            bithead::decode_cpu(c(logits)?, rows, bits, flip, limit))
    }
}
