//! Sequence classifiers after Khan et al. (ICLR 2025, "Hyperbolic Genome
//! Embeddings"): small CNNs over one-hot DNA, in three geometries.
//!
//! * `euclidean`: one-hot `[B, 4, L]` → stem conv (4 → C, k) → ReLU → blocks
//!   `h ← ReLU(h + BN(conv(ReLU(BN(conv(h))))))` → flatten → FC (hidden) →
//!   ReLU → linear to the classes.
//! * `hybrid`: the same trunk → flatten `v` → Poincaré FC on exp₀(v) → tangent
//!   ReLU → Poincaré MLR (HNN++), curvature learned.
//! * `poincare`: hyperbolic throughout. Each position is a point of the ball
//!   (exp₀ of its one-hot column); Poincaré convolutions (HNN++
//!   β-concatenation of the window followed by a Poincaré FC, see [`hyp`]);
//!   residual blocks `h ← project(h ⊕ PConv(ReLU₀(PConv(h))))` without batch
//!   norm; β-concatenation of all positions → Poincaré FC → ReLU₀ → MLR;
//!   curvature learned.
//!
//! The Poincaré FC is HNN's (Ganea et al. 2018) `(M ⊗ x) ⊕ b` with `b` a point
//! of the ball (Riemannian Adam). Since `M ⊗ x = exp₀(M log₀ x)` exactly,
//! crest computes it as `exp₀(M · log₀ x)` — the log/exp pair that a
//! β-concatenation would put between two layers cancels, so the window of a
//! Poincaré convolution is never materialised: the product is the implicit
//! GEMM of the Euclidean conv kernel applied to β-scaled tangent vectors.
//!
//! Inputs are `len` bases long (the longest training sequence): shorter
//! sequences are padded with N (zero columns), longer ones are classified by
//! overlapping windows (see `crate::classify::supervised`).

mod head;
mod hyp;
mod trunk;

use crate::backend::{Backend, Tensor};
use crate::error::{CrestError, Result};
use crate::model::encoder::{build_params, he_uniform, Layout, NamedTensor, Param};
use crate::rng::Rng;

pub use hyp::beta_ratio;

/// Classifier geometry.
#[derive(
    clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum CnnKind {
    /// Euclidean CNN with batch norm and a ReLU MLP head.
    Euclidean,
    /// Euclidean conv trunk, Poincaré FC and MLR head.
    Hybrid,
    /// Poincaré convolutions, Möbius residuals, Poincaré FC and MLR.
    Poincare,
}

impl CnnKind {
    /// Name as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            CnnKind::Euclidean => "euclidean",
            CnnKind::Hybrid => "hybrid",
            CnnKind::Poincare => "poincare",
        }
    }

    /// Whether the model has a curvature and ball parameters.
    pub fn hyperbolic(self) -> bool {
        self != CnnKind::Euclidean
    }
}

/// Architecture (saved with the model).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CnnConfig {
    /// Geometry.
    pub kind: CnnKind,
    /// Input length in bases.
    pub len: usize,
    /// Number of classes.
    pub classes: usize,
    /// Conv channels.
    pub channels: usize,
    /// Conv kernel width.
    pub kernel: usize,
    /// Residual blocks.
    pub blocks: usize,
    /// Width of the fully connected layer.
    pub hidden: usize,
    /// Initial curvature c of the ball (−c).
    pub curvature: f32,
    /// Whether c is trained.
    pub learn_curvature: bool,
}

impl CnnConfig {
    /// The paper's architecture: 32 channels, kernel 9, 3 blocks, FC 528;
    /// the curvature starts at 1 and is learned.
    pub fn new(kind: CnnKind, len: usize, classes: usize) -> Self {
        CnnConfig {
            kind,
            len,
            classes,
            channels: 32,
            kernel: 9,
            blocks: 3,
            hidden: 528,
            curvature: 1.0,
            learn_curvature: kind.hyperbolic(),
        }
    }

