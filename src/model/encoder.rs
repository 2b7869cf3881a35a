//! The k-mer encoder: one-hot `[B, 4, k]` → conv stem (4 → C) → ReLU →
//! residual blocks `h + ReLU(conv(h))` → flatten → linear to the embedding
//! `e` (`embed_dim`, 256 by default) → projection head `g`: ReLU → linear
//! (`proj_dim`) → `p`, then by geometry:
//! * Euclidean: `z` = L2-normalised `p`; similarity = cosine.
//! * Poincaré: `x` = project(exp₀(p)) in the ball of curvature −c, then a
//!   Poincaré fully-connected layer (HNN, Ganea et al. 2018):
//!   `z` = project((W ⊗ x) ⊕ b), with `b` a point of the ball (trained by
//!   Riemannian Adam) and c fixed or learned; similarity = −d(z_i, z_j).
//!
//! The contrastive loss acts on `z`; retrieval (`eval-embed`, mapping) uses `z` too.
//!
//! Forward and backward are written once against [`Backend`], so the same
//! code trains on a GPU, lavapipe or the CPU twins.

use crate::backend::{Backend, Tensor};
use crate::error::{CrestError, Result};
use crate::ops::conv1d::ConvDims;
use crate::ops::elementwise::ChannelShape;
use crate::ops::gemm::GemmDims;
use crate::ops::poincare::{AddGrads, MatvecDims, MatvecGrads, MobiusDims, Radial, RowGrads, Rows};
use crate::ops::reduce::RowOp;
use crate::rng::Rng;

/// Windows embedded per encoder call.
pub const EMBED_BATCH: usize = 1024;

/// Embedding geometry (also the values of `--geometry`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Geometry {
    /// Cosine similarity of L2-normalised embeddings.
    Euclidean,
    /// Poincaré ball of curvature −c; similarity = −hyperbolic distance.
    Poincare,
}

fn default_curvature() -> f32 {
    1.0
}

/// Architecture hyper-parameters (saved in the checkpoint).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EncoderConfig {
    /// k-mer (window) length.
    pub k: usize,
    /// Conv channels.
    pub channels: usize,
    /// Conv kernel width.
    pub kernel: usize,
    /// Residual conv blocks after the stem.
    pub blocks: usize,
    /// Embedding size (h).
    pub embed_dim: usize,
    /// Projection size (z).
    pub proj_dim: usize,
    /// Geometry of z.
    pub geometry: Geometry,
    /// Curvature c of the Poincaré ball (−c); the initial value when learned.
    #[serde(default = "default_curvature")]
    pub curvature: f32,
    /// Whether c is trained with the rest of the model.
    #[serde(default)]
    pub learn_curvature: bool,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        EncoderConfig {
            k: 32,
            channels: 32,
            kernel: 7,
            blocks: 2,
            embed_dim: 256,
            proj_dim: 128,
            geometry: Geometry::Euclidean,
            curvature: 1.0,
            learn_curvature: false,
        }
    }
}

