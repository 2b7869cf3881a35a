// Nearest-neighbour index kernels: building a balanced k-means tree over
// reference k-mer embeddings, and batched beam search down it.
//
// Similarity ("score", larger is closer) of two p-vectors a, b:
//   metric 0 (cosine on unit vectors): a · b
//   metric 1 (Poincaré ball, curvature -c, c = fparam[0]):
//       -d(a, b) = -(1/√c) arcosh(1 + 2c‖a−b‖² / ((1−c‖a‖²)(1−c‖b‖²)))
//     with the conformal product clamped to ≥ 1e-15 and
//     arcosh(1 + t) = log(1 + t + sqrt(t (t + 2))).
// Vectors are read as vec4s; dimensions are padded with zeros to a multiple of
// 4 (dim4 = ⌈dim/4⌉ vec4s; zeros change no score). Centroids (`cent`) are
// row-major padded rows. Point data (the `data` chunks of assign, accumulate
// and leaf_scan) is stored "blocked": rows in blocks of 64, vec4-of-
// dimensions-major within a block,
//   vec4 (row r, dims 4j..4j+3) at ((r / 64)·dim4 + j)·64 + r % 64,
// so that neighbouring threads (neighbouring rows) read neighbouring vec4s.
// Every loop sums vec4 by vec4 in dimension order, like the CPU twin
// (src/ops/index.rs), so scores agree to float rounding.
//
// Entry points:
//   assign      one thread per point of a data chunk: scores against the B
//               centroids of its group (scores[(row0+i)·B + j]) and the first
//               best child (best[row0+i]). Groups index centroid rows g·B .. g·B+B.
//   accumulate  one workgroup per centroid c: sums[c] += Σ_m w[m]·data[m] over
//               the chunk-local members m in csr (offsets csr[0..=nc], then
//               member rows); w = fparam (tangent-space weights for Poincaré).
//   beam_step   one workgroup per query: the W_in nodes of its beam (node ids
//               at the level above, NONE = empty slot) expand to W_in·B
//               children; empty subtrees (no leaf slots) score -3e38; the
//               best W_out children (score desc, then child id asc) are written
//               to best (ids) and out (scores). W_in·B ≤ 1024.
//   leaf_scan   one workgroup per query (queries row0 .. row0 + rows, read from
//               the uniform window `qu`): exact scan of the slots of its W leaves
//               that fall in this data chunk ([slot0, slot1)); aux2 holds the
//               leaf offsets (leaves + 1 = span words) then perm (slot → grid
//               index); merges them with
//               the M results already in out/best unless `first`; result sorted
//               by score desc, then grid index (perm[slot]) asc; M ≤ 16. A grid
//               index stored in several leaves (spilled copies: same data, same
//               score) is reported once.
// Loops: llvmpipe stops an invocation's loops after 65,535 iterations in
// total (ops::LOOP_BUDGET); the host sizes chunks so that accumulate's member
// loop and leaf_scan's slot loop stay below it.

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
    // leaf_scan: first slot held by the data buffer (slot0 ≥ base)
    base: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src_a: array<f32>;
@group(0) @binding(2) var<storage, read> cent: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> aux: array<u32>;
@group(0) @binding(4) var<storage, read> aux2: array<u32>;
@group(0) @binding(5) var<storage, read> fparam: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
@group(0) @binding(7) var<storage, read_write> best: array<u32>;
@group(0) @binding(8) var<storage, read> data: array<vec4<f32>>;
// leaf_scan: a window of QU vec4s of zero-padded query rows (queries
// row0 .. row0 + rows), read through a uniform buffer: every lane of a
// workgroup reads the same query word, which CPU drivers (llvmpipe) serve as
// one broadcast load (storage reads become per-lane gathers); GPUs serve it
// from the constant cache.
@group(0) @binding(9) var<uniform> qu: array<vec4<f32>, QU>;

const NONE: u32 = 0xffffffffu;
const EMPTY: f32 = -3.0e38;
const TAKEN: f32 = -3.4e38;
const WG: u32 = 64u;
// beam children (≤ 1024) or leaf-scan candidates (64 threads × M + M)
const MAX_CHILDREN: u32 = 1040u;
const MAX_M: u32 = 16u;
const MAX_DIM4: u32 = 64u;
const QU: u32 = 4096u;

