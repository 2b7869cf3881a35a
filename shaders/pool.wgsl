// Segment mean over rows (pooling window embeddings into one embedding per
// sequence), forward and backward. One invocation per (segment, column).
//
// Rows x: [rows, d] row-major. Segment s covers rows offsets[s] ..
// offsets[s+1] (offsets: [segments + 1], non-decreasing, last = rows).
//   forward:  y[s, j]  = (1/n_s) Σ_{r in s} x[r, j]        (n_s = 0 → 0)
//   backward: dx[r, j] = dy[s, j] / n_s  for every row r of segment s
// Rows outside every segment are left untouched by the backward pass.
// Dispatch: x = ceil(d / 64), y = segments (split over y and z when the
// segment count exceeds the per-dimension limit; see `params.ygroups`).

struct Params {
    segments: u32,
    dim: u32,
    ygroups: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> offsets: array<u32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

fn segment_of(wg: vec3<u32>) -> u32 {
    return wg.z * params.ygroups + wg.y;
}

@compute @workgroup_size(64)
fn segment_mean(@builtin(global_invocation_id) gid: vec3<u32>,
                @builtin(workgroup_id) wg: vec3<u32>) {
    let s = segment_of(wg);
    let j = gid.x;
    let d = params.dim;
    if s >= params.segments || j >= d {
        return;
    }
    let a = offsets[s];
    let b = offsets[s + 1u];
    var acc = 0.0;
    for (var r = a; r < b; r++) {
        acc += src[r * d + j];
    }
    var mean = 0.0;
    if b > a {
        mean = acc / f32(b - a);
    }
    dst[s * d + j] = mean;
}

@compute @workgroup_size(64)
fn segment_mean_bwd(@builtin(global_invocation_id) gid: vec3<u32>,
                    @builtin(workgroup_id) wg: vec3<u32>) {
    let s = segment_of(wg);
    let j = gid.x;
    let d = params.dim;
    if s >= params.segments || j >= d {
        return;
    }
    let a = offsets[s];
    let b = offsets[s + 1u];
    if b <= a {
        return;
    }
    let g = src[s * d + j] / f32(b - a);
    for (var r = a; r < b; r++) {
        dst[r * d + j] = g;
    }
}
