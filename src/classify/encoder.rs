//! Sequence encoders for classification by embedding search, behind one
//! type ([`SeqEncoder`]) so that training, the database and search treat
//! them alike:
//!
//! - [`EncoderSpec::Kmer6`]: Scorpio's encoder, a k-mer frequency profile
//!   (k = 6: 4096 features, counted on the device) → Linear(768) → ReLU →
//!   Linear(256), L2-normalised so that the triplet margin is on a fixed
//!   scale (distances in [0, 2]).
//! - [`EncoderSpec::Profile`]: the profile itself, untrained: exact 1-NN on
//!   raw k-mer frequencies, the no-learning baseline.
//! - [`EncoderSpec::Conv`]: crest's convolutional window encoder (the one
//!   `crest train` builds for mapping) over windows tiling the whole
//!   sequence, mean-pooled and L2-normalised (see [`super::pooled`]).

use super::pooled::{self, PooledActivations, PooledConfig};
use crate::backend::{Backend, Tensor};
use crate::error::{CrestError, Result};
use crate::model::encoder::{build_params, he_uniform, param_values, Layout, NamedTensor, Param};
use crate::model::{Encoder, Linear};
use crate::ops::kmer::valid_kmers;
use crate::ops::reduce::RowOp;
use crate::rng::Rng;

/// Which encoder a database uses (`--encoder` on the command line).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EncoderKind {
    /// 6-mer frequency profile → MLP 4096-768-256 → unit vector (trained).
    Kmer6,
    /// The raw 6-mer profile, untrained (exact 1-NN baseline).
    Profile,
    /// crest's conv window encoder over the whole sequence, mean-pooled (trained).
    Conv,
}

impl EncoderKind {
    /// Name as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            EncoderKind::Kmer6 => "kmer6",
            EncoderKind::Profile => "profile",
            EncoderKind::Conv => "conv",
        }
    }
}

/// Sizes of the k-mer MLP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MlpConfig {
    /// k of the profile.
    pub k: usize,
    /// Hidden units.
    pub hidden: usize,
    /// Embedding dimension.
    pub dim: usize,
}

impl MlpConfig {
    /// Profile features (4^k).
    pub fn features(&self) -> usize {
        1 << (2 * self.k)
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
}

/// k of the raw profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProfileConfig {
    /// k of the profile.
    pub k: usize,
}

/// Architecture of a classification encoder (saved in the database as JSON
/// tagged by `kind`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum EncoderSpec {
    /// k-mer profile → MLP → unit vector.
    Kmer6(MlpConfig),
    /// Raw k-mer profile.
    Profile(ProfileConfig),
    /// Pooled convolutional window encoder.
    Conv(PooledConfig),
}

impl EncoderSpec {
    /// Scorpio's sizes: 6-mers, 4096 → 768 → 256.
    pub fn scorpio() -> EncoderSpec {
        EncoderSpec::Kmer6(MlpConfig {
            k: 6,
            hidden: 768,
            dim: 256,
        })
    }

    /// The raw 6-mer profile.
    pub fn profile() -> EncoderSpec {
        EncoderSpec::Profile(ProfileConfig { k: 6 })
    }

    /// The kind (command-line name).
    pub fn kind(&self) -> EncoderKind {
        match self {
            EncoderSpec::Kmer6(_) => EncoderKind::Kmer6,
            EncoderSpec::Profile(_) => EncoderKind::Profile,
            EncoderSpec::Conv(_) => EncoderKind::Conv,
        }
    }

    /// Whether the encoder has parameters to train.
    pub fn trainable(&self) -> bool {
        !matches!(self, EncoderSpec::Profile(_))
    }

    /// Embedding dimension.
    pub fn out_dim(&self) -> usize {
        match self {
            EncoderSpec::Kmer6(m) => m.dim,
            EncoderSpec::Profile(p) => 1 << (2 * p.k),
            EncoderSpec::Conv(c) => c.window.proj_dim,
        }
    }

