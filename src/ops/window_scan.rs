//! Window scan (see `shaders/window_scan.wgsl`): the exact scan of the leaves
//! a beam chose, with the lanes of a workgroup on queries and one window of
//! leaf-ordered data rows per dispatch, read by every lane alike. Same
//! results as `leaf_scan` (score descending, then grid index ascending,
//! copies reported once); the layout CPU adapters run fast (llvmpipe turns
//! `leaf_scan`'s per-lane storage reads into loops over the lanes).
//!
//! [`WindowPlan`] turns each query's chosen leaves into per-window entries
//! (query, row mask) and per-workgroup row bounds; [`window_scan_gpu`]
//! launches one dispatch per window in one submission; [`window_scan_cpu`]
//! is the twin.

use super::index::{dim4, pad_rows, score, Metric, Ranked, MAX_DIM, NONE};
use super::need;
use crate::error::{CrestError, Result};
use crate::gpu::{Arg, Gpu, GpuBuf, Kernel, Launch};

/// WGSL source as written (the variant for 32 vec4s per row).
pub const SOURCE: &str = include_str!("../../shaders/window_scan.wgsl");

/// The kernel compiled for rows of `dim4` vec4s (1..=64) held as `rows`:
/// the shader with its `DIM4`, `PQ_M` and `WIN` constants set, so that
/// loops over a row have a fixed trip count (a [`crate::gpu::variant`]).
pub fn kernel(dim4: usize, rows: RowCode) -> Kernel {
    let consts = [
        ("DIM4", dim4 as u32),
        ("PQ_M", rows.codes_per_row() as u32),
        ("WIN", rows.window_vec4s(dim4 * 4) as u32),
    ];
    let v = crate::gpu::variant::variant("window_scan", SOURCE, &consts);
    Kernel {
        shader: v.name,
        source: v.source,
        entry: "window_scan",
    }
}

/// What the rows of a windowed scan hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RowCode {
    /// Float rows, zero-padded to whole vec4s ([`to_windows`]).
    F32,
    /// Product-quantized rows: this many one-byte codes per row
    /// ([`codes_to_windows`]), decoded from a codebook while scored.
    Pq(usize),
}

impl RowCode {
    /// Codes per row (0 for float rows).
    pub fn codes_per_row(self) -> usize {
        match self {
            RowCode::F32 => 0,
            RowCode::Pq(m) => m,
        }
    }

    /// vec4s of one uniform window at dimension `dim`.
    pub fn window_vec4s(self, dim: usize) -> usize {
        match self {
            RowCode::F32 => WINDOW_VEC4S,
            RowCode::Pq(m) => self.window_rows(dim) * m / 16,
        }
    }

    /// Rows per window at dimension `dim`: as for float rows (a workgroup's
    /// lanes all score the rows any of them needs, so wider windows cost
    /// more), but at least 256 bytes of codes (the uniform offset alignment).
    pub fn window_rows(self, dim: usize) -> usize {
        match self {
            RowCode::F32 => window_rows(dim),
            RowCode::Pq(m) => window_rows(dim).max(256 / m.max(1)).min(MAX_WINDOW_ROWS),
        }
    }

    /// Reject a code that does not fit `dim`: m in 1..=64, a power of two
    /// whose subspaces are whole vec4s, and dim ≤ 128 (the codebook fits
    /// two uniform bindings).
    pub fn check(self, dim: usize) -> Result<()> {
        if let RowCode::Pq(m) = self {
            if !(1..=64).contains(&m)
                || !m.is_power_of_two()
                || !dim.is_multiple_of(4)
                || !(dim / 4).is_multiple_of(m)
                || dim * 256 > 2 * CODEBOOK_HALF_VEC4S * 4
            {
                return Err(CrestError::shape(
                    "window_scan",
                    format!("{m} codes per row of dimension {dim} (m a power of two, dim / m a multiple of 4, dim ≤ 128)"),
                ));
            }
        }
        Ok(())
    }
}