fn blk(r: u32, j: u32) -> u32 {
    return ((r / WG) * params.dim4 + j) * WG + r % WG;
}

// acc = (dot, ‖a−b‖², ‖a‖², ‖b‖²) → score
fn finish_score(acc: vec4<f32>) -> f32 {
    if params.metric == 0u {
        return acc.x;
    }
    let c = fparam[0];
    let den = max((1.0 - c * acc.z) * (1.0 - c * acc.w), 1e-15);
    let t = max(2.0 * c * acc.y / den, 0.0);
    return -log(1.0 + t + sqrt(t * (t + 2.0))) / sqrt(c);
}

fn acc_step(acc: vec4<f32>, a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
    let e = a - b;
    return acc + vec4<f32>(dot(a, b), dot(e, e), dot(a, a), dot(b, b));
}

// score(data row r, cent row c)
fn score_data_cent(r: u32, c: u32) -> f32 {
    if params.metric == 0u {
        var d0 = 0.0;
        for (var j = 0u; j < params.dim4; j++) {
            d0 += dot(data[blk(r, j)], cent[c * params.dim4 + j]);
        }
        return d0;
    }
    var acc = vec4<f32>(0.0);
    for (var j = 0u; j < params.dim4; j++) {
        acc = acc_step(acc, data[blk(r, j)], cent[c * params.dim4 + j]);
    }
    return finish_score(acc);
}

@compute @workgroup_size(64)
fn assign(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= params.rows {
        return;
    }
    let r = params.row0 + i;
    let g = aux[r];
    var top = TAKEN;
    var arg = 0u;
    for (var j = 0u; j < params.branch; j++) {
        let s = score_data_cent(i, g * params.branch + j);
        out[r * params.branch + j] = s;
        if s > top {
            top = s;
            arg = j;
        }
    }
    best[r] = arg;
}

@compute @workgroup_size(64)
fn accumulate(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = wid.x + wid.y * nwg.x;
    if c >= params.n_centroids {
        return;
    }
    let lo = aux[c];
    let hi = aux[c + 1u];
    let base = params.n_centroids + 1u;
    for (var j = lid.x; j < params.dim4; j += WG) {
        var acc = vec4<f32>(0.0);
        for (var m = lo; m < hi; m++) {
            let row = aux[base + m];
            acc += fparam[row] * data[blk(row, j)];
        }
        for (var e = 0u; e < 4u; e++) {
            let d = 4u * j + e;
            if d < params.dim {
                out[c * params.dim + d] += acc[e];
            }
        }
    }
}

var<workgroup> q_sh: array<vec4<f32>, MAX_DIM4>;
var<workgroup> sc_sh: array<f32, MAX_CHILDREN>;
var<workgroup> id_sh: array<u32, MAX_CHILDREN>;
var<workgroup> head: array<u32, MAX_CHILDREN>;
// leaf_scan: one merged list
var<private> ms: array<f32, MAX_M>;
var<private> mi: array<u32, MAX_M>;

// score(q_sh, cent row c)
fn score_q_cent(c: u32) -> f32 {
    if params.metric == 0u {
        var d0 = 0.0;
        for (var j = 0u; j < params.dim4; j++) {
            d0 += dot(q_sh[j], cent[c * params.dim4 + j]);
        }
        return d0;
    }
    var acc = vec4<f32>(0.0);
    for (var j = 0u; j < params.dim4; j++) {
        acc = acc_step(acc, q_sh[j], cent[c * params.dim4 + j]);
    }
    return finish_score(acc);
}

// query row q (row-major src_a, stride dim) into q_sh, zero-padded
// score(query ql of the uniform window, data row r)
fn score_qu_data(ql: u32, r: u32) -> f32 {
    let q0 = ql * params.dim4;
    if params.metric == 0u {
        var d0 = 0.0;
        for (var j = 0u; j < params.dim4; j++) {
            d0 += dot(qu[q0 + j], data[blk(r, j)]);
        }
        return d0;
    }
    var acc = vec4<f32>(0.0);
    for (var j = 0u; j < params.dim4; j++) {
        acc = acc_step(acc, qu[q0 + j], data[blk(r, j)]);
    }
    return finish_score(acc);
}

