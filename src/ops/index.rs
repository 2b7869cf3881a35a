//! Index kernels (see `shaders/index.wgsl`): k-means assignment and centroid
//! accumulation for building a balanced k-means tree, and the two steps of
//! batched beam search down it (children of a beam → best W; exact scan of
//! the chosen leaves → best M). Each launcher has a CPU twin with the same
//! summation order and tie-breaking (score descending, then id ascending).

use super::need;
use crate::error::{CrestError, Result};
use crate::gpu::{Arg, Gpu, GpuBuf, Kernel};

/// WGSL source.
pub const SOURCE: &str = include_str!("../../shaders/index.wgsl");

/// Marks an empty beam slot, leaf or result.
pub const NONE: u32 = u32::MAX;
/// Score of an empty result.
pub const EMPTY: f32 = -3.0e38;
/// Most children one beam step scores per query (W_in · B).
pub const MAX_CHILDREN: usize = 1024;
/// Most results per query of a leaf scan.
pub const MAX_M: usize = 16;
/// Largest embedding dimension.
pub const MAX_DIM: usize = 256;

/// vec4s of the uniform query window of `leaf_scan` (64 KiB).
pub const QUERY_VEC4S: usize = 4096;

/// Queries `[n, dim]` as `leaf_scan` reads them: rows zero-padded to whole
/// vec4s, then one window of zeros (so that every uniform window is whole).
pub fn pad_queries(q: &[f32], dim: usize) -> Vec<f32> {
    let mut v = pad_rows(q, dim);
    v.resize(v.len() + QUERY_VEC4S * 4, 0.0);
    v
}

/// Rows per block of the blocked data layout.
pub const BLOCK: usize = 64;

/// vec4s per padded row of `dim` floats.
pub fn dim4(dim: usize) -> usize {
    dim.div_ceil(4)
}

/// Position of (row `r`, dimension `d`) in the blocked layout of point data:
/// rows in blocks of [`BLOCK`], vec4-of-dimensions-major within a block,
/// dimensions zero-padded to a multiple of 4.
pub fn blocked_at(r: usize, d: usize, dim: usize) -> usize {
    (((r / BLOCK) * dim4(dim) + d / 4) * BLOCK + r % BLOCK) * 4 + d % 4
}

/// Row-major `[rows, dim]` data in the blocked layout (zero-padded to whole
/// blocks and whole vec4s).
pub fn to_blocked(rows: &[f32], dim: usize) -> Vec<f32> {
    let n = rows.len() / dim.max(1);
    let mut out = vec![0f32; blocked_len(n, dim)];
    for r in 0..n {
        for d in 0..dim {
            out[blocked_at(r, d, dim)] = rows[r * dim + d];
        }
    }
    out
}

/// Row `r` of blocked data, padded to a multiple of 4.
pub fn blocked_row(data: &[f32], r: usize, dim: usize) -> Vec<f32> {
    (0..dim4(dim) * 4)
        .map(|d| data[(((r / BLOCK) * dim4(dim) + d / 4) * BLOCK + r % BLOCK) * 4 + d % 4])
        .collect()
}

/// Words of `rows` rows in the blocked layout.
pub fn blocked_len(rows: usize, dim: usize) -> usize {
    rows.div_ceil(BLOCK) * BLOCK * dim4(dim) * 4
}

/// Row-major rows padded with zeros to a multiple of 4 floats (centroids).
pub fn pad_rows(rows: &[f32], dim: usize) -> Vec<f32> {
    let d4 = dim4(dim) * 4;
    let mut out = Vec::with_capacity(rows.len() / dim.max(1) * d4);
    for row in rows.chunks(dim.max(1)) {
        out.extend_from_slice(row);
        out.resize(out.len() + d4 - row.len(), 0.0);
    }
    out
}

/// How two embeddings are compared (larger score = closer).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Metric {
    /// Dot product of unit vectors (cosine similarity).
    Cosine,
    /// Negative Poincaré distance in the ball of curvature −c.
    Poincare(f32),
}