/// vec4s of each uniform half of a codebook (64 KiB).
pub const CODEBOOK_HALF_VEC4S: usize = 4096;

/// A codebook (`[m][256][dim / m]` floats, dim ≤ 128) as the GPU kernel
/// binds it: zero-padded to two whole uniform halves.
pub fn pad_codebook(codebook: &[f32]) -> Vec<f32> {
    let mut v = codebook.to_vec();
    v.resize(v.len().max(2 * CODEBOOK_HALF_VEC4S * 4), 0.0);
    v
}

/// Codes `[n, m]` (one byte each) as `window_scan` reads them: m bytes per
/// row, little-endian in u32 words, then one window of zeros.
pub fn codes_to_windows(codes: &[u8], m: usize) -> Vec<u32> {
    let mut bytes = codes.to_vec();
    bytes.resize(bytes.len().div_ceil(4) * 4 + MAX_WINDOW_ROWS * m, 0);
    bytes
        .chunks_exact(4)
        .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
        .collect()
}

/// The rows a CPU window scan reads.
#[derive(Clone, Copy, Debug)]
pub enum ScanRows<'a> {
    /// Float rows from [`to_windows`].
    F32(&'a [f32]),
    /// Code words from [`codes_to_windows`] and the codebook
    /// (`[m][256][dim / m]` floats).
    Pq {
        /// Code words.
        codes: &'a [u32],
        /// Codebook.
        codebook: &'a [f32],
    },
}

/// The rows a GPU window scan reads.
#[derive(Clone, Copy, Debug)]
pub enum GpuRows<'a> {
    /// Float rows from [`to_windows`].
    F32(&'a GpuBuf),
    /// Code words and codebook.
    Pq {
        /// Code words.
        codes: &'a GpuBuf,
        /// Codebook.
        codebook: &'a GpuBuf,
    },
}

impl<'a> ScanRows<'a> {
    /// Rows' words, once checked to be of the kind `rows` names (and, for
    /// codes, the codebook of its size for `dim`).
    pub(crate) fn checked_len(self, rows: RowCode, dim: usize, op: &'static str) -> Result<usize> {
        match (self, rows) {
            (ScanRows::F32(v), RowCode::F32) => Ok(v.len()),
            (ScanRows::Pq { codes, codebook }, RowCode::Pq(m)) => {
                need(op, "codebook", codebook.len(), m * 256 * (dim / m.max(1)))?;
                Ok(codes.len())
            }
            _ => Err(CrestError::shape(op, format!("rows do not match {rows:?}"))),
        }
    }

    /// Row `r` as floats (`p4` of them): a slice of the float rows, or the
    /// codes decoded into `buf`.
    pub(crate) fn row<'b>(self, rows: RowCode, r: usize, p4: usize, buf: &'b mut [f32]) -> &'b [f32]
    where
        'a: 'b,
    {
        match self {
            ScanRows::F32(v) => &v[r * p4..(r + 1) * p4],
            ScanRows::Pq { codes, codebook } => {
                decode_row(codes, codebook, rows.codes_per_row(), r, buf);
                buf
            }
        }
    }
}

/// The CPU twins' merge: what `out` holds for query `q` (its `m` slots,
/// NONE = empty) as candidates, to which the scanned rows are added.
pub(crate) fn seed_candidates(
    cand: &mut Vec<(f32, u32)>,
    out: &Ranked<&mut [f32], &mut [u32]>,
    q: usize,
    m: usize,
) {
    cand.clear();
    for r in 0..m {
        if out.ids[q * m + r] != NONE {
            cand.push((out.scores[q * m + r], out.ids[q * m + r]));
        }
    }
}

/// The twins' check that `out` holds `queries · m` results.
pub(crate) fn need_out(
    op: &'static str,
    out: &Ranked<&mut [f32], &mut [u32]>,
    n: usize,
) -> Result<()> {
    need(op, "out", out.scores.len(), n)?;
    need(op, "out", out.ids.len(), n)
}

