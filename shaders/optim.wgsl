// AdamW with decoupled weight decay and global-norm gradient clipping.
//
// Gradients of all T parameter tensors are clipped together: sumsq[t * 64]
// holds Σ g² of tensor t (written by reduce.wgsl's row_sumsq, one aligned
// 64-word slot per tensor), so every invocation recomputes the global norm
// from T numbers and no host round-trip is needed between the passes:
//   c = min(1, max_norm / (‖g‖ + 1e-6))        (max_norm <= 0: no clipping)
//   g' = c g;  m = β1 m + (1-β1) g';  v = β2 v + (1-β2) g'²
//   p -= lr · ( (m / bc1) / (sqrt(v / bc2) + eps) + wd · p )
// bc1 = 1 - β1^t and bc2 = 1 - β2^t come from the host (f32 powers on the
// GPU would differ between backends).

struct Params {
    n: u32,
    n_tensors: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    max_norm: f32,
    bc1: f32,
    bc2: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> sumsq: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> param: array<f32>;
@group(0) @binding(4) var<storage, read_write> m1: array<f32>;
@group(0) @binding(5) var<storage, read_write> m2: array<f32>;

@compute @workgroup_size(256)
fn adamw(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 256u;
    if i >= params.n {
        return;
    }
    var clip = 1.0;
    if params.max_norm > 0.0 {
        var total = 0.0;
        for (var t = 0u; t < params.n_tensors; t++) {
            total += sumsq[t * 64u];
        }
        clip = min(1.0, params.max_norm / (sqrt(total) + 1e-6));
    }
    let g = grad[i] * clip;
    let m = params.beta1 * m1[i] + (1.0 - params.beta1) * g;
    let v = params.beta2 * m2[i] + (1.0 - params.beta2) * g * g;
    m1[i] = m;
    m2[i] = v;
    let p = param[i];
    let step = (m / params.bc1) / (sqrt(v / params.bc2) + params.eps) + params.weight_decay * p;
    param[i] = p - params.lr * step;
}
