//! Exact nearest neighbours by Euclidean (L2) distance, on the flat index's
//! similarity GEMM: database rows x are stored as `[2x, −‖x‖²]` and queries q
//! as `[q, 1]`, so the similarity `2q·x − ‖x‖²` equals `‖q‖² − ‖q − x‖²` and
//! ranks like the distance; the distance is recovered on the host.

use super::FlatIndex;
use crate::backend::Backend;
use crate::error::{CrestError, Result};
use crate::ops::index::{Metric, NONE};

/// Queries per search call (bounds the score matrix).
pub const QUERY_CHUNK: usize = 512;

/// One neighbour: database row and distance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Neighbour {
    /// Row of the database.
    pub row: u32,
    /// Euclidean distance.
    pub dist: f32,
}

/// Database embeddings on the backend, ready for L2 search.
pub struct L2Index {
    flat: FlatIndex,
    dim: usize,
    len: usize,
}

impl L2Index {
    /// Upload `z` (`[n, dim]`).
    pub fn new(be: &Backend, z: &[f32], dim: usize) -> Result<Self> {
        if dim == 0 || !z.len().is_multiple_of(dim) {
            return Err(CrestError::shape(
                "l2 index",
                format!("{} values are not rows of {dim}", z.len()),
            ));
        }
        let n = z.len() / dim;
        let mut aug = Vec::with_capacity(n * (dim + 1));
        for row in z.chunks(dim) {
            aug.extend(row.iter().map(|&v| 2.0 * v));
            aug.push(-row.iter().map(|&v| v * v).sum::<f32>());
        }
        Ok(L2Index {
            flat: FlatIndex::new(be, &aug, dim + 1, Metric::Cosine)?,
            dim,
            len: n,
        })
    }

    /// Rows in the index.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `k` nearest rows of each query (`[nq, dim]`, host), nearest first.
    pub fn search(&self, be: &Backend, q: &[f32], k: usize) -> Result<Vec<Vec<Neighbour>>> {
        let d = self.dim;
        if !q.len().is_multiple_of(d) {
            return Err(CrestError::shape(
                "l2 search",
                format!("{} query values are not rows of {d}", q.len()),
            ));
        }
        let mut out = Vec::with_capacity(q.len() / d);
        for chunk in q.chunks(QUERY_CHUNK * d) {
            let nq = chunk.len() / d;
            let mut aug = Vec::with_capacity(nq * (d + 1));
            for row in chunk.chunks(d) {
                aug.extend_from_slice(row);
                aug.push(1.0);
            }
            let t = be.upload(&aug)?;
            let best = self.flat.search(be, &t, nq, k)?;
            for (row, hits) in chunk.chunks(d).zip(best.chunks(k.max(1))) {
                let qq: f32 = row.iter().map(|&v| v * v).sum();
                let mut v: Vec<Neighbour> = hits
                    .iter()
                    .filter(|h| h.1 != NONE)
                    .map(|&(s, j)| Neighbour {
                        row: j,
                        dist: (qq - s).max(0.0).sqrt(),
                    })
                    .collect();
                // re-rank by the recovered distance (ties by row) for a stable order
                v.sort_by(|a, b| a.dist.total_cmp(&b.dist).then(a.row.cmp(&b.row)));
                out.push(v);
            }
            be.end_step()?;
        }
        Ok(out)
    }
}
