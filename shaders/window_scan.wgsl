// Exact scan of the leaves a beam chose, one window of leaf-ordered data rows
// per dispatch: the layout of `leaf_scan` (shaders/index.wgsl) turned
// around, for CPU adapters.
//
// `leaf_scan` gives each query a workgroup whose lanes read different data
// rows; CPU drivers (llvmpipe) turn every such storage read into a loop over
// the lanes, which made the scan ~90% of mapping time on E. coli. Here the
// lanes of a workgroup are (query, window) entries and every lane reads the
// same data row at the same time from a uniform window of rows (a broadcast
// load on CPUs, the constant cache on GPUs); each lane keeps its query in
// private registers.
//
// The host plans the scan (src/ops/index.rs, `WindowPlan`): data rows in
// slot order, row-major, zero-padded to dim4 vec4s, cut into windows of R
// rows (R a multiple of 64, ≤ 256, R·dim4 ≤ 4096). For each window, the
// queries that chose a leaf reaching into it become entries
//   entries[e·stride ..] = (query, mask words): bit r of the mask = row r of
//   the window lies in one of the query's leaves,
// ordered so that the entries of a workgroup cover nearby rows;
// bounds[2g .. 2g+2] = the rows [lo, hi) any entry of workgroup g covers. One
// dispatch per window: its rows bound at binding 1, the grid indices of its
// rows (perm) at binding 2. A query appears once per window, so each lane
// owns its query's results: it reads the M best so far from out/best (EMPTY/
// NONE = none yet), scores rows lo..hi (the loop is the same for every lane;
// rows outside its mask are skipped), and writes them back. Dispatches of one
// scan run in order (one compute pass), so a query's results pass from
// window to window.
//
// Rows of codes (product quantization, `PQ_M` > 0): the window holds PQ_M
// one-byte codes per row (little-endian in u32 words, rows back to back),
// and each row is decoded vec4 by vec4 from the codebook ([PQ_M][256][SUB4]
// vec4s: subspace s covers vec4s s·SUB4 .. s·SUB4 + SUB4 of the row) while
// it is scored. The code of a row is the same for every lane, so the
// codebook reads are the same too: the codebook (≤ 128 KiB, dim ≤ 128) is
// bound as two uniform halves, cb0 (vec4s 0 .. CB) and cb1 (CB .. 2·CB), so
// that they are broadcast loads like the float rows'. With PQ_M = 0 the
// window holds float rows (bit patterns in u32 words) and cb0/cb1 are bound
// to anything of 64 KiB (unused).
//
// Results: score desc, then grid index asc, M ≤ 64; a grid index held by
// several rows (spilled copies: same data, same score) is kept once; rows
// whose index is NONE are never results. The beam search on CPU adapters runs
// this kernel too, one level at a time: rows = the level's centroids, ids =
// child numbers (NONE for an empty subtree), "leaves" = the beam's nodes
// (their B children each), M = the beam width. Scores
// as in index.wgsl: metric 0 cosine (dot of unit vectors), metric 1
// Poincaré −d(a, b) with curvature −c, c = fparam[0]; sums run vec4 by vec4
// in dimension order like the CPU twin (ops::index::window_scan_cpu).
// Loops: ≤ R·(dim4 + 2·M + 4) + dim4 + 4·M iterations per invocation
// (R·dim4 ≤ 4096, R ≤ 256: at most ~38,000), below llvmpipe's 65,535
// (ops::LOOP_BUDGET).