impl EncoderConfig {
    /// Reject configurations the kernels cannot run.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(CrestError::Invalid(format!("encoder: {m}")));
        if self.k == 0 || self.k > 1024 {
            return bad("k must be in 1..=1024");
        }
        if self.channels == 0 || self.kernel == 0 || self.embed_dim == 0 || self.proj_dim == 0 {
            return bad("channels, kernel, embed_dim and proj_dim must be positive");
        }
        if self.geometry == Geometry::Poincare {
            if !(self.curvature > 0.0 && self.curvature.is_finite()) {
                return bad("--curvature must be a positive number");
            }
            if self.proj_dim > crate::ops::index::MAX_DIM {
                return bad("the Poincaré geometry supports --proj-dim up to 256");
            }
        }
        Ok(())
    }

    /// Parameter tensors: (name, shape, fan_in, weight-decayed).
    pub fn layout(&self) -> Layout {
        let (c, kw, k) = (self.channels, self.kernel, self.k);
        let mut v = vec![
            ("stem.w".to_string(), vec![c, 4, kw], 4 * kw, true),
            ("stem.b".to_string(), vec![c], 0, false),
        ];
        for j in 0..self.blocks {
            v.push((format!("block{j}.w"), vec![c, c, kw], c * kw, true));
            v.push((format!("block{j}.b"), vec![c], 0, false));
        }
        v.push(("embed.w".into(), vec![self.embed_dim, c * k], c * k, true));
        v.push(("embed.b".into(), vec![self.embed_dim], 0, false));
        v.push((
            "proj.w".into(),
            vec![self.proj_dim, self.embed_dim],
            self.embed_dim,
            true,
        ));
        v.push(("proj.b".into(), vec![self.proj_dim], 0, false));
        if self.geometry == Geometry::Poincare {
            let p = self.proj_dim;
            v.push(("hyp.w".into(), vec![p, p], p, true));
            v.push(("hyp.b".into(), vec![p], 0, false));
            v.push(("curv.c".into(), vec![1], 0, false));
        }
        v
    }

    /// Forward FLOPs per window.
    pub fn flops_per_window(&self) -> f64 {
        let (c, kw, k) = (self.channels as f64, self.kernel as f64, self.k as f64);
        2.0 * k * kw * c * (4.0 + c * self.blocks as f64)
            + 2.0 * c * k * self.embed_dim as f64
            + 2.0 * (self.embed_dim * self.proj_dim) as f64
            + if self.geometry == Geometry::Poincare {
                2.0 * (self.proj_dim * self.proj_dim) as f64
            } else {
                0.0
            }
    }
}

/// A named host tensor: (name, shape, values).
pub type NamedTensor = (String, Vec<usize>, Vec<f32>);

/// One parameter tensor with its gradient and Adam moments.
#[derive(Clone, Debug)]
pub struct Param {
    /// Name in the checkpoint.
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Values.
    pub value: Tensor,
    /// Gradient of the last backward pass.
    pub grad: Tensor,
    /// Adam first moment.
    pub m: Tensor,
    /// Adam second moment.
    pub v: Tensor,
    /// Whether weight decay applies.
    pub decay: bool,
}

/// How a parameter is optimised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// Euclidean weights and biases: AdamW.
    Euclidean,
    /// Points of the Poincaré ball (the Möbius bias): Riemannian Adam.
    Ball,
    /// The curvature c: Adam, then clamped; skipped when c is fixed.
    Curvature,
}

impl Param {
    /// How this parameter is optimised (from its name: `hyp.b` and names
    /// ending in `.hb`, a hyperbolic bias, are points of the ball).
    pub fn kind(&self) -> ParamKind {
        match self.name.as_str() {
            "hyp.b" => ParamKind::Ball,
            n if n.ends_with(".hb") => ParamKind::Ball,
            "curv.c" => ParamKind::Curvature,
            _ => ParamKind::Euclidean,
        }
    }
}

/// A parameter layout: (name, shape, fan-in (0 = bias), weight-decayed).
pub type Layout = Vec<(String, Vec<usize>, usize, bool)>;

/// He-uniform initial values for a layout (biases zero), each weight tensor's
/// bound scaled by `scale(name)`.
pub fn he_uniform(
    layout: &Layout,
    rng: &mut Rng,
    scale: impl Fn(&str) -> f32,
) -> Vec<(String, Vec<f32>)> {
    layout
        .iter()
        .map(|(name, shape, fan_in, _)| {
            let n: usize = shape.iter().product();
            let v = if *fan_in == 0 {
                vec![0.0; n]
            } else {
                let bound = (6.0 / *fan_in as f32).sqrt() * scale(name);
                rng.vec_f32(n, -bound, bound)
            };
            (name.clone(), v)
        })
        .collect()
}

