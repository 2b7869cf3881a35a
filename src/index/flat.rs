//! Exact (brute-force) search: every query against every grid embedding,
//! in blocks of [`GRID_BLOCK`] rows (a similarity GEMM or the Poincaré
//! pairwise distance, then a row top-k). The baseline and test oracle of
//! the tree index; its cost grows with the genome.

use crate::backend::{Backend, Tensor};
use crate::error::Result;
use crate::ops::gemm::GemmDims;
use crate::ops::index::{Metric, EMPTY, NONE};
use crate::ops::poincare::{PdistDims, PointSets};

/// Grid k-mers per similarity block (with [`QUERY_BLOCK`] queries: 16M floats).
pub const GRID_BLOCK: usize = 32_768;
/// Queries per similarity block.
pub const QUERY_BLOCK: usize = 512;

/// Grid embeddings on the backend, in blocks of [`GRID_BLOCK`] rows.
pub struct FlatIndex {
    blocks: Vec<Tensor>,
    dim: usize,
    len: usize,
    curv: Option<Tensor>,
}

impl FlatIndex {
    /// Upload `z` (`[n, dim]`, grid order).
    pub fn new(be: &Backend, z: &[f32], dim: usize, metric: Metric) -> Result<Self> {
        let blocks = z
            .chunks(GRID_BLOCK * dim)
            .map(|b| be.upload(b))
            .collect::<Result<_>>()?;
        let curv = match metric {
            Metric::Cosine => None,
            Metric::Poincare(c) => Some(be.upload(&[c])?),
        };
        Ok(FlatIndex {
            blocks,
            dim,
            len: z.len() / dim.max(1),
            curv,
        })
    }

    /// The `m` most similar grid k-mers (score, grid index) of each of the `nq`
    /// queries in `q` (on the backend), best first (score desc, index asc);
    /// rows padded with (EMPTY, NONE) past the grid size.
    pub fn search(&self, be: &Backend, q: &Tensor, nq: usize, m: usize) -> Result<Vec<(f32, u32)>> {
        let p = self.dim;
        let top = m.min(self.len);
        let mut merged: Vec<Vec<(f32, u32)>> = vec![Vec::new(); nq];
        let mut g0 = 0usize;
        for block in &self.blocks {
            let nb = block.len() / p;
            let mut s = be.zeros(nq * nb)?;
            match &self.curv {
                None => be.gemm(&GemmDims::new(nq, nb, p, false, true), q, block, &mut s)?,
                Some(curv) => {
                    let dims = PdistDims {
                        m: nq,
                        n: nb,
                        dim: p,
                        alpha: -1.0,
                    };
                    be.pdist(curv, PointSets { x: q, y: block }, dims, &mut s, false)?;
                }
            }
            let kb = top.min(nb);
            let best = be.topk(&s, nq, nb, kb)?;
            for (r, row) in best.chunks(kb).enumerate() {
                merged[r].extend(row.iter().map(|&(v, j)| (v, j + g0 as u32)));
            }
            g0 += nb;
        }
        let mut out = Vec::with_capacity(nq * m);
        for mut row in merged {
            row.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            row.truncate(m);
            row.resize(m, (EMPTY, NONE));
            out.extend(row);
        }
        Ok(out)
    }
}