/// What a window or list scan reads: the queries, padded (see
/// `index::pad_queries`), the leaf-ordered rows and their ids (from
/// [`ids_windows`]). `F`, `R` and `U` are the storage of floats, rows and
/// words: `&[f32]`, [`ScanRows`] and `&[u32]` for the CPU twins; `&GpuBuf`,
/// [`GpuRows`] and `&GpuBuf` on the device.
#[derive(Clone, Copy, Debug)]
pub struct ScanInputs<F, R, U> {
    /// Padded queries.
    pub queries: F,
    /// The rows scanned.
    pub data: R,
    /// Grid index of every row (NONE: never reported).
    pub ids: U,
}

/// Decode row `r` of code words into `out` (dim floats).
pub(crate) fn decode_row(codes: &[u32], codebook: &[f32], m: usize, r: usize, out: &mut [f32]) {
    let sub = out.len() / m;
    for s in 0..m {
        let byte = r * m + s;
        let c = (codes[byte / 4] >> (8 * (byte % 4))) as usize & 255;
        out[s * sub..(s + 1) * sub]
            .copy_from_slice(&codebook[(s * 256 + c) * sub..(s * 256 + c + 1) * sub]);
    }
}

/// vec4s of one window of data rows (64 KiB, the uniform binding).
pub const WINDOW_VEC4S: usize = 4096;
/// Most rows per window (the mask of an entry is 8 words).
pub const MAX_WINDOW_ROWS: usize = 256;
/// Most results per query (a beam's width, or a leaf scan's M).
pub const MAX_M: usize = 64;
/// Lanes per workgroup.
pub(crate) const WG: usize = 64;

/// Rows per window for embeddings of `dim`: as many whole rows as fill 64 KiB,
/// a multiple of 64 (so that every window starts at an aligned offset), ≤ 256.
pub fn window_rows(dim: usize) -> usize {
    ((WINDOW_VEC4S / dim4(dim)) / 64 * 64).clamp(64, MAX_WINDOW_ROWS)
}

/// Leaf-ordered rows `[n, dim]` as `window_scan` reads them: zero-padded to
/// whole vec4s, then one window of zeros (every bound window is whole).
pub fn to_windows(rows: &[f32], dim: usize) -> Vec<f32> {
    let mut v = pad_rows(rows, dim);
    v.resize(v.len() + WINDOW_VEC4S * 4, 0.0);
    v
}

/// Grid index of each leaf-ordered row (NONE: a row never reported), then
/// one window of padding.
pub fn ids_windows(perm: &[u32]) -> Vec<u32> {
    let mut v = perm.to_vec();
    v.resize(v.len() + MAX_WINDOW_ROWS, NONE);
    v
}

/// One dispatch of a plan: a window and its entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowDispatch {
    /// Window index (rows `window · rows ..` of the scanned slots).
    pub window: usize,
    /// First entry.
    pub entry0: usize,
    /// Entries.
    pub entries: usize,
    /// First workgroup bound (a pair in `bounds`).
    pub group0: usize,
}

/// Which rows of which windows each query scans.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowPlan {
    /// Rows per window.
    pub rows: usize,
    /// Words per entry: the query, then `rows / 32` mask words.
    pub stride: usize,
    /// Entries of all windows, window by window.
    pub entries: Vec<u32>,
    /// Row bounds `[lo, hi)` within the window of each workgroup's entries.
    pub bounds: Vec<u32>,
    /// One per window with entries, in window order.
    pub dispatches: Vec<WindowDispatch>,
}

