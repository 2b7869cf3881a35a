//! List scan (see `shaders/list_scan.wgsl`): the exact scan of the leaves a
//! beam chose, leaf-major, the layout for GPUs. Each leaf (an inverted list,
//! in FAISS's words) is read once for all the queries that chose it: a
//! workgroup per (leaf piece, ≤ 64 queries), a lane per query, every lane on
//! the same row at the same time. Same results as `window_scan` and
//! `leaf_scan` (score descending, then grid index ascending, copies reported
//! once), over the same rows as `window_scan` (`to_windows`,
//! `codes_to_windows`, `ids_windows`).
//!
//! [`ListPlan`] gives every (query, leaf piece) pair a pass such that a query
//! is in at most one item of a pass, so that its lane owns its results while
//! the pass runs; [`list_scan_gpu`] launches one dispatch per pass in one
//! compute pass (a few dozen per search, where the windowed scan launches one
//! per window of 128 rows: 10⁵ on a 100 Mbp genome); [`list_scan_cpu`] is its
//! twin.

use super::index::{dim4, score, write_top, Metric, Ranked, MAX_DIM, NONE};
use super::need;
use super::window_scan::{
    need_out, seed_candidates, GpuRows, RowCode, ScanInputs, ScanRows, MAX_M,
};
use crate::error::{CrestError, Result};
use crate::gpu::{Arg, Gpu, GpuBuf, Kernel, Launch};

/// WGSL source as written (the variant for 32 vec4s per float row).
pub const SOURCE: &str = include_str!("../../shaders/list_scan.wgsl");

/// Words the device buffer of a plan holds at least (256 KiB): plans of
/// small batches share one pooled size class whatever their size.
const PLAN_MIN_WORDS: usize = 1 << 16;

/// Queries per work item (lanes per workgroup).
pub(crate) const WG: usize = 64;

/// The kernel compiled for rows of `dim4` vec4s held as `rows` (the shader
/// with its `DIM4` and `PQ_M` constants set); made once per process.
pub fn kernel(dim4: usize, rows: RowCode) -> Kernel {
    let consts = [("DIM4", dim4 as u32), ("PQ_M", rows.codes_per_row() as u32)];
    let v = crate::gpu::variant::variant("list_scan", SOURCE, &consts);
    Kernel {
        shader: v.name,
        source: v.source,
        entry: "list_scan",
    }
}

/// Most rows one work item scans: what keeps an invocation within half of
/// [`super::LOOP_BUDGET`] at dimension `dim` with `m` results (the kernel's
/// loop count, see the shader header), a multiple of 16, at least 16.
pub fn piece_rows(dim: usize, rows: RowCode, m: usize) -> usize {
    let d4 = dim4(dim);
    let per_row = d4 + rows.codes_per_row() + 2 * m + 4;
    let budget = (super::LOOP_BUDGET / 2).saturating_sub(d4 + 4 * m);
    (budget / per_row / 16 * 16).max(16)
}

/// Which rows each query scans, as passes of work items.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListPlan {
    /// Four words per work item: first row, one past the last row (of the
    /// scanned slots, from row 0), first entry, entries (≤ 64).
    pub items: Vec<u32>,
    /// Query numbers, item by item.
    pub entries: Vec<u32>,
    /// (first item, items) of each pass, in order.
    pub passes: Vec<(usize, usize)>,
}