fn load_query(q: u32, t: u32) {
    for (var j = t; j < params.dim4; j += WG) {
        var v = vec4<f32>(0.0);
        for (var e = 0u; e < 4u; e++) {
            let d = 4u * j + e;
            if d < params.dim {
                v[e] = src_a[q * params.dim + d];
            }
        }
        q_sh[j] = v;
    }
}

// (a_s, a_i) beats (b_s, b_i): larger score, then smaller id.
fn beats(a_s: f32, a_i: u32, b_s: f32, b_i: u32) -> bool {
    return a_s > b_s || (a_s == b_s && a_i < b_i);
}

// Thread 0 merges `nl` lists of `len` entries each, sorted best first, held
// at sc_sh/id_sh[l·len ..], into the best `m`, written to out/best[q·m ..];
// missing or empty entries come out as (EMPTY, NONE). Unsorted candidates are
// lists of length 1. One thread and m·nl comparisons, no barriers: cheaper
// than m rounds of a parallel reduction on CPU drivers, and a small share of
// a query's work on GPUs.
fn merge_lists(q: u32, nl: u32, len: u32, m: u32) {
    for (var l = 0u; l < nl; l++) {
        head[l] = 0u;
    }
    var r = 0u;
    var last = NONE;
    while r < m {
        var bs = TAKEN;
        var bi = NONE;
        var bl = NONE;
        for (var l = 0u; l < nl; l++) {
            let h = head[l];
            if h >= len {
                continue;
            }
            let k = l * len + h;
            if id_sh[k] != NONE && sc_sh[k] > -1.0e30 && (bl == NONE || beats(sc_sh[k], id_sh[k], bs, bi)) {
                bs = sc_sh[k];
                bi = id_sh[k];
                bl = l;
            }
        }
        if bl == NONE {
            out[q * m + r] = EMPTY;
            best[q * m + r] = NONE;
        } else {
            head[bl] += 1u;
            // copies of one id (spilled k-mers in several leaves) are equal
            // entries, adjacent in merge order: keep the first
            if bi == last {
                continue;
            }
            out[q * m + r] = bs;
            best[q * m + r] = bi;
            last = bi;
        }
        r++;
    }
}

@compute @workgroup_size(64)
fn beam_step(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let q = wid.x + wid.y * nwg.x;
    if q >= params.rows {
        return;
    }
    let t = lid.x;
    load_query(q, t);
    workgroupBarrier();
    let n = params.width_in * params.branch;
    // thread t scores children t·len .. t·len + len and sorts its block, so
    // that one thread merges 64 sorted lists (W_out·64 comparisons, not W_out·n)
    let len = (n + WG - 1u) / WG;
    for (var i = 0u; i < len; i++) {
        let k = t * len + i;
        var s = EMPTY;
        var id = NONE;
        if k < n {
            let w = k / params.branch;
            let j = k % params.branch;
            let node = aux[q * params.width_in + w];
            if node != NONE {
                let child = node * params.branch + j;
                let size = aux2[(child + 1u) * params.span] - aux2[child * params.span];
                id = child;
                if size > 0u {
                    s = score_q_cent(child);
                }
            }
        }
        // insertion into the sorted block
        var at = t * len + i;
        while at > t * len && beats(s, id, sc_sh[at - 1u], id_sh[at - 1u]) {
            sc_sh[at] = sc_sh[at - 1u];
            id_sh[at] = id_sh[at - 1u];
            at--;
        }
        sc_sh[at] = s;
        id_sh[at] = id;
    }
    workgroupBarrier();
    if t == 0u {
        merge_lists(q, WG, len, params.width_out);
    }
}

