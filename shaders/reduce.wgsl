// Row-wise reductions and the ops built on them, over a row-major
// [rows, cols] matrix; one 256-thread workgroup per row (rows fold into a 2-D
// grid: row = wid.x + wid.y * nwg.x). Every op reads its inputs from
// bindings 1..3 and writes binding 4.
//   row_sum:       out[r] = sum_j x[r, j]
//   row_max:       out[r] = max_j x[r, j]
//   logsumexp:     out[r] = log sum_j exp(x[r, j])        (max-shifted)
//   logsumexp_bwd: out[r, j] = g[r] * exp(x[r, j] - lse[r])   (in1 = lse, in2 = g)
//   softmax:       out[r, j] = exp(x[r, j] - lse(x[r, :]))
//   softmax_bwd:   out[r, j] = y[r, j] * (dy[r, j] - sum_k y[r, k] dy[r, k])  (x = y, in1 = dy)
//   l2norm:        out[r, j] = x[r, j] / max(|x[r, :]|, eps)
//   l2norm_bwd:    out = (dy - y (y . dy)) / |x|, y = x / |x|, when |x| > eps,
//                  else dy / eps                                      (in1 = dy)
//   channel_sum:   out[c] = sum_{o, i} x[o, c, i] for x viewed as [rows, cols, inner]
//                  (one workgroup per channel c; the bias gradient)
//   row_sumsq:     out[r] = sum_j x[r, j]^2
//   row_topk:      the params.inner largest entries of each row, in order
//                  (value descending, then index ascending), written as
//                  out[(r * inner + t) * 2] = value, [.. + 1] = bitcast index

