//! Searching a tree on the device: the beam down the levels and the scan of
//! the leaves it reaches, in one of two layouts ([`ScanLayout`]).

use super::{chunk_rows, Tree, TreeShape};
use crate::backend::{Backend, ScanData, Tensor, Words};
use crate::error::{CrestError, Result};
use crate::ops::index::{
    self as ix, BeamDims, BeamInputs, LeafDims, LeafInputs, Metric, Ranked, EMPTY, NONE,
};
use crate::ops::list_scan::{self as ls, ListDims, ListPlan};
use crate::ops::window_scan::{self as ws, RowCode, ScanInputs, WindowDims, WindowPlan};

/// The rows a device tree scans, in grid order.
#[derive(Clone, Copy, Debug)]
pub enum RowSource<'a> {
    /// Float embeddings `[n, dim]`.
    F32(&'a [f32]),
    /// Product-quantization codes `[n, m]` and their codebook
    /// (`[m][256][dim / m]`); scanned in the windowed or the list layout.
    Pq {
        /// Codes, m bytes per grid k-mer.
        codes: &'a [u8],
        /// Codes per grid k-mer.
        m: usize,
        /// Codebook.
        codebook: &'a [f32],
    },
}

/// Default beam width: nodes kept per level. 32 on E. coli (4,096 leaves):
/// recall at MAPQ ≥ 20 0.905 against 0.885 at 16 and 0.915 at 64, at 2.5×
/// the mapping cost per read of mammoth mtDNA (1.5× at 16, 4.6× at 64)
/// without spilled leaves; with one spilled copy per k-mer (the default
/// index) it finds flat search's best for 0.986 of queries at 3.2–3.7× the
/// mtDNA cost (BENCHMARKS.md, issue 10).
pub const DEFAULT_BEAM: usize = 32;

/// Copies of a query the windowed tree search deals its leaves to, at most,
/// for more than the scan's 64 results per query (`DeviceTree::search`).
pub const SPLIT_MAX: usize = 4;

/// Search options.
#[derive(Clone, Copy, Debug)]
pub struct BeamConfig {
    /// Nodes kept per level (W).
    pub width: usize,
}

/// How the leaf scan lays out and reads the leaf-ordered embeddings. All
/// give the same results (tests/index.rs, tests/pq.rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanLayout {
    /// `leaf_scan`: a workgroup per query, its lanes on the slots of its
    /// leaves (rows in blocks of 64, storage-bound chunks). GPUs.
    Blocked,
    /// `window_scan`: lanes on queries, every lane reading the same row of a
    /// uniform-bound window. CPU adapters, whose per-lane storage reads are
    /// loops over the lanes.
    Windows,
    /// `list_scan`: leaf-major, a workgroup per (leaf piece, ≤ 64 of the
    /// queries that chose it), each leaf's rows read once for all of them;
    /// one dispatch per pass (a few dozen per search) instead of one per
    /// window. GPUs; the same rows as `Windows`, float or codes.
    Lists,
}

impl ScanLayout {
    /// The layout for a backend: `Lists` on every wgpu adapter, `Blocked`
    /// on the reference backend; `CREST_SCAN=blocked|windows|lists`
    /// overrides it (benchmarks). On llvmpipe the list scan also beats the
    /// windowed one (yeast, 2,000 reads: 18.3 s against 37.8 s; mammoth
    /// mtDNA: 44.6 s against 47.7 s; the same SAM; BENCHMARKS.md).
    pub fn for_backend(be: &Backend) -> ScanLayout {
        match std::env::var("CREST_SCAN").as_deref() {
            Ok("blocked") => return ScanLayout::Blocked,
            Ok("windows") if matches!(be, Backend::Gpu(g) if g.uniform_cap() >= (ws::WINDOW_VEC4S * 16) as u64) => {
                return ScanLayout::Windows
            }
            Ok("lists") => return ScanLayout::Lists,
            _ => {}
        }
        match be {
            Backend::Gpu(_) => ScanLayout::Lists,
            Backend::CpuReference => ScanLayout::Blocked,
        }
    }
}

