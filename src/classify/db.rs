//! Classification databases (`.crest-db`): the encoder (config and
//! weights), the embeddings of the labelled training sequences, their class
//! ids per level, the class names, and the fitted confidence per level, in
//! one safetensors file with a JSON metadata entry `crest-classify`.

use std::path::Path;

use md5::{Digest, Md5};
use safetensors::tensor::Dtype;

use super::confidence::Isotonic;
use super::encoder::EncoderSpec;
use crate::error::{CrestError, Result};
use crate::io::tensorfile::{f32_bytes, serialize, u32_bytes, NamedBytes, TensorFile};
use crate::io::{reference::hex, Output, Target};
use crate::model::encoder::NamedTensor;

/// Format tag.
pub const FORMAT: &str = "crest-classify-db/1";

/// How the encoder was trained (recorded for the user).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainSummary {
    /// "triplet" or "none".
    pub objective: String,
    /// Epochs run.
    pub epochs: usize,
    /// Optimiser steps run.
    pub steps: u64,
    /// Epoch whose weights were kept (best validation accuracy).
    pub best_epoch: usize,
    /// Validation accuracy per level at that epoch (nearest-hit answers).
    pub val_accuracy: Vec<f64>,
    /// Triplets per step.
    pub batch: usize,
    /// Triplet margin.
    pub margin: f32,
    /// Seed.
    pub seed: u64,
    /// Adapter the database was built on.
    pub adapter: String,
}

/// Everything except the arrays.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DbMeta {
    /// Format tag.
    pub format: String,
    /// Encoder architecture.
    pub encoder: EncoderSpec,
    /// Level names, coarsest first.
    pub levels: Vec<String>,
    /// Class names per level (index = class id).
    pub classes: Vec<Vec<String>>,
    /// Record names of the database sequences.
    pub names: Vec<String>,
    /// Default number of hits per query.
    pub hits: usize,
    /// Accuracy-vs-distance fit per level.
    pub confidence: Vec<Isotonic>,
    /// Training record.
    pub training: TrainSummary,
    /// MD5 of the weights, embeddings and labels (detects a mismatched or damaged file).
    pub content_md5: String,
}

/// A classification database in memory.
#[derive(Clone, Debug)]
pub struct Database {
    /// Metadata.
    pub meta: DbMeta,
    /// Encoder weights.
    pub weights: Vec<NamedTensor>,
    /// Embeddings `[n, dim]`.
    pub z: Vec<f32>,
    /// Class ids `[n, levels]`.
    pub labels: Vec<u32>,
}

/// MD5 over the arrays (names, shapes and values), in a fixed order.
pub fn content_md5(weights: &[NamedTensor], z: &[f32], labels: &[u32]) -> String {
    let mut h = Md5::new();
    for (name, shape, v) in weights {
        h.update(name.as_bytes());
        for s in shape {
            h.update((*s as u64).to_le_bytes());
        }
        h.update(f32_bytes(v));
    }
    h.update(f32_bytes(z));
    h.update(u32_bytes(labels));
    hex(&h.finalize())
}

impl Database {
    /// Rows (database sequences).
    pub fn len(&self) -> usize {
        self.meta.names.len()
    }

    /// Whether it has no rows.
    pub fn is_empty(&self) -> bool {
        self.meta.names.is_empty()
    }

    /// The file's bytes (deterministic for the same contents).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let n = self.len();
        let d = self.meta.encoder.out_dim();
        let l = self.meta.levels.len();
        let mut named: Vec<NamedBytes> = vec![
            (
                "db.z".into(),
                Dtype::F32,
                vec![n, d],
                f32_bytes(&self.z).into(),
            ),
            (
                "db.labels".into(),
                Dtype::U32,
                vec![n, l],
                u32_bytes(&self.labels).into(),
            ),
        ];
        for (name, shape, v) in &self.weights {
            named.push((
                format!("enc.{name}"),
                Dtype::F32,
                shape.clone(),
                f32_bytes(v).into(),
            ));
        }
        let meta =
            serde_json::to_string(&self.meta).map_err(|e| CrestError::Invalid(e.to_string()))?;
        serialize(&named, "crest-classify", &meta, "database")
    }

    /// Open the output before long work, so that a bad name fails at once.
    pub fn open_output(path: &Path, inputs: &[&Path]) -> Result<Output> {
        let target = Target::resolve(Some(path), inputs)?;
        if target.is_stream() {
            return Err(CrestError::Invalid(format!(
                "{} is not a regular file; a database must be a file crest can load again",
                path.display()
            )));
        }
        Output::open(target)
    }

    /// Read a database, checking its format and content checksum.
    pub fn load(path: &Path) -> Result<Database> {
        let data = std::fs::read(path).map_err(|e| CrestError::io(path, e))?;
        let file = TensorFile::parse(
            path,
            &data,
            "crest-classify",
            "crest classification database",
            "not a crest classification database (no 'crest-classify' metadata; a mapping \
             model or index cannot be searched with `crest classify search`)",
        )?;
        let bad = |m: String| file.bad(m);
        let meta: DbMeta =
            serde_json::from_str(&file.meta).map_err(|e| bad(format!("bad metadata: {e}")))?;
        if meta.format != FORMAT {
            return Err(bad(format!(
                "database format '{}', this crest reads '{FORMAT}'",
                meta.format
            )));
        }
        meta.encoder.validate()?;
        let (zs, z) = file.f32s("db.z")?;
        let (_, labels) = file.u32s("db.labels")?;
        let (n, d, l) = (meta.names.len(), meta.encoder.out_dim(), meta.levels.len());
        if zs != [n, d]
            || labels.len() != n * l
            || meta.classes.len() != l
            || meta.confidence.len() != l
        {
            return Err(bad(format!(
                "inconsistent database: {n} names, embeddings {zs:?} (want [{n}, {d}]), \
                 {} labels, {l} levels",
                labels.len()
            )));
        }
        if let Some((i, &c)) = labels
            .iter()
            .enumerate()
            .find(|&(i, &c)| c as usize >= meta.classes[i % l].len())
        {
            return Err(bad(format!("row {} has class id {c} out of range", i / l)));
        }
        let mut weights = Vec::new();
        for (name, _, _, _) in meta.encoder.layout() {
            let (shape, v) = file.f32s(&format!("enc.{name}"))?;
            weights.push((name, shape, v));
        }
        let md5 = content_md5(&weights, &z, &labels);
        if md5 != meta.content_md5 {
            return Err(bad(format!(
                "content checksum {md5} does not match the recorded {} (file damaged or \
                 its arrays come from another encoder)",
                meta.content_md5
            )));
        }
        Ok(Database {
            meta,
            weights,
            z,
            labels,
        })
    }
}
