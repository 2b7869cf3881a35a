//! crest's safetensors files (indexes, classification databases): named
//! f32/u32 arrays plus one JSON metadata entry under a file-kind key. Writing
//! is deterministic (same contents, same bytes); reading checks the key, the
//! dtype of every array asked for, and names the file in every error.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;

use crate::error::{CrestError, Result};

/// One array to write: (name, dtype, shape, little-endian bytes, owned or
/// borrowed).
pub type NamedBytes<'a> = (String, Dtype, Vec<usize>, Cow<'a, [u8]>);

/// Little-endian bytes of f32 values.
pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Little-endian bytes of u32 values.
pub fn u32_bytes(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Serialise arrays with `meta` (JSON) under metadata key `key`; `what`
/// names the kind of file in errors.
pub fn serialize(named: &[NamedBytes<'_>], key: &str, meta: &str, what: &str) -> Result<Vec<u8>> {
    let views = named
        .iter()
        .map(|(name, dt, shape, b)| {
            TensorView::new(*dt, shape.clone(), b)
                .map(|v| (name.clone(), v))
                .map_err(|e| CrestError::Invalid(format!("{what} tensor {name}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let info = HashMap::from([(key.to_string(), meta.to_string())]);
    safetensors::serialize(views, Some(info))
        .map_err(|e| CrestError::Invalid(format!("serialising {what}: {e}")))
}

/// A parsed file: its metadata JSON and its arrays.
pub struct TensorFile<'a> {
    path: PathBuf,
    st: SafeTensors<'a>,
    /// The JSON stored under the file-kind key.
    pub meta: String,
}

impl<'a> TensorFile<'a> {
    /// Parse `data` (read from `path`); `missing` is the message when the
    /// bytes are safetensors but lack metadata key `key`; `what` names the
    /// kind of file ("crest index").
    pub fn parse(
        path: &Path,
        data: &'a [u8],
        key: &str,
        what: &str,
        missing: &str,
    ) -> Result<TensorFile<'a>> {
        let bad = |m: String| CrestError::UnknownFormat {
            path: path.into(),
            message: m,
        };
        let (_, md) = SafeTensors::read_metadata(data)
            .map_err(|e| bad(format!("not a {what} (safetensors): {e}")))?;
        let meta = md
            .metadata()
            .as_ref()
            .and_then(|m| m.get(key))
            .ok_or_else(|| bad(missing.to_string()))?
            .clone();
        let st = SafeTensors::deserialize(data).map_err(|e| bad(format!("corrupt {what}: {e}")))?;
        Ok(TensorFile {
            path: path.into(),
            st,
            meta,
        })
    }

    /// An error about this file.
    pub fn bad(&self, message: String) -> CrestError {
        CrestError::UnknownFormat {
            path: self.path.clone(),
            message,
        }
    }

    fn words(&self, name: &str, dt: Dtype) -> Result<(Vec<usize>, Vec<[u8; 4]>)> {
        let v = self
            .st
            .tensor(name)
            .map_err(|_| self.bad(format!("no tensor {name}")))?;
        if v.dtype() != dt {
            return Err(self.bad(format!("tensor {name} is {:?}, expected {dt:?}", v.dtype())));
        }
        let w = v
            .data()
            .chunks_exact(4)
            .map(|b| [b[0], b[1], b[2], b[3]])
            .collect();
        Ok((v.shape().to_vec(), w))
    }

    /// An f32 array with its shape.
    pub fn f32s(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        let (s, w) = self.words(name, Dtype::F32)?;
        Ok((s, w.into_iter().map(f32::from_le_bytes).collect()))
    }

    /// A u32 array with its shape.
    pub fn u32s(&self, name: &str) -> Result<(Vec<usize>, Vec<u32>)> {
        let (s, w) = self.words(name, Dtype::U32)?;
        Ok((s, w.into_iter().map(u32::from_le_bytes).collect()))
    }

    /// An array's shape, dtype and raw little-endian bytes (borrowed from
    /// the parsed data).
    pub fn raw(&self, name: &str) -> Result<(Vec<usize>, Dtype, &'a [u8])> {
        let v = self
            .st
            .tensor(name)
            .map_err(|_| self.bad(format!("no tensor {name}")))?;
        Ok((v.shape().to_vec(), v.dtype(), v.data()))
    }

    /// A u8 array's shape and bytes, borrowed from the parsed data (no copy).
    pub fn u8_slice(&self, name: &str) -> Result<(Vec<usize>, &'a [u8])> {
        let (shape, dt, data) = self.raw(name)?;
        if dt != Dtype::U8 {
            return Err(self.bad(format!("tensor {name} is {dt:?}, expected U8")));
        }
        Ok((shape, data))
    }

    /// A u8 array with its shape.
    pub fn u8s(&self, name: &str) -> Result<(Vec<usize>, Vec<u8>)> {
        let v = self
            .st
            .tensor(name)
            .map_err(|_| self.bad(format!("no tensor {name}")))?;
        if v.dtype() != Dtype::U8 {
            return Err(self.bad(format!("tensor {name} is {:?}, expected U8", v.dtype())));
        }
        Ok((v.shape().to_vec(), v.data().to_vec()))
    }

    /// A u16 array with its shape (as u32 values).
    pub fn u16s(&self, name: &str) -> Result<(Vec<usize>, Vec<u32>)> {
        let v = self
            .st
            .tensor(name)
            .map_err(|_| self.bad(format!("no tensor {name}")))?;
        if v.dtype() != Dtype::U16 {
            return Err(self.bad(format!("tensor {name} is {:?}, expected U16", v.dtype())));
        }
        Ok((
            v.shape().to_vec(),
            v.data()
                .chunks_exact(2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]) as u32)
                .collect(),
        ))
    }

    /// Whether the file holds a tensor `name`.
    pub fn has(&self, name: &str) -> bool {
        self.st.tensor(name).is_ok()
    }
}