    /// Reject configurations the kernels cannot run.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(CrestError::Invalid(format!("classifier: {m}")));
        if self.len == 0 || self.channels == 0 || self.kernel == 0 || self.hidden == 0 {
            return bad("length, channels, kernel and hidden width must be positive".into());
        }
        if self.classes < 2 {
            return bad(format!("{} class(es); need at least 2", self.classes));
        }
        if self.kind.hyperbolic() {
            if self.hidden.max(self.channels) > crate::ops::radam::MAX_DIM {
                return bad(format!(
                    "hyperbolic layers are limited to {} dimensions",
                    crate::ops::radam::MAX_DIM
                ));
            }
            if !(self.curvature > 0.0 && self.curvature.is_finite()) {
                return bad("curvature must be a positive number".into());
            }
        }
        Ok(())
    }

    /// Flattened trunk output per sequence.
    pub fn flat(&self) -> usize {
        self.channels * self.len
    }

    /// Parameter tensors: (name, shape, fan-in, weight-decayed).
    pub fn layout(&self) -> Layout {
        let (c, k, h, n) = (self.channels, self.kernel, self.hidden, self.classes);
        let conv = |name: String, cin: usize| (name, vec![c, cin, k], cin * k, true);
        let vecp = |name: String, len: usize| (name, vec![len], 0, false);
        let mut v = vec![conv("stem.w".into(), 4)];
        match self.kind {
            CnnKind::Euclidean | CnnKind::Hybrid => {
                v.push(vecp("stem.b".into(), c));
                for j in 0..self.blocks {
                    v.push(conv(format!("b{j}.c1.w"), c));
                    v.push((format!("b{j}.bn1"), vec![2, c], 0, false));
                    v.push(conv(format!("b{j}.c2.w"), c));
                    v.push((format!("b{j}.bn2"), vec![2, c], 0, false));
                }
            }
            CnnKind::Poincare => {
                v.push(vecp("stem.hb".into(), c));
                for j in 0..self.blocks {
                    v.push(conv(format!("b{j}.c1.w"), c));
                    v.push(vecp(format!("b{j}.c1.hb"), c));
                    v.push(conv(format!("b{j}.c2.w"), c));
                    v.push(vecp(format!("b{j}.c2.hb"), c));
                }
            }
        }
        v.push(("fc.w".into(), vec![h, self.flat()], self.flat(), true));
        if self.kind == CnnKind::Euclidean {
            v.push(vecp("fc.b".into(), h));
            v.push(("out.w".into(), vec![n, h], h, true));
            v.push(vecp("out.b".into(), n));
        } else {
            v.push(vecp("fc.hb".into(), h));
            v.push(("mlr.a".into(), vec![n, h], h, true));
            v.push(vecp("mlr.r".into(), n));
            v.push(vecp("curv.c".into(), 1));
        }
        v
    }

    /// Trained parameters (batch-norm running statistics excluded).
    pub fn num_params(&self) -> usize {
        self.layout()
            .iter()
            .map(|(_, s, _, _)| s.iter().product::<usize>())
            .sum()
    }

    /// Batch-norm layers (names of their γβ tensors), in order.
    pub fn bn_layers(&self) -> Vec<String> {
        if self.kind == CnnKind::Poincare {
            return Vec::new();
        }
        (0..self.blocks)
            .flat_map(|j| [format!("b{j}.bn1"), format!("b{j}.bn2")])
            .collect()
    }

    /// Forward FLOPs per sequence (convolutions and matrix products).
    pub fn flops_per_seq(&self) -> f64 {
        let (c, k, l) = (self.channels as f64, self.kernel as f64, self.len as f64);
        2.0 * l * k * c * (4.0 + 2.0 * c * self.blocks as f64)
            + 2.0 * (self.flat() * self.hidden) as f64
            + 2.0 * (self.hidden * self.classes) as f64
    }
}

/// A classifier on a backend: parameters and batch-norm running statistics.
pub struct Cnn {
    /// Architecture.
    pub cfg: CnnConfig,
    /// Parameters in [`CnnConfig::layout`] order.
    pub params: Vec<Param>,
    /// Running (mean, variance) per batch-norm layer, `[2·C]` each.
    pub running: Vec<Tensor>,
}

/// Whether batch norm uses batch statistics (and updates the running ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Training: batch statistics, running statistics updated.
    Train,
    /// Inference: running statistics.
    Infer,
}

/// Everything the backward pass needs from the forward pass.
pub struct Activations {
    batch: usize,
    trunk: trunk::TrunkActs,
    head: head::HeadActs,
    /// Logits `[batch, classes]`.
    pub logits: Tensor,
}

impl Cnn {
    /// Fresh initialisation from `seed` (He-uniform weights; residual and
    /// hyperbolic layers start small, batch norm at γ = 1, β = 0, ball
    /// biases at the origin).
    pub fn init(be: &Backend, cfg: &CnnConfig, seed: u64) -> Result<Self> {
        cfg.validate()?;
        let mut rng = Rng::new(seed ^ 0x434e_4e5f_434c_5331);
        let hyper = cfg.kind.hyperbolic();
        let mut values = he_uniform(&cfg.layout(), &mut rng, |name| match (cfg.kind, name) {
            (CnnKind::Poincare, n) if n.contains(".c2.") => 0.25,
            (CnnKind::Poincare, n) if n.ends_with(".w") && n != "fc.w" => 0.5,
            (_, "fc.w") if hyper => 0.1,
            _ => 1.0,
        });
        for (name, v) in &mut values {
            if name.contains(".bn") {
                v[..cfg.channels].fill(1.0);
            }
            if name == "curv.c" {
                v[0] = cfg.curvature;
            }
        }
        Self::from_values(be, cfg, values)
    }