/// A tree on the backend, ready to search.
pub struct DeviceTree {
    shape: TreeShape,
    dim: usize,
    centroids: Vec<Tensor>,
    offsets_perm: Words,
    leaf_offsets: Vec<u32>,
    layout: ScanLayout,
    chunks: Vec<ScanChunk>,
    /// Windows layout: each level's centroids as window-scan rows, their ids
    /// (child number, NONE for an empty subtree) and the child runs of the
    /// level above (node p: rows p·B .. p·B + B).
    levels: Vec<(ScanData, Words, Vec<u32>)>,
    /// What the scanned rows hold.
    rows: RowCode,
    metric: Metric,
}

/// A run of slots uploaded as one buffer (the binding cap allowing), with
/// what bounds a leaf scan's loop trips over it.
struct ScanChunk {
    s0: usize,
    s1: usize,
    /// Blocked rows (`leaf_scan`, always F32) or windowed rows
    /// (`window_scan`).
    data: ScanData,
    /// Windows: the grid index of each row, windowed.
    ids: Option<Words>,
    /// `top[k]`: the most 64-slot strides any k leaves cover in this chunk
    /// (sum of the k largest ⌈leaf ∩ chunk / 64⌉; `top[0] = 0`).
    top: Vec<usize>,
}

impl ScanChunk {
    /// Slot ranges, one per `leaf_scan` dispatch, that keep every
    /// invocation of a `width`-leaf scan within [`crate::ops::LOOP_BUDGET`]
    /// (with a 2× margin). One range when the `width` largest leaves fit;
    /// otherwise ranges of R slots, where a thread scores at most
    /// R/64 + width slots.
    fn ranges(&self, dim: usize, width: usize) -> Result<Vec<(usize, usize)>> {
        let budget = crate::ops::LOOP_BUDGET / 2;
        let strides = self.top[width.min(self.top.len() - 1)];
        if ix::leaf_scan_trips(dim, width, strides) <= budget {
            return Ok(vec![(self.s0, self.s1)]);
        }
        let per = ix::leaf_scan_trips(dim, width, 1) - ix::leaf_scan_trips(dim, width, 0);
        let fixed = ix::leaf_scan_trips(dim, width, width);
        if fixed + per >= budget {
            return Err(CrestError::Invalid(format!(
                "a scan of {width} leaves per query exceeds the per-invocation loop budget"
            )));
        }
        let rows = (budget - fixed) / per * ix::BLOCK;
        Ok((self.s0..self.s1)
            .step_by(rows)
            .map(|a| (a, (a + rows).min(self.s1)))
            .collect())
    }
}

impl DeviceTree {
    /// Upload `tree` and the grid embeddings `z` (grid order; stored in slot
    /// order, chunked to fit the binding cap), in the backend's layout.
    pub fn new(be: &Backend, tree: &Tree, z: &[f32], dim: usize, metric: Metric) -> Result<Self> {
        Self::with_layout(be, tree, z, dim, metric, ScanLayout::for_backend(be))
    }

    /// As [`DeviceTree::new`], in a given layout.
    pub fn with_layout(
        be: &Backend,
        tree: &Tree,
        z: &[f32],
        dim: usize,
        metric: Metric,
        layout: ScanLayout,
    ) -> Result<Self> {
        Self::from_rows(be, tree, RowSource::F32(z), dim, metric, layout)
    }