struct Params {
    // first entry of this dispatch, and how many
    entry0: u32,
    entries: u32,
    // words per entry: the query, then mask words
    stride: u32,
    // first workgroup bound of this dispatch (pairs in `bounds`)
    group0: u32,
    _pad0: u32,
    metric: u32,
    m: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<uniform> win: array<vec4<u32>, WIN>;
@group(0) @binding(2) var<uniform> win_ids: array<vec4<u32>, WIN_IDS>;
@group(0) @binding(3) var<storage, read> queries: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> entries: array<u32>;
@group(0) @binding(5) var<storage, read> bounds: array<u32>;
@group(0) @binding(6) var<storage, read> fparam: array<f32>;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;
@group(0) @binding(8) var<storage, read_write> best: array<u32>;
@group(0) @binding(9) var<uniform> cb0: array<vec4<f32>, CB>;
@group(0) @binding(10) var<uniform> cb1: array<vec4<f32>, CB>;

const NONE: u32 = 0xffffffffu;
const EMPTY: f32 = -3.0e38;
const TAKEN: f32 = -3.4e38;
const WG: u32 = 64u;
// vec4s of the uniform window: a constant of each compiled variant (4096
// for float rows, 256 · PQ_M / 16 for code rows)
const WIN: u32 = 4096u;
// grid indices of at most 256 rows, four to a vec4
const WIN_IDS: u32 = 64u;
const MAX_M: u32 = 64u;
// vec4s per row: a constant of each compiled variant (the host substitutes
// this line, ops::window_scan::source), so that the dimension loops have a
// fixed trip count and the query stays in registers
const DIM4: u32 = 32u;
const MAX_MASK: u32 = 8u;
// vec4s of each codebook half (64 KiB)
const CB: u32 = 4096u;
// one-byte codes per row (0: float rows); a constant of each variant
const PQ_M: u32 = 0u;
// vec4s per subspace of a code row
const SUB4: u32 = DIM4 / max(PQ_M, 1u);

var<private> qv: array<vec4<f32>, DIM4>;
var<private> mask: array<u32, MAX_MASK>;
var<private> ls: array<f32, MAX_M>;
var<private> li: array<u32, MAX_M>;

// (a_s, a_i) beats (b_s, b_i): larger score, then smaller id.
fn beats(a_s: f32, a_i: u32, b_s: f32, b_i: u32) -> bool {
    return a_s > b_s || (a_s == b_s && a_i < b_i);
}

// score of qv against the vec4s of a row, accumulated as the metric needs:
// (dot, |a−b|², |a|², |b|²)
fn accumulate(acc: ptr<function, vec4<f32>>, j: u32, b: vec4<f32>) {
    let a = qv[j];
    if params.metric == 0u {
        (*acc).x += dot(a, b);
        return;
    }
    let e = a - b;
    *acc += vec4<f32>(dot(a, b), dot(e, e), dot(a, a), dot(b, b));
}

// score(qv, window row r)
fn score_row(r: u32) -> f32 {
    var acc = vec4<f32>(0.0);
    if PQ_M == 0u {
        for (var j = 0u; j < DIM4; j++) {
            accumulate(&acc, j, bitcast<vec4<f32>>(win[r * DIM4 + j]));
        }
    } else {
        // one code per subspace, then its SUB4 vec4s
        for (var s = 0u; s < PQ_M; s++) {
            let byte = r * PQ_M + s;
            let word = byte / 4u;
            let code = (win[word / 4u][word % 4u] >> (8u * (byte % 4u))) & 255u;
            let at = (s * 256u + code) * SUB4;
            for (var t = 0u; t < SUB4; t++) {
                var b: vec4<f32>;
                if at < CB {
                    b = cb0[at + t];
                } else {
                    b = cb1[at + t - CB];
                }
                accumulate(&acc, s * SUB4 + t, b);
            }
        }
    }
    if params.metric == 0u {
        return acc.x;
    }
    let c = fparam[0];
    let den = max((1.0 - c * acc.z) * (1.0 - c * acc.w), 1e-15);
    let t = max(2.0 * c * acc.y / den, 0.0);
    return -log(1.0 + t + sqrt(t * (t + 2.0))) / sqrt(c);
}

@compute @workgroup_size(64)
fn window_scan(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let g = wid.x + wid.y * nwg.x;
    let e = g * WG + lid.x;
    let lo = bounds[2u * (params.group0 + g)];
    let hi = bounds[2u * (params.group0 + g) + 1u];
    if e >= params.entries {
        return;
    }
    let m = params.m;
    for (var r = 0u; r < MAX_M; r++) {
        ls[r] = TAKEN;
        li[r] = NONE;
    }
    let at = (params.entry0 + e) * params.stride;
    let q = entries[at];
    for (var w = 0u; w + 1u < params.stride; w++) {
        mask[w] = entries[at + 1u + w];
    }
    for (var j = 0u; j < DIM4; j++) {
        qv[j] = queries[q * DIM4 + j];
    }
    for (var r = 0u; r < m; r++) {
        let id = best[q * m + r];
        if id != NONE {
            ls[r] = out[q * m + r];
            li[r] = id;
        }
    }
    var ts = ls[m - 1u];
    var ti = li[m - 1u];
    for (var row = lo; row < hi; row++) {
        // every lane scores the row (the same reads); lanes whose query did
        // not choose it skip the insertion
        let s = score_row(row);
        if ((mask[row / 32u] >> (row % 32u)) & 1u) == 0u || s < ts {
            continue;
        }
        let gi = win_ids[row / 4u][row % 4u];
        if gi == NONE || !beats(s, gi, ts, ti) {
            continue;
        }
        var r = m - 1u;
        while r > 0u && beats(s, gi, ls[r - 1u], li[r - 1u]) {
            r--;
        }
        // a spilled copy already held (same data, same score) sits just above r
        if r > 0u && li[r - 1u] == gi {
            continue;
        }
        for (var k = m - 1u; k > r; k--) {
            ls[k] = ls[k - 1u];
            li[k] = li[k - 1u];
        }
        ls[r] = s;
        li[r] = gi;
        ts = ls[m - 1u];
        ti = li[m - 1u];
    }
    for (var r = 0u; r < m; r++) {
        let keep = li[r] != NONE && ls[r] > -1.0e30;
        out[q * m + r] = select(EMPTY, ls[r], keep);
        best[q * m + r] = select(NONE, li[r], keep);
    }
}
