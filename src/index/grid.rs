//! The reference k-mer grid: every `stride`-th forward k-mer of each contig,
//! its locus, and its embedding (host copy, grid order).

use crate::backend::Backend;
use crate::error::{CrestError, Result};
use crate::io::Reference;
use crate::model::Encoder;
use crate::ops::encode::Window;
use crate::seq::PackedSeq;

/// Grid k-mers of a reference and their embeddings.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    /// (contig, start) of each grid k-mer.
    pub loci: Vec<(u32, u32)>,
    /// Embeddings `[loci, dim]`, grid order.
    pub z: Vec<f32>,
    /// Embedding dimension.
    pub dim: usize,
}

impl Grid {
    /// Number of grid k-mers.
    pub fn len(&self) -> usize {
        self.loci.len()
    }

    /// Whether the grid is empty.
    pub fn is_empty(&self) -> bool {
        self.loci.is_empty()
    }

    /// Embedding of grid k-mer `j`.
    pub fn row(&self, j: usize) -> &[f32] {
        &self.z[j * self.dim..(j + 1) * self.dim]
    }
}

/// Packed concatenation of the contigs, the grid windows into it, and their
/// (contig, start) loci.
pub type GridWindows = (PackedSeq, Vec<Window>, Vec<(u32, u32)>);

/// The grid windows of `reference`.
pub fn grid_windows(reference: &Reference, k: usize, stride: usize) -> Result<GridWindows> {
    let stride = stride.max(1);
    let mut all = PackedSeq::default();
    let mut windows = Vec::new();
    let mut loci = Vec::new();
    for (ci, c) in reference.contigs.iter().enumerate() {
        let base = all.len;
        all.extend_ascii(&c.seq);
        if c.seq.len() < k {
            continue;
        }
        for s in (0..=c.seq.len() - k).step_by(stride) {
            windows.push(Window::new((base + s) as u32, k as u32, false));
            loci.push((ci as u32, s as u32));
        }
    }
    if loci.is_empty() {
        return Err(CrestError::Invalid(format!(
            "reference has no contig of at least k = {k} bases"
        )));
    }
    Ok((all, windows, loci))
}

/// Embed every `stride`-th forward k-mer of the reference; `progress` is
/// called with the number of windows embedded so far.
pub fn reference_grid(
    be: &Backend,
    enc: &Encoder,
    reference: &Reference,
    stride: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Grid> {
    let (all, windows, loci) = grid_windows(reference, enc.cfg.k, stride)?;
    let z = enc.embed_windows(be, &all, &windows, progress)?;
    Ok(Grid {
        loci,
        z,
        dim: enc.cfg.proj_dim,
    })
}