    /// Upload `tree` and its rows (grid order; stored in slot order, chunked
    /// to fit the binding cap). Code rows asked for in the blocked layout
    /// (which reads floats only) take the list layout.
    pub fn from_rows(
        be: &Backend,
        tree: &Tree,
        source: RowSource<'_>,
        dim: usize,
        metric: Metric,
        layout: ScanLayout,
    ) -> Result<Self> {
        let row_code = match source {
            RowSource::F32(_) => RowCode::F32,
            RowSource::Pq { m, .. } => RowCode::Pq(m),
        };
        row_code.check(dim)?;
        let layout = match (row_code, layout) {
            (RowCode::Pq(_), ScanLayout::Blocked) => ScanLayout::Lists,
            _ => layout,
        };
        let codebook = match source {
            RowSource::Pq { codebook, m, .. } => {
                if codebook.len() != m * crate::ops::pq::K * (dim / m) {
                    return Err(CrestError::Invalid(format!(
                        "codebook of {} values for {m} subspaces of dimension {dim}",
                        codebook.len()
                    )));
                }
                Some(be.upload(&ws::pad_codebook(codebook))?)
            }
            RowSource::F32(_) => None,
        };
        let n = tree.perm.len();
        let centroids = tree
            .centroids
            .iter()
            .map(|c| be.upload(&ix::pad_rows(c, dim)))
            .collect::<Result<_>>()?;
        let mut op = tree.leaf_offsets.clone();
        op.extend_from_slice(&tree.perm);
        let rows = match (layout, be) {
            (ScanLayout::Blocked, _) => chunk_rows(be, dim, usize::MAX),
            (ScanLayout::Windows, Backend::Gpu(g)) => {
                let row_bytes = match row_code {
                    RowCode::F32 => 16 * ix::dim4(dim) as u64,
                    RowCode::Pq(m) => m as u64,
                };
                let fit = (g.max_buffer() - (row_code.window_vec4s(dim) * 16) as u64) / row_bytes;
                let r = row_code.window_rows(dim);
                (fit as usize / r * r).max(r)
            }
            (ScanLayout::Lists, Backend::Gpu(g)) => {
                // the chunk's rows and its row ids are bound whole as storage
                let (row_bytes, pad) = match row_code {
                    RowCode::F32 => (16 * ix::dim4(dim) as u64, (ws::WINDOW_VEC4S * 16) as u64),
                    RowCode::Pq(m) => (m as u64, (ws::MAX_WINDOW_ROWS * m) as u64),
                };
                let cap = g.binding_cap();
                let fit = (cap.saturating_sub(pad) / row_bytes)
                    .min((cap / 4).saturating_sub(ws::MAX_WINDOW_ROWS as u64));
                (fit as usize).max(1)
            }
            (ScanLayout::Windows | ScanLayout::Lists, Backend::CpuReference) => usize::MAX / 8,
        };
        let mut chunks = Vec::new();
        let mut s0 = 0usize;
        while s0 < n {
            let s1 = (s0 + rows).min(n);
            let gather = |v: &[f32]| -> Vec<f32> {
                let mut data = Vec::with_capacity((s1 - s0) * dim);
                for &j in &tree.perm[s0..s1] {
                    data.extend_from_slice(&v[j as usize * dim..(j as usize + 1) * dim]);
                }
                data
            };
            let mut strides: Vec<usize> = tree
                .leaf_offsets
                .windows(2)
                .map(|o| {
                    let lo = (o[0] as usize).max(s0);
                    let hi = (o[1] as usize).min(s1);
                    hi.saturating_sub(lo).div_ceil(ix::BLOCK)
                })
                .filter(|&k| k > 0)
                .collect();
            strides.sort_unstable_by(|a, b| b.cmp(a));
            let mut top = vec![0];
            top.extend(strides.iter().scan(0, |acc, &k| {
                *acc += k;
                Some(*acc)
            }));
            let data =
                match (source, layout, &codebook) {
                    (RowSource::F32(z), ScanLayout::Blocked, _) => {
                        ScanData::F32(be.upload(&ix::to_blocked(&gather(z), dim))?)
                    }
                    (RowSource::F32(z), ScanLayout::Windows | ScanLayout::Lists, _) => {
                        ScanData::F32(be.upload(&ws::to_windows(&gather(z), dim))?)
                    }
                    (RowSource::Pq { codes, m, .. }, _, Some(cb)) => {
                        let mut slot_codes = Vec::with_capacity((s1 - s0) * m);
                        for &j in &tree.perm[s0..s1] {
                            let row = codes.get(j as usize * m..(j as usize + 1) * m).ok_or_else(
                                || CrestError::Invalid(format!("no codes for grid k-mer {j}")),
                            )?;
                            slot_codes.extend_from_slice(row);
                        }
                        ScanData::Pq {
                            codes: be.upload_words(&ws::codes_to_windows(&slot_codes, m))?,
                            codebook: cb.clone(),
                        }
                    }
                    (RowSource::Pq { .. }, _, None) => unreachable!("codebook uploaded above"),
                };
            let ids = match layout {
                ScanLayout::Blocked => None,
                ScanLayout::Windows | ScanLayout::Lists => {
                    Some(be.upload_words(&ws::ids_windows(&tree.perm[s0..s1]))?)
                }
            };
            chunks.push(ScanChunk {
                s0,
                s1,
                data,
                ids,
                top,
            });
            s0 = s1;
        }
        let mut levels = Vec::new();
        if layout == ScanLayout::Windows {
            let b = tree.shape.branch;
            for (l, cent) in tree.centroids.iter().enumerate() {
                let nodes = b.pow(l as u32 + 1);
                let span = b.pow((tree.shape.depth - l - 1) as u32);
                let ids: Vec<u32> = (0..nodes)
                    .map(|c| {
                        let size = tree.leaf_offsets[(c + 1) * span] - tree.leaf_offsets[c * span];
                        if size > 0 {
                            c as u32
                        } else {
                            NONE
                        }
                    })
                    .collect();
                let runs: Vec<u32> = (0..=nodes / b).map(|p| (p * b) as u32).collect();
                levels.push((
                    ScanData::F32(be.upload(&ws::to_windows(cent, dim))?),
                    be.upload_words(&ws::ids_windows(&ids))?,
                    runs,
                ));
            }
        }
        Ok(DeviceTree {
            shape: tree.shape,
            dim,
            centroids,
            offsets_perm: be.upload_words(&op)?,
            leaf_offsets: tree.leaf_offsets.clone(),
            layout,
            chunks,
            levels,
            rows: row_code,
            metric,
        })
    }