impl WindowPlan {
    /// Plan the scan of slots `[s0, s1)` (the data rows, from row 0) for `nq`
    /// queries with `width` leaves each (`leaves`, NONE allowed), leaves
    /// given by `leaf_offsets` (leaves + 1 slot offsets), `rows` per window.
    pub fn new(
        leaves: &[u32],
        width: usize,
        nq: usize,
        leaf_offsets: &[u32],
        (s0, s1): (usize, usize),
        rows: usize,
    ) -> Result<Self> {
        if rows == 0 || !rows.is_multiple_of(64) || rows > MAX_WINDOW_ROWS || s1 < s0 {
            return Err(CrestError::shape(
                "window_scan",
                format!("{rows} rows per window, slots {s0}..{s1}"),
            ));
        }
        need("window_scan", "leaves", leaves.len(), nq * width)?;
        let n_leaves = leaf_offsets.len().saturating_sub(1);
        // (window, query, first row, one past the last row) of each leaf part
        let mut parts: Vec<(u32, u32, u32, u32)> = Vec::new();
        for q in 0..nq {
            for &leaf in &leaves[q * width..(q + 1) * width] {
                if leaf == NONE {
                    continue;
                }
                let l = leaf as usize;
                if l >= n_leaves {
                    return Err(CrestError::shape(
                        "window_scan",
                        format!("leaf {l} of {n_leaves}"),
                    ));
                }
                let a = (leaf_offsets[l] as usize).max(s0) - s0;
                let b = (leaf_offsets[l + 1] as usize).min(s1).saturating_sub(s0);
                let mut r = a;
                while r < b {
                    let w = r / rows;
                    let end = b.min((w + 1) * rows);
                    parts.push((
                        w as u32,
                        q as u32,
                        (r - w * rows) as u32,
                        (end - w * rows) as u32,
                    ));
                    r = end;
                }
            }
        }
        parts.sort_unstable();
        let stride = 1 + rows / 32;
        // one entry per (window, query): (window, lo, hi, query, mask)
        let mut merged: Vec<(u32, u32, u32, u32, [u32; MAX_WINDOW_ROWS / 32])> = Vec::new();
        for &(w, q, lo, hi) in &parts {
            let fresh = !matches!(merged.last(), Some(e) if e.0 == w && e.3 == q);
            if fresh {
                merged.push((w, lo, hi, q, [0; MAX_WINDOW_ROWS / 32]));
            }
            let e = merged.last_mut().expect("pushed above");
            e.1 = e.1.min(lo);
            e.2 = e.2.max(hi);
            for r in lo..hi {
                e.4[r as usize / 32] |= 1 << (r % 32);
            }
        }
        // within a window, entries by first row: a workgroup's rows stay close
        merged.sort_unstable_by_key(|e| (e.0, e.1, e.2, e.3));
        let mut plan = WindowPlan {
            rows,
            stride,
            entries: Vec::with_capacity(merged.len() * stride),
            bounds: Vec::new(),
            dispatches: Vec::new(),
        };
        let mut i = 0;
        while i < merged.len() {
            let w = merged[i].0;
            let j = i + merged[i..].iter().take_while(|e| e.0 == w).count();
            plan.dispatches.push(WindowDispatch {
                window: w as usize,
                entry0: i,
                entries: j - i,
                group0: plan.bounds.len() / 2,
            });
            for group in merged[i..j].chunks(WG) {
                plan.bounds
                    .push(group.iter().map(|e| e.1).min().unwrap_or(0));
                plan.bounds
                    .push(group.iter().map(|e| e.2).max().unwrap_or(0));
            }
            for e in &merged[i..j] {
                plan.entries.push(e.3);
                plan.entries.extend_from_slice(&e.4[..stride - 1]);
            }
            i = j;
        }
        Ok(plan)
    }

    /// Rows of data the plan reads, from row 0 (the last window's end).
    fn rows_read(&self) -> usize {
        self.dispatches
            .last()
            .map_or(0, |d| (d.window + 1) * self.rows)
    }
}

/// Shape of one window scan.
#[derive(Clone, Copy, Debug)]
pub struct WindowDims {
    /// Queries (rows of `out`).
    pub queries: usize,
    /// Embedding dimension.
    pub dim: usize,
    /// Results per query (≤ [`MAX_M`]).
    pub m: usize,
    /// What the rows hold.
    pub rows: RowCode,
}