/// Parameters (with zeroed gradients and Adam moments) for a layout, from named
/// host values; every layout entry must be present with the right size.
pub fn build_params(
    be: &Backend,
    layout: Layout,
    mut values: Vec<(String, Vec<f32>)>,
) -> Result<Vec<Param>> {
    let mut params = Vec::with_capacity(layout.len());
    for (name, shape, _, decay) in layout {
        let n: usize = shape.iter().product();
        let pos = values
            .iter()
            .position(|(nm, _)| *nm == name)
            .ok_or_else(|| CrestError::Invalid(format!("model has no tensor '{name}'")))?;
        let (_, v) = values.swap_remove(pos);
        if v.len() != n {
            return Err(CrestError::Invalid(format!(
                "tensor '{name}' has {} values, expected {n}",
                v.len()
            )));
        }
        params.push(Param {
            name,
            shape,
            value: be.upload(&v)?,
            grad: be.zeros(n)?,
            m: be.zeros(n)?,
            v: be.zeros(n)?,
            decay,
        });
    }
    Ok(params)
}

/// Host copies of parameters' values, by name.
pub fn param_values(be: &Backend, params: &[Param]) -> Result<Vec<NamedTensor>> {
    params
        .iter()
        .map(|p| Ok((p.name.clone(), p.shape.clone(), be.read(&p.value)?)))
        .collect()
}

/// Activations kept from the forward pass for the backward pass.
pub struct Activations {
    batch: usize,
    x: Tensor,
    /// Pre-activation and output of the stem and of each block: (a, h).
    layers: Vec<(Tensor, Tensor)>,
    /// Embeddings `[batch, embed_dim]` (the bit head's input).
    pub e: Tensor,
    r: Tensor,
    p: Tensor,
    /// Poincaré intermediates (x0 = exp₀(p), x, M x, W ⊗ x, (W ⊗ x) ⊕ b).
    hyp: Option<[Tensor; 5]>,
    /// Final embeddings `[batch, proj_dim]` (unit vectors, or points of the ball).
    pub z: Tensor,
}

/// Encoder weights rearranged for the inference kernels (see
/// [`Encoder::infer_plan`]): per conv layer (weights, bias), then the
/// embedding and projection layers.
pub struct InferPlan {
    convs: Vec<(Tensor, Tensor)>,
    embed: (Tensor, Tensor),
    proj: (Tensor, Tensor),
}

/// The encoder's parameters on a backend.
pub struct Encoder {
    /// Architecture.
    pub cfg: EncoderConfig,
    /// Parameters in [`EncoderConfig::layout`] order.
    pub params: Vec<Param>,
}

impl Encoder {
    /// Fresh He-uniform initialisation from `seed`.
    pub fn init(backend: &Backend, cfg: &EncoderConfig, seed: u64) -> Result<Self> {
        cfg.validate()?;
        let mut rng = Rng::new(seed ^ 0x454e_434f_4445_5231);
        // Residual branches start small so that blocks begin near identity.
        let mut values = he_uniform(&cfg.layout(), &mut rng, |name| {
            if name.starts_with("block") {
                0.5
            } else {
                1.0
            }
        });
        for (name, v) in &mut values {
            if name == "curv.c" {
                v[0] = cfg.curvature;
            }
        }
        Self::from_values(backend, cfg, values)
    }

    /// Build from named host values (checkpoint load); names and sizes must match the layout.
    pub fn from_values(
        backend: &Backend,
        cfg: &EncoderConfig,
        values: Vec<(String, Vec<f32>)>,
    ) -> Result<Self> {
        cfg.validate()?;
        Ok(Encoder {
            cfg: cfg.clone(),
            params: build_params(backend, cfg.layout(), values)?,
        })
    }

    /// Parameter count.
    pub fn num_params(&self) -> usize {
        self.params.iter().map(|p| p.value.len()).sum()
    }

    fn conv_dims(&self, batch: usize, cin: usize) -> ConvDims {
        ConvDims {
            batch,
            cin,
            cout: self.cfg.channels,
            len: self.cfg.k,
            kw: self.cfg.kernel,
        }
    }