impl ListPlan {
    /// Plan the scan of slots `[s0, s1)` (the data rows, from row 0) for `nq`
    /// queries with `width` leaves each (`leaves`, NONE allowed; a leaf
    /// named twice by one query is scanned once), leaves given by
    /// `leaf_offsets` (leaves + 1 slot offsets), leaves cut into pieces of
    /// at most `piece` rows.
    ///
    /// Passes are given greedily, largest pieces (most queries) first: a
    /// piece's queries all take the first pass none of them is in yet, so a
    /// piece is one work item per 64 queries in one pass.
    pub fn new(
        leaves: &[u32],
        width: usize,
        nq: usize,
        leaf_offsets: &[u32],
        (s0, s1): (usize, usize),
        piece: usize,
    ) -> Result<Self> {
        if piece == 0 || s1 < s0 {
            return Err(CrestError::shape(
                "list_scan",
                format!("{piece} rows per piece, slots {s0}..{s1}"),
            ));
        }
        need("list_scan", "leaves", leaves.len(), nq * width)?;
        let n_leaves = leaf_offsets.len().saturating_sub(1);
        // (piece start row, piece end row, query) of every pair
        let mut pairs: Vec<(u32, u32, u32)> = Vec::new();
        let mut mine: Vec<u32> = Vec::with_capacity(width);
        for q in 0..nq {
            mine.clear();
            mine.extend(
                leaves[q * width..(q + 1) * width]
                    .iter()
                    .copied()
                    .filter(|&l| l != NONE),
            );
            mine.sort_unstable();
            mine.dedup();
            for &leaf in &mine {
                let l = leaf as usize;
                if l >= n_leaves {
                    return Err(CrestError::shape(
                        "list_scan",
                        format!("leaf {l} of {n_leaves}"),
                    ));
                }
                let a = (leaf_offsets[l] as usize).max(s0) - s0;
                let b = (leaf_offsets[l + 1] as usize).min(s1).saturating_sub(s0);
                let mut r = a;
                while r < b {
                    let end = b.min(r + piece);
                    pairs.push((r as u32, end as u32, q as u32));
                    r = end;
                }
            }
        }
        pairs.sort_unstable();
        // pieces: (lo, hi, first pair, pairs), most queries first
        let mut pieces: Vec<(u32, u32, usize, usize)> = Vec::new();
        let mut i = 0;
        while i < pairs.len() {
            let (lo, hi, _) = pairs[i];
            let j = i + pairs[i..]
                .iter()
                .take_while(|p| p.0 == lo && p.1 == hi)
                .count();
            pieces.push((lo, hi, i, j - i));
            i = j;
        }
        pieces.sort_by(|a, b| b.3.cmp(&a.3).then(a.0.cmp(&b.0)));
        // passes each query is in, as bit sets of `words` u64 words
        let mut words = 1usize;
        let mut used = vec![0u64; nq];
        let mut union = Vec::new();
        // (pass, piece) of every group
        let mut groups: Vec<(usize, usize)> = Vec::with_capacity(pieces.len());
        for (pi, &(_, _, first, count)) in pieces.iter().enumerate() {
            let qs = &pairs[first..first + count];
            union.clear();
            union.resize(words, 0u64);
            for &(_, _, q) in qs {
                for (u, w) in union.iter_mut().zip(&used[q as usize * words..]) {
                    *u |= w;
                }
            }
            let pass = match union.iter().position(|&u| u != u64::MAX) {
                Some(w) => w * 64 + union[w].trailing_ones() as usize,
                None => {
                    // every pass taken by one of them: one more word of passes
                    let mut grown = vec![0u64; nq * (words + 1)];
                    for q in 0..nq {
                        grown[q * (words + 1)..q * (words + 1) + words]
                            .copy_from_slice(&used[q * words..(q + 1) * words]);
                    }
                    used = grown;
                    words += 1;
                    (words - 1) * 64
                }
            };
            for &(_, _, q) in qs {
                used[q as usize * words + pass / 64] |= 1 << (pass % 64);
            }
            groups.push((pass, pi));
        }
        // within a pass, items by first row (neighbouring rows run together)
        groups.sort_by_key(|&(pass, pi)| (pass, pieces[pi].0, pieces[pi].1));
        let mut plan = ListPlan {
            items: Vec::new(),
            entries: Vec::with_capacity(pairs.len()),
            passes: Vec::new(),
        };
        for &(pass, pi) in &groups {
            let (lo, hi, first, count) = pieces[pi];
            if plan.passes.len() <= pass {
                let item0 = plan.items.len() / 4;
                plan.passes.resize(pass + 1, (item0, 0));
            }
            for chunk in pairs[first..first + count].chunks(WG) {
                plan.items.extend_from_slice(&[
                    lo,
                    hi,
                    plan.entries.len() as u32,
                    chunk.len() as u32,
                ]);
                plan.entries.extend(chunk.iter().map(|p| p.2));
                plan.passes[pass].1 += 1;
            }
        }
        plan.passes.retain(|p| p.1 > 0);
        Ok(plan)
    }