struct Params {
    rows: u32,
    cols: u32,
    inner: u32,
    eps: f32,
    // channel_sum: 1 adds to out instead of overwriting it (split batches)
    accumulate: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> in1: array<f32>;
@group(0) @binding(3) var<storage, read> in2: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

// reduce_sum / reduce_max / `red` / WG come from workgroup_reduce.wgsl,
// prepended when the shader is built.

const NEG_BIG: f32 = -3.0e38;

fn row_lse(row: u32, lid: u32) -> f32 {
    let base = row * params.cols;
    var m = NEG_BIG;
    for (var j = lid; j < params.cols; j += WG) {
        m = max(m, x[base + j]);
    }
    m = reduce_max(lid, m);
    var s = 0.0;
    for (var j = lid; j < params.cols; j += WG) {
        s += exp(x[base + j] - m);
    }
    s = reduce_sum(lid, s);
    return m + log(s);
}

@compute @workgroup_size(256)
fn row_sum(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = wid.x + wid.y * nwg.x;
    if row >= params.rows {
        return;
    }
    let lid = lid3.x;
    var s = 0.0;
    for (var j = lid; j < params.cols; j += WG) {
        s += x[row * params.cols + j];
    }
    s = reduce_sum(lid, s);
    if lid == 0u {
        out[row] = s;
    }
}

@compute @workgroup_size(256)
fn row_max(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = wid.x + wid.y * nwg.x;
    if row >= params.rows {
        return;
    }
    let lid = lid3.x;
    var m = NEG_BIG;
    for (var j = lid; j < params.cols; j += WG) {
        m = max(m, x[row * params.cols + j]);
    }
    m = reduce_max(lid, m);
    if lid == 0u {
        out[row] = m;
    }
}

@compute @workgroup_size(256)
fn logsumexp(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = wid.x + wid.y * nwg.x;
    if row >= params.rows {
        return;
    }
    let lse = row_lse(row, lid3.x);
    if lid3.x == 0u {
        out[row] = lse;
    }
}

@compute @workgroup_size(256)
fn logsumexp_bwd(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = wid.x + wid.y * nwg.x;
    if row >= params.rows {
        return;
    }
    let lse = in1[row];
    let g = in2[row];
    for (var j = lid3.x; j < params.cols; j += WG) {
        let i = row * params.cols + j;
        out[i] = g * exp(x[i] - lse);
    }
}

@compute @workgroup_size(256)
fn softmax(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = wid.x + wid.y * nwg.x;
    if row >= params.rows {
        return;
    }
    let lse = row_lse(row, lid3.x);
    for (var j = lid3.x; j < params.cols; j += WG) {
        let i = row * params.cols + j;
        out[i] = exp(x[i] - lse);
    }
}

@compute @workgroup_size(256)
fn softmax_bwd(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = wid.x + wid.y * nwg.x;
    if row >= params.rows {
        return;
    }
    let lid = lid3.x;
    let base = row * params.cols;
    var d = 0.0;
    for (var j = lid; j < params.cols; j += WG) {
        d += x[base + j] * in1[base + j];
    }
    d = reduce_sum(lid, d);
    for (var j = lid; j < params.cols; j += WG) {
        out[base + j] = x[base + j] * (in1[base + j] - d);
    }
}

@compute @workgroup_size(256)
fn l2norm(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = wid.x + wid.y * nwg.x;
    if row >= params.rows {
        return;
    }
    let lid = lid3.x;
    let base = row * params.cols;
    var s = 0.0;
    for (var j = lid; j < params.cols; j += WG) {
        s += x[base + j] * x[base + j];
    }
    let inv = 1.0 / max(sqrt(reduce_sum(lid, s)), params.eps);
    for (var j = lid; j < params.cols; j += WG) {
        out[base + j] = x[base + j] * inv;
    }
}

@compute @workgroup_size(256)
fn l2norm_bwd(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = wid.x + wid.y * nwg.x;
    if row >= params.rows {
        return;
    }
    let lid = lid3.x;
    let base = row * params.cols;
    var s = 0.0;
    var d = 0.0;
    for (var j = lid; j < params.cols; j += WG) {
        s += x[base + j] * x[base + j];
        d += x[base + j] * in1[base + j];
    }
    let norm = sqrt(reduce_sum(lid, s));
    let xdy = reduce_sum(lid, d);
    if norm > params.eps {
        let inv = 1.0 / norm;
        // y . dy = (x . dy) / |x|
        let ydy = xdy * inv;
        for (var j = lid; j < params.cols; j += WG) {
            let y = x[base + j] * inv;
            out[base + j] = (in1[base + j] - y * ydy) * inv;
        }
    } else {
        for (var j = lid; j < params.cols; j += WG) {
            out[base + j] = in1[base + j] / params.eps;
        }
    }
}

@compute @workgroup_size(256)
fn channel_sum(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = wid.x + wid.y * nwg.x;
    if c >= params.cols {
        return;
    }
    let lid = lid3.x;
    let total = params.rows * params.inner;
    var s = 0.0;
    for (var e = lid; e < total; e += WG) {
        let o = e / params.inner;
        let i = e % params.inner;
        s += x[(o * params.cols + c) * params.inner + i];
    }
    s = reduce_sum(lid, s);
    if lid == 0u {
        if params.accumulate == 1u {
            out[c] += s;
        } else {
            out[c] = s;
        }
    }
}

@compute @workgroup_size(256)
fn row_sumsq(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = wid.x + wid.y * nwg.x;
    if row >= params.rows {
        return;
    }
    let lid = lid3.x;
    var s = 0.0;
    for (var j = lid; j < params.cols; j += WG) {
        let v = x[row * params.cols + j];
        s += v * v;
    }
    s = reduce_sum(lid, s);
    if lid == 0u {
        out[row] = s;
    }
}

var<workgroup> red_idx: array<u32, 256>;

// Whether (v, j) comes after (pv, pj) in the order value desc, index asc.
fn after(v: f32, j: u32, pv: f32, pj: u32) -> bool {
    return v < pv || (v == pv && j > pj);
}

// Whether (v, j) precedes (bv, bj).
fn before(v: f32, j: u32, bv: f32, bj: u32) -> bool {
    return v > bv || (v == bv && j < bj);
}

@compute @workgroup_size(256)
fn row_topk(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = wid.x + wid.y * nwg.x;
    if row >= params.rows {
        return;
    }
    let lid = lid3.x;
    let base = row * params.cols;
    // Previous pick; the first pass accepts everything.
    var pv = 3.0e38;
    var pj = 0xffffffffu;
    var first = true;
    for (var t = 0u; t < params.inner; t++) {
        var bv = -3.0e38;
        var bj = 0xffffffffu;
        for (var j = lid; j < params.cols; j += WG) {
            let v = x[base + j];
            if (first || after(v, j, pv, pj)) && before(v, j, bv, bj) {
                bv = v;
                bj = j;
            }
        }
        red[lid] = bv;
        red_idx[lid] = bj;
        workgroupBarrier();
        for (var st = WG / 2u; st > 0u; st >>= 1u) {
            if lid < st && before(red[lid + st], red_idx[lid + st], red[lid], red_idx[lid]) {
                red[lid] = red[lid + st];
                red_idx[lid] = red_idx[lid + st];
            }
            workgroupBarrier();
        }
        pv = red[0];
        pj = red_idx[0];
        first = false;
        workgroupBarrier();
        if lid == 0u {
            out[(row * params.inner + t) * 2u] = pv;
            out[(row * params.inner + t) * 2u + 1u] = bitcast<f32>(pj);
        }
    }
}

// row_topk_serial: as row_topk, one invocation per row with a private sorted
// list (no barriers; for many rows of modest length). params.inner ≤ 32.
@compute @workgroup_size(64)
fn row_topk_serial(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = gid.x + gid.y * nwg.x * 64u;
    if row >= params.rows {
        return;
    }
    let k = min(params.inner, 32u);
    var vals: array<f32, 32>;
    var idx: array<u32, 32>;
    var n = 0u;
    let base = row * params.cols;
    for (var j = 0u; j < params.cols; j++) {
        let v = x[base + j];
        // Later columns lose ties, so a tie never displaces a kept entry.
        if n == k && !before(v, j, vals[k - 1u], idx[k - 1u]) {
            continue;
        }
        var p = min(n, k - 1u);
        loop {
            if p == 0u || !before(v, j, vals[p - 1u], idx[p - 1u]) {
                break;
            }
            vals[p] = vals[p - 1u];
            idx[p] = idx[p - 1u];
            p -= 1u;
        }
        vals[p] = v;
        idx[p] = j;
        n = min(n + 1u, k);
    }
    for (var t = 0u; t < k; t++) {
        out[(row * params.inner + t) * 2u] = vals[t];
        out[(row * params.inner + t) * 2u + 1u] = bitcast<f32>(idx[t]);
    }
}