    /// Forward pass of a one-hot batch `x` (`[batch, 4, k]`).
    pub fn forward(&self, be: &Backend, x: Tensor, batch: usize) -> Result<Activations> {
        let cfg = &self.cfg;
        let (c, k) = (cfg.channels, cfg.k);
        let mut layers = Vec::with_capacity(cfg.blocks + 1);
        // stem
        let d = self.conv_dims(batch, 4);
        let mut a = be.zeros(d.y_len())?;
        be.conv1d_forward(
            &d,
            &x,
            &self.params[0].value,
            Some(&self.params[1].value),
            &mut a,
        )?;
        let mut h = be.zeros(d.y_len())?;
        be.relu(&a, &mut h)?;
        layers.push((a, h));
        for j in 0..cfg.blocks {
            let d = self.conv_dims(batch, c);
            let (w, b) = (&self.params[2 + 2 * j].value, &self.params[3 + 2 * j].value);
            let prev = &layers.last().expect("stem").1;
            let mut a = be.zeros(d.y_len())?;
            be.conv1d_forward(&d, prev, w, Some(b), &mut a)?;
            let mut r = be.zeros(d.y_len())?;
            be.relu(&a, &mut r)?;
            let mut h = be.zeros(d.y_len())?;
            be.add(prev, &r, &mut h)?;
            layers.push((a, h));
        }
        let nb = 2 + 2 * cfg.blocks;
        let hl = &layers.last().expect("layers").1;
        // embedding e = h · Wᵀ + b
        let ed = GemmDims::new(batch, cfg.embed_dim, c * k, false, true);
        let mut e0 = be.zeros(batch * cfg.embed_dim)?;
        be.gemm(&ed, hl, &self.params[nb].value, &mut e0)?;
        let es = ChannelShape {
            outer: batch,
            channels: cfg.embed_dim,
            inner: 1,
        };
        let mut e = be.zeros(batch * cfg.embed_dim)?;
        be.bias_add(&es, &e0, &self.params[nb + 1].value, &mut e)?;
        // projection
        let mut r = be.zeros(batch * cfg.embed_dim)?;
        be.relu(&e, &mut r)?;
        let pd = GemmDims::new(batch, cfg.proj_dim, cfg.embed_dim, false, true);
        let mut p0 = be.zeros(batch * cfg.proj_dim)?;
        be.gemm(&pd, &r, &self.params[nb + 2].value, &mut p0)?;
        let ps = ChannelShape {
            outer: batch,
            channels: cfg.proj_dim,
            inner: 1,
        };
        let mut p = be.zeros(batch * cfg.proj_dim)?;
        be.bias_add(&ps, &p0, &self.params[nb + 3].value, &mut p)?;
        let (z, hyp) = match cfg.geometry {
            Geometry::Euclidean => {
                let mut z = be.zeros(batch * cfg.proj_dim)?;
                be.row_op(RowOp::L2Norm, &p, batch, cfg.proj_dim, &mut z)?;
                (z, None)
            }
            Geometry::Poincare => {
                let (z, h) = self.poincare_forward(be, &p, batch)?;
                (z, Some(h))
            }
        };
        Ok(Activations {
            batch,
            x,
            layers,
            e,
            r,
            p,
            hyp,
            z,
        })
    }

