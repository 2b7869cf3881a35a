//! Sequence encoders for classification by embedding search.
//!
//! - [`EncoderKind::Kmer6`]: Scorpio's encoder, a k-mer frequency profile
//!   (k = 6: 4096 features, counted on the device) → Linear(768) → ReLU →
//!   Linear(256), L2-normalised so that the triplet margin is on a fixed
//!   scale (distances in [0, 2]).
//! - [`EncoderKind::Profile`]: the profile itself, untrained: exact 1-NN on
//!   raw k-mer frequencies, the no-learning baseline.

use super::super::model::encoder::{build_params, he_uniform, Layout, NamedTensor, Param};
use crate::backend::{Backend, Tensor};
use crate::error::{CrestError, Result};
use crate::model::Linear;
use crate::ops::reduce::RowOp;
use crate::rng::Rng;

/// Which encoder a database uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EncoderKind {
    /// k-mer profile → MLP → L2 normalisation (trained with triplets).
    Kmer6,
    /// Raw k-mer profile (no parameters, no training).
    Profile,
}

impl EncoderKind {
    /// Name as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            EncoderKind::Kmer6 => "kmer6",
            EncoderKind::Profile => "profile",
        }
    }
}

/// Architecture of a k-mer encoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KmerConfig {
    /// Encoder kind.
    pub kind: EncoderKind,
    /// k of the profile.
    pub k: usize,
    /// Hidden units (MLP).
    pub hidden: usize,
    /// Embedding dimension (MLP; the profile's is 4^k).
    pub dim: usize,
}

impl KmerConfig {
    /// Scorpio's sizes: 6-mers, 4096 → 768 → 256.
    pub fn scorpio() -> KmerConfig {
        KmerConfig {
            kind: EncoderKind::Kmer6,
            k: 6,
            hidden: 768,
            dim: 256,
        }
    }

    /// The raw 6-mer profile.
    pub fn profile() -> KmerConfig {
        KmerConfig {
            kind: EncoderKind::Profile,
            k: 6,
            hidden: 0,
            dim: 4096,
        }
    }

    /// Profile features (4^k).
    pub fn features(&self) -> usize {
        1 << (2 * self.k)
    }

    /// Embedding dimension.
    pub fn out_dim(&self) -> usize {
        match self.kind {
            EncoderKind::Kmer6 => self.dim,
            EncoderKind::Profile => self.features(),
        }
    }

    fn layers(&self) -> (Linear, Linear) {
        (
            Linear {
                input: self.features(),
                output: self.hidden,
            },
            Linear {
                input: self.hidden,
                output: self.dim,
            },
        )
    }

    /// Parameter layout (empty for the profile).
    pub fn layout(&self) -> Layout {
        match self.kind {
            EncoderKind::Profile => Vec::new(),
            EncoderKind::Kmer6 => {
                let (l1, l2) = self.layers();
                let mut v = l1.layout("fc1");
                v.extend(l2.layout("fc2"));
                v
            }
        }
    }

    /// Parameter count of the layout.
    pub fn num_params(&self) -> usize {
        self.layout()
            .iter()
            .map(|(_, shape, _, _)| shape.iter().product::<usize>())
            .sum()
    }

    /// Check sizes.
    pub fn validate(&self) -> Result<()> {
        if self.k == 0 || self.k > crate::ops::kmer::MAX_K {
            return Err(CrestError::Invalid(format!(
                "k = {} (1..={})",
                self.k,
                crate::ops::kmer::MAX_K
            )));
        }
        if self.kind == EncoderKind::Kmer6 && (self.hidden == 0 || self.dim == 0) {
            return Err(CrestError::Invalid("MLP sizes must be positive".into()));
        }
        Ok(())
    }
}

/// Forward activations kept for the backward pass.
pub struct KmerActivations {
    rows: usize,
    x: Tensor,
    a: Tensor,
    r: Tensor,
    y: Tensor,
    /// Embeddings `[rows, out_dim]`.
    pub z: Tensor,
}