    /// Parameter layout (empty for the profile).
    pub fn layout(&self) -> Layout {
        match self {
            EncoderSpec::Profile(_) => Vec::new(),
            EncoderSpec::Kmer6(m) => {
                let (l1, l2) = m.layers();
                let mut v = l1.layout("fc1");
                v.extend(l2.layout("fc2"));
                v
            }
            EncoderSpec::Conv(c) => c.window.layout(),
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
        let k_ok = |k: usize| {
            if k == 0 || k > crate::ops::kmer::MAX_K {
                Err(CrestError::Invalid(format!(
                    "k = {k} (1..={})",
                    crate::ops::kmer::MAX_K
                )))
            } else {
                Ok(())
            }
        };
        match self {
            EncoderSpec::Profile(p) => k_ok(p.k),
            EncoderSpec::Kmer6(m) => {
                k_ok(m.k)?;
                if m.hidden == 0 || m.dim == 0 {
                    return Err(CrestError::Invalid("MLP sizes must be positive".into()));
                }
                Ok(())
            }
            EncoderSpec::Conv(c) => c.validate(),
        }
    }

    /// Whether a sequence can be embedded: it has a valid k-mer (k-mer
    /// encoders) or at least one A, C, G or T (conv).
    pub fn usable(&self, seq: &[u8]) -> bool {
        match self {
            EncoderSpec::Kmer6(MlpConfig { k, .. }) | EncoderSpec::Profile(ProfileConfig { k }) => {
                valid_kmers(seq, *k) > 0
            }
            EncoderSpec::Conv(_) => seq.iter().any(|&b| crate::seq::base_code(b).is_some()),
        }
    }

    /// What [`EncoderSpec::usable`] asks for, for messages.
    pub fn needs(&self) -> String {
        match self {
            EncoderSpec::Kmer6(MlpConfig { k, .. }) | EncoderSpec::Profile(ProfileConfig { k }) => {
                format!("no valid {k}-mer (only N or ambiguity codes, or shorter than {k})")
            }
            EncoderSpec::Conv(_) => "no A, C, G or T".into(),
        }
    }
}

/// The parameters of an encoder.
enum Net {
    Profile,
    Mlp(Vec<Param>),
    Conv(Encoder),
}

/// Forward activations kept for the backward pass.
pub struct SeqActivations {
    inner: Inner,
    /// Embeddings `[rows, out_dim]`.
    pub z: Tensor,
}

enum Inner {
    Profile,
    Mlp {
        rows: usize,
        x: Tensor,
        a: Tensor,
        r: Tensor,
        y: Tensor,
    },
    Conv(Box<PooledActivations>),
}

/// A classification encoder on a backend.
pub struct SeqEncoder {
    /// Architecture.
    pub spec: EncoderSpec,
    net: Net,
}

/// Sequences per embedding batch of a classification encoder (k-mer
/// encoders; the conv encoder batches by windows). Not the mapper's
/// [`crate::model::encoder::EMBED_BATCH`] (windows per batch).
pub const SEQ_EMBED_BATCH: usize = 256;

impl SeqEncoder {
    /// Fresh initialisation (He-uniform for the MLP, the mapping encoder's
    /// own initialisation for the conv encoder).
    pub fn init(be: &Backend, spec: &EncoderSpec, seed: u64) -> Result<Self> {
        spec.validate()?;
        match spec {
            EncoderSpec::Conv(c) => Ok(SeqEncoder {
                spec: spec.clone(),
                net: Net::Conv(Encoder::init(be, &c.window, seed)?),
            }),
            _ => {
                let mut rng = Rng::new(seed ^ 0x4b4d_4552);
                let values = he_uniform(&spec.layout(), &mut rng, |_| 1.0);
                Self::from_values(be, spec, values)
            }
        }
    }

    /// Build from named host values (every tensor of the layout).
    pub fn from_values(
        be: &Backend,
        spec: &EncoderSpec,
        values: Vec<(String, Vec<f32>)>,
    ) -> Result<Self> {
        spec.validate()?;
        let net = match spec {
            EncoderSpec::Profile(_) => Net::Profile,
            EncoderSpec::Kmer6(_) => Net::Mlp(build_params(be, spec.layout(), values)?),
            EncoderSpec::Conv(c) => Net::Conv(Encoder::from_values(be, &c.window, values)?),
        };
        Ok(SeqEncoder {
            spec: spec.clone(),
            net,
        })
    }

    /// Parameters (empty for the profile).
    pub fn params(&self) -> &[Param] {
        match &self.net {
            Net::Profile => &[],
            Net::Mlp(p) => p,
            Net::Conv(e) => &e.params,
        }
    }

    /// Parameters, for the optimiser.
    pub fn params_mut(&mut self) -> &mut [Param] {
        match &mut self.net {
            Net::Profile => &mut [],
            Net::Mlp(p) => p,
            Net::Conv(e) => &mut e.params,
        }
    }

    /// Host copies of the parameters.
    pub fn values(&self, be: &Backend) -> Result<Vec<NamedTensor>> {
        param_values(be, self.params())
    }

