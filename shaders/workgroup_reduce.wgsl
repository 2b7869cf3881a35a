// Workgroup-wide reductions over 256 invocations, shared by reduce.wgsl and
// loss.wgsl (prepended to them when they are built; not a shader on its own).
// Call from uniform control flow with lid = local_invocation_id.x; every
// invocation gets the result.

const WG: u32 = 256u;
var<workgroup> red: array<f32, 256>;

fn reduce_sum(lid: u32, v: f32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    for (var st = WG / 2u; st > 0u; st >>= 1u) {
        if lid < st {
            red[lid] += red[lid + st];
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

fn reduce_max(lid: u32, v: f32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    for (var st = WG / 2u; st > 0u; st >>= 1u) {
        if lid < st {
            red[lid] = max(red[lid], red[lid + st]);
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}
