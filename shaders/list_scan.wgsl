// Leaf-major ("inverted list") scan of the leaves a beam chose: the layout
// for GPUs. FAISS's GPU IVF scans each inverted list for all the queries that
// probe it; so does this kernel, with the tree's leaves as the lists.
//
// The host plans the scan (src/ops/list_scan.rs, `ListPlan`): every (query,
// leaf) pair of the beam, leaves cut into pieces of at most P rows, is given
// a pass such that a query appears at most once per pass, and the queries of
// one piece in one pass share a work item:
//   plan[4·i ..] = (lo, hi, first entry, count): rows [lo, hi) of the
//   scanned slots and `count` ≤ 64 query numbers at plan[entry0 + first ..]
//   (work items, then entries, in one buffer).
// One workgroup per item, one lane per query; one dispatch per pass, all
// passes in one compute pass (in order), so a query's results pass from
// pass to pass: each lane reads its query's M best so far from out/best
// (EMPTY/NONE = none yet), scores the rows of its piece and writes them back.
// Every lane of a workgroup reads the same row at the same time (a broadcast
// load on GPUs: the row is read once for all queries of the piece, which is
// what makes the scan batch-major) and keeps its query in registers.
//
// Rows are those of the windowed scan (ops::window_scan: `to_windows` /
// `codes_to_windows`, bound whole as storage words): float rows of DIM4
// vec4s (bit patterns in u32 words), or with PQ_M > 0 rows of PQ_M one-byte
// codes (little-endian in u32 words, rows back to back) decoded vec4 by vec4
// from the codebook ([PQ_M][256][SUB4] vec4s) while scored. ids = the grid
// index of every row (NONE: never a result).
//
// Results: score desc, then grid index asc, M ≤ 64; a grid index held by
// several rows (spilled copies: same data, same score) is kept once. Scores
// as in index.wgsl: metric 0 cosine (dot of unit vectors), metric 1 Poincaré
// −d(a, b) with curvature −c (params.c); sums run vec4 by vec4 in
// dimension order like the CPU twin (ops::list_scan::list_scan_cpu).
// Loops: ≤ P·(DIM4 + PQ_M + 2·M + 4) + DIM4 + 4·M iterations per
// invocation, kept below llvmpipe's 65,535 by the host's piece size P
// (ops::list_scan::piece_rows).

struct Params {
    // first item of this pass, and how many
    item0: u32,
    items: u32,
    metric: u32,
    m: u32,
    // curvature (metric 1)
    c: f32,
    // where the entries start in `plan`
    entry0: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> data: array<u32>;
@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read> queries: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> plan: array<u32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read_write> best: array<u32>;
@group(0) @binding(7) var<storage, read> codebook: array<vec4<f32>>;

const NONE: u32 = 0xffffffffu;
const EMPTY: f32 = -3.0e38;
const TAKEN: f32 = -3.4e38;
const WG: u32 = 64u;
const MAX_M: u32 = 64u;
// vec4s per row: a constant of each compiled variant (the host substitutes
// this line, ops::list_scan::kernel), so that the dimension loops have a
// fixed trip count and the query stays in registers
const DIM4: u32 = 32u;
// one-byte codes per row (0: float rows); a constant of each variant
const PQ_M: u32 = 0u;
// vec4s per subspace of a code row
const SUB4: u32 = DIM4 / max(PQ_M, 1u);

var<private> qv: array<vec4<f32>, DIM4>;
var<private> ls: array<f32, MAX_M>;
var<private> li: array<u32, MAX_M>;

// (a_s, a_i) beats (b_s, b_i): larger score, then smaller id.
fn beats(a_s: f32, a_i: u32, b_s: f32, b_i: u32) -> bool {
    return a_s > b_s || (a_s == b_s && a_i < b_i);
}

// (dot, |a−b|², |a|², |b|²) accumulated as the metric needs
fn accumulate(acc: ptr<function, vec4<f32>>, j: u32, b: vec4<f32>) {
    let a = qv[j];
    if params.metric == 0u {
        (*acc).x += dot(a, b);
        return;
    }
    let e = a - b;
    *acc += vec4<f32>(dot(a, b), dot(e, e), dot(a, a), dot(b, b));
}

// score(qv, row r)
fn score_row(r: u32) -> f32 {
    var acc = vec4<f32>(0.0);
    if PQ_M == 0u {
        for (var j = 0u; j < DIM4; j++) {
            let w = (r * DIM4 + j) * 4u;
            let b = vec4<u32>(data[w], data[w + 1u], data[w + 2u], data[w + 3u]);
            accumulate(&acc, j, bitcast<vec4<f32>>(b));
        }
    } else {
        // one code per subspace, then its SUB4 vec4s
        for (var s = 0u; s < PQ_M; s++) {
            let byte = r * PQ_M + s;
            let code = (data[byte / 4u] >> (8u * (byte % 4u))) & 255u;
            let at = (s * 256u + code) * SUB4;
            for (var t = 0u; t < SUB4; t++) {
                accumulate(&acc, s * SUB4 + t, codebook[at + t]);
            }
        }
    }
    if params.metric == 0u {
        return acc.x;
    }
    let c = params.c;
    let den = max((1.0 - c * acc.z) * (1.0 - c * acc.w), 1e-15);
    let t = max(2.0 * c * acc.y / den, 0.0);
    return -log(1.0 + t + sqrt(t * (t + 2.0))) / sqrt(c);
}

@compute @workgroup_size(64)
fn list_scan(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let g = wid.x + wid.y * nwg.x;
    if g >= params.items {
        return;
    }
    let at = 4u * (params.item0 + g);
    let lo = plan[at];
    let hi = plan[at + 1u];
    let e0 = params.entry0 + plan[at + 2u];
    let count = plan[at + 3u];
    if lid.x >= count {
        return;
    }
    let m = params.m;
    for (var r = 0u; r < MAX_M; r++) {
        ls[r] = TAKEN;
        li[r] = NONE;
    }
    let q = plan[e0 + lid.x];
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
        let s = score_row(row);
        if s < ts {
            continue;
        }
        let gi = ids[row];
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
