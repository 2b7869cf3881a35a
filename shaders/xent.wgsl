// Softmax cross-entropy over rows of logits [rows, classes], one invocation
// per row (classes are few):
//   p = softmax(z_r),  loss_r = logsumexp(z_r) − z_r[y_r],
//   dz_r = scale · (p − onehot(y_r))      (scale = 1/rows for a mean loss)
// Labels arrive as f32 class indices (exact below 2^24).

struct Params {
    rows: u32,
    classes: u32,
    scale: f32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<f32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;
@group(0) @binding(4) var<storage, read_write> dlogits: array<f32>;

@compute @workgroup_size(64)
fn xent(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = gid.x + gid.y * nwg.x * 64u;
    if r >= params.rows {
        return;
    }
    let k = params.classes;
    let b = r * k;
    var m = -3.0e38;
    for (var j = 0u; j < k; j++) {
        m = max(m, logits[b + j]);
    }
    var s = 0.0;
    for (var j = 0u; j < k; j++) {
        s += exp(logits[b + j] - m);
    }
    let y = u32(labels[r]);
    loss[r] = m + log(s) - logits[b + min(y, k - 1u)];
    for (var j = 0u; j < k; j++) {
        let p = exp(logits[b + j] - m) / s;
        dlogits[b + j] = params.scale * (p - select(0.0, 1.0, j == y));
    }
}
