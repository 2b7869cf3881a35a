// conv1d, "same" padding, stride 1, any kernel width, as implicit GEMM.
// Layouts: x [batch, cin, len], w [cout, cin, kw], bias [cout], y [batch, cout, len].
// pad = (kw - 1) / 2 on the left, kw - 1 - pad on the right:
//   y[b, o, l] = bias[o] + sum_{c, t} w[o, c, t] * x[b, c, l + t - pad]
// MODE (set per pass when the shader is built: a gpu::variant) selects the pass:
//   0 forward       M = batch*len, N = cout, K = cin*kw   a = x,  b = w, out = y
//   1 input grad    M = batch*len, N = cin,  K = cout*kw  a = dy, b = w, out = dx
//       dx[b, c, l] = sum_{o, t} w[o, c, t] * dy[b, o, l - t + pad]
//   2 weight grad   M = cout, N = cin*kw, K = batch*len   a = dy, b = x, out = dw
//       dw[o, c, t] = sum_{b, l} dy[b, o, l] * x[b, c, l + t - pad]
// Stores are out = alpha * acc + beta * out (beta = 0 never reads out), or, in
// split mode, raw partials [split, M, N] for splitk.wgsl.
// The tiled body is tile_gemm.wgsl, appended when this shader is built.

const MODE: u32 = 0u;

struct Params {
    m: u32,
    n: u32,
    k: u32,
    k_per_split: u32,
    batch: u32,
    cin: u32,
    cout: u32,
    len: u32,
    kw: u32,
    pad: u32,
    has_bias: u32,
    split_mode: u32,
    alpha: f32,
    beta: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src_a: array<f32>;
@group(0) @binding(2) var<storage, read> src_b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

// x[b, c, p] with zero padding outside [0, len).
fn x_at(src_is_a: bool, b: u32, c: u32, p: i32) -> f32 {
    if p < 0 || p >= i32(params.len) {
        return 0.0;
    }
    let i = (b * params.cin + c) * params.len + u32(p);
    if src_is_a {
        return src_a[i];
    }
    return src_b[i];
}

fn load_a(m: u32, k: u32) -> f32 {
    if MODE == 0u {
        let b = m / params.len;
        let l = m % params.len;
        let c = k / params.kw;
        let t = k % params.kw;
        return x_at(true, b, c, i32(l + t) - i32(params.pad));
    } else if MODE == 1u {
        let b = m / params.len;
        let l = m % params.len;
        let o = k / params.kw;
        let t = k % params.kw;
        let p = i32(l + params.pad) - i32(t);
        if p < 0 || p >= i32(params.len) {
            return 0.0;
        }
        return src_a[(b * params.cout + o) * params.len + u32(p)];
    }
    // MODE 2: a = dy viewed as [cout, batch*len]
    let b = k / params.len;
    let l = k % params.len;
    return src_a[(b * params.cout + m) * params.len + l];
}

fn load_b(k: u32, n: u32) -> f32 {
    if MODE == 0u {
        // w viewed as [cin*kw, cout]^T: w[n, k]
        return src_b[n * params.k + k];
    } else if MODE == 1u {
        // k = (o, t), n = c: w[o, c, t]
        let o = k / params.kw;
        let t = k % params.kw;
        return src_b[(o * params.cin + n) * params.kw + t];
    }
    // MODE 2: k = (b, l), n = (c, t): x[b, c, l + t - pad]
    let b = k / params.len;
    let l = k % params.len;
    let c = n / params.kw;
    let t = n % params.kw;
    return x_at(false, b, c, i32(l + t) - i32(params.pad));
}

fn store_c(m: u32, n: u32, z: u32, v: f32) {
    if params.split_mode == 1u {
        out[(z * params.m + m) * params.n + n] = v;
        return;
    }
    var i = 0u;
    var r = params.alpha * v;
    if MODE == 2u {
        i = m * params.n + n;
    } else {
        // m = (b, l); n = output channel
        let b = m / params.len;
        let l = m % params.len;
        i = (b * params.n + n) * params.len + l;
        if MODE == 0u && params.has_bias == 1u {
            r += bias[n];
        }
    }
    if params.beta != 0.0 {
        r += params.beta * out[i];
    }
    out[i] = r;
}