impl WindowDims {
    /// Words of data a plan reading up to `rows_read` rows needs.
    fn data_words(&self, rows_read: usize, rows: usize) -> usize {
        let last = rows_read.saturating_sub(rows);
        match self.rows {
            RowCode::F32 => last * dim4(self.dim) * 4 + WINDOW_VEC4S * 4,
            RowCode::Pq(m) => (last * m).div_ceil(4) + MAX_WINDOW_ROWS * m / 4,
        }
    }

    fn validate(&self, plan: &WindowPlan, queries: usize, data: usize, ids: usize) -> Result<()> {
        self.rows.check(self.dim)?;
        if self.dim == 0 || self.dim > MAX_DIM || self.m == 0 || self.m > MAX_M {
            return Err(CrestError::shape(
                "window_scan",
                format!("{self:?} (dim 1..={MAX_DIM}, m 1..={MAX_M})"),
            ));
        }
        let too_wide = match self.rows {
            RowCode::F32 => plan.rows * dim4(self.dim) > WINDOW_VEC4S,
            RowCode::Pq(_) => plan.rows != self.rows.window_rows(self.dim),
        };
        if too_wide || plan.stride != 1 + plan.rows / 32 {
            return Err(CrestError::shape(
                "window_scan",
                format!("{} rows per window at dimension {}", plan.rows, self.dim),
            ));
        }
        let d4 = dim4(self.dim) * 4;
        need("window_scan", "queries", queries, self.queries * d4)?;
        let last = plan.rows_read().saturating_sub(plan.rows);
        need(
            "window_scan",
            "data",
            data,
            self.data_words(plan.rows_read(), plan.rows),
        )?;
        need("window_scan", "ids", ids, last + MAX_WINDOW_ROWS)?;
        if let Some(&q) = plan
            .entries
            .iter()
            .step_by(plan.stride)
            .find(|&&q| q as usize >= self.queries)
        {
            return Err(CrestError::shape(
                "window_scan",
                format!("entry for query {q} of {}", self.queries),
            ));
        }
        Ok(())
    }
}

/// CPU twin of `window_scan`: `inp.queries` padded rows (see
/// `index::pad_queries`), `inp.data` from [`to_windows`] or
/// [`codes_to_windows`], `inp.ids` from [`ids_windows`]; merges into what
/// `out` holds (EMPTY/NONE = nothing yet).
pub fn window_scan_cpu(
    d: &WindowDims,
    plan: &WindowPlan,
    inp: ScanInputs<&[f32], ScanRows<'_>, &[u32]>,
    metric: Metric,
    out: Ranked<&mut [f32], &mut [u32]>,
) -> Result<()> {
    let ScanInputs { queries, data, ids } = inp;
    let data_len = data.checked_len(d.rows, d.dim, "window_scan")?;
    d.validate(plan, queries.len(), data_len, ids.len())?;
    need_out("window_scan", &out, d.queries * d.m)?;
    let p4 = dim4(d.dim) * 4;
    let m = d.m;
    let mut cand = Vec::new();
    let mut decoded = vec![0f32; p4];
    for disp in &plan.dispatches {
        let row0 = disp.window * plan.rows;
        for e in 0..disp.entries {
            let at = (disp.entry0 + e) * plan.stride;
            let q = plan.entries[at] as usize;
            let mask = &plan.entries[at + 1..at + plan.stride];
            let g = disp.group0 + e / WG;
            let (lo, hi) = (plan.bounds[2 * g], plan.bounds[2 * g + 1]);
            seed_candidates(&mut cand, &out, q, m);
            let qv = &queries[q * p4..(q + 1) * p4];
            for r in lo as usize..hi as usize {
                if mask[r / 32] >> (r % 32) & 1 == 0 || ids[row0 + r] == NONE {
                    continue;
                }
                let row = data.row(d.rows, row0 + r, p4, &mut decoded);
                cand.push((score(qv, row, metric), ids[row0 + r]));
            }
            super::index::write_top(&mut cand, m, q, out.scores, out.ids);
        }
    }
    Ok(())
}