    /// Forward pass over ASCII sequences. `sample`: the conv encoder's
    /// training mode (a few windows at random positions per sequence, drawn
    /// from this generator); None tiles every sequence (see [`super::pooled`]).
    pub fn forward(
        &self,
        be: &Backend,
        seqs: &[&[u8]],
        sample: Option<&mut Rng>,
    ) -> Result<SeqActivations> {
        match (&self.spec, &self.net) {
            (EncoderSpec::Profile(p), _) => {
                let mut x = be.zeros(seqs.len() * self.spec.out_dim())?;
                be.kmer_profile(p.k, seqs, &mut x)?;
                Ok(SeqActivations {
                    inner: Inner::Profile,
                    z: x,
                })
            }
            (EncoderSpec::Kmer6(m), Net::Mlp(params)) => mlp_forward(be, m, params, seqs),
            (EncoderSpec::Conv(c), Net::Conv(enc)) => {
                let act = pooled::forward(be, c, enc, seqs, sample)?;
                Ok(SeqActivations {
                    z: act.z.clone(),
                    inner: Inner::Conv(Box::new(act)),
                })
            }
            _ => Err(CrestError::Invalid(
                "encoder parameters do not match its kind".into(),
            )),
        }
    }

    /// Gradients of every parameter from dL/dz.
    pub fn backward(&mut self, be: &Backend, act: &SeqActivations, dz: &Tensor) -> Result<()> {
        match (&self.spec, &mut self.net, &act.inner) {
            (_, Net::Profile, Inner::Profile) => Ok(()),
            (EncoderSpec::Kmer6(m), Net::Mlp(params), Inner::Mlp { rows, x, a, r, y }) => {
                mlp_backward(be, m, params, *rows, [x, a, r, y], dz)
            }
            (EncoderSpec::Conv(_), Net::Conv(enc), Inner::Conv(pa)) => {
                pooled::backward(be, enc, pa, dz)
            }
            _ => Err(CrestError::Invalid(
                "activations come from another encoder".into(),
            )),
        }
    }

    /// Embeddings of all `seqs` (`[n, out_dim]`, host); `progress(n)` after
    /// each batch of n sequences.
    pub fn embed(
        &self,
        be: &Backend,
        seqs: &[&[u8]],
        mut progress: impl FnMut(usize),
    ) -> Result<Vec<f32>> {
        if let (EncoderSpec::Conv(c), Net::Conv(enc)) = (&self.spec, &self.net) {
            return pooled::embed(be, c, enc, seqs, &mut progress);
        }
        let mut out = Vec::with_capacity(seqs.len() * self.spec.out_dim());
        for chunk in seqs.chunks(SEQ_EMBED_BATCH) {
            let act = self.forward(be, chunk, None)?;
            out.extend(be.read(&act.z)?);
            progress(chunk.len());
            be.end_step()?;
        }
        Ok(out)
    }
}

fn mlp_forward(
    be: &Backend,
    m: &MlpConfig,
    params: &[Param],
    seqs: &[&[u8]],
) -> Result<SeqActivations> {
    let rows = seqs.len();
    let mut x = be.zeros(rows * m.features())?;
    be.kmer_profile(m.k, seqs, &mut x)?;
    let (l1, l2) = m.layers();
    let a = l1.forward(be, &x, rows, &params[0], &params[1])?;
    let mut r = be.zeros(rows * m.hidden)?;
    be.relu(&a, &mut r)?;
    let y = l2.forward(be, &r, rows, &params[2], &params[3])?;
    let mut z = be.zeros(rows * m.dim)?;
    be.row_op(RowOp::L2Norm, &y, rows, m.dim, &mut z)?;
    Ok(SeqActivations {
        inner: Inner::Mlp { rows, x, a, r, y },
        z,
    })
}

fn mlp_backward(
    be: &Backend,
    m: &MlpConfig,
    params: &mut [Param],
    rows: usize,
    [x, a, r, y]: [&Tensor; 4],
    dz: &Tensor,
) -> Result<()> {
    let (l1, l2) = m.layers();
    let mut dy = be.zeros(rows * m.dim)?;
    be.l2norm_bwd(y, dz, rows, m.dim, &mut dy)?;
    let (first, second) = params.split_at_mut(2);
    let ([w1, b1], [w2, b2]) = (first, second) else {
        return Err(CrestError::Invalid("k-mer MLP needs 4 tensors".into()));
    };
    let dr = l2.backward(be, r, &dy, rows, w2, b2)?;
    let mut da = be.zeros(rows * m.hidden)?;
    be.relu_bwd(a, &dr, &mut da)?;
    l1.backward_params(be, x, &da, rows, w1, b1)?;
    Ok(())
}