impl Metric {
    /// The kernels' metric code (0 cosine, 1 Poincaré).
    pub(crate) fn code(self) -> u32 {
        match self {
            Metric::Cosine => 0,
            Metric::Poincare(_) => 1,
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    dim: u32,
    branch: u32,
    metric: u32,
    width_in: u32,
    width_out: u32,
    span: u32,
    row0: u32,
    slot0: u32,
    slot1: u32,
    first: u32,
    n_centroids: u32,
    dim4: u32,
    base: u32,
    _pad: [u32; 2],
}

fn kernel(entry: &'static str) -> Kernel {
    Kernel {
        shader: "index",
        source: SOURCE,
        entry,
    }
}

/// Score of `a` against `b` under `metric` (the kernels' formula and order:
/// vec4 by vec4, zero-padded; `a` and `b` of equal length).
pub fn score(a: &[f32], b: &[f32], metric: Metric) -> f32 {
    let (mut dot, mut sq, mut na, mut nb) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
    let n = a.len().min(b.len());
    let at = |v: &[f32], i: usize| if i < n { v[i] } else { 0.0 };
    for j in 0..n.div_ceil(4) {
        let (mut d4, mut s4, mut a4, mut b4) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
        for e in 0..4 {
            let (x, y) = (at(a, 4 * j + e), at(b, 4 * j + e));
            d4 += x * y;
            let df = x - y;
            s4 += df * df;
            a4 += x * x;
            b4 += y * y;
        }
        dot += d4;
        sq += s4;
        na += a4;
        nb += b4;
    }
    match metric {
        Metric::Cosine => dot,
        Metric::Poincare(c) => {
            let den = ((1.0 - c * na) * (1.0 - c * nb)).max(1e-15);
            let t = (2.0 * c * sq / den).max(0.0);
            -(1.0 + t + (t * (t + 2.0)).sqrt()).ln() / c.sqrt()
        }
    }
}

/// (score, id) `a` ranks before `b`: larger score, then smaller id.
pub fn beats(a: (f32, u32), b: (f32, u32)) -> bool {
    a.0 > b.0 || (a.0 == b.0 && a.1 < b.1)
}

/// Where a search op writes each query's best results, best first, padded
/// with (EMPTY, NONE): `scores` and `ids`, `m` (a beam's `width_out`) a
/// query. `F` and `U` are the storage of floats and words: `&mut [f32]` and
/// `&mut [u32]` for the CPU twins, `&GpuBuf` for both on the device.
#[derive(Clone, Copy, Debug)]
pub struct Ranked<F, U> {
    /// Scores (larger is closer).
    pub scores: F,
    /// Ids (grid indexes, or nodes for a beam step).
    pub ids: U,
}

fn check_dim(op: &'static str, dim: usize) -> Result<()> {
    if dim == 0 || dim > MAX_DIM {
        return Err(CrestError::shape(
            op,
            format!("dimension {dim} (1..={MAX_DIM})"),
        ));
    }
    Ok(())
}

/// Shape of one k-means assignment pass over a chunk of points.
#[derive(Clone, Copy, Debug)]
pub struct AssignDims {
    /// Points in this chunk.
    pub rows: usize,
    /// Embedding dimension.
    pub dim: usize,
    /// Children per group (B).
    pub branch: usize,
    /// Index of the chunk's first point in `group`, `scores` and `best`.
    pub row0: usize,
}

/// The buffers `assign` reads. `F` and `U` are the storage of floats and
/// words: `&[f32]` and `&[u32]` for the CPU twin, `&GpuBuf` on the device.
#[derive(Clone, Copy, Debug)]
pub struct AssignInputs<F, U> {
    /// The chunk's points, blocked (see [`to_blocked`]).
    pub data: F,
    /// B centroids per group, padded (see [`pad_rows`]).
    pub centroids: F,
    /// Group of every point (the chunk's from `row0`).
    pub group: U,
}

impl AssignDims {
    fn validate(&self, data: usize, centroids: usize, group: usize) -> Result<()> {
        check_dim("assign", self.dim)?;
        if self.branch == 0 {
            return Err(CrestError::shape("assign", "branch 0"));
        }
        need("assign", "data", data, blocked_len(self.rows, self.dim))?;
        need("assign", "group", group, self.row0 + self.rows)?;
        need(
            "assign",
            "centroids",
            centroids,
            self.branch * dim4(self.dim) * 4,
        )
    }
}

/// CPU twin of `assign` (`data` blocked, see [`to_blocked`]; centroids
/// padded, see [`pad_rows`]): scores of each point of the chunk against its group's
/// B centroids, and the first best child.
pub fn assign_cpu(
    d: &AssignDims,
    inp: AssignInputs<&[f32], &[u32]>,
    metric: Metric,
    scores: &mut [f32],
    best: &mut [u32],
) -> Result<()> {
    let AssignInputs {
        data,
        centroids,
        group,
    } = inp;
    d.validate(data.len(), centroids.len(), group.len())?;
    need(
        "assign",
        "scores",
        scores.len(),
        (d.row0 + d.rows) * d.branch,
    )?;
    need("assign", "best", best.len(), d.row0 + d.rows)?;
    let p4 = dim4(d.dim) * 4;
    for i in 0..d.rows {
        let r = d.row0 + i;
        let g = group[r] as usize;
        need(
            "assign",
            "centroids",
            centroids.len(),
            (g + 1) * d.branch * p4,
        )?;
        let (mut top, mut arg) = (-3.4e38f32, 0u32);
        let row = blocked_row(data, i, d.dim);
        for j in 0..d.branch {
            let cj = &centroids[(g * d.branch + j) * p4..][..p4];
            let s = score(&row, cj, metric);
            scores[r * d.branch + j] = s;
            if s > top {
                top = s;
                arg = j as u32;
            }
        }
        best[r] = arg;
    }
    Ok(())
}

/// GPU `assign`. `curv` holds c (Poincaré) and is bound but unread for cosine.
pub fn assign_gpu(
    gpu: &Gpu,
    d: &AssignDims,
    inp: AssignInputs<&GpuBuf, &GpuBuf>,
    metric: Metric,
    curv: &GpuBuf,
    scores: &GpuBuf,
    best: &GpuBuf,
) -> Result<()> {
    let AssignInputs {
        data,
        centroids,
        group,
    } = inp;
    d.validate(data.len, centroids.len, group.len)?;
    need("assign", "scores", scores.len, (d.row0 + d.rows) * d.branch)?;
    need("assign", "best", best.len, d.row0 + d.rows)?;
    let p = Params {
        rows: d.rows as u32,
        dim: d.dim as u32,
        dim4: dim4(d.dim) as u32,
        branch: d.branch as u32,
        metric: metric.code(),
        row0: d.row0 as u32,
        ..Default::default()
    };
    gpu.dispatch(
        kernel("assign"),
        &[
            Arg::Uniform(bytemuck::bytes_of(&p)),
            Arg::Unused,
            Arg::Buf(centroids),
            Arg::Buf(group),
            Arg::Unused,
            Arg::Buf(curv),
            Arg::Buf(scores),
            Arg::Buf(best),
            Arg::Buf(data),
        ],
        gpu.grid_1d(d.rows, 64),
    )
}

/// CSR of chunk-local member rows per centroid, as the kernel reads it:
/// `nc + 1` offsets, then the members.
pub fn members_csr(assignment: &[(u32, u32)], nc: usize) -> Vec<u32> {
    let mut counts = vec![0u32; nc + 1];
    for &(c, _) in assignment {
        counts[c as usize + 1] += 1;
    }
    for i in 0..nc {
        counts[i + 1] += counts[i];
    }
    let mut out = counts.clone();
    out.resize(nc + 1 + assignment.len(), 0);
    let mut fill = counts;
    for &(c, row) in assignment {
        let at = fill[c as usize] as usize;
        out[nc + 1 + at] = row;
        fill[c as usize] += 1;
    }
    out
}

/// CPU twin of `accumulate` (`data` blocked): `sums[c] += Σ w[m]·data[m]` over the members of c.
pub fn accumulate_cpu(
    data: &[f32],
    csr: &[u32],
    weights: &[f32],
    nc: usize,
    dim: usize,
    sums: &mut [f32],
) -> Result<()> {
    check_dim("accumulate", dim)?;
    need("accumulate", "csr", csr.len(), nc + 1)?;
    need("accumulate", "sums", sums.len(), nc * dim)?;
    for c in 0..nc {
        let (lo, hi) = (csr[c] as usize, csr[c + 1] as usize);
        need("accumulate", "csr", csr.len(), nc + 1 + hi)?;
        for d in 0..dim {
            let mut acc = 0.0f32;
            for &row in &csr[nc + 1 + lo..nc + 1 + hi] {
                let row = row as usize;
                need("accumulate", "data", data.len(), blocked_len(row + 1, dim))?;
                need("accumulate", "weights", weights.len(), row + 1)?;
                acc += weights[row] * data[blocked_at(row, d, dim)];
            }
            sums[c * dim + d] += acc;
        }
    }
    Ok(())
}

/// GPU `accumulate` (adds into `sums`).
pub fn accumulate_gpu(
    gpu: &Gpu,
    data: &GpuBuf,
    csr: &GpuBuf,
    weights: &GpuBuf,
    nc: usize,
    dim: usize,
    sums: &GpuBuf,
) -> Result<()> {
    check_dim("accumulate", dim)?;
    need("accumulate", "csr", csr.len, nc + 1)?;
    need("accumulate", "sums", sums.len, nc * dim)?;
    let p = Params {
        dim: dim as u32,
        dim4: dim4(dim) as u32,
        n_centroids: nc as u32,
        ..Default::default()
    };
    gpu.dispatch(
        kernel("accumulate"),
        &[
            Arg::Uniform(bytemuck::bytes_of(&p)),
            Arg::Unused,
            Arg::Unused,
            Arg::Buf(csr),
            Arg::Unused,
            Arg::Buf(weights),
            Arg::Buf(sums),
            Arg::Unused,
            Arg::Buf(data),
        ],
        gpu.grid_1d(nc, 1),
    )
}

/// Shape of one beam step.
#[derive(Clone, Copy, Debug)]
pub struct BeamDims {
    /// Queries.
    pub queries: usize,
    /// Embedding dimension.
    pub dim: usize,
    /// Children per node (B).
    pub branch: usize,
    /// Beam slots per query at the level above.
    pub width_in: usize,
    /// Beam slots kept at this level.
    pub width_out: usize,
    /// Leaves under one node of this level (B^(D − level)); node `n` covers
    /// leaf offsets `n·span ..= (n + 1)·span`.
    pub span: usize,
}

/// The buffers `beam_step` reads. `F` and `U` are the storage of floats and
/// words, as for [`AssignInputs`].
#[derive(Clone, Copy, Debug)]
pub struct BeamInputs<F, U> {
    /// Queries `[queries, dim]`.
    pub queries: F,
    /// The level's centroids, padded (see [`pad_rows`]).
    pub centroids: F,
    /// Nodes of the level above kept per query (`width_in`, NONE allowed).
    pub beam_in: U,
    /// Leaf offsets (leaves + 1): empty subtrees are skipped.
    pub leaf_offsets: U,
}

impl BeamDims {
    fn validate(&self, q: usize, centroids: usize, beam: usize) -> Result<()> {
        check_dim("beam_step", self.dim)?;
        if self.branch == 0 || self.width_in == 0 || self.width_out == 0 || self.span == 0 {
            return Err(CrestError::shape("beam_step", format!("{self:?}")));
        }
        if self.width_in * self.branch > MAX_CHILDREN {
            return Err(CrestError::shape(
                "beam_step",
                format!(
                    "beam {} × branch {} exceeds {MAX_CHILDREN} children",
                    self.width_in, self.branch
                ),
            ));
        }
        need("beam_step", "queries", q, self.queries * self.dim)?;
        need("beam_step", "beam", beam, self.queries * self.width_in)?;
        need(
            "beam_step",
            "centroids",
            centroids,
            self.branch * dim4(self.dim) * 4,
        )
    }
}

/// CPU twin of `beam_step` (centroids padded, see [`pad_rows`]).
pub fn beam_step_cpu(
    d: &BeamDims,
    inp: BeamInputs<&[f32], &[u32]>,
    metric: Metric,
    out: Ranked<&mut [f32], &mut [u32]>,
) -> Result<()> {
    let BeamInputs {
        queries,
        centroids,
        beam_in,
        leaf_offsets,
    } = inp;
    let Ranked {
        scores: out_scores,
        ids: out_ids,
    } = out;
    d.validate(queries.len(), centroids.len(), beam_in.len())?;
    need(
        "beam_step",
        "out",
        out_scores.len(),
        d.queries * d.width_out,
    )?;
    need("beam_step", "out", out_ids.len(), d.queries * d.width_out)?;
    let p = d.dim;
    let p4 = dim4(p) * 4;
    let mut cand: Vec<(f32, u32)> = Vec::with_capacity(d.width_in * d.branch);
    for q in 0..d.queries {
        cand.clear();
        let mut qv = queries[q * p..(q + 1) * p].to_vec();
        qv.resize(p4, 0.0);
        for w in 0..d.width_in {
            let node = beam_in[q * d.width_in + w];
            if node == NONE {
                continue;
            }
            for j in 0..d.branch {
                let child = node as usize * d.branch + j;
                need(
                    "beam_step",
                    "leaf offsets",
                    leaf_offsets.len(),
                    (child + 1) * d.span + 1,
                )?;
                let size = leaf_offsets[(child + 1) * d.span] - leaf_offsets[child * d.span];
                if size == 0 {
                    continue;
                }
                need("beam_step", "centroids", centroids.len(), (child + 1) * p4)?;
                cand.push((
                    score(&qv, &centroids[child * p4..][..p4], metric),
                    child as u32,
                ));
            }
        }
        write_top(&mut cand, d.width_out, q, out_scores, out_ids);
    }
    Ok(())
}

/// Sort `cand` best first and write the best `m` to row `q` (padding with
/// (EMPTY, NONE)); scores ≤ −1e30 count as empty.
pub(crate) fn write_top(
    cand: &mut Vec<(f32, u32)>,
    m: usize,
    q: usize,
    s: &mut [f32],
    ids: &mut [u32],
) {
    cand.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    // spilled copies of one k-mer score alike and sort together
    cand.dedup_by_key(|c| c.1);
    for r in 0..m {
        match cand.get(r) {
            Some(&(v, id)) if v > -1.0e30 => {
                s[q * m + r] = v;
                ids[q * m + r] = id;
            }
            _ => {
                s[q * m + r] = EMPTY;
                ids[q * m + r] = NONE;
            }
        }
    }
}

/// GPU `beam_step` (`curv` as for [`assign_gpu`]).
pub fn beam_step_gpu(
    gpu: &Gpu,
    d: &BeamDims,
    inp: BeamInputs<&GpuBuf, &GpuBuf>,
    metric: Metric,
    curv: &GpuBuf,
    out: Ranked<&GpuBuf, &GpuBuf>,
) -> Result<()> {
    let BeamInputs {
        queries,
        centroids,
        beam_in,
        leaf_offsets,
    } = inp;
    let Ranked {
        scores: out_scores,
        ids: out_ids,
    } = out;
    d.validate(queries.len, centroids.len, beam_in.len)?;
    need("beam_step", "out", out_scores.len, d.queries * d.width_out)?;
    need("beam_step", "out", out_ids.len, d.queries * d.width_out)?;
    let p = Params {
        rows: d.queries as u32,
        dim: d.dim as u32,
        dim4: dim4(d.dim) as u32,
        branch: d.branch as u32,
        metric: metric.code(),
        width_in: d.width_in as u32,
        width_out: d.width_out as u32,
        span: d.span as u32,
        ..Default::default()
    };
    gpu.dispatch(
        kernel("beam_step"),
        &[
            Arg::Uniform(bytemuck::bytes_of(&p)),
            Arg::Buf(queries),
            Arg::Buf(centroids),
            Arg::Buf(beam_in),
            Arg::Buf(leaf_offsets),
            Arg::Buf(curv),
            Arg::Buf(out_scores),
            Arg::Buf(out_ids),
            Arg::Unused,
        ],
        gpu.grid_1d(d.queries, 1),
    )
}

/// Worst-case loop iterations of one `leaf_scan` invocation that scores at
/// most `slots` slots of its `width` leaves: two passes over the leaves, a
/// dimension loop and an insertion of up to [`MAX_M`] per slot, and the
/// 7 pairwise merges of ≤ 3·m steps. Must stay within
/// [`super::LOOP_BUDGET`]; a thread scores every 64th slot of a leaf, so
/// `slots` ≤ Σ over its leaves of ⌈slots in the scanned range / 64⌉.
pub fn leaf_scan_trips(dim: usize, width: usize, slots: usize) -> usize {
    2 * width + 7 * 3 * MAX_M + slots * (dim4(dim) + MAX_M + 4)
}

/// Shape of one leaf scan over a chunk of leaf-ordered data.
#[derive(Clone, Copy, Debug)]
pub struct LeafDims {
    /// Queries.
    pub queries: usize,
    /// Embedding dimension.
    pub dim: usize,
    /// Leaves per query.
    pub width: usize,
    /// Results per query (≤ [`MAX_M`]).
    pub m: usize,
    /// Leaves of the tree (the `offsets_perm` array starts with leaves + 1 offsets).
    pub leaves: usize,
    /// First slot held by the data buffer (its row 0).
    pub base: usize,
    /// First slot scanned (≥ `base`): a dispatch may cover part of a buffer.
    pub slot0: usize,
    /// One past the last slot scanned.
    pub slot1: usize,
    /// Whether this is the first chunk (ignore what `out` holds).
    pub first: bool,
}

/// The buffers `leaf_scan` reads. `F` and `U` are the storage of floats and
/// words, as for [`AssignInputs`].
#[derive(Clone, Copy, Debug)]
pub struct LeafInputs<F, U> {
    /// Queries, padded (see [`pad_queries`]).
    pub queries: F,
    /// The chunk's leaf-ordered rows, blocked (see [`to_blocked`]).
    pub data: F,
    /// Leaves per query (`width`, NONE allowed).
    pub leaves: U,
    /// Leaf offsets (leaves + 1), then the slot → grid index permutation.
    pub offsets_perm: U,
}

impl LeafDims {
    fn validate(&self, q: usize, data: usize, leaves: usize, offsets_perm: usize) -> Result<()> {
        check_dim("leaf_scan", self.dim)?;
        if self.m == 0
            || self.m > MAX_M
            || self.width == 0
            || self.slot1 < self.slot0
            || self.slot0 < self.base
        {
            return Err(CrestError::shape(
                "leaf_scan",
                format!("{self:?} (1 ≤ m ≤ {MAX_M})"),
            ));
        }
        need("leaf_scan", "queries", q, self.queries * dim4(self.dim) * 4)?;
        need("leaf_scan", "leaves", leaves, self.queries * self.width)?;
        need(
            "leaf_scan",
            "data",
            data,
            blocked_len(self.slot1 - self.base, self.dim),
        )?;
        need(
            "leaf_scan",
            "offsets+perm",
            offsets_perm,
            self.leaves + 1 + self.slot1,
        )
    }
}

/// CPU twin of `leaf_scan` (`queries` padded, see [`pad_queries`]; `data`
/// blocked; merges with what `out` holds unless `first`).
pub fn leaf_scan_cpu(
    d: &LeafDims,
    inp: LeafInputs<&[f32], &[u32]>,
    metric: Metric,
    out: Ranked<&mut [f32], &mut [u32]>,
) -> Result<()> {
    let LeafInputs {
        queries,
        data,
        leaves,
        offsets_perm,
    } = inp;
    let Ranked {
        scores: out_scores,
        ids: out_ids,
    } = out;
    d.validate(queries.len(), data.len(), leaves.len(), offsets_perm.len())?;
    need("leaf_scan", "out", out_scores.len(), d.queries * d.m)?;
    need("leaf_scan", "out", out_ids.len(), d.queries * d.m)?;
    let p = d.dim;
    let perm = &offsets_perm[d.leaves + 1..];
    let mut cand = Vec::new();
    for q in 0..d.queries {
        cand.clear();
        if !d.first {
            for r in 0..d.m {
                let id = out_ids[q * d.m + r];
                if id != NONE {
                    cand.push((out_scores[q * d.m + r], id));
                }
            }
        }
        let p4 = dim4(p) * 4;
        let qv = &queries[q * p4..(q + 1) * p4];
        for w in 0..d.width {
            let leaf = leaves[q * d.width + w];
            if leaf == NONE {
                continue;
            }
            let leaf = leaf as usize;
            if leaf >= d.leaves {
                return Err(CrestError::shape(
                    "leaf_scan",
                    format!("leaf {leaf} of {}", d.leaves),
                ));
            }
            let lo = (offsets_perm[leaf] as usize).max(d.slot0);
            let hi = (offsets_perm[leaf + 1] as usize).min(d.slot1);
            for (slot, &gi) in perm.iter().enumerate().take(hi.max(lo)).skip(lo) {
                let row = blocked_row(data, slot - d.base, p);
                cand.push((score(qv, &row, metric), gi));
            }
        }
        write_top(&mut cand, d.m, q, out_scores, out_ids);
    }
    Ok(())
}

/// GPU `leaf_scan` (`curv` as for [`assign_gpu`]).
pub fn leaf_scan_gpu(
    gpu: &Gpu,
    d: &LeafDims,
    inp: LeafInputs<&GpuBuf, &GpuBuf>,
    metric: Metric,
    curv: &GpuBuf,
    out: Ranked<&GpuBuf, &GpuBuf>,
) -> Result<()> {
    let LeafInputs {
        queries,
        data,
        leaves,
        offsets_perm,
    } = inp;
    let Ranked {
        scores: out_scores,
        ids: out_ids,
    } = out;
    d.validate(queries.len, data.len, leaves.len, offsets_perm.len)?;
    need("leaf_scan", "out", out_scores.len, d.queries * d.m)?;
    need("leaf_scan", "out", out_ids.len, d.queries * d.m)?;
    let d4 = dim4(d.dim);
    // queries per window: a multiple of 64, so every window's offset is a
    // multiple of 1 KiB (any uniform offset alignment)
    let per = (QUERY_VEC4S / d4) / 64 * 64;
    need(
        "leaf_scan",
        "queries",
        queries.len,
        (d.queries * d4 + QUERY_VEC4S) * 4,
    )?;
    let mut q0 = 0usize;
    while q0 < d.queries {
        let rows = per.min(d.queries - q0);
        let p = Params {
            rows: rows as u32,
            row0: q0 as u32,
            dim: d.dim as u32,
            dim4: d4 as u32,
            metric: metric.code(),
            width_in: d.width as u32,
            width_out: d.m as u32,
            span: (d.leaves + 1) as u32,
            base: d.base as u32,
            slot0: d.slot0 as u32,
            slot1: d.slot1 as u32,
            first: d.first as u32,
            ..Default::default()
        };
        gpu.dispatch(
            kernel("leaf_scan"),
            &[
                Arg::Uniform(bytemuck::bytes_of(&p)),
                Arg::Unused,
                Arg::Unused,
                Arg::Buf(leaves),
                Arg::Buf(offsets_perm),
                Arg::Buf(curv),
                Arg::Buf(out_scores),
                Arg::Buf(out_ids),
                Arg::Buf(data),
                Arg::UniformBuf(queries, q0 * d4 * 4, QUERY_VEC4S * 4),
            ],
            gpu.grid_1d(rows, 1),
        )?;
        q0 += rows;
    }
    Ok(())
}
