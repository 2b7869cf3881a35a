//! Model checkpoints: safetensors (f32 weights, optionally Adam moments) with
//! one metadata entry, `crest`, holding JSON: format version, architecture,
//! training configuration, seed, step, and the reference's contig names,
//! lengths and MD5s. Files are written to a temporary name and renamed, and
//! the bytes depend only on the contents (same seed and inputs → same file).

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};

use super::encoder::EncoderConfig;
use crate::error::{CrestError, Result};
use crate::io::Reference;

/// Format tag written into every model.
pub const FORMAT: &str = "crest-model/1";

/// One reference contig as recorded in a model.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContigInfo {
    /// Name.
    pub name: String,
    /// Length.
    pub len: u64,
    /// Sequence MD5 (SAM M5).
    pub md5: String,
}

/// Everything about a model except its weights.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelMeta {
    /// Format version.
    pub format: String,
    /// Architecture.
    pub encoder: EncoderConfig,
    /// Training configuration (see `crest::train::TrainConfig`).
    pub train: serde_json::Value,
    /// Seed of the run.
    pub seed: u64,
    /// Optimiser steps taken.
    pub step: u64,
    /// Reference the model was trained on.
    pub reference: Vec<ContigInfo>,
    /// Bit head, when the model has one (needed by `crest map`).
    #[serde(default)]
    pub head: Option<super::head::HeadConfig>,
    /// Bit-head training steps taken.
    #[serde(default)]
    pub head_steps: u64,
    /// Curvature c of a Poincaré model after training (learned or fixed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub curvature: Option<f32>,
}

impl ModelMeta {
    /// Contig records of a loaded reference.
    pub fn contigs_of(reference: &Reference) -> Vec<ContigInfo> {
        reference
            .contigs
            .iter()
            .map(|c| ContigInfo {
                name: c.name.clone(),
                len: c.seq.len() as u64,
                md5: c.md5.clone(),
            })
            .collect()
    }

    /// Refuse a reference that is not the one the model was trained on.
    pub fn check_reference(
        &self,
        model: &Path,
        reference: &Reference,
        ref_path: &Path,
    ) -> Result<()> {
        let have = Self::contigs_of(reference);
        if have == self.reference {
            return Ok(());
        }
        let show = |v: &[ContigInfo]| {
            let mut s: Vec<String> = v
                .iter()
                .take(3)
                .map(|c| format!("{} ({} bp, M5 {})", c.name, c.len, c.md5))
                .collect();
            if v.len() > 3 {
                s.push(format!("… {} contigs", v.len()));
            }
            s.join(", ")
        };
        Err(CrestError::Invalid(format!(
            "{} was trained on a different reference: model has {}; {} has {}",
            model.display(),
            show(&self.reference),
            ref_path.display(),
            show(&have)
        )))
    }
}

/// A model on disk: metadata and named f32 tensors.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// Metadata.
    pub meta: ModelMeta,
    /// (name, shape, values), in any order.
    pub tensors: Vec<super::encoder::NamedTensor>,
}

