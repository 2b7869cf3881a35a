//! Nearest-neighbour search over reference k-mer embeddings: the grid
//! ([`grid`]), exact flat search ([`flat`], baseline and oracle), a balanced
//! k-means tree with batched beam search on the device ([`tree`]), exact
//! repeat copies of grid k-mers ([`repeats`]), index files ([`file`]) and
//! exact Euclidean search over any embeddings ([`l2`]). Used by `crest
//! index`, `crest map`, `crest eval-embed` and `crest classify`.

pub mod file;
pub mod flat;
pub mod grid;
pub mod l2;
pub mod pq;
pub mod repeats;
pub mod route;
pub mod stream;
pub mod tree;

use std::path::Path;

use crate::backend::{Backend, Tensor};
use crate::error::{CrestError, Result};
use crate::io::{Reference, SharedBytes};
use crate::model::{Checkpoint, ContigInfo, Encoder, Geometry, ModelMeta};
use crate::ops::index::Metric;

pub use flat::FlatIndex;
pub use grid::{reference_grid, Grid};
pub use l2::{L2Index, Neighbour};
pub use pq::Pq;
pub use repeats::Mates;
pub use route::{RouteMeta, Router};
pub use tree::{
    BeamConfig, BuildConfig, DeviceTree, RowSource, ScanLayout, Tree, TreeShape, DEFAULT_BEAM,
};

/// Format tag of index files.
pub const FORMAT: &str = "crest-index/1";

/// Everything about an index except its arrays.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IndexMeta {
    /// Format version.
    pub format: String,
    /// [`Checkpoint::encoder_hash`] of the model the grid was embedded with.
    pub model_hash: String,
    /// k-mer length.
    pub k: usize,
    /// Embedding dimension.
    pub dim: usize,
    /// Geometry of the embeddings.
    pub geometry: Geometry,
    /// Curvature c (Poincaré).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub curvature: Option<f32>,
    /// The indexed reference: contig names, lengths, MD5s.
    pub reference: Vec<ContigInfo>,
    /// Grid stride (bp).
    pub grid_stride: usize,
    /// Grid k-mers.
    pub grid: usize,
    /// Tree shape.
    pub tree: TreeShape,
    /// Lloyd iterations per level.
    pub iters: usize,
    /// Seed of the tree's initial centroids.
    pub seed: u64,
    /// Grid k-mers with exact copies elsewhere in the reference.
    pub repeated: usize,
    /// Nearest other leaves each grid k-mer is copied into ([`tree::spill`]);
    /// 0 in files written before spilling existed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub spill: usize,
    /// The router, when one was trained (`crest index --route-steps`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<RouteMeta>,
    /// Product quantization of the grid embeddings: the file holds `m`
    /// one-byte codes per grid k-mer and a codebook instead of the floats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pq: Option<PqMeta>,
    /// MD5 of every array's name, shape and bytes: written with the file,
    /// checked on load (files written before it existed have none), and
    /// None in memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_md5: Option<String>,
}

/// How an index's embeddings are quantized.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PqMeta {
    /// Codes (bytes) per grid k-mer.
    pub m: usize,
}

fn is_zero(v: &usize) -> bool {
    *v == 0
}

/// Options of an index build.
#[derive(Clone, Copy, Debug)]
pub struct IndexOptions {
    /// Grid stride (bp).
    pub grid_stride: usize,
    /// Children per node.
    pub branch: usize,
    /// Target leaf size (the depth follows from it), unless `depth` is given.
    pub leaf: usize,
    /// Explicit depth.
    pub depth: Option<usize>,
    /// Lloyd iterations per level.
    pub iters: usize,
    /// Seed.
    pub seed: u64,
    /// Nearest other leaves each grid k-mer is also stored in (0 = none).
    pub spill: usize,
    /// Product-quantization codes per grid k-mer (0: float embeddings).
    pub pq: usize,
}

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions {
            grid_stride: 8,
            branch: 16,
            leaf: 256,
            depth: None,
            iters: 6,
            seed: 1,
            spill: DEFAULT_SPILL,
            pq: pq::DEFAULT_M,
        }
    }
}