    /// Embed windows of `seq` (z, `[n, proj_dim]`, host copy) in batches of
    /// [`EMBED_BATCH`]; `progress(done, total)` after each batch.
    pub fn embed_windows(
        &self,
        be: &Backend,
        seq: &crate::seq::PackedSeq,
        windows: &[crate::ops::encode::Window],
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Vec<f32>> {
        let k = self.cfg.k;
        let plan = self.infer_plan(be)?;
        let mut out = Vec::with_capacity(windows.len() * self.cfg.proj_dim);
        for chunk in windows.chunks(EMBED_BATCH) {
            let mut x = be.zeros(chunk.len() * 4 * k)?;
            be.onehot(seq, chunk, k, &mut x)?;
            let (_, z) = self.embed_batch(be, plan.as_ref(), x, chunk.len())?;
            out.extend(be.read(&z)?);
            be.end_step()?;
            progress(out.len() / self.cfg.proj_dim, windows.len());
        }
        Ok(out)
    }

    /// (e, z) of a one-hot batch: the inference kernels when there is a
    /// plan, else the training forward pass.
    pub fn embed_batch(
        &self,
        be: &Backend,
        plan: Option<&InferPlan>,
        x: Tensor,
        batch: usize,
    ) -> Result<(Tensor, Tensor)> {
        match plan {
            Some(plan) => self.infer(be, plan, &x, batch),
            None => {
                let act = self.forward(be, x, batch)?;
                Ok((act.e, act.z))
            }
        }
    }

    /// Weights rearranged for the inference kernels (`ops::infer`), or None
    /// where they do not apply (cpu-reference, more than 64 channels).
    pub fn infer_plan(&self, be: &Backend) -> Result<Option<InferPlan>> {
        let Backend::Gpu(gpu) = be else {
            return Ok(None);
        };
        let cfg = &self.cfg;
        let uniform_bytes = crate::ops::infer::WEIGHT_VEC4S as u64 * 16;
        if gpu.limits.max_uniform_buffer_binding_size < uniform_bytes
            || !crate::ops::infer::conv_fits(4, cfg.channels, cfg.kernel)
            || !crate::ops::infer::conv_fits(cfg.channels, cfg.channels, cfg.kernel)
        {
            return Ok(None);
        }
        use crate::ops::infer::{bias4, conv_bias4, conv_weights_t, dense_weights_t};
        let host = |i: usize| be.read(&self.params[i].value);
        let mut convs = Vec::with_capacity(cfg.blocks + 1);
        for j in 0..=cfg.blocks {
            let cin = if j == 0 { 4 } else { cfg.channels };
            let w = conv_weights_t(&host(2 * j)?, cfg.channels, cin, cfg.kernel);
            convs.push((be.upload(&w)?, be.upload(&conv_bias4(&host(2 * j + 1)?))?));
        }
        let nb = 2 + 2 * cfg.blocks;
        let embed = (
            be.upload(&dense_weights_t(
                &host(nb)?,
                cfg.embed_dim,
                cfg.channels * cfg.k,
            ))?,
            be.upload(&bias4(&host(nb + 1)?))?,
        );
        let proj = (
            be.upload(&dense_weights_t(
                &host(nb + 2)?,
                cfg.proj_dim,
                cfg.embed_dim,
            ))?,
            be.upload(&bias4(&host(nb + 3)?))?,
        );
        Ok(Some(InferPlan { convs, embed, proj }))
    }

    /// Inference forward of a one-hot batch with the barrier-free kernels:
    /// (e `[batch, embed_dim]`, z `[batch, proj_dim]`), equal to
    /// [`Encoder::forward`]'s `e` and `z` up to rounding.
    pub fn infer(
        &self,
        be: &Backend,
        plan: &InferPlan,
        x: &Tensor,
        batch: usize,
    ) -> Result<(Tensor, Tensor)> {
        use crate::ops::infer::{conv_gpu, dense_gpu, ConvFlags, DenseDims};
        let Backend::Gpu(gpu) = be else {
            return Err(CrestError::Invalid(
                "inference kernels need a GPU backend".into(),
            ));
        };
        let g = |t: &Tensor| -> Result<crate::gpu::GpuBuf> {
            match t {
                Tensor::Gpu(b) => Ok(b.clone()),
                Tensor::Cpu(_) => Err(CrestError::Invalid("tensor on the host".into())),
            }
        };
        let cfg = &self.cfg;
        let (c, k) = (cfg.channels, cfg.k);
        let mut h = g(x)?;
        for (j, (wt, b4)) in plan.convs.iter().enumerate() {
            let d = self.conv_dims(batch, if j == 0 { 4 } else { c });
            let flags = ConvFlags {
                relu: true,
                residual: j > 0,
                transpose: j == cfg.blocks,
            };
            let y = gpu.zeros("infer conv", d.y_len())?;
            conv_gpu(gpu, &d, &h, &g(wt)?, &g(b4)?, flags, &y)?;
            h = y;
        }
        let e = gpu.zeros("infer e", batch * cfg.embed_dim)?;
        let r_t = gpu.zeros("infer relu(e)ᵀ", batch * cfg.embed_dim)?;
        let ed = DenseDims {
            batch,
            k: c * k,
            n: cfg.embed_dim,
        };
        dense_gpu(
            gpu,
            &ed,
            &h,
            &g(&plan.embed.0)?,
            &g(&plan.embed.1)?,
            &e,
            Some(&r_t),
        )?;
        let p = gpu.zeros("infer p", batch * cfg.proj_dim)?;
        let pd = DenseDims {
            batch,
            k: cfg.embed_dim,
            n: cfg.proj_dim,
        };
        dense_gpu(
            gpu,
            &pd,
            &r_t,
            &g(&plan.proj.0)?,
            &g(&plan.proj.1)?,
            &p,
            None,
        )?;
        let p = Tensor::Gpu(p);
        let z = match cfg.geometry {
            Geometry::Euclidean => {
                let mut z = be.zeros(batch * cfg.proj_dim)?;
                be.row_op(RowOp::L2Norm, &p, batch, cfg.proj_dim, &mut z)?;
                z
            }
            Geometry::Poincare => self.poincare_forward(be, &p, batch)?.0,
        };
        Ok((Tensor::Gpu(e), z))
    }

    /// The curvature tensor (one value) of a Poincaré encoder.
    pub fn curvature(&self) -> Option<&Tensor> {
        self.params
            .iter()
            .find(|p| p.kind() == ParamKind::Curvature)
            .map(|p| &p.value)
    }

    fn hyp_index(&self) -> usize {
        2 + 2 * self.cfg.blocks + 4
    }

    /// p → x0 = exp₀(p) → x = project(x0) → M x → y = W ⊗ x → y1 = y ⊕ b → z = project(y1).
    fn poincare_forward(
        &self,
        be: &Backend,
        p: &Tensor,
        batch: usize,
    ) -> Result<(Tensor, [Tensor; 5])> {
        let d = self.cfg.proj_dim;
        let n = batch * d;
        let hi = self.hyp_index();
        let curv = &self.params[hi + 2].value;
        let eps = crate::ops::poincare::PROJ_EPS;
        let shape = Rows::new(batch, d);
        let matvec = MatvecDims {
            rows: batch,
            din: d,
            dout: d,
        };
        let mut x0 = be.zeros(n)?;
        be.radial(Radial::Exp0, curv, p, shape, &mut x0)?;
        let mut x = be.zeros(n)?;
        be.project(curv, eps, &x0, shape, &mut x)?;
        let mut mx = be.zeros(n)?;
        be.gemm(
            &GemmDims::new(batch, d, d, false, true),
            &x,
            &self.params[hi].value,
            &mut mx,
        )?;
        let mut y = be.zeros(n)?;
        be.matvec_scale(curv, &x, &mx, matvec, &mut y)?;
        let mut y1 = be.zeros(n)?;
        let bias = &self.params[hi + 1].value;
        be.mobius_add(curv, &y, bias, MobiusDims::broadcast(batch, d), &mut y1)?;
        let mut z = be.zeros(n)?;
        be.project(curv, eps, &y1, shape, &mut z)?;
        Ok((z, [x0, x, mx, y, y1]))
    }

    /// Backward of [`Encoder::poincare_forward`] from dL/dz: fills hyp.w, hyp.b
    /// and (when learned) curv.c gradients; returns dL/dp. `dc_extra` is ∂L/∂c
    /// from outside the encoder (the distance-based loss), one value per row.
    fn poincare_backward(
        &mut self,
        be: &Backend,
        act: &Activations,
        dz: &Tensor,
        dc_extra: Option<&Tensor>,
    ) -> Result<Tensor> {
        let [x0, x, mx, y, y1] = act.hyp.as_ref().ok_or_else(|| {
            CrestError::Invalid("Poincaré backward without Poincaré activations".into())
        })?;
        let batch = act.batch;
        let d = self.cfg.proj_dim;
        let n = batch * d;
        let hi = self.hyp_index();
        let eps = crate::ops::poincare::PROJ_EPS;
        let shape = Rows::new(batch, d);
        let matvec = MatvecDims {
            rows: batch,
            din: d,
            dout: d,
        };
        let curv = self.params[hi + 2].value.clone();
        let mut dcs: Vec<Tensor> = Vec::new();
        let dc = || be.zeros(batch);
        // z = project(y1)
        let mut dy1 = be.zeros(n)?;
        let mut c1 = dc()?;
        let grads = RowGrads {
            dx: &mut dy1,
            dc: &mut c1,
        };
        be.project_bwd(&curv, eps, y1, dz, shape, grads)?;
        // y1 = y ⊕ b
        let (mut dy, mut db_rows, mut c2) = (be.zeros(n)?, be.zeros(n)?, dc()?);
        let grads = AddGrads {
            dx: &mut dy,
            dy: &mut db_rows,
            dc: &mut c2,
        };
        let (bias, bshape) = (&self.params[hi + 1].value, MobiusDims::broadcast(batch, d));
        be.mobius_add_bwd(&curv, y, bias, &dy1, bshape, grads)?;
        be.channel_sum(
            &ChannelShape {
                outer: batch,
                channels: d,
                inner: 1,
            },
            &db_rows,
            &mut self.params[hi + 1].grad,
        )?;
        // y = W ⊗ x (M x by GEMM)
        let (mut dxa, mut dmx, mut c3) = (be.zeros(n)?, be.zeros(n)?, dc()?);
        let grads = MatvecGrads {
            dx: &mut dxa,
            dmx: &mut dmx,
            dc: &mut c3,
        };
        be.matvec_scale_bwd(&curv, x, mx, &dy, matvec, grads)?;
        be.gemm(
            &GemmDims::new(d, d, batch, true, false),
            &dmx,
            x,
            &mut self.params[hi].grad,
        )?;
        let mut dx = be.zeros(n)?;
        be.gemm(
            &GemmDims::new(batch, d, d, false, false),
            &dmx,
            &self.params[hi].value,
            &mut dx,
        )?;
        let mut dxs = be.zeros(n)?;
        be.add(&dxa, &dx, &mut dxs)?;
        // x = project(x0)
        let (mut dx0, mut c4) = (be.zeros(n)?, dc()?);
        let grads = RowGrads {
            dx: &mut dx0,
            dc: &mut c4,
        };
        be.project_bwd(&curv, eps, x0, &dxs, shape, grads)?;
        // x0 = exp₀(p)
        let (mut dp, mut c5) = (be.zeros(n)?, dc()?);
        let grads = RowGrads {
            dx: &mut dp,
            dc: &mut c5,
        };
        be.radial_bwd(Radial::Exp0, &curv, &act.p, &dx0, shape, grads)?;
        if self.cfg.learn_curvature {
            dcs.extend([c1, c2, c3, c4, c5]);
            if let Some(extra) = dc_extra {
                dcs.push(extra.clone());
            }
            self.params[hi + 2].grad = be.sum_all(&dcs)?;
        }
        Ok(dp)
    }

    /// Backward pass from dL/dz; fills every parameter's `grad`.
    pub fn backward(&mut self, be: &Backend, act: &Activations, dz: &Tensor) -> Result<()> {
        self.backward_with_dc(be, act, dz, None)
    }

    /// As [`Encoder::backward`], with ∂L/∂c per row from a loss that depends on
    /// the curvature directly (the Poincaré distance).
    pub fn backward_with_dc(
        &mut self,
        be: &Backend,
        act: &Activations,
        dz: &Tensor,
        dc_extra: Option<&Tensor>,
    ) -> Result<()> {
        let cfg = self.cfg.clone();
        let (batch, c, k) = (act.batch, cfg.channels, cfg.k);
        let nb = 2 + 2 * cfg.blocks;
        let dp = match cfg.geometry {
            Geometry::Euclidean => {
                let mut dp = be.zeros(batch * cfg.proj_dim)?;
                be.l2norm_bwd(&act.p, dz, batch, cfg.proj_dim, &mut dp)?;
                dp
            }
            Geometry::Poincare => self.poincare_backward(be, act, dz, dc_extra)?,
        };
        // p = r · Wpᵀ + bp
        be.gemm(
            &GemmDims::new(cfg.proj_dim, cfg.embed_dim, batch, true, false),
            &dp,
            &act.r,
            &mut self.params[nb + 2].grad,
        )?;
        be.channel_sum(
            &ChannelShape {
                outer: batch,
                channels: cfg.proj_dim,
                inner: 1,
            },
            &dp,
            &mut self.params[nb + 3].grad,
        )?;
        let mut dr = be.zeros(batch * cfg.embed_dim)?;
        be.gemm(
            &GemmDims::new(batch, cfg.embed_dim, cfg.proj_dim, false, false),
            &dp,
            &self.params[nb + 2].value,
            &mut dr,
        )?;
        // r = relu(e)
        let mut de = be.zeros(batch * cfg.embed_dim)?;
        be.relu_bwd(&act.e, &dr, &mut de)?;
        // e = h · Wlᵀ + bl
        let hl = &act.layers.last().expect("layers").1;
        be.gemm(
            &GemmDims::new(cfg.embed_dim, c * k, batch, true, false),
            &de,
            hl,
            &mut self.params[nb].grad,
        )?;
        be.channel_sum(
            &ChannelShape {
                outer: batch,
                channels: cfg.embed_dim,
                inner: 1,
            },
            &de,
            &mut self.params[nb + 1].grad,
        )?;
        let mut dh = be.zeros(batch * c * k)?;
        be.gemm(
            &GemmDims::new(batch, c * k, cfg.embed_dim, false, false),
            &de,
            &self.params[nb].value,
            &mut dh,
        )?;
        // residual blocks, last to first: h' = h + relu(conv(h))
        for j in (0..cfg.blocks).rev() {
            let d = self.conv_dims(batch, c);
            let (a, _) = &act.layers[j + 1];
            let h_in = &act.layers[j].1;
            let mut da = be.zeros(d.y_len())?;
            be.relu_bwd(a, &dh, &mut da)?;
            be.conv1d_weight_grad(&d, &da, h_in, &mut self.params[2 + 2 * j].grad)?;
            be.channel_sum(
                &ChannelShape {
                    outer: batch,
                    channels: c,
                    inner: k,
                },
                &da,
                &mut self.params[3 + 2 * j].grad,
            )?;
            let mut dconv = be.zeros(d.x_len())?;
            be.conv1d_input_grad(&d, &da, &self.params[2 + 2 * j].value, &mut dconv)?;
            let mut dh_in = be.zeros(d.x_len())?;
            be.add(&dh, &dconv, &mut dh_in)?;
            dh = dh_in;
        }
        // stem
        let d = self.conv_dims(batch, 4);
        let (a, _) = &act.layers[0];
        let mut da = be.zeros(d.y_len())?;
        be.relu_bwd(a, &dh, &mut da)?;
        be.conv1d_weight_grad(&d, &da, &act.x, &mut self.params[0].grad)?;
        be.channel_sum(
            &ChannelShape {
                outer: batch,
                channels: c,
                inner: k,
            },
            &da,
            &mut self.params[1].grad,
        )?;
        Ok(())
    }

    /// Host copies of every parameter, by name.
    pub fn values(&self, be: &Backend) -> Result<Vec<NamedTensor>> {
        param_values(be, &self.params)
    }

    /// Host copies of the Adam moments, by name (`adam.m.*`, `adam.v.*`).
    pub fn moments(&self, be: &Backend) -> Result<Vec<NamedTensor>> {
        let mut v = Vec::new();
        for p in &self.params {
            v.push((
                format!("adam.m.{}", p.name),
                p.shape.clone(),
                be.read(&p.m)?,
            ));
            v.push((
                format!("adam.v.{}", p.name),
                p.shape.clone(),
                be.read(&p.v)?,
            ));
        }
        Ok(v)
    }

    /// Restore Adam moments saved by [`Encoder::moments`].
    pub fn set_moments(&mut self, be: &Backend, tensors: &[(String, Vec<f32>)]) -> Result<()> {
        for p in &mut self.params {
            for (prefix, slot) in [("adam.m.", &mut p.m), ("adam.v.", &mut p.v)] {
                let name = format!("{prefix}{}", p.name);
                let (_, v) = tensors.iter().find(|(n, _)| *n == name).ok_or_else(|| {
                    CrestError::Invalid(format!(
                        "checkpoint has no '{name}' (not a resumable checkpoint)"
                    ))
                })?;
                be.write(slot, v)?;
            }
        }
        Ok(())
    }
}