// The best m distinct entries of two sorted lists of m (sc_sh/id_sh at a and
// b) into ms/mi, (TAKEN, NONE)-padded. Copies of one id (spilled k-mers:
// same data, same score) are adjacent in merge order: the first is kept.
fn merge_pair(a: u32, b: u32, m: u32) {
    var ha = 0u;
    var hb = 0u;
    var r = 0u;
    var last = NONE;
    while r < m {
        var s = TAKEN;
        var id = NONE;
        if ha < m && (hb >= m || !beats(sc_sh[b + hb], id_sh[b + hb], sc_sh[a + ha], id_sh[a + ha])) {
            s = sc_sh[a + ha];
            id = id_sh[a + ha];
            ha++;
        } else if hb < m {
            s = sc_sh[b + hb];
            id = id_sh[b + hb];
            hb++;
        }
        if id != NONE && id == last {
            continue;
        }
        ms[r] = s;
        mi[r] = id;
        last = id;
        r++;
    }
}

@compute @workgroup_size(64)
fn leaf_scan(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let ql = wid.x + wid.y * nwg.x;
    if ql >= params.rows {
        return;
    }
    let q = params.row0 + ql;
    let t = lid.x;
    let m = params.width_out;
    // a query none of whose leaves reach into this chunk keeps its results
    // (or gets empty ones on the first chunk) without a merge
    var reach = false;
    for (var w = 0u; w < params.width_in; w++) {
        let leaf = aux[q * params.width_in + w];
        if leaf != NONE && aux2[leaf] < params.slot1 && aux2[leaf + 1u] > params.slot0 {
            reach = true;
            break;
        }
    }
    if !reach {
        if params.first != 0u && t < m {
            out[q * m + t] = EMPTY;
            best[q * m + t] = NONE;
        }
        return;
    }
    // per-thread top-m, sorted best first; (ts, ti) mirrors its last entry
    var ls: array<f32, MAX_M>;
    var li: array<u32, MAX_M>;
    for (var r = 0u; r < MAX_M; r++) {
        ls[r] = TAKEN;
        li[r] = NONE;
    }
    var ts = TAKEN;
    var ti = NONE;
    for (var w = 0u; w < params.width_in; w++) {
        let leaf = aux[q * params.width_in + w];
        if leaf == NONE {
            continue;
        }
        let lo = max(aux2[leaf], params.slot0);
        let hi = min(aux2[leaf + 1u], params.slot1);
        for (var slot = lo + t; slot < hi; slot += WG) {
            let s = score_qu_data(ql, slot - params.base);
            if s < ts {
                continue;
            }
            let gi = aux2[params.span + slot];
            if beats(s, gi, ts, ti) {
                var r = m - 1u;
                while r > 0u && beats(s, gi, ls[r - 1u], li[r - 1u]) {
                    r--;
                }
                // a spilled copy of a k-mer this thread already holds (same
                // data, same score) sits just above r
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
        }
    }
    for (var r = 0u; r < m; r++) {
        sc_sh[t * m + r] = ls[r];
        id_sh[t * m + r] = li[r];
    }
    // the results of earlier chunks: a 65th sorted list
    if t == 0u {
        for (var r = 0u; r < m; r++) {
            let prev = params.first == 0u && best[q * m + r] != NONE;
            sc_sh[WG * m + r] = select(TAKEN, out[q * m + r], prev);
            id_sh[WG * m + r] = select(NONE, best[q * m + r], prev);
        }
    }
    workgroupBarrier();
    // pairwise merges of the 64 lists in log2(64) rounds
    for (var h = 1u; h < WG; h *= 2u) {
        let act = t % (2u * h) == 0u;
        if act {
            merge_pair(t * m, (t + h) * m, m);
        }
        workgroupBarrier();
        if act {
            for (var r = 0u; r < m; r++) {
                sc_sh[t * m + r] = ms[r];
                id_sh[t * m + r] = mi[r];
            }
        }
        workgroupBarrier();
    }
    if t == 0u {
        merge_pair(0u, WG * m, m);
        for (var r = 0u; r < m; r++) {
            let keep = mi[r] != NONE && ms[r] > -1.0e30;
            out[q * m + r] = select(EMPTY, ms[r], keep);
            best[q * m + r] = select(NONE, mi[r], keep);
        }
    }
}