/// Default for [`IndexOptions::spill`]: each grid k-mer is also stored in
/// its nearest leaf when that is not its own (BENCHMARKS.md, issue 10).
pub const DEFAULT_SPILL: usize = 1;

/// A built or loaded index.
#[derive(Clone, Debug, PartialEq)]
pub struct Index {
    /// Metadata.
    pub meta: IndexMeta,
    /// Grid loci and embeddings.
    pub grid: Grid,
    /// The k-means tree.
    pub tree: Tree,
    /// Exact copies of grid k-mers.
    pub mates: Mates,
    /// Router weights (head tensor names, host copies); empty without one.
    pub route: Vec<(String, Vec<f32>)>,
    /// The quantizer and the grid's codes (`[grid, m]`) of a coded index;
    /// `grid.z` is then empty.
    pub pq: Option<(Pq, SharedBytes)>,
}

/// The similarity metric of an encoder's embeddings (reads c from the device).
pub fn metric_of(be: &Backend, enc: &Encoder) -> Result<Metric> {
    Ok(match enc.curvature() {
        None => Metric::Cosine,
        Some(t) => Metric::Poincare(
            be.read(t)?
                .first()
                .copied()
                .ok_or_else(|| CrestError::Invalid("empty curvature".into()))?,
        ),
    })
}

/// Progress of an index build: (stage, done, total).
pub type Progress<'a> = &'a mut dyn FnMut(&str, usize, usize);

impl Index {
    /// Embed the reference grid, build the tree and find repeat copies.
    pub fn build(
        be: &Backend,
        ck: &Checkpoint,
        enc: &Encoder,
        reference: &Reference,
        opts: &IndexOptions,
        progress: Progress<'_>,
    ) -> Result<Index> {
        tree::check_spill(opts.spill)?;
        let metric = metric_of(be, enc)?;
        let grid = reference_grid(be, enc, reference, opts.grid_stride, &mut |d, t| {
            progress("embed", d, t)
        })?;
        let shape = match opts.depth {
            Some(depth) => TreeShape {
                branch: opts.branch,
                depth,
            },
            None => TreeShape::for_points(grid.len(), opts.branch, opts.leaf),
        };
        let cfg = BuildConfig {
            shape,
            iters: opts.iters,
            seed: opts.seed,
        };
        let mut tree = tree::build(be, &grid.z, grid.dim, metric, &cfg, &mut |d, t| {
            progress("tree", d, t)
        })?;
        if opts.spill > 0 {
            tree::spill(
                be,
                &mut tree,
                &grid.z,
                grid.dim,
                metric,
                opts.spill,
                &mut |d, t| progress("spill", d, t),
            )?;
        }
        progress("repeats", 0, 1);
        let mates = repeats::find(reference, &grid.loci, enc.cfg.k);
        progress("repeats", 1, 1);
        // slots in grid order within each leaf's runs, as a file gives them back
        let tree = tree.normalised(1 + opts.spill)?;
        let mut index = Index {
            meta: IndexMeta {
                format: FORMAT.into(),
                model_hash: ck.encoder_hash(),
                k: enc.cfg.k,
                dim: grid.dim,
                geometry: enc.cfg.geometry,
                curvature: match metric {
                    Metric::Cosine => None,
                    Metric::Poincare(c) => Some(c),
                },
                reference: ModelMeta::contigs_of(reference),
                grid_stride: opts.grid_stride.max(1),
                grid: grid.len(),
                tree: shape,
                iters: opts.iters,
                seed: opts.seed,
                repeated: mates.repeated(),
                spill: opts.spill,
                route: None,
                pq: None,
                content_md5: None,
            },
            grid,
            tree,
            mates,
            route: Vec::new(),
            pq: None,
        };
        if opts.pq > 0 {
            progress("quantize", 0, 1);
            index.quantize(be, opts.pq)?;
            progress("quantize", 1, 1);
        }
        Ok(index)
    }