    /// The W leaves (ids, NONE-padded) the beam reaches for each of `nq` queries.
    pub fn beam(
        &self,
        be: &Backend,
        q: &Tensor,
        nq: usize,
        cfg: &BeamConfig,
    ) -> Result<(Words, usize)> {
        let b = self.shape.branch;
        let w = cfg.width.max(1);
        if w * b > ix::MAX_CHILDREN {
            return Err(CrestError::Invalid(format!(
                "beam width {w} × branching {b} exceeds {} children per query",
                ix::MAX_CHILDREN
            )));
        }
        if self.windowed_beam(w) {
            let qp = be.padded_queries(q, self.dim)?;
            let nodes = self.beam_windows(be, &qp, nq, w)?;
            return Ok((be.upload_words(&nodes)?, w.min(self.shape.leaves())));
        }
        let mut beam = be.upload_words(&vec![0u32; nq])?;
        let mut width_in = 1usize;
        for (l, cent) in self.centroids.iter().enumerate() {
            let level = l + 1;
            let width_out = w.min(b.pow(level as u32));
            let d = BeamDims {
                queries: nq,
                dim: self.dim,
                branch: b,
                width_in,
                width_out,
                span: b.pow((self.shape.depth - level) as u32),
            };
            let mut scores = be.zeros(nq * width_out)?;
            let mut ids = be.upload_words(&vec![NONE; nq * width_out])?;
            let inp = BeamInputs {
                queries: q,
                centroids: cent,
                beam_in: &beam,
                leaf_offsets: &self.offsets_perm,
            };
            let out = Ranked {
                scores: &mut scores,
                ids: &mut ids,
            };
            be.beam_step(&d, inp, self.metric, out)?;
            beam = ids;
            width_in = width_out;
        }
        Ok((beam, width_in))
    }

