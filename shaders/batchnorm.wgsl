// Batch normalisation of [batch, channels, len] activations (BatchNorm1d).
// Channel c normalises the N = batch·len values x[b, c, l]:
//   bn_stats:      stats = (mean_c, invstd_c = 1/sqrt(var_c + eps)) with the
//                  biased variance; when params.momentum > 0 the running
//                  statistics are updated as well:
//                  rm ← (1-m)·rm + m·mean,  rv ← (1-m)·rv + m·var·N/(N-1)
//   bn_infer_stats: stats = (rm_c, 1/sqrt(rv_c + eps))   (inference)
//   bn_apply:      y = (x - mean_c)·invstd_c·γ_c + β_c
//   bn_bwd_reduce: dβ_c = Σ dy,  dγ_c = Σ dy·x̂,  x̂ = (x - mean_c)·invstd_c
//   bn_bwd_dx:     dx = γ_c·invstd_c/N · (N·dy − dβ_c − x̂·dγ_c)
// Layouts (C channels): gb [2·C] (γ, then β: one parameter tensor), stats
// [2·C] (means, then inverse deviations), running [2·C] (means, then
// variances), grads [2·C] (dγ, then dβ, the gradient of gb). The reductions run one
// workgroup of 256 per channel (two passes: mean, then centred variance);
// the element-wise passes one invocation per element.
// workgroup_reduce.wgsl is prepended when the shader is built.

struct Params {
    batch: u32,
    channels: u32,
    len: u32,
    n: u32,
    eps: f32,
    momentum: f32,
    _p0: u32,
    _p1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> gb: array<f32>;
@group(0) @binding(4) var<storage, read> sums: array<f32>;
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;
@group(0) @binding(6) var<storage, read_write> running: array<f32>;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;

fn at(c: u32, j: u32) -> u32 {
    // j-th value of channel c: batch j / len, position j % len
    return (j / params.len) * params.channels * params.len + c * params.len + j % params.len;
}

@compute @workgroup_size(256)
fn bn_stats(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let c = wg.x;
    let lid = lid3.x;
    let total = params.batch * params.len;
    var s = 0.0;
    for (var j = lid; j < total; j += WG) {
        s += x[at(c, j)];
    }
    let mean = reduce_sum(lid, s) / f32(total);
    var q = 0.0;
    for (var j = lid; j < total; j += WG) {
        let d = x[at(c, j)] - mean;
        q += d * d;
    }
    let var_b = reduce_sum(lid, q) / f32(total);
    if lid == 0u {
        stats[c] = mean;
        stats[params.channels + c] = 1.0 / sqrt(var_b + params.eps);
        if params.momentum > 0.0 {
            let m = params.momentum;
            let unbiased = var_b * f32(total) / f32(max(total, 2u) - 1u);
            running[c] = (1.0 - m) * running[c] + m * mean;
            running[params.channels + c] = (1.0 - m) * running[params.channels + c] + m * unbiased;
        }
    }
}

@compute @workgroup_size(64)
fn bn_infer_stats(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= params.channels {
        return;
    }
    stats[c] = running[c];
    stats[params.channels + c] = 1.0 / sqrt(running[params.channels + c] + params.eps);
}

fn flat_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 256u;
}

@compute @workgroup_size(256)
fn bn_apply(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if i >= params.n {
        return;
    }
    let c = (i / params.len) % params.channels;
    out[i] = (x[i] - stats[c]) * stats[params.channels + c] * gb[c] + gb[params.channels + c];
}

@compute @workgroup_size(256)
fn bn_bwd_reduce(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let c = wg.x;
    let lid = lid3.x;
    let total = params.batch * params.len;
    let mean = stats[c];
    let inv = stats[params.channels + c];
    var sb = 0.0;
    var sg = 0.0;
    for (var j = lid; j < total; j += WG) {
        let i = at(c, j);
        sb += dy[i];
        sg += dy[i] * (x[i] - mean) * inv;
    }
    let db = reduce_sum(lid, sb);
    let dg = reduce_sum(lid, sg);
    if lid == 0u {
        out[c] = dg;
        out[params.channels + c] = db;
    }
}

// bn_bwd_dx reads the per-channel sums written by bn_bwd_reduce (dγ, dβ).
@compute @workgroup_size(256)
fn bn_bwd_dx(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if i >= params.n {
        return;
    }
    let c = (i / params.len) % params.channels;
    let total = f32(params.batch * params.len);
    let inv = stats[params.channels + c];
    let xh = (x[i] - stats[c]) * inv;
    let dg = sums[c];
    let db = sums[params.channels + c];
    out[i] = gb[c] * inv / total * (total * dy[i] - db - xh * dg);
}
