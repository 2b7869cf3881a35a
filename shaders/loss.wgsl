// Γ-thresholded, distance-weighted supervised contrastive loss, forward and
// backward in one pass, one 256-thread workgroup per row i of the similarity
// matrix S (S = Z·Zᵀ/τ for the Euclidean encoder, -d(z_i, z_j)/τ for the
// Poincaré one; the caller builds S).
//
// Each view i carries a label (group_i, pos_i): group = contig (or pair id in
// the self-supervised variant), pos = locus on the forward strand. Positives
// of i are the views j ≠ i with group_j = group_i and |pos_i - pos_j| <= Γ,
// weighted w_ij = 1 - |pos_i - pos_j| / (Γ + 1). With lse_i = log Σ_{j≠i} exp S_ij:
//   loss_i = lse_i - Σ_j w_ij S_ij / W_i,   W_i = Σ_j w_ij   (0 if i has no positive)
//   dS_ij  = scale · (exp(S_ij - lse_i) - w_ij / W_i),  dS_ii = 0
// where scale = 1 / (number of rows with a positive), so that the total is the
// mean loss over anchors. Rows fold into a 2-D grid (row = wid.x + wid.y * nwg.x).

struct Params {
    n: u32,
    gamma: u32,
    scale: f32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> s: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>; // [n, 2]: group, pos
@group(0) @binding(3) var<storage, read_write> ds: array<f32>;
@group(0) @binding(4) var<storage, read_write> loss: array<f32>;

// reduce_sum / reduce_max / `red` / WG come from workgroup_reduce.wgsl,
// prepended when the shader is built.

fn weight(i: u32, j: u32) -> f32 {
    if j == i || labels[2u * i] != labels[2u * j] {
        return 0.0;
    }
    let pi = labels[2u * i + 1u];
    let pj = labels[2u * j + 1u];
    let d = max(pi, pj) - min(pi, pj);
    if d > params.gamma {
        return 0.0;
    }
    return 1.0 - f32(d) / f32(params.gamma + 1u);
}

@compute @workgroup_size(256)
fn supcon(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = wid.x + wid.y * nwg.x;
    if i >= params.n {
        return;
    }
    let lid = lid3.x;
    let base = i * params.n;
    var m = -3.0e38;
    for (var j = lid; j < params.n; j += WG) {
        if j != i {
            m = max(m, s[base + j]);
        }
    }
    m = reduce_max(lid, m);
    var se = 0.0;
    var wsum = 0.0;
    var wss = 0.0;
    for (var j = lid; j < params.n; j += WG) {
        if j != i {
            se += exp(s[base + j] - m);
            let w = weight(i, j);
            wsum += w;
            wss += w * s[base + j];
        }
    }
    se = reduce_sum(lid, se);
    wsum = reduce_sum(lid, wsum);
    wss = reduce_sum(lid, wss);
    let lse = m + log(se);
    var scale = 0.0;
    var inv_w = 0.0;
    if wsum > 0.0 {
        scale = params.scale;
        inv_w = 1.0 / wsum;
    }
    for (var j = lid; j < params.n; j += WG) {
        var g = 0.0;
        if j != i {
            g = scale * (exp(s[base + j] - lse) - weight(i, j) * inv_w);
        }
        ds[base + j] = g;
    }
    if lid == 0u {
        if wsum > 0.0 {
            loss[i] = lse - wss * inv_w;
        } else {
            loss[i] = 0.0;
        }
    }
}