    /// The beam on CPU adapters: each level is a window scan of the level's
    /// centroids over the children of the nodes kept above. Keeps the same
    /// non-empty nodes as `beam_step` (score desc, then node asc); empty
    /// subtrees, which `beam_step` keeps last with score EMPTY, become NONE.
    /// Host node ids (`w.min(leaves)` per query) from padded queries `qp`.
    fn beam_windows(&self, be: &Backend, qp: &Tensor, nq: usize, w: usize) -> Result<Vec<u32>> {
        let b = self.shape.branch;
        let mut nodes = vec![0u32; nq];
        let mut width_in = 1usize;
        for (l, (rows, ids, runs)) in self.levels.iter().enumerate() {
            let width_out = w.min(b.pow(l as u32 + 1));
            let plan = WindowPlan::new(
                &nodes,
                width_in,
                nq,
                runs,
                (0, b.pow(l as u32 + 1)),
                ws::window_rows(self.dim),
            )?;
            let d = WindowDims {
                queries: nq,
                dim: self.dim,
                m: width_out,
                rows: RowCode::F32,
            };
            let mut scores = be.upload(&vec![EMPTY; nq * width_out])?;
            let mut kept = be.upload_words(&vec![NONE; nq * width_out])?;
            let inp = ScanInputs {
                queries: qp,
                data: rows,
                ids,
            };
            let out = Ranked {
                scores: &mut scores,
                ids: &mut kept,
            };
            be.window_scan(&d, &plan, inp, self.metric, out)?;
            nodes = be.read_words(&kept)?;
            width_in = width_out;
        }
        Ok(nodes)
    }

    /// More than the windowed scan's [`ws::MAX_M`] results per query: the
    /// beam's leaves of each query are dealt round-robin to
    /// `m / MAX_M` copies of it, each copy keeps its best MAX_M, and the
    /// lists are merged on the host (score desc, grid index asc, each grid
    /// index once: spilled copies sit in several leaves). The union holds the
    /// unsplit search's MAX_M best and, below them, at least MAX_M per copy,
    /// at the same rows scanned.
    fn search_split(
        &self,
        be: &Backend,
        q: &Tensor,
        nq: usize,
        m: usize,
        w: usize,
        width: usize,
    ) -> Result<Vec<(f32, u32)>> {
        let parts = m.div_ceil(ws::MAX_M).min(width).max(1);
        let qp = be.padded_queries(q, self.dim)?;
        let nodes = self.host_leaves(be, q, &qp, nq, w)?;
        let host = be.read(q)?;
        let dim = self.dim;
        let per = width.div_ceil(parts);
        let mut dup = Vec::with_capacity(nq * parts * dim);
        let mut leaves = Vec::with_capacity(nq * parts * per);
        for qi in 0..nq {
            let row = &host[qi * dim..(qi + 1) * dim];
            let mine = &nodes[qi * width..(qi + 1) * width];
            for p in 0..parts {
                dup.extend_from_slice(row);
                let start = leaves.len();
                leaves.extend(mine.iter().skip(p).step_by(parts).copied());
                leaves.resize(start + per, NONE);
            }
        }
        let qd = be.upload(&dup)?;
        let qdp = be.padded_queries(&qd, dim)?;
        let found = self.scan_host(be, &qdp, nq * parts, ws::MAX_M, &leaves, per)?;
        let mut out = Vec::with_capacity(nq * m);
        for list in found.chunks(parts * ws::MAX_M) {
            let mut all: Vec<(f32, u32)> = list.iter().copied().filter(|r| r.1 != NONE).collect();
            all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            all.dedup_by_key(|r| r.1);
            all.truncate(m);
            all.resize(m, (EMPTY, NONE));
            out.extend(all);
        }
        Ok(out)
    }

    /// Most results per query [`DeviceTree::search`] returns: the scan's own
    /// lists, or on the windowed layout [`SPLIT_MAX`] of them per query
    /// (`search_split`).
    pub fn max_m_split(&self) -> usize {
        match self.layout {
            ScanLayout::Blocked => ix::MAX_M,
            ScanLayout::Windows | ScanLayout::Lists => ws::MAX_M * SPLIT_MAX,
        }
    }

    /// The leaves (`w.min(leaves)` per query, NONE-padded) the beam reaches,
    /// on the host: the windowed beam on CPU adapters, else `beam_step` on
    /// the device and one read-back. `qp`: the padded queries.
    fn host_leaves(
        &self,
        be: &Backend,
        q: &Tensor,
        qp: &Tensor,
        nq: usize,
        w: usize,
    ) -> Result<Vec<u32>> {
        if self.windowed_beam(w) {
            return self.beam_windows(be, qp, nq, w);
        }
        let (leaves, _) = self.beam(be, q, nq, &BeamConfig { width: w })?;
        be.read_words(&leaves)
    }