    /// Replace the float embeddings by product-quantization codes (`m` per
    /// grid k-mer; the codebook trained on the grid, seeded by the index
    /// seed), and the leaves' centroids by their decoded codes. The tree's
    /// partition, spilled copies and router are kept.
    pub fn quantize(&mut self, be: &Backend, m: usize) -> Result<()> {
        if self.pq.is_some() {
            return Err(CrestError::Invalid("the index is already quantized".into()));
        }
        let pq = Pq::train(be, &self.grid.z, self.grid.dim, m, self.meta.seed)?;
        let codes = pq.encode(be, &self.grid.z)?;
        self.grid.z = Vec::new();
        // the leaves' centroids are stored as codes too (the largest level:
        // 512 bytes per leaf would cost more than its members' codes)
        if let Some(last) = self.tree.centroids.last_mut() {
            *last = pq.round(be, last)?;
        }
        self.meta.pq = Some(PqMeta { m });
        self.pq = Some((pq, codes.into()));
        Ok(())
    }

    /// What each part of the index file costs: (part, bytes).
    pub fn sizes(&self) -> Result<Vec<(String, usize)>> {
        let mut parts: Vec<(String, usize)> = Vec::new();
        for (name, _, _, bytes) in file::arrays(self)? {
            let part = match name.split('.').next().unwrap_or("") {
                "grid" if name == "grid.codes" || name == "grid.z" => "embeddings",
                "pq" => "codebook",
                "tree" if name.starts_with("tree.level") || name == "tree.leaf_codes" => {
                    "tree centroids"
                }
                "tree" => "tree slots",
                "mates" => "repeat table",
                "route" => "router",
                _ => "other",
            };
            match parts.iter_mut().find(|p| p.0 == part) {
                Some(p) => p.1 += bytes.len(),
                None => parts.push((part.to_string(), bytes.len())),
            }
        }
        Ok(parts)
    }

    /// The rows the leaf scan reads: codes when quantized, else floats.
    pub fn rows(&self) -> RowSource<'_> {
        match &self.pq {
            Some((pq, codes)) => RowSource::Pq {
                codes,
                m: pq.m,
                codebook: &pq.codebook,
            },
            None => RowSource::F32(&self.grid.z),
        }
    }

    /// Write to `path` (see [`file::save`]).
    pub fn save(&self, path: &Path) -> Result<()> {
        file::save(self, path)
    }

    /// Read from `path` (see [`file::load`]).
    pub fn load(path: &Path) -> Result<Index> {
        file::load(path)
    }

    /// Refuse an index built from another model or another reference.
    pub fn check(
        &self,
        index_path: &Path,
        ck: &Checkpoint,
        model_path: &Path,
        reference: &Reference,
        ref_path: &Path,
    ) -> Result<()> {
        let hash = ck.encoder_hash();
        if hash != self.meta.model_hash {
            return Err(CrestError::Invalid(format!(
                "{} was built with another model (encoder hash {}); {} has encoder hash {}: rebuild it with `crest index`",
                index_path.display(),
                self.meta.model_hash,
                model_path.display(),
                hash
            )));
        }
        if ModelMeta::contigs_of(reference) != self.meta.reference {
            let show = |v: &[ContigInfo]| {
                v.iter()
                    .take(2)
                    .map(|c| format!("{} ({} bp, M5 {})", c.name, c.len, c.md5))
                    .collect::<Vec<_>>()
                    .join(", ")
                    + if v.len() > 2 { ", …" } else { "" }
            };
            return Err(CrestError::Invalid(format!(
                "{} indexes another reference: {}; {} has {}",
                index_path.display(),
                show(&self.meta.reference),
                ref_path.display(),
                show(&ModelMeta::contigs_of(reference))
            )));
        }
        Ok(())
    }

    /// The metric of the embeddings.
    pub fn metric(&self) -> Metric {
        match (self.meta.geometry, self.meta.curvature) {
            (Geometry::Poincare, Some(c)) => Metric::Poincare(c),
            _ => Metric::Cosine,
        }
    }
}

/// How proposals search the grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchKind {
    /// Every grid k-mer (exact; cost grows with the genome).
    Flat,
    /// Beam search down the tree, then exact scan of the reached leaves.
    Tree,
    /// The router's most probable leaves, scanned exactly.
    Route,
    /// The beam's leaves and the router's together, scanned once.
    TreeRoute,
}

