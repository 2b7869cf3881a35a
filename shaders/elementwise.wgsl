// Element-wise kernels over a flat array of `n` floats.
// Tensors with a channel axis are viewed as [outer, channels, inner]; the
// channel of flat index i is (i / inner) % channels (inner = 1 for a row-major
// [rows, channels] matrix, inner = len for a [batch, channels, len] activation).
//   bias_add:  out[i] = x[i] + bias[channel(i)]
//   relu:      out[i] = max(x[i], 0)
//   relu_bwd:  out[i] = dy[i] if x[i] > 0 else 0     (x = relu input)
//   add:       out[i] = x[i] + other[i]

struct Params {
    n: u32,
    channels: u32,
    inner: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> other: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

fn flat_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 256u;
}

@compute @workgroup_size(256)
fn bias_add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if i >= params.n {
        return;
    }
    out[i] = x[i] + other[(i / params.inner) % params.channels];
}

@compute @workgroup_size(256)
fn relu(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if i >= params.n {
        return;
    }
    out[i] = max(x[i], 0.0);
}

@compute @workgroup_size(256)
fn relu_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if i >= params.n {
        return;
    }
    out[i] = select(0.0, other[i], x[i] > 0.0);
}

@compute @workgroup_size(256)
fn add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if i >= params.n {
        return;
    }
    out[i] = x[i] + other[i];
}