    /// Build from named host values and, for batch-norm models, running
    /// statistics named `{layer}.running` (fresh ones when absent).
    pub fn from_values(
        be: &Backend,
        cfg: &CnnConfig,
        mut values: Vec<(String, Vec<f32>)>,
    ) -> Result<Self> {
        cfg.validate()?;
        let c = cfg.channels;
        let mut running = Vec::new();
        for layer in cfg.bn_layers() {
            let key = format!("{layer}.running");
            let v = match values.iter().position(|(n, _)| *n == key) {
                Some(i) => values.swap_remove(i).1,
                None => [vec![0.0; c], vec![1.0; c]].concat(),
            };
            if v.len() != 2 * c {
                return Err(CrestError::Invalid(format!(
                    "tensor '{key}' has {} values, expected {}",
                    v.len(),
                    2 * c
                )));
            }
            running.push(be.upload(&v)?);
        }
        Ok(Cnn {
            cfg: cfg.clone(),
            params: build_params(be, cfg.layout(), values)?,
            running,
        })
    }

    /// Parameter count (trained values; running statistics excluded).
    pub fn num_params(&self) -> usize {
        self.params.iter().map(|p| p.value.len()).sum()
    }

    fn idx(&self, name: &str) -> Result<usize> {
        self.params
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| CrestError::Invalid(format!("classifier has no tensor '{name}'")))
    }

    fn p(&self, name: &str) -> Result<&Param> {
        Ok(&self.params[self.idx(name)?])
    }

    fn grad_mut(&mut self, name: &str) -> Result<&mut Tensor> {
        let i = self.idx(name)?;
        Ok(&mut self.params[i].grad)
    }

    /// The curvature tensor of a hyperbolic model.
    pub fn curvature(&self) -> Option<&Tensor> {
        self.idx("curv.c").ok().map(|i| &self.params[i].value)
    }

    /// Forward pass of a one-hot batch `x` (`[batch, 4, len]`).
    pub fn forward(
        &mut self,
        be: &Backend,
        x: &Tensor,
        batch: usize,
        mode: Mode,
    ) -> Result<Activations> {
        if x.len() != batch * 4 * self.cfg.len || batch == 0 {
            return Err(CrestError::shape(
                "classifier",
                format!(
                    "input of {} values for {batch} sequences of {}",
                    x.len(),
                    self.cfg.len
                ),
            ));
        }
        let trunk = trunk::forward(self, be, x, batch, mode)?;
        let (head, logits) = head::head_forward(self, be, &trunk, batch)?;
        Ok(Activations {
            batch,
            trunk,
            head,
            logits,
        })
    }

    /// Backward pass from dL/dlogits: fills every parameter's `grad`.
    pub fn backward(&mut self, be: &Backend, act: &Activations, dlogits: &Tensor) -> Result<()> {
        let mut dcs = Vec::new();
        let dflat = head::head_backward(
            self, be, &act.head, &act.trunk, act.batch, dlogits, &mut dcs,
        )?;
        trunk::backward(self, be, &act.trunk, act.batch, dflat, &mut dcs)?;
        if let Ok(ci) = self.idx("curv.c") {
            if !self.cfg.learn_curvature {
                dcs.clear();
            }
            self.params[ci].grad = be.sum_all(&dcs)?;
        }
        Ok(())
    }

    /// Host copies of the parameters and running statistics (`{layer}.running`).
    pub fn values(&self, be: &Backend) -> Result<Vec<NamedTensor>> {
        let mut v = crate::model::encoder::param_values(be, &self.params)?;
        for (layer, t) in self.cfg.bn_layers().iter().zip(&self.running) {
            v.push((
                format!("{layer}.running"),
                vec![2, self.cfg.channels],
                be.read(t)?,
            ));
        }
        Ok(v)
    }
}

/// One-hot `[batch, 4, len]` of sequences (A, C, G, T channels; N, other
/// letters and padding past a sequence's end are zero columns). Sequences
/// longer than `len` are cut at `len` (callers tile them first).
pub fn one_hot(seqs: &[&[u8]], len: usize) -> Vec<f32> {
    let mut x = vec![0.0f32; seqs.len() * 4 * len];
    for (b, s) in seqs.iter().enumerate() {
        for (l, &ch) in s.iter().take(len).enumerate() {
            let c = match ch.to_ascii_uppercase() {
                b'A' => 0,
                b'C' => 1,
                b'G' => 2,
                b'T' => 3,
                _ => continue,
            };
            x[(b * 4 + c) * len + l] = 1.0;
        }
    }
    x
}