impl Checkpoint {
    /// Write to `path` (atomically, through [`crate::io::Output`]).
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::io::output::write_all(path, &[], &self.to_bytes()?)
    }

    /// The file's bytes (safetensors with the `crest` metadata entry).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let meta =
            serde_json::to_string(&self.meta).map_err(|e| CrestError::Invalid(e.to_string()))?;
        tensors_to_bytes(&meta, &self.tensors)
    }

    /// Read a model file.
    pub fn load(path: &Path) -> Result<Self> {
        let (meta_json, tensors) = tensors_from_file(path, "crest model")?;
        let bad = |m: String| CrestError::UnknownFormat {
            path: path.into(),
            message: m,
        };
        let meta: ModelMeta = serde_json::from_str(&meta_json)
            .map_err(|e| bad(format!("bad crest metadata: {e}")))?;
        if meta.format != FORMAT {
            return Err(bad(format!(
                "model format '{}' (this crest reads {FORMAT})",
                meta.format
            )));
        }
        let ck = Checkpoint { meta, tensors };
        ck.validate().map_err(bad)?;
        Ok(ck)
    }

    /// Check that the weights match the metadata: every tensor the
    /// architecture (and bit head) needs is present with its shape, there are
    /// no others (besides optimiser moments), and every value is finite.
    pub fn validate(&self) -> std::result::Result<(), String> {
        self.meta
            .encoder
            .validate()
            .map_err(|e| format!("metadata: {e}"))?;
        if let Some(c) = self.meta.curvature {
            if !(c.is_finite() && c > 0.0) {
                return Err(format!("metadata: curvature {c} is not a positive number"));
            }
        }
        let mut expected: Vec<(String, Vec<usize>)> = self
            .meta
            .encoder
            .layout()
            .into_iter()
            .map(|(n, s, _, _)| (n, s))
            .collect();
        if let Some(h) = &self.meta.head {
            if h.input != self.meta.encoder.embed_dim {
                return Err(format!(
                    "metadata: bit head input {} differs from the embedding size {}",
                    h.input, self.meta.encoder.embed_dim
                ));
            }
            expected.extend(h.layout().into_iter().map(|(n, s, _, _)| (n, s)));
        }
        for (name, shape) in &expected {
            match self.tensors.iter().find(|t| &t.0 == name) {
                None => {
                    return Err(format!(
                        "tensor {name} is missing (the metadata's architecture needs it)"
                    ))
                }
                Some((_, s, _)) if s != shape => {
                    return Err(format!(
                        "tensor {name} has shape {s:?}; the metadata's architecture needs {shape:?}"
                    ))
                }
                _ => {}
            }
        }
        for (name, _, values) in &self.tensors {
            let known = expected.iter().any(|(n, _)| n == name)
                || ["adam.m.", "adam.v."].iter().any(|pre| {
                    name.strip_prefix(pre)
                        .is_some_and(|rest| expected.iter().any(|(n, _)| n == rest))
                });
            if !known {
                return Err(format!(
                    "tensor {name} does not belong to the architecture in the metadata \
                     (blocks {}, geometry {:?}, head {})",
                    self.meta.encoder.blocks,
                    self.meta.encoder.geometry,
                    if self.meta.head.is_some() {
                        "yes"
                    } else {
                        "no"
                    }
                ));
            }
            if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                return Err(format!(
                    "tensor {name} holds a non-finite value ({}) at {i}",
                    values[i]
                ));
            }
        }
        Ok(())
    }

    /// Hash (MD5, hex) of the encoder: its architecture and its weights,
    /// leaving out optimiser moments and heads, so that an index built with
    /// the encoder stays valid when a head is added to the model file.
    pub fn encoder_hash(&self) -> String {
        use md5::Digest;
        let mut h = md5::Md5::new();
        h.update(
            serde_json::to_string(&self.meta.encoder)
                .unwrap_or_default()
                .as_bytes(),
        );
        for (name, shape, values) in &self.tensors {
            if name.starts_with("adam.") || name.starts_with("head.") {
                continue;
            }
            h.update(name.as_bytes());
            for d in shape {
                h.update((*d as u64).to_le_bytes());
            }
            for v in values {
                h.update(v.to_le_bytes());
            }
        }
        format!("{:x}", h.finalize())
    }

    /// The tensors whose names do not start with `adam.` (the weights).
    pub fn weights(&self) -> Vec<(String, Vec<f32>)> {
        self.tensors
            .iter()
            .filter(|(n, _, _)| !n.starts_with("adam."))
            .map(|(n, _, v)| (n.clone(), v.clone()))
            .collect()
    }

    /// The Adam moment tensors (`adam.*`).
    pub fn moments(&self) -> Vec<(String, Vec<f32>)> {
        self.tensors
            .iter()
            .filter(|(n, _, _)| n.starts_with("adam."))
            .map(|(n, _, v)| (n.clone(), v.clone()))
            .collect()
    }
}

/// Safetensors bytes of f32 tensors with `meta` (JSON) under the `crest`
/// metadata key; the bytes depend only on the contents.
pub fn tensors_to_bytes(meta: &str, tensors: &[super::encoder::NamedTensor]) -> Result<Vec<u8>> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), b)| {
            TensorView::new(Dtype::F32, shape.clone(), b)
                .map(|v| (name.clone(), v))
                .map_err(|e| CrestError::Invalid(format!("tensor {name}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let info = HashMap::from([("crest".to_string(), meta.to_string())]);
    safetensors::serialize(views, Some(info))
        .map_err(|e| CrestError::Invalid(format!("serialising model: {e}")))
}

/// Read a safetensors file written by [`tensors_to_bytes`]: the `crest`
/// metadata JSON and the f32 tensors sorted by name. `what` names the kind of
/// file in errors.
pub fn tensors_from_file(
    path: &Path,
    what: &str,
) -> Result<(String, Vec<super::encoder::NamedTensor>)> {
    let data = std::fs::read(path).map_err(|e| CrestError::io(path, e))?;
    let bad = |m: String| CrestError::UnknownFormat {
        path: path.into(),
        message: m,
    };
    let (_, md) = safetensors::SafeTensors::read_metadata(&data)
        .map_err(|e| bad(format!("not a {what} (safetensors): {e}")))?;
    let meta_json = md
        .metadata()
        .as_ref()
        .and_then(|m| m.get("crest"))
        .ok_or_else(|| {
            bad(format!(
                "safetensors file without crest metadata: not a {what}"
            ))
        })?
        .clone();
    let st = safetensors::SafeTensors::deserialize(&data)
        .map_err(|e| bad(format!("corrupt {what}: {e}")))?;
    let mut tensors = Vec::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(bad(format!(
                "tensor {name} is {:?}, expected F32",
                view.dtype()
            )));
        }
        let values = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        tensors.push((name, view.shape().to_vec(), values));
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((meta_json, tensors))
}