    /// The host-planned scan of this layout (windows or lists) of host leaf
    /// ids `chosen` for padded queries `qp`.
    fn scan_host(
        &self,
        be: &Backend,
        qp: &Tensor,
        nq: usize,
        m: usize,
        chosen: &[u32],
        width: usize,
    ) -> Result<Vec<(f32, u32)>> {
        match self.layout {
            ScanLayout::Lists => self.scan_lists(be, qp, nq, m, chosen, width),
            _ => self.scan_windows(be, qp, nq, m, chosen, width),
        }
    }

    fn windowed_beam(&self, w: usize) -> bool {
        self.layout == ScanLayout::Windows && w.max(1) <= ws::MAX_M
    }

    /// The `m` best grid k-mers (score, grid index) of each query in the
    /// leaves the beam reaches, best first, (EMPTY, NONE)-padded.
    pub fn search(
        &self,
        be: &Backend,
        q: &Tensor,
        nq: usize,
        m: usize,
        cfg: &BeamConfig,
    ) -> Result<Vec<(f32, u32)>> {
        let w = cfg.width.max(1);
        if self.layout == ScanLayout::Lists && w * self.shape.branch <= ix::MAX_CHILDREN {
            let width = w.min(self.shape.leaves());
            if m > ws::MAX_M && m <= self.max_m_split() {
                return self.search_split(be, q, nq, m, w, width);
            }
            self.check_m(m)?;
            let qp = be.padded_queries(q, self.dim)?;
            let nodes = self.host_leaves(be, q, &qp, nq, w)?;
            return self.scan_lists(be, &qp, nq, m, &nodes, width);
        }
        if self.windowed_beam(w) && w * self.shape.branch <= ix::MAX_CHILDREN {
            // leaves stay on the host between the beam and the scan
            let width = w.min(self.shape.leaves());
            if m > ws::MAX_M && m <= self.max_m_split() {
                return self.search_split(be, q, nq, m, w, width);
            }
            self.check_m(m)?;
            let qp = be.padded_queries(q, self.dim)?;
            let nodes = self.beam_windows(be, &qp, nq, w)?;
            return self.scan_windows(be, &qp, nq, m, &nodes, width);
        }
        let (leaves, width) = self.beam(be, q, nq, cfg)?;
        self.scan(be, q, nq, m, &leaves, width)
    }

    /// Widest beam the search takes (every kept node's children are scored
    /// in one list of at most [`ix::MAX_CHILDREN`]).
    pub fn max_beam(&self) -> usize {
        (ix::MAX_CHILDREN / self.shape.branch.max(1)).max(1)
    }

    /// Most results per query the scan of this layout keeps (the blocked
    /// scan's workgroup lists hold [`ix::MAX_M`], the windowed scan's
    /// per-lane lists [`ws::MAX_M`]).
    pub fn max_m(&self) -> usize {
        match self.layout {
            ScanLayout::Blocked => ix::MAX_M,
            ScanLayout::Windows | ScanLayout::Lists => ws::MAX_M,
        }
    }

    fn check_m(&self, m: usize) -> Result<()> {
        if m == 0 || m > self.max_m() {
            return Err(CrestError::Invalid(format!(
                "{m} results per query (1..={})",
                self.max_m()
            )));
        }
        Ok(())
    }