/// A k-mer encoder on a backend.
pub struct KmerEncoder {
    /// Architecture.
    pub cfg: KmerConfig,
    /// Parameters (fc1.w, fc1.b, fc2.w, fc2.b; none for the profile).
    pub params: Vec<Param>,
}

/// Sequences per embedding batch.
pub const EMBED_BATCH: usize = 256;

impl KmerEncoder {
    /// Fresh He-uniform initialisation.
    pub fn init(be: &Backend, cfg: &KmerConfig, seed: u64) -> Result<Self> {
        cfg.validate()?;
        let mut rng = Rng::new(seed ^ 0x4b4d_4552);
        let values = he_uniform(&cfg.layout(), &mut rng, |_| 1.0);
        Self::from_values(be, cfg, values)
    }

    /// Build from named host values.
    pub fn from_values(
        be: &Backend,
        cfg: &KmerConfig,
        values: Vec<(String, Vec<f32>)>,
    ) -> Result<Self> {
        cfg.validate()?;
        Ok(KmerEncoder {
            cfg: *cfg,
            params: build_params(be, cfg.layout(), values)?,
        })
    }

    /// Host copies of the parameters.
    pub fn values(&self, be: &Backend) -> Result<Vec<NamedTensor>> {
        crate::model::encoder::param_values(be, &self.params)
    }

    /// Forward pass over ASCII sequences.
    pub fn forward(&self, be: &Backend, seqs: &[&[u8]]) -> Result<KmerActivations> {
        let rows = seqs.len();
        let c = &self.cfg;
        let mut x = be.zeros(rows * c.features())?;
        be.kmer_profile(c.k, seqs, &mut x)?;
        if c.kind == EncoderKind::Profile {
            return Ok(KmerActivations {
                rows,
                a: be.zeros(1)?,
                r: be.zeros(1)?,
                y: be.zeros(1)?,
                z: x.clone(),
                x,
            });
        }
        let (l1, l2) = c.layers();
        let a = l1.forward(be, &x, rows, &self.params[0], &self.params[1])?;
        let mut r = be.zeros(rows * c.hidden)?;
        be.relu(&a, &mut r)?;
        let y = l2.forward(be, &r, rows, &self.params[2], &self.params[3])?;
        let mut z = be.zeros(rows * c.dim)?;
        be.row_op(RowOp::L2Norm, &y, rows, c.dim, &mut z)?;
        Ok(KmerActivations {
            rows,
            x,
            a,
            r,
            y,
            z,
        })
    }

    /// Gradients of every parameter from dL/dz (overwritten).
    pub fn backward(&mut self, be: &Backend, act: &KmerActivations, dz: &Tensor) -> Result<()> {
        let c = self.cfg;
        if c.kind == EncoderKind::Profile {
            return Ok(());
        }
        let rows = act.rows;
        let (l1, l2) = c.layers();
        let mut dy = be.zeros(rows * c.dim)?;
        be.l2norm_bwd(&act.y, dz, rows, c.dim, &mut dy)?;
        let (first, second) = self.params.split_at_mut(2);
        let ([w1, b1], [w2, b2]) = (first, second) else {
            return Err(CrestError::Invalid("k-mer MLP needs 4 tensors".into()));
        };
        let dr = l2
            .backward(be, &act.r, &dy, rows, w2, b2, true)?
            .ok_or_else(|| CrestError::Invalid("linear backward gave no dx".into()))?;
        let mut da = be.zeros(rows * c.hidden)?;
        be.relu_bwd(&act.a, &dr, &mut da)?;
        l1.backward(be, &act.x, &da, rows, w1, b1, false)?;
        Ok(())
    }

    /// Embeddings of all `seqs` (`[n, out_dim]`, host), in batches of [`EMBED_BATCH`].
    pub fn embed(
        &self,
        be: &Backend,
        seqs: &[&[u8]],
        mut progress: impl FnMut(usize),
    ) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(seqs.len() * self.cfg.out_dim());
        for chunk in seqs.chunks(EMBED_BATCH) {
            let act = self.forward(be, chunk)?;
            out.extend(be.read(&act.z)?);
            progress(chunk.len());
            be.end_step()?;
        }
        Ok(out)
    }
}