    /// Work items of the plan.
    pub fn n_items(&self) -> usize {
        self.items.len() / 4
    }

    /// Rows of data the plan reads, from row 0.
    pub fn rows_read(&self) -> usize {
        self.items
            .chunks_exact(4)
            .map(|it| it[1] as usize)
            .max()
            .unwrap_or(0)
    }

    /// Rows scored, summed over lanes with a query: the scan's work.
    pub fn rows_scored(&self) -> usize {
        self.items
            .chunks_exact(4)
            .map(|it| (it[1] - it[0]) as usize * it[3] as usize)
            .sum()
    }
}

/// Shape of one list scan.
#[derive(Clone, Copy, Debug)]
pub struct ListDims {
    /// Queries (rows of `out`).
    pub queries: usize,
    /// Embedding dimension.
    pub dim: usize,
    /// Results per query (≤ [`MAX_M`]).
    pub m: usize,
    /// What the rows hold.
    pub rows: RowCode,
}

impl ListDims {
    /// Reject shapes and plans the kernel cannot run over `data` words and
    /// `ids` rows.
    fn validate(&self, plan: &ListPlan, queries: usize, data: usize, ids: usize) -> Result<()> {
        self.rows.check(self.dim)?;
        if self.dim == 0 || self.dim > MAX_DIM || self.m == 0 || self.m > MAX_M {
            return Err(CrestError::shape(
                "list_scan",
                format!("{self:?} (dim 1..={MAX_DIM}, m 1..={MAX_M})"),
            ));
        }
        let d4 = dim4(self.dim);
        need("list_scan", "queries", queries, self.queries * d4 * 4)?;
        let rows = plan.rows_read();
        let words = match self.rows {
            RowCode::F32 => rows * d4 * 4,
            RowCode::Pq(m) => (rows * m).div_ceil(4),
        };
        need("list_scan", "data", data, words)?;
        need("list_scan", "ids", ids, rows)?;
        let piece = piece_rows(self.dim, self.rows, self.m);
        for it in plan.items.chunks_exact(4) {
            let (lo, hi, e0, n) = (it[0], it[1], it[2] as usize, it[3] as usize);
            if hi < lo || (hi - lo) as usize > piece || n > WG || e0 + n > plan.entries.len() {
                return Err(CrestError::shape(
                    "list_scan",
                    format!(
                        "work item rows {lo}..{hi}, entries {e0}+{n} (≤ {piece} rows, ≤ {WG} queries)"
                    ),
                ));
            }
        }
        if let Some(&q) = plan.entries.iter().find(|&&q| q as usize >= self.queries) {
            return Err(CrestError::shape(
                "list_scan",
                format!("entry for query {q} of {}", self.queries),
            ));
        }
        Ok(())
    }
}

/// CPU twin of `list_scan`: `inp` as for the windowed scan; merges into
/// what `out` holds (EMPTY/NONE = nothing yet).
pub fn list_scan_cpu(
    d: &ListDims,
    plan: &ListPlan,
    inp: ScanInputs<&[f32], ScanRows<'_>, &[u32]>,
    metric: Metric,
    out: Ranked<&mut [f32], &mut [u32]>,
) -> Result<()> {
    let ScanInputs { queries, data, ids } = inp;
    let data_len = data.checked_len(d.rows, d.dim, "list_scan")?;
    d.validate(plan, queries.len(), data_len, ids.len())?;
    need_out("list_scan", &out, d.queries * d.m)?;
    let p4 = dim4(d.dim) * 4;
    let m = d.m;
    let mut cand = Vec::new();
    let mut decoded = vec![0f32; p4];
    for it in plan.items.chunks_exact(4) {
        let (lo, hi) = (it[0] as usize, it[1] as usize);
        let (e0, n) = (it[2] as usize, it[3] as usize);
        for &q in &plan.entries[e0..e0 + n] {
            let q = q as usize;
            seed_candidates(&mut cand, &out, q, m);
            let qv = &queries[q * p4..(q + 1) * p4];
            for (r, &id) in ids.iter().enumerate().take(hi).skip(lo) {
                if id == NONE {
                    continue;
                }
                let row = data.row(d.rows, r, p4, &mut decoded);
                cand.push((score(qv, row, metric), id));
            }
            write_top(&mut cand, m, q, out.scores, out.ids);
        }
    }
    Ok(())
}

