//! Product quantization of grid embeddings: each embedding is cut into `m`
//! subspaces of `dim / m` floats and stored as the number (one byte) of the
//! nearest of 256 codebook entries per subspace, `m` bytes instead of
//! `4 · dim`. The codebooks are trained by k-means (Lloyd) on a sample, with
//! the assignment on the device (`ops::pq`) and the means on the host; the
//! leaf scan decodes codes on the fly (`shaders/window_scan.wgsl`). The
//! design follows FAISS's IVF-PQ: the tree's leaves are the inverted lists.

use crate::backend::Backend;
use crate::error::{CrestError, Result};
use crate::ops::pq::{PqDims, K};
use crate::rng::Rng;

/// Default codes per embedding: 16 bytes for a 128-d embedding (2 bytes per
/// reference base on the default 8-bp grid).
pub const DEFAULT_M: usize = 16;
/// Lloyd iterations of codebook training.
pub const TRAIN_ITERS: usize = 12;
/// Most sample points codebook training uses.
pub const TRAIN_POINTS: usize = 65_536;
/// Points per assignment dispatch (bounds the device buffers).
const CHUNK: usize = 65_536;

/// A trained product quantizer.
#[derive(Clone, Debug, PartialEq)]
pub struct Pq {
    /// Subspaces (codes per embedding).
    pub m: usize,
    /// Embedding dimension.
    pub dim: usize,
    /// Codebook `[m][256][dim / m]`.
    pub codebook: Vec<f32>,
}

impl Pq {
    /// Check the shape (a loaded file).
    pub fn validate(&self) -> Result<()> {
        PqDims {
            points: 0,
            dim: self.dim,
            m: self.m,
        }
        .validate()?;
        if self.codebook.len() != self.m * K * (self.dim / self.m) {
            return Err(CrestError::Invalid(format!(
                "PQ codebook has {} values; {} subspaces of {} need {}",
                self.codebook.len(),
                self.m,
                self.dim / self.m,
                self.m * K * (self.dim / self.m)
            )));
        }
        if self.codebook.iter().any(|x| !x.is_finite()) {
            return Err(CrestError::Invalid(
                "PQ codebook holds non-finite values".into(),
            ));
        }
        Ok(())
    }

    /// Train on `x` (`[n, dim]`): initial entries are distinct sample points
    /// (seeded), then [`TRAIN_ITERS`] Lloyd iterations; an entry that loses
    /// all its points keeps its place. At most [`TRAIN_POINTS`] points are
    /// used (an even stride through `x`).
    pub fn train(be: &Backend, x: &[f32], dim: usize, m: usize, seed: u64) -> Result<Pq> {
        let d = PqDims { points: 0, dim, m };
        d.validate()?;
        let n = x.len() / dim;
        if n == 0 {
            return Err(CrestError::Invalid(
                "no points to train a quantizer on".into(),
            ));
        }
        let step = n.div_ceil(TRAIN_POINTS).max(1);
        let sample: Vec<f32> = (0..n)
            .step_by(step)
            .flat_map(|i| x[i * dim..(i + 1) * dim].iter().copied())
            .collect();
        let ns = sample.len() / dim;
        let sub = dim / m;
        // initial entries: K points in a seeded order (repeating when n < K)
        let mut order: Vec<usize> = (0..ns).collect();
        let mut rng = Rng::new(seed ^ 0x5051_u64);
        for i in (1..ns).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let mut codebook = vec![0f32; m * K * sub];
        for s in 0..m {
            for c in 0..K {
                let p = order[c % ns];
                codebook[(s * K + c) * sub..(s * K + c + 1) * sub]
                    .copy_from_slice(&sample[p * dim + s * sub..p * dim + (s + 1) * sub]);
            }
        }
        let mut pq = Pq { m, dim, codebook };
        for _ in 0..TRAIN_ITERS {
            let codes = pq.assign(be, &sample)?;
            let mut sum = vec![0f64; m * K * sub];
            let mut count = vec![0u64; m * K];
            for p in 0..ns {
                for s in 0..m {
                    let c = codes[p * m + s] as usize;
                    count[s * K + c] += 1;
                    let at = (s * K + c) * sub;
                    for (t, &v) in sample[p * dim + s * sub..p * dim + (s + 1) * sub]
                        .iter()
                        .enumerate()
                    {
                        sum[at + t] += v as f64;
                    }
                }
            }
            for (e, &cnt) in count.iter().enumerate() {
                if cnt > 0 {
                    for t in 0..sub {
                        pq.codebook[e * sub + t] = (sum[e * sub + t] / cnt as f64) as f32;
                    }
                }
            }
        }
        Ok(pq)
    }

    /// Codes (`[n, m]`, one entry number each) of `x` (`[n, dim]`), on the
    /// device in chunks.
    fn assign(&self, be: &Backend, x: &[f32]) -> Result<Vec<u32>> {
        let n = x.len() / self.dim;
        let cb = be.upload(&self.codebook)?;
        let mut out = Vec::with_capacity(n * self.m);
        for chunk in x.chunks(CHUNK * self.dim) {
            let points = chunk.len() / self.dim;
            let d = PqDims {
                points,
                dim: self.dim,
                m: self.m,
            };
            let xt = be.upload(chunk)?;
            let mut codes = be.upload_words(&vec![0u32; points * self.m])?;
            let mut dist = be.zeros(points * self.m)?;
            be.pq_assign(&d, &xt, &cb, &mut codes, &mut dist)?;
            out.extend(be.read_words(&codes)?);
            be.end_step()?;
        }
        Ok(out)
    }

    /// Encode `x` (`[n, dim]`): `m` bytes per embedding.
    pub fn encode(&self, be: &Backend, x: &[f32]) -> Result<Vec<u8>> {
        if !x.len().is_multiple_of(self.dim) {
            return Err(CrestError::Invalid(format!(
                "{} values are not whole embeddings of dimension {}",
                x.len(),
                self.dim
            )));
        }
        Ok(self.assign(be, x)?.into_iter().map(|c| c as u8).collect())
    }

    /// [`Pq::encode`] on the host (the kernel's CPU twin): for the few rows
    /// of tree centroids written to a file.
    pub fn encode_host(&self, x: &[f32]) -> Result<Vec<u8>> {
        let d = PqDims {
            points: x.len() / self.dim,
            dim: self.dim,
            m: self.m,
        };
        let (codes, _) = crate::ops::pq::assign_cpu(&d, x, &self.codebook)?;
        Ok(codes.into_iter().map(|c| c as u8).collect())
    }

    /// `x` replaced by its decoded codes: what a file that stores `x` as
    /// codes gives back (decoding, encoding and decoding again changes
    /// nothing).
    pub fn round(&self, be: &Backend, x: &[f32]) -> Result<Vec<f32>> {
        Ok(self.decode(&self.encode(be, x)?))
    }

    /// Decode codes (`[n, m]`) into embeddings (`[n, dim]`).
    pub fn decode(&self, codes: &[u8]) -> Vec<f32> {
        let sub = self.dim / self.m;
        let mut out = Vec::with_capacity(codes.len() / self.m * self.dim);
        for row in codes.chunks_exact(self.m) {
            for (s, &c) in row.iter().enumerate() {
                let at = (s * K + c as usize) * sub;
                out.extend_from_slice(&self.codebook[at..at + sub]);
            }
        }
        out
    }
}