#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    entry0: u32,
    entries: u32,
    stride: u32,
    group0: u32,
    _pad0: u32,
    metric: u32,
    m: u32,
    _pad: u32,
}

/// GPU `window_scan`: one dispatch per window of the plan, in one
/// submission. `curv` holds c (Poincaré) and is bound but unread for cosine.
pub fn window_scan_gpu(
    gpu: &Gpu,
    d: &WindowDims,
    plan: &WindowPlan,
    inp: ScanInputs<&GpuBuf, GpuRows<'_>, &GpuBuf>,
    metric: Metric,
    curv: &GpuBuf,
    out: Ranked<&GpuBuf, &GpuBuf>,
) -> Result<()> {
    let ScanInputs { queries, data, ids } = inp;
    let Ranked {
        scores: out_scores,
        ids: out_ids,
    } = out;
    let (rows, codebook) = match (data, d.rows) {
        (GpuRows::F32(v), RowCode::F32) => (v, None),
        (GpuRows::Pq { codes, codebook }, RowCode::Pq(_)) => {
            // padded by pad_codebook
            need(
                "window_scan",
                "codebook",
                codebook.len,
                2 * CODEBOOK_HALF_VEC4S * 4,
            )?;
            (codes, Some(codebook))
        }
        _ => {
            return Err(CrestError::shape(
                "window_scan",
                format!("rows do not match {:?}", d.rows),
            ))
        }
    };
    d.validate(plan, queries.len, rows.len, ids.len)?;
    need("window_scan", "out", out_scores.len, d.queries * d.m)?;
    need("window_scan", "out", out_ids.len, d.queries * d.m)?;
    if plan.dispatches.is_empty() {
        return Ok(());
    }
    let entries = gpu.upload("window entries", &plan.entries)?;
    let bounds = gpu.upload("window bounds", &plan.bounds)?;
    let d4 = dim4(d.dim);
    // words of one window of rows, and of one row
    let (win_words, row_words4) = match d.rows {
        RowCode::F32 => (WINDOW_VEC4S * 4, d4 * 4 * 4),
        RowCode::Pq(m) => (plan.rows * m / 4, m),
    };
    let params: Vec<Params> = plan
        .dispatches
        .iter()
        .map(|w| Params {
            entry0: w.entry0 as u32,
            entries: w.entries as u32,
            stride: plan.stride as u32,
            group0: w.group0 as u32,
            _pad0: 0,
            metric: metric.code(),
            m: d.m as u32,
            _pad: 0,
        })
        .collect();
    let launches: Vec<Launch<'_>> = plan
        .dispatches
        .iter()
        .zip(&params)
        .map(|(w, p)| Launch {
            args: vec![
                Arg::Uniform(bytemuck::bytes_of(p)),
                // row_words4 = words per row × 4 (a Pq row is m bytes)
                Arg::UniformBuf(rows, w.window * plan.rows * row_words4 / 4, win_words),
                Arg::UniformBuf(ids, w.window * plan.rows, MAX_WINDOW_ROWS),
                Arg::Buf(queries),
                Arg::Buf(&entries),
                Arg::Buf(&bounds),
                Arg::Buf(curv),
                Arg::Buf(out_scores),
                Arg::Buf(out_ids),
                match codebook {
                    Some(cb) => Arg::UniformBuf(cb, 0, CODEBOOK_HALF_VEC4S * 4),
                    None => Arg::UniformBuf(rows, w.window * plan.rows * row_words4 / 4, win_words),
                },
                match codebook {
                    Some(cb) => {
                        Arg::UniformBuf(cb, CODEBOOK_HALF_VEC4S * 4, CODEBOOK_HALF_VEC4S * 4)
                    }
                    None => Arg::UniformBuf(rows, w.window * plan.rows * row_words4 / 4, win_words),
                },
            ],
            groups: gpu.grid_1d(w.entries, WG as u32),
        })
        .collect();
    gpu.dispatch_batch(kernel(d4, d.rows), &launches)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_merges_leaves_per_window_and_bounds_workgroups() {
        // leaves: [0,50) [50,100) [100,230) [230,300); 64 rows a window
        let offsets = [0u32, 50, 100, 230, 300];
        // query 0: leaves 0 and 2 (rows 0..50 and 100..230); query 1: leaf 1
        // and an empty slot; query 2: nothing
        let leaves = [0u32, 2, 1, NONE, NONE, NONE];
        let plan = WindowPlan::new(&leaves, 2, 3, &offsets, (0, 300), 64).unwrap();
        assert_eq!(plan.stride, 3);
        let windows: Vec<usize> = plan.dispatches.iter().map(|d| d.window).collect();
        assert_eq!(windows, vec![0, 1, 2, 3]);
        // window 0: query 0 rows 0..50, query 1 rows 50..64
        let d0 = plan.dispatches[0];
        assert_eq!(d0.entries, 2);
        let e = &plan.entries[d0.entry0 * 3..(d0.entry0 + 2) * 3];
        assert_eq!(e[0], 0);
        assert_eq!((e[1], e[2]), (u32::MAX, (1 << 18) - 1));
        assert_eq!(e[3], 1);
        assert_eq!(plan.bounds[2 * d0.group0..2 * d0.group0 + 2], [0, 64]);
        // window 1 (rows 64..128): query 1 rows 0..36, query 0 rows 36..64
        let d1 = plan.dispatches[1];
        let q_order: Vec<u32> = (0..d1.entries)
            .map(|i| plan.entries[(d1.entry0 + i) * 3])
            .collect();
        assert_eq!(q_order, vec![1, 0], "entries by first row");
        // every masked row belongs to one of the query's leaves
        let mut rows_of = vec![Vec::new(); 3];
        for d in &plan.dispatches {
            for i in 0..d.entries {
                let at = (d.entry0 + i) * 3;
                for r in 0..64 {
                    if plan.entries[at + 1 + r / 32] >> (r % 32) & 1 == 1 {
                        rows_of[plan.entries[at] as usize].push(d.window * 64 + r);
                    }
                }
            }
        }
        let want0: Vec<usize> = (0..50).chain(100..230).collect();
        assert_eq!(rows_of[0], want0);
        assert_eq!(rows_of[1], (50..100).collect::<Vec<_>>());
        assert!(rows_of[2].is_empty());
        // a slot range in the middle: rows count from s0
        let part = WindowPlan::new(&leaves, 2, 3, &offsets, (100, 230), 64).unwrap();
        assert_eq!(part.dispatches.len(), 3);
        assert!(WindowPlan::new(&[7], 1, 1, &offsets, (0, 300), 64).is_err());
        assert!(WindowPlan::new(&leaves, 2, 3, &offsets, (0, 300), 48).is_err());
    }

    #[test]
    fn variants_set_the_row_width() {
        let k = kernel(5, RowCode::F32);
        assert!(k.source.contains("\nconst DIM4: u32 = 5u;\n"));
        assert!(!k.source.contains("const DIM4: u32 = 32u;"));
        assert!(k.shader.starts_with("window_scan[DIM4=5,PQ_M=0,WIN="));
        assert_eq!(
            kernel(5, RowCode::F32).source.as_ptr(),
            k.source.as_ptr(),
            "made once"
        );
        let p = kernel(32, RowCode::Pq(16));
        assert!(p.source.contains("\nconst PQ_M: u32 = 16u;\n"));
        assert!(p.source.contains("\nconst WIN: u32 = 128u;\n"));
        assert_eq!(p.shader, "window_scan[DIM4=32,PQ_M=16,WIN=128]");
    }

    #[test]
    fn window_rows_fill_64_kib() {
        assert_eq!(window_rows(128), 128);
        assert_eq!(window_rows(256), 64);
        assert_eq!(window_rows(19), 256);
        assert_eq!(window_rows(100), 128);
    }
}
