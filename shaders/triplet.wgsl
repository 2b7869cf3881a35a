// Triplet margin ranking loss on L2 distances, forward and backward in one
// pass: one invocation per triplet.
//
// Embeddings e: [3B, d] row-major, anchors in rows 0..B, positives in
// B..2B, negatives in 2B..3B. For triplet i with a = e[i], p = e[B+i],
// n = e[2B+i]:
//   d_ap = ‖a − p‖, d_an = ‖a − n‖,   loss_i = max(0, d_ap − d_an + margin)
// Output loss[i] and the gradient of mean_i loss_i (scale = 1/B):
//   active (loss_i > 0):  ∂/∂p = −s·(a−p)/d_ap, ∂/∂n = s·(a−n)/d_an,
//                         ∂/∂a = −(∂/∂p) − (∂/∂n)
//   inactive: zeros. A distance below EPS contributes no direction (its
//   unit vector is undefined), as torch's pairwise_distance does in effect.

const EPS: f32 = 1e-12;

struct Params {
    triplets: u32,
    dim: u32,
    margin: f32,
    scale: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> e: array<f32>;
@group(0) @binding(2) var<storage, read_write> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> loss: array<f32>;

@compute @workgroup_size(64)
fn triplet(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let b = params.triplets;
    if i >= b {
        return;
    }
    let d = params.dim;
    let ra = i * d;
    let rp = (b + i) * d;
    let rn = (2u * b + i) * d;
    var sp = 0.0;
    var sn = 0.0;
    for (var j = 0u; j < d; j++) {
        let up = e[ra + j] - e[rp + j];
        let un = e[ra + j] - e[rn + j];
        sp += up * up;
        sn += un * un;
    }
    let dap = sqrt(sp);
    let dan = sqrt(sn);
    let l = max(dap - dan + params.margin, 0.0);
    loss[i] = l;
    var cp = 0.0;
    var cn = 0.0;
    if l > 0.0 {
        cp = select(0.0, params.scale / dap, sp > EPS);
        cn = select(0.0, params.scale / dan, sn > EPS);
    }
    for (var j = 0u; j < d; j++) {
        let up = e[ra + j] - e[rp + j];
        let un = e[ra + j] - e[rn + j];
        let gp = -cp * up;
        let gn = cn * un;
        grad[rp + j] = gp;
        grad[rn + j] = gn;
        grad[ra + j] = -gp - gn;
    }
}
