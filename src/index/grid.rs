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

/// The (contig, start) loci of the grid over contigs of lengths `lens`:
/// every `stride`-th start of a k-mer, contigs shorter than k skipped. A
/// regular grid, so index files need not store it.
pub fn grid_loci(lens: &[u64], k: usize, stride: usize) -> Vec<(u32, u32)> {
    let stride = stride.max(1);
    let mut loci = Vec::new();
    for (ci, &len) in lens.iter().enumerate() {
        let len = len as usize;
        if len < k {
            continue;
        }
        loci.extend((0..=len - k).step_by(stride).map(|s| (ci as u32, s as u32)));
    }
    loci
}

/// The grid windows of `reference`.
pub fn grid_windows(reference: &Reference, k: usize, stride: usize) -> Result<GridWindows> {
    let mut all = PackedSeq::default();
    let mut bases = Vec::with_capacity(reference.contigs.len());
    for c in &reference.contigs {
        bases.push(all.len);
        all.extend_ascii(&c.seq);
    }
    let lens: Vec<u64> = reference
        .contigs
        .iter()
        .map(|c| c.seq.len() as u64)
        .collect();
    let loci = grid_loci(&lens, k, stride);
    let windows = loci
        .iter()
        .map(|&(c, s)| Window::new((bases[c as usize] + s as usize) as u32, k as u32, false))
        .collect();
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