impl SearchKind {
    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            SearchKind::Flat => "flat",
            SearchKind::Tree => "tree",
            SearchKind::Route => "route",
            SearchKind::TreeRoute => "tree+route",
        }
    }

    fn needs_tree(self) -> bool {
        self != SearchKind::Flat
    }

    fn needs_router(self) -> bool {
        matches!(self, SearchKind::Route | SearchKind::TreeRoute)
    }
}

/// Queries per tree search: the leaf scan's dispatches (one per window of
/// rows on CPU adapters) are shared by every query of a block.
pub const TREE_QUERY_BLOCK: usize = 32_768;

/// An index on the backend, ready to answer batched queries.
pub struct Searcher {
    flat: Option<FlatIndex>,
    tree: Option<DeviceTree>,
    router: Option<Router>,
    /// Beam options.
    pub beam: BeamConfig,
    /// Leaves the router proposes per query (a power of two).
    pub route_width: usize,
}

impl Searcher {
    /// Upload what `kinds` need of `index`.
    pub fn new(
        be: &Backend,
        index: &Index,
        kinds: &[SearchKind],
        beam: BeamConfig,
    ) -> Result<Self> {
        let mut s = Self::over(
            be,
            index.rows(),
            index.grid.dim,
            Some(&index.tree),
            index.metric(),
            kinds,
            beam,
        )?;
        if kinds.iter().any(|k| k.needs_router()) {
            let meta = index.meta.route.as_ref().ok_or_else(|| {
                CrestError::Invalid(
                    "this index has no router: rebuild it with `crest index --route-steps N` (or add one with `crest index --from OLD.crest-index --route-steps N`)".into(),
                )
            })?;
            s.router = Some(Router::new(be, meta, &index.route, &index.tree.shape)?);
        }
        Ok(s)
    }

    /// Flat search over a grid alone (no tree).
    pub fn flat(be: &Backend, grid: &Grid, metric: Metric) -> Result<Self> {
        Self::over(
            be,
            RowSource::F32(&grid.z),
            grid.dim,
            None,
            metric,
            &[SearchKind::Flat],
            BeamConfig { width: 1 },
        )
    }

    fn over(
        be: &Backend,
        rows: RowSource<'_>,
        dim: usize,
        tree: Option<&Tree>,
        metric: Metric,
        kinds: &[SearchKind],
        beam: BeamConfig,
    ) -> Result<Self> {
        let flat = match (kinds.contains(&SearchKind::Flat), rows) {
            (false, _) => None,
            (true, RowSource::F32(z)) => Some(FlatIndex::new(be, z, dim, metric)?),
            (true, RowSource::Pq { .. }) => {
                return Err(CrestError::Invalid(
                    "flat search needs float embeddings; this index holds codes (--pq): use tree search, or an index built with --pq 0".into(),
                ))
            }
        };
        let tree = match (kinds.iter().any(|k| k.needs_tree()), tree) {
            (true, Some(t)) => Some(DeviceTree::from_rows(
                be,
                t,
                rows,
                dim,
                metric,
                ScanLayout::for_backend(be),
            )?),
            (true, None) => {
                return Err(CrestError::Invalid(
                    "tree search needs an index with a tree".into(),
                ))
            }
            (false, _) => None,
        };
        Ok(Searcher {
            flat,
            tree,
            router: None,
            beam,
            route_width: route::DEFAULT_WIDTH,
        })
    }

    /// The `m` best per query for host queries `q` (`[n, dim]`), in blocks
    /// ([`flat::QUERY_BLOCK`] for flat search, whose similarity blocks grow
    /// with the queries; [`TREE_QUERY_BLOCK`] for the tree).
    pub fn search_host(
        &self,
        be: &Backend,
        kind: SearchKind,
        q: &[f32],
        dim: usize,
        m: usize,
    ) -> Result<Vec<(f32, u32)>> {
        self.search_host_with(be, kind, q, dim, m, &self.beam)
    }

