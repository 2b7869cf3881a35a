//! crest's convolutional window encoder over whole sequences: the sequence
//! is cut into k-base windows (forward strand), each window is embedded by
//! the mapping encoder ([`crate::model::Encoder`], Euclidean: a unit vector
//! per window), the window embeddings of a sequence are averaged on the
//! device (`shaders/pool.wgsl`) and the mean is L2-normalised.
//!
//! Windows: for search and the database every sequence is tiled at
//! `stride` from its start, plus one window flush with its end so that the
//! last bases count; a sequence shorter than k is one N-padded window. A
//! sequence that would need more than [`MAX_WINDOWS`] windows is tiled at
//! the wider stride that fits (stated in the docs: a long sequence is
//! sampled, not truncated). In training each sequence contributes
//! `train_windows` windows at uniformly random positions (fewer windows per
//! step, and shift augmentation); the mean of those is an unbiased estimate
//! of the mean over all positions.

use crate::backend::{Backend, Tensor};
use crate::error::{CrestError, Result};
use crate::model::encoder::Activations;
use crate::model::{Encoder, EncoderConfig, Geometry};
use crate::ops::encode::Window;
use crate::ops::pool::SegmentDims;
use crate::ops::reduce::RowOp;
use crate::rng::Rng;
use crate::seq::PackedSeq;

/// Most windows one sequence is tiled into.
pub const MAX_WINDOWS: usize = 1024;

/// Windows per embedding batch (several short sequences, or one long one).
pub const EMBED_WINDOWS: usize = 1024;

/// Default windows per sequence in a training step.
pub const TRAIN_WINDOWS: usize = 8;

/// The pooled conv encoder's configuration.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PooledConfig {
    /// The window encoder (its `k` is the window length; Euclidean only).
    pub window: EncoderConfig,
    /// Tiling stride for embedding (bases).
    pub stride: usize,
    /// Windows per sequence in a training step.
    pub train_windows: usize,
}

impl PooledConfig {
    /// Defaults around a window encoder: non-overlapping windows, 8 per
    /// sequence in training.
    pub fn new(window: EncoderConfig) -> PooledConfig {
        PooledConfig {
            stride: window.k,
            window,
            train_windows: TRAIN_WINDOWS,
        }
    }

    /// Check sizes and geometry.
    pub fn validate(&self) -> Result<()> {
        self.window.validate()?;
        if self.window.geometry != Geometry::Euclidean {
            return Err(CrestError::Invalid(
                "the pooled conv encoder needs a Euclidean window encoder (a mean of Poincaré \
                 points is not a point of the ball's geometry)"
                    .into(),
            ));
        }
        if self.stride == 0 || self.train_windows == 0 {
            return Err(CrestError::option(
                "--stride",
                "--stride and --train-windows must be positive",
            ));
        }
        Ok(())
    }

    /// Window starts tiling a sequence of `len` bases (see the module docs).
    pub fn tile(&self, len: usize) -> Vec<u32> {
        let k = self.window.k;
        if len <= k {
            return vec![0];
        }
        let last = len - k;
        let mut stride = self.stride;
        if last / stride + 2 > MAX_WINDOWS {
            stride = last.div_ceil(MAX_WINDOWS - 2).max(stride);
        }
        crate::seq::window_starts(len, k, stride)
            .into_iter()
            .map(|s| s as u32)
            .collect()
    }

    /// `train_windows` random window starts in a sequence of `len` bases.
    pub fn sample(&self, len: usize, rng: &mut Rng) -> Vec<u32> {
        let k = self.window.k;
        if len <= k {
            return vec![0];
        }
        (0..self.train_windows)
            .map(|_| rng.below((len - k + 1) as u64) as u32)
            .collect()
    }
}

/// Activations of one pooled forward pass.
pub struct PooledActivations {
    act: Activations,
    dims: SegmentDims,
    offsets: Vec<u32>,
    y: Tensor,
    /// Unit embeddings `[sequences, proj_dim]`.
    pub z: Tensor,
}

/// The windows of a batch: packed concatenation, windows, segment offsets.
fn windows(
    c: &PooledConfig,
    seqs: &[&[u8]],
    mut sample: Option<&mut Rng>,
) -> (PackedSeq, Vec<Window>, Vec<u32>) {
    let k = c.window.k as u32;
    let mut all = PackedSeq::default();
    let mut wins = Vec::new();
    let mut sizes = Vec::with_capacity(seqs.len());
    for s in seqs {
        let base = all.len as u32;
        all.extend_ascii(s);
        let starts = match sample.as_deref_mut() {
            Some(rng) => c.sample(s.len(), rng),
            None => c.tile(s.len()),
        };
        let len = s.len() as u32;
        sizes.push(starts.len());
        // a window past the end of a short sequence is N-padded at its 3' end
        wins.extend(
            starts
                .iter()
                .map(|&st| Window::new(base + st, k.min(len - st), false)),
        );
    }
    (all, wins, SegmentDims::offsets(sizes))
}

