// Layout changes and scaling, one invocation per element of the output:
//   transpose: x [outer, a, b] → out [outer, b, a]
//              (channels-first [batch, C, len] ↔ channels-last [batch, len, C])
//   scale:     out = alpha · x

struct Params {
    n: u32,
    a: u32,
    b: u32,
    alpha: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn flat_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 256u;
}

@compute @workgroup_size(256)
fn transpose(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if i >= params.n {
        return;
    }
    // output index i = (o, j, k) over [outer, b, a]
    let ab = params.a * params.b;
    let o = i / ab;
    let r = i % ab;
    let j = r / params.a;
    let k = r % params.a;
    out[i] = x[o * ab + k * params.b + j];
}

@compute @workgroup_size(256)
fn scale(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg);
    if i >= params.n {
        return;
    }
    out[i] = params.alpha * x[i];
}
