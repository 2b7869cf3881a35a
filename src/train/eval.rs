//! Embedding evaluation: neighbour recall of held-out augmented queries
//! against a grid of reference k-mers (`crest eval-embed`).

use crate::backend::Backend;
use crate::error::Result;
use crate::index::{Grid, SearchKind, Searcher};
use crate::io::Reference;
use crate::model::Encoder;
use crate::ops::encode::Window;
use crate::seq::PackedSeq;

use super::augment::AugmentConfig;
use super::sampler::{step_rng, ReferenceSampler};

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

/// Embedded query windows (`[queries, proj_dim]`) and the (contig, start)
/// each was drawn from.
pub type QuerySet = (Vec<f32>, Vec<(u32, u32)>);

/// Held-out augmented query windows and their origins.
pub fn query_set(
    be: &Backend,
    enc: &Encoder,
    reference: &Reference,
    cfg: &EvalConfig,
) -> Result<QuerySet> {
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
    Ok((
        enc.embed_windows(be, &seq, &windows, &mut |_, _| {})?,
        truth,
    ))
}

/// Recall@1 and @10 of search results (10 per query) against the truth.
pub fn recall_of(
    results: &[(f32, u32)],
    truth: &[(u32, u32)],
    grid: &Grid,
    gamma: u32,
) -> (f64, f64) {
    let (mut hit1, mut hit10) = (0usize, 0usize);
    for (row, &(tc, tp)) in results.chunks(10).zip(truth) {
        let ok = |&(_, j): &(f32, u32)| {
            if j == crate::ops::index::NONE {
                return false;
            }
            let (c, pos) = grid.loci[j as usize];
            c == tc && pos.abs_diff(tp) <= gamma
        };
        hit1 += ok(&row[0]) as usize;
        hit10 += row.iter().any(ok) as usize;
    }
    let n = truth.len().max(1) as f64;
    (hit1 as f64 / n, hit10 as f64 / n)
}

/// Recall@1 and @10 of augmented queries against `grid`, searched by `kind`.
pub fn neighbour_recall(
    be: &Backend,
    enc: &Encoder,
    reference: &Reference,
    grid: &Grid,
    searcher: &Searcher,
    kind: SearchKind,
    cfg: &EvalConfig,
) -> Result<EvalReport> {
    let t0 = std::time::Instant::now();
    let (q, truth) = query_set(be, enc, reference, cfg)?;
    let best = searcher.search_host(be, kind, &q, enc.cfg.proj_dim, 10)?;
    let (r1, r10) = recall_of(&best, &truth, grid, cfg.gamma);
    Ok(EvalReport {
        recall_at_1: r1,
        recall_at_10: r10,
        queries: cfg.queries,
        grid: grid.len(),
        seconds: t0.elapsed().as_secs_f64(),
    })
}