/// Training (with `sample`) or exact forward pass of a batch of sequences.
pub fn forward(
    be: &Backend,
    c: &PooledConfig,
    enc: &Encoder,
    seqs: &[&[u8]],
    sample: Option<&mut Rng>,
) -> Result<PooledActivations> {
    let (packed, wins, offsets) = windows(c, seqs, sample);
    let (k, p) = (c.window.k, c.window.proj_dim);
    let mut x = be.zeros(wins.len() * 4 * k)?;
    be.onehot(&packed, &wins, k, &mut x)?;
    let act = enc.forward(be, x, wins.len())?;
    let dims = SegmentDims {
        segments: seqs.len(),
        rows: wins.len(),
        dim: p,
    };
    let mut y = be.zeros(seqs.len() * p)?;
    be.segment_mean(&dims, &offsets, &act.z, &mut y)?;
    let mut z = be.zeros(seqs.len() * p)?;
    be.row_op(RowOp::L2Norm, &y, seqs.len(), p, &mut z)?;
    Ok(PooledActivations {
        act,
        dims,
        offsets,
        y,
        z,
    })
}

/// Backward from dL/dz into the window encoder's gradients.
pub fn backward(
    be: &Backend,
    enc: &mut Encoder,
    pa: &PooledActivations,
    dz: &Tensor,
) -> Result<()> {
    let d = pa.dims;
    let mut dy = be.zeros(d.segments * d.dim)?;
    be.l2norm_bwd(&pa.y, dz, d.segments, d.dim, &mut dy)?;
    let mut dzw = be.zeros(d.rows * d.dim)?;
    be.segment_mean_bwd(&d, &pa.offsets, &dy, &mut dzw)?;
    enc.backward(be, &pa.act, &dzw)
}

/// Embeddings of all sequences (host, `[n, proj_dim]`), batched by windows;
/// uses the inference kernels where the device has them.
pub fn embed(
    be: &Backend,
    c: &PooledConfig,
    enc: &Encoder,
    seqs: &[&[u8]],
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<f32>> {
    let (k, p) = (c.window.k, c.window.proj_dim);
    let plan = enc.infer_plan(be)?;
    let mut out = Vec::with_capacity(seqs.len() * p);
    let mut i = 0;
    while i < seqs.len() {
        // as many sequences as fit in EMBED_WINDOWS windows (at least one)
        let mut j = i;
        let mut n = 0;
        while j < seqs.len() {
            let w = c.tile(seqs[j].len()).len();
            if j > i && n + w > EMBED_WINDOWS {
                break;
            }
            n += w;
            j += 1;
        }
        let chunk = &seqs[i..j];
        let (packed, wins, offsets) = windows(c, chunk, None);
        let mut x = be.zeros(wins.len() * 4 * k)?;
        be.onehot(&packed, &wins, k, &mut x)?;
        let zw = match &plan {
            Some(plan) => enc.infer(be, plan, &x, wins.len())?.1,
            None => enc.forward(be, x, wins.len())?.z,
        };
        let dims = SegmentDims {
            segments: chunk.len(),
            rows: wins.len(),
            dim: p,
        };
        let mut y = be.zeros(chunk.len() * p)?;
        be.segment_mean(&dims, &offsets, &zw, &mut y)?;
        let mut z = be.zeros(chunk.len() * p)?;
        be.row_op(RowOp::L2Norm, &y, chunk.len(), p, &mut z)?;
        out.extend(be.read(&z)?);
        be.end_step()?;
        progress(chunk.len());
        i = j;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(k: usize, stride: usize) -> PooledConfig {
        PooledConfig {
            stride,
            ..PooledConfig::new(EncoderConfig {
                k,
                ..EncoderConfig::default()
            })
        }
    }

    #[test]
    fn tiling_covers_the_sequence() {
        let c = cfg(4, 4);
        assert_eq!(c.tile(0), vec![0]);
        assert_eq!(c.tile(3), vec![0]);
        assert_eq!(c.tile(4), vec![0]);
        assert_eq!(c.tile(8), vec![0, 4]);
        assert_eq!(c.tile(10), vec![0, 4, 6]);
        let c = cfg(32, 16);
        for len in [33usize, 100, 1000, 5000, 200_000] {
            let t = c.tile(len);
            assert!(t.len() <= MAX_WINDOWS, "len {len}: {} windows", t.len());
            assert_eq!(t[0], 0);
            assert_eq!(*t.last().unwrap() as usize, len - 32, "ends flush");
            assert!(t.windows(2).all(|w| w[0] < w[1]));
        }
        assert_eq!(c.tile(1000).len(), 61 + 1, "0, 16, …, 960 and 968");
    }

    #[test]
    fn sampled_windows_stay_inside() {
        let c = cfg(32, 32);
        let mut rng = Rng::new(3);
        for len in [1usize, 32, 33, 500] {
            let s = c.sample(len, &mut rng);
            assert_eq!(s.len(), if len <= 32 { 1 } else { TRAIN_WINDOWS });
            assert!(s.iter().all(|&x| x as usize + 32 <= len.max(32)));
        }
    }

    #[test]
    fn batch_windows_and_offsets() {
        let c = cfg(4, 4);
        let seqs: [&[u8]; 3] = [b"ACGTACGT", b"AC", b"ACGTA"];
        let (packed, wins, off) = windows(&c, &seqs, None);
        assert_eq!(packed.len, 15);
        assert_eq!(off, vec![0, 2, 3, 5]);
        let spans: Vec<(u32, u32)> = wins.iter().map(|w| (w.start, w.end)).collect();
        assert_eq!(spans, vec![(0, 4), (4, 8), (8, 10), (10, 14), (11, 15)]);
    }
}
