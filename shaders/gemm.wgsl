// GEMM: C = alpha * op(A) * op(B) + beta * C, row-major storage, op = identity
// or transpose expressed through element strides:
//   op(A)[m, k] = a[m * a_rs + k * a_cs]      op(B)[k, n] = b[k * b_rs + n * b_cs]
// With split > 1 (split_mode = 1) each K slice z writes its partial product to
// c[z * m * n + m * n_idx...] and `reduce_splits` folds them into C.
// The tiled body is tile_gemm.wgsl, appended when this shader is built.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    k_per_split: u32,
    a_rs: u32,
    a_cs: u32,
    b_rs: u32,
    b_cs: u32,
    alpha: f32,
    beta: f32,
    split_mode: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

fn load_a(m: u32, k: u32) -> f32 {
    return a[m * params.a_rs + k * params.a_cs];
}

fn load_b(k: u32, n: u32) -> f32 {
    return b[k * params.b_rs + n * params.b_cs];
}

fn store_c(m: u32, n: u32, z: u32, v: f32) {
    if params.split_mode == 1u {
        c[(z * params.m + m) * params.n + n] = v;
        return;
    }
    let i = m * params.n + n;
    // beta == 0 must not read C: it may hold garbage or NaN.
    if params.beta == 0.0 {
        c[i] = params.alpha * v;
    } else {
        c[i] = params.alpha * v + params.beta * c[i];
    }
}