    /// The windowed scan of host leaf ids `chosen` for padded queries `qp`.
    fn scan_windows(
        &self,
        be: &Backend,
        qp: &Tensor,
        nq: usize,
        m: usize,
        chosen: &[u32],
        width: usize,
    ) -> Result<Vec<(f32, u32)>> {
        let mut scores = be.upload(&vec![EMPTY; nq * m])?;
        let mut ids = be.upload_words(&vec![NONE; nq * m])?;
        let d = WindowDims {
            queries: nq,
            dim: self.dim,
            m,
            rows: self.rows,
        };
        for c in &self.chunks {
            let plan = WindowPlan::new(
                chosen,
                width,
                nq,
                &self.leaf_offsets,
                (c.s0, c.s1),
                self.rows.window_rows(self.dim),
            )?;
            let row_ids = c
                .ids
                .as_ref()
                .ok_or_else(|| CrestError::Invalid("windowed chunk without its row ids".into()))?;
            let inp = ScanInputs {
                queries: qp,
                data: &c.data,
                ids: row_ids,
            };
            let out = Ranked {
                scores: &mut scores,
                ids: &mut ids,
            };
            be.window_scan(&d, &plan, inp, self.metric, out)?;
        }
        let s = be.read(&scores)?;
        let ids = be.read_words(&ids)?;
        Ok(s.into_iter().zip(ids).collect())
    }

    /// The list scan of host leaf ids `chosen` for padded queries `qp`:
    /// planned chunk by chunk on the host, one dispatch per pass.
    fn scan_lists(
        &self,
        be: &Backend,
        qp: &Tensor,
        nq: usize,
        m: usize,
        chosen: &[u32],
        width: usize,
    ) -> Result<Vec<(f32, u32)>> {
        let mut scores = be.upload(&vec![EMPTY; nq * m])?;
        let mut ids = be.upload_words(&vec![NONE; nq * m])?;
        let d = ListDims {
            queries: nq,
            dim: self.dim,
            m,
            rows: self.rows,
        };
        let piece = ls::piece_rows(self.dim, self.rows, m);
        for c in &self.chunks {
            let plan = ListPlan::new(chosen, width, nq, &self.leaf_offsets, (c.s0, c.s1), piece)?;
            let row_ids = c
                .ids
                .as_ref()
                .ok_or_else(|| CrestError::Invalid("list chunk without its row ids".into()))?;
            let inp = ScanInputs {
                queries: qp,
                data: &c.data,
                ids: row_ids,
            };
            let out = Ranked {
                scores: &mut scores,
                ids: &mut ids,
            };
            be.list_scan(&d, &plan, inp, self.metric, out)?;
        }
        let s = be.read(&scores)?;
        let ids = be.read_words(&ids)?;
        Ok(s.into_iter().zip(ids).collect())
    }

    /// Exact scan of the given leaves (`width` per query, NONE allowed).
    pub fn scan(
        &self,
        be: &Backend,
        q: &Tensor,
        nq: usize,
        m: usize,
        leaves: &Words,
        width: usize,
    ) -> Result<Vec<(f32, u32)>> {
        self.check_m(m)?;
        let qp = be.padded_queries(q, self.dim)?;
        let q = &qp;
        if self.layout != ScanLayout::Blocked {
            return self.scan_host(be, q, nq, m, &be.read_words(leaves)?, width);
        }
        let mut scores = be.upload(&vec![EMPTY; nq * m])?;
        let mut ids = be.upload_words(&vec![NONE; nq * m])?;
        let mut first = true;
        for c in &self.chunks {
            let ScanData::F32(data) = &c.data else {
                return Err(CrestError::Invalid(
                    "the blocked leaf scan reads float rows only".into(),
                ));
            };
            for (slot0, slot1) in c.ranges(self.dim, width)? {
                let d = LeafDims {
                    queries: nq,
                    dim: self.dim,
                    width,
                    m,
                    leaves: self.shape.leaves(),
                    base: c.s0,
                    slot0,
                    slot1,
                    first,
                };
                let inp = LeafInputs {
                    queries: q,
                    data,
                    leaves,
                    offsets_perm: &self.offsets_perm,
                };
                let out = Ranked {
                    scores: &mut scores,
                    ids: &mut ids,
                };
                be.leaf_scan(&d, inp, self.metric, out)?;
                first = false;
            }
        }
        let s = be.read(&scores)?;
        let ids = be.read_words(&ids)?;
        Ok(s.into_iter().zip(ids).collect())
    }

    /// The scan's layout.
    pub fn layout(&self) -> ScanLayout {
        self.layout
    }

    /// Tree shape.
    pub fn shape(&self) -> TreeShape {
        self.shape
    }
}
