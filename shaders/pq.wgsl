// Product quantization: the nearest codebook entry of every subspace of
// every point (k-means assignment while the codebook is trained, then the
// codes of the index).
//
// Points x: [points, DIM4] vec4s (the dimension a multiple of 4). Codebook:
// [m][256][sub4] vec4s, subspace s covering vec4s s·sub4 .. s·sub4 + sub4 of
// a point (sub4 = DIM4 / m). One invocation per (subspace, point), the point
// fastest, so that the lanes of a workgroup read the same codebook rows.
// Writes codes[p·m + s] (the entry with the least squared L2 distance, the
// lowest index on ties) and dist[p·m + s] (that distance), summed vec4 by
// vec4 in dimension order like the CPU twin (ops::pq::assign_cpu).
// Loops: 256 · sub4 ≤ 16,384 iterations per invocation (sub4 ≤ 64).

struct Params {
    points: u32,
    m: u32,
    sub4: u32,
    dim4: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> codebook: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> codes: array<u32>;
@group(0) @binding(4) var<storage, read_write> dist: array<f32>;

const K: u32 = 256u;
const MAX_SUB4: u32 = 64u;

var<private> xs: array<vec4<f32>, MAX_SUB4>;

@compute @workgroup_size(64)
fn pq_assign(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = (wid.x + wid.y * nwg.x) * 64u + lid.x;
    let n = params.points;
    if i >= n * params.m {
        return;
    }
    let s = i / n;
    let p = i % n;
    let sub4 = params.sub4;
    for (var t = 0u; t < sub4; t++) {
        xs[t] = x[p * params.dim4 + s * sub4 + t];
    }
    var best = 3.4e38;
    var bc = 0u;
    for (var c = 0u; c < K; c++) {
        let c0 = (s * K + c) * sub4;
        var acc = 0.0;
        for (var t = 0u; t < sub4; t++) {
            let e = xs[t] - codebook[c0 + t];
            acc += dot(e, e);
        }
        if acc < best {
            best = acc;
            bc = c;
        }
    }
    codes[p * params.m + s] = bc;
    dist[p * params.m + s] = best;
}