#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    item0: u32,
    items: u32,
    metric: u32,
    m: u32,
    c: f32,
    entry0: u32,
    _pad0: u32,
    _pad1: u32,
}

/// GPU `list_scan`: one dispatch per pass of the plan, in one compute pass.
pub fn list_scan_gpu(
    gpu: &Gpu,
    d: &ListDims,
    plan: &ListPlan,
    inp: ScanInputs<&GpuBuf, GpuRows<'_>, &GpuBuf>,
    metric: Metric,
    out: Ranked<&GpuBuf, &GpuBuf>,
) -> Result<()> {
    let ScanInputs { queries, data, ids } = inp;
    let Ranked {
        scores: out_scores,
        ids: out_ids,
    } = out;
    let (rows, codebook) = match (data, d.rows) {
        (GpuRows::F32(v), RowCode::F32) => (v, None),
        (GpuRows::Pq { codes, codebook }, RowCode::Pq(m)) => {
            need("list_scan", "codebook", codebook.len, m * 256 * (d.dim / m))?;
            (codes, Some(codebook))
        }
        _ => {
            return Err(CrestError::shape(
                "list_scan",
                format!("rows do not match {:?}", d.rows),
            ))
        }
    };
    d.validate(plan, queries.len, rows.len, ids.len)?;
    need("list_scan", "out", out_scores.len, d.queries * d.m)?;
    need("list_scan", "out", out_ids.len, d.queries * d.m)?;
    if plan.passes.is_empty() {
        return Ok(());
    }
    // work items, then entries
    let mut words = plan.items.clone();
    words.extend_from_slice(&plan.entries);
    let plan_buf = gpu.upload_sized("list plan", &words, PLAN_MIN_WORDS)?;
    let c = match metric {
        Metric::Cosine => 0.0,
        Metric::Poincare(c) => c,
    };
    let params: Vec<Params> = plan
        .passes
        .iter()
        .map(|&(item0, n)| Params {
            item0: item0 as u32,
            items: n as u32,
            metric: metric.code(),
            m: d.m as u32,
            c,
            entry0: plan.items.len() as u32,
            _pad0: 0,
            _pad1: 0,
        })
        .collect();
    let launches: Vec<Launch<'_>> = plan
        .passes
        .iter()
        .zip(&params)
        .map(|(&(_, n), p)| Launch {
            args: vec![
                Arg::Uniform(bytemuck::bytes_of(p)),
                Arg::Buf(rows),
                Arg::Buf(ids),
                Arg::Buf(queries),
                Arg::Buf(&plan_buf),
                Arg::Buf(out_scores),
                Arg::Buf(out_ids),
                // float rows: bound to anything (unused)
                Arg::Buf(codebook.unwrap_or(ids)),
            ],
            groups: gpu.grid_1d(n * WG, WG as u32),
        })
        .collect();
    gpu.dispatch_batch(kernel(dim4(d.dim), d.rows), &launches)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every query's rows, from a plan: (query, row) pairs sorted.
    fn rows_of(plan: &ListPlan) -> Vec<(u32, u32)> {
        let mut v = Vec::new();
        for it in plan.items.chunks_exact(4) {
            for &q in &plan.entries[it[2] as usize..(it[2] + it[3]) as usize] {
                v.extend((it[0]..it[1]).map(|r| (q, r)));
            }
        }
        v.sort_unstable();
        v
    }

    #[test]
    fn plan_covers_each_leaf_once_per_query_and_a_query_once_per_pass() {
        // leaves: [0,50) [50,100) [100,230) [230,300)
        let offsets = [0u32, 50, 100, 230, 300];
        // query 0: leaves 0 and 2; query 1: leaf 1, twice; query 2: nothing;
        // query 3: leaves 2 and 0 (shares both with query 0)
        let leaves = [0u32, 2, 1, 1, NONE, NONE, 2, 0];
        let plan = ListPlan::new(&leaves, 2, 4, &offsets, (0, 300), 64).unwrap();
        let want: Vec<(u32, u32)> = (0..50)
            .chain(100..230)
            .map(|r| (0, r))
            .chain((50..100).map(|r| (1, r)))
            .chain((0..50).chain(100..230).map(|r| (3, r)))
            .collect();
        let mut want = want;
        want.sort_unstable();
        assert_eq!(rows_of(&plan), want);
        // leaf 2 is cut into pieces of ≤ 64 rows: 64 + 64 + 2
        assert!(plan
            .items
            .chunks_exact(4)
            .all(|it| it[1] - it[0] <= 64 && it[1] > it[0]));
        // queries 0 and 3 share every piece's work item
        assert!(plan
            .items
            .chunks_exact(4)
            .all(|it| it[3] == 2 || it[3] == 1));
        assert_eq!(plan.n_items(), 5, "4 pieces of leaves 0 and 2, 1 of leaf 1");
        for &(i0, n) in &plan.passes {
            let mut qs: Vec<u32> = plan.items[4 * i0..4 * (i0 + n)]
                .chunks_exact(4)
                .flat_map(|it| plan.entries[it[2] as usize..(it[2] + it[3]) as usize].to_vec())
                .collect();
            let k = qs.len();
            qs.sort_unstable();
            qs.dedup();
            assert_eq!(qs.len(), k, "a query twice in one pass");
        }
        // 4 pieces for queries 0 and 3: 4 passes, leaf 1 shares the first
        assert_eq!(plan.passes.len(), 4);
        assert_eq!(plan.rows_scored(), 2 * 180 + 50);
        // a slot range in the middle: rows count from s0
        let part = ListPlan::new(&leaves, 2, 4, &offsets, (100, 230), 64).unwrap();
        assert_eq!(part.rows_read(), 130);
        assert!(ListPlan::new(&[7], 1, 1, &offsets, (0, 300), 64).is_err());
        assert!(ListPlan::new(&leaves, 2, 4, &offsets, (0, 300), 0).is_err());
    }

    #[test]
    fn more_than_64_queries_on_a_piece_take_several_items_of_one_pass() {
        let offsets = [0u32, 10, 20];
        let nq = 150;
        let leaves: Vec<u32> = (0..nq as u32).flat_map(|_| [0, 1]).collect();
        let plan = ListPlan::new(&leaves, 2, nq, &offsets, (0, 20), 16).unwrap();
        // two leaves of 150 queries each: 3 items per leaf, 2 passes
        assert_eq!(plan.passes.len(), 2);
        assert_eq!(plan.n_items(), 6);
        assert_eq!(plan.entries.len(), 300);
        // many passes are grown past 64
        let offsets: Vec<u32> = (0..=100).map(|l| l * 4).collect();
        let leaves: Vec<u32> = (0..100).collect();
        let plan = ListPlan::new(&leaves, 100, 1, &offsets, (0, 400), 16).unwrap();
        assert_eq!(plan.passes.len(), 100);
        assert_eq!(rows_of(&plan).len(), 400);
    }

    #[test]
    fn pieces_keep_invocations_within_the_loop_budget() {
        for (dim, rows, m) in [
            (128, RowCode::F32, 64),
            (128, RowCode::Pq(16), 64),
            (256, RowCode::F32, 64),
            (19, RowCode::F32, 7),
        ] {
            let p = piece_rows(dim, rows, m);
            let d4 = dim4(dim);
            let trips = p * (d4 + rows.codes_per_row() + 2 * m + 4) + d4 + 4 * m;
            assert!(
                trips <= super::super::LOOP_BUDGET / 2,
                "{dim} {rows:?}: {p}"
            );
            assert!(p >= 16 && p.is_multiple_of(16));
        }
        assert_eq!(piece_rows(128, RowCode::Pq(16), 64), 176);
    }

    #[test]
    fn variants_set_the_row_width() {
        let k = kernel(5, RowCode::F32);
        assert!(k.source.contains("\nconst DIM4: u32 = 5u;\n"));
        assert!(!k.source.contains("const DIM4: u32 = 32u;"));
        assert_eq!(k.shader, "list_scan[DIM4=5,PQ_M=0]");
        let p = kernel(32, RowCode::Pq(16));
        assert!(p.source.contains("\nconst PQ_M: u32 = 16u;\n"));
        assert_eq!(p.shader, "list_scan[DIM4=32,PQ_M=16]");
    }
}
