// Split-K reduction: out[i] = alpha * sum_z partial[z * count + i] + beta * out[i].
// Used after gemm.wgsl / conv1d.wgsl ran with several K slices.

struct Params {
    count: u32,
    splits: u32,
    alpha: f32,
    beta: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> partial: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn reduce_splits(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if i >= params.count {
        return;
    }
    var s = 0.0;
    for (var z = 0u; z < params.splits; z++) {
        s += partial[z * params.count + i];
    }
    if params.beta == 0.0 {
        out[i] = params.alpha * s;
    } else {
        out[i] = params.alpha * s + params.beta * out[i];
    }
}
