//! Embedding evaluation: neighbour recall of held-out augmented queries
//! against a grid of reference k-mers (`crest eval-embed`), and batched
//! embedding of windows.

use crate::backend::Backend;
use crate::error::{CrestError, Result};
use crate::io::Reference;
use crate::model::Encoder;
use crate::ops::encode::Window;
use crate::ops::gemm::GemmDims;
use crate::seq::PackedSeq;

use super::augment::AugmentConfig;
use super::sampler::{step_rng, ReferenceSampler};

/// Windows embedded per encoder call.
pub const EMBED_BATCH: usize = 1024;

/// Embed windows of `seq` (z, `[n, proj_dim]`, host copy), in batches.
pub fn embed_windows(
    be: &Backend,
    enc: &Encoder,
    seq: &PackedSeq,
    windows: &[Window],
) -> Result<Vec<f32>> {
    let k = enc.cfg.k;
    let mut out = Vec::with_capacity(windows.len() * enc.cfg.proj_dim);
    for chunk in windows.chunks(EMBED_BATCH) {
        let mut x = be.zeros(chunk.len() * 4 * k)?;
        be.onehot(seq, chunk, k, &mut x)?;
        let act = enc.forward(be, x, chunk.len())?;
        out.extend(be.read(&act.z)?);
    }
    Ok(out)
}

/// Neighbour-recall settings.
#[derive(Clone, Debug)]
pub struct EvalConfig {
    /// Reference grid stride (bp).
    pub stride: usize,
    /// Number of held-out queries.
    pub queries: usize,
    /// A query is recalled when a returned grid k-mer lies within this many bp.
    pub gamma: u32,
    /// Query augmentation.
    pub augment: AugmentConfig,
    /// Seed of the queries (kept apart from training seeds).
    pub seed: u64,
}

/// Neighbour-recall results.
#[derive(Clone, Debug, serde::Serialize)]
pub struct EvalReport {
    /// Fraction of queries whose nearest grid k-mer is within Γ of the truth.
    pub recall_at_1: f64,
    /// Fraction with one of the 10 nearest within Γ.
    pub recall_at_10: f64,
    /// Queries.
    pub queries: usize,
    /// Reference grid size.
    pub grid: usize,
    /// Seconds taken.
    pub seconds: f64,
}

/// Grid k-mers per similarity block (with [`QUERY_BLOCK`] queries: 16M floats).
pub const GRID_BLOCK: usize = 32_768;
/// Queries per similarity block.
pub const QUERY_BLOCK: usize = 512;

/// A reference k-mer grid and its embeddings, reusable across evaluations.
pub struct Grid {
    /// (contig, start) of each grid k-mer.
    pub loci: Vec<(u32, u32)>,
    /// Embeddings `[loci, proj_dim]` on the backend, in blocks of [`GRID_BLOCK`] rows.
    pub blocks: Vec<crate::backend::Tensor>,
}

/// Embed every `stride`-th forward k-mer of the reference.
pub fn reference_grid(
    be: &Backend,
    enc: &Encoder,
    reference: &Reference,
    stride: usize,
) -> Result<Grid> {
    let k = enc.cfg.k;
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
    let z = embed_windows(be, enc, &all, &windows)?;
    let p = enc.cfg.proj_dim;
    let blocks = z
        .chunks(GRID_BLOCK * p)
        .map(|b| be.upload(b))
        .collect::<Result<_>>()?;
    Ok(Grid { loci, blocks })
}

/// Recall@1 and @10 of augmented queries against `grid`.
pub fn neighbour_recall(
    be: &Backend,
    enc: &Encoder,
    reference: &Reference,
    grid: &Grid,
    cfg: &EvalConfig,
) -> Result<EvalReport> {
    let t0 = std::time::Instant::now();
    let k = enc.cfg.k;
    let sampler = ReferenceSampler::new(reference, k, 0, 0.1)?;
    let mut rng = step_rng(cfg.seed, u64::MAX, 7);
    let mut ascii = Vec::with_capacity(cfg.queries * k);
    let mut truth = Vec::with_capacity(cfg.queries);
    for _ in 0..cfg.queries {
        let (c, s) = sampler.locus(&mut rng);
        ascii.extend(sampler.view(c, s, &cfg.augment, &mut rng));
        truth.push((c as u32, s as u32));
    }
    let seq = PackedSeq::from_ascii(&ascii);
    let windows: Vec<Window> = (0..cfg.queries)
        .map(|i| Window::new((i * k) as u32, k as u32, false))
        .collect();
    let q = embed_windows(be, enc, &seq, &windows)?;
    let nr = grid.loci.len();
    let best = nearest(be, enc, &q, grid, 10)?;
    let top = 10.min(nr);
    let (mut hit1, mut hit10) = (0usize, 0usize);
    for (r, row) in best.chunks(top).enumerate() {
        let (tc, tp) = truth[r];
        let ok = |&(_, j): &(f32, u32)| {
            let (c, pos) = grid.loci[j as usize];
            c == tc && pos.abs_diff(tp) <= cfg.gamma
        };
        hit1 += ok(&row[0]) as usize;
        hit10 += row.iter().any(ok) as usize;
    }
    Ok(EvalReport {
        recall_at_1: hit1 as f64 / cfg.queries.max(1) as f64,
        recall_at_10: hit10 as f64 / cfg.queries.max(1) as f64,
        queries: cfg.queries,
        grid: nr,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// The `top` most similar grid k-mers (similarity, grid index) of each query
/// embedding in `q` (`[n, p]`, host), best first; `min(top, grid)` per query.
/// Similarity is the encoder's: cosine (Euclidean) or −distance (Poincaré).
pub fn nearest(
    be: &Backend,
    enc: &Encoder,
    q: &[f32],
    grid: &Grid,
    top: usize,
) -> Result<Vec<(f32, u32)>> {
    let p = enc.cfg.proj_dim;
    let mut out = Vec::new();
    for qchunk in q.chunks(QUERY_BLOCK * p) {
        out.extend(nearest_on_device(
            be,
            enc,
            &be.upload(qchunk)?,
            qchunk.len() / p,
            grid,
            top,
        )?);
    }
    Ok(out)
}

/// As [`nearest`], for `nq` query embeddings already on the backend
/// (at most [`QUERY_BLOCK`] · a few; the similarity block is `nq × GRID_BLOCK`).
pub fn nearest_on_device(
    be: &Backend,
    enc: &Encoder,
    qt: &crate::backend::Tensor,
    nq: usize,
    grid: &Grid,
    top: usize,
) -> Result<Vec<(f32, u32)>> {
    let p = enc.cfg.proj_dim;
    let top = top.min(grid.loci.len());
    let mut merged: Vec<Vec<(f32, u32)>> = vec![Vec::new(); nq];
    let mut g0 = 0usize;
    for block in &grid.blocks {
        let nb = block.len() / p;
        let mut s = be.zeros(nq * nb)?;
        match enc.curvature() {
            None => be.gemm(&GemmDims::new(nq, nb, p, false, true), qt, block, &mut s)?,
            Some(curv) => {
                be.pdist(curv, -1.0, qt, block, nq, nb, p, &mut s, false)?;
            }
        }
        let kb = top.min(nb);
        let best = be.topk(&s, nq, nb, kb)?;
        for (r, row) in best.chunks(kb).enumerate() {
            merged[r].extend(row.iter().map(|&(v, j)| (v, j + g0 as u32)));
        }
        g0 += nb;
    }
    let mut out = Vec::with_capacity(nq * top);
    for mut m in merged {
        m.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        out.extend_from_slice(&m[..top]);
    }
    Ok(out)
}