    /// [`Searcher::search_host`] with another beam than the searcher's own
    /// (a deeper search for the reads a first pass left unmapped).
    pub fn search_host_with(
        &self,
        be: &Backend,
        kind: SearchKind,
        q: &[f32],
        dim: usize,
        m: usize,
        beam: &BeamConfig,
    ) -> Result<Vec<(f32, u32)>> {
        let mut out = Vec::with_capacity(q.len() / dim.max(1) * m);
        let block = match kind {
            SearchKind::Flat => flat::QUERY_BLOCK,
            _ => TREE_QUERY_BLOCK,
        };
        for chunk in q.chunks(block * dim.max(1)) {
            let t = be.upload(chunk)?;
            out.extend(self.search_with(be, kind, &t, chunk.len() / dim.max(1), m, beam)?);
            be.end_step()?;
        }
        Ok(out)
    }

    /// The `m` best grid k-mers (score, grid index) per query by `kind`,
    /// (EMPTY, NONE)-padded.
    pub fn search(
        &self,
        be: &Backend,
        kind: SearchKind,
        q: &Tensor,
        nq: usize,
        m: usize,
    ) -> Result<Vec<(f32, u32)>> {
        self.search_with(be, kind, q, nq, m, &self.beam)
    }

    fn search_with(
        &self,
        be: &Backend,
        kind: SearchKind,
        q: &Tensor,
        nq: usize,
        m: usize,
        beam_cfg: &BeamConfig,
    ) -> Result<Vec<(f32, u32)>> {
        match kind {
            SearchKind::Flat => self
                .flat
                .as_ref()
                .ok_or_else(|| CrestError::Invalid("flat search was not prepared".into()))?
                .search(be, q, nq, m),
            SearchKind::Tree => self.device_tree()?.search(be, q, nq, m, beam_cfg),
            SearchKind::Route => {
                let leaves = self.routed(be, q, nq)?;
                let w = self.route_width;
                self.scan(be, q, nq, m, &leaves, w)
            }
            SearchKind::TreeRoute => {
                let tree = self.device_tree()?;
                let (beam, wb) = tree.beam(be, q, nq, beam_cfg)?;
                let beam = be.read_words(&beam)?;
                let routed = self.routed(be, q, nq)?;
                let wr = self.route_width;
                let leaves = route::union_leaves(&beam, wb, &routed, wr, nq);
                self.scan(be, q, nq, m, &leaves, wb + wr)
            }
        }
    }

    /// Most results per query a search of `kind` returns: flat search keeps
    /// any number, the tree's scans as many as their layout's lists hold.
    pub fn max_m(&self, kind: SearchKind) -> usize {
        match (kind, &self.tree) {
            (SearchKind::Flat, _) | (_, None) => usize::MAX,
            (SearchKind::Tree, Some(t)) => t.max_m_split(),
            (_, Some(t)) => t.max_m(),
        }
    }

    /// Most results per query one tree search keeps exactly: its top `m`
    /// for any smaller `m` are the first `m` of them (the leaves it scans do
    /// not depend on `m`). Above it the scan splits each leaf's rows over
    /// copies, whose merged lists depend on `m`. 0 for other kinds.
    pub fn max_m_prefix(&self, kind: SearchKind) -> usize {
        match (kind, &self.tree) {
            (SearchKind::Tree, Some(t)) => t.max_m(),
            _ => 0,
        }
    }

    /// Widest beam the tree search takes (no limit without a tree).
    pub fn max_beam(&self) -> usize {
        self.tree.as_ref().map_or(usize::MAX, DeviceTree::max_beam)
    }

    fn device_tree(&self) -> Result<&DeviceTree> {
        self.tree
            .as_ref()
            .ok_or_else(|| CrestError::Invalid("tree search was not prepared".into()))
    }

    fn routed(&self, be: &Backend, q: &Tensor, nq: usize) -> Result<Vec<u32>> {
        self.router
            .as_ref()
            .ok_or_else(|| CrestError::Invalid("the router was not prepared".into()))?
            .leaves(be, q, nq, self.route_width)
    }

    fn scan(
        &self,
        be: &Backend,
        q: &Tensor,
        nq: usize,
        m: usize,
        leaves: &[u32],
        width: usize,
    ) -> Result<Vec<(f32, u32)>> {
        let words = be.upload_words(leaves)?;
        self.device_tree()?.scan(be, q, nq, m, &words, width)
    }
}
