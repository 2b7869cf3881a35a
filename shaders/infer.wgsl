// Inference kernels of the k-mer encoder: barrier-free, one thread per
// output row, vec4 accumulators, fused bias / ReLU / residual. Used to embed
// many windows (indexing, mapping); training keeps the tiled kernels of
// conv1d.wgsl and gemm.wgsl, which these must match (tests/infer.rs).
//
// Weights sit in a uniform buffer (64 KiB, 4096 vec4s): every thread reads the
// same weight at the same time, and CPU drivers (llvmpipe) turn uniform-buffer
// reads into one broadcast load where storage reads become per-lane gathers
// (5× slower measured); GPUs serve them from the constant cache. They are
// read as vec4s of 4 consecutive output channels, so the host passes them
// transposed:
//   conv: wt[(c·kw + t)·OB4 + o4] = (w[4o4, c, t], …, w[4o4+3, c, t])
//   dense: wt[k·n4p + o4] = (W[4o4, k], …, W[4o4+3, k]), n4p = ⌈n/4/OB4⌉·OB4
// Output channels are padded to whole vec4s (padded weights and biases are 0).
//
// conv (one thread per (window b, position l), lanes walk l):
//   y[b, o, l] = act(bias[o] + Σ_{c,t} w[o, c, t]·x[b, c, l + t − pad])
//                (+ x[b, o, l] when `residual`: h + ReLU(conv(h)), cin = cout)
//   act = ReLU when `relu`. Output layout: [B, cout, L], or with `transpose`
//   window-minor [cout·L, B] (the dense layer's input).
// dense (one thread per (window b, block of 4·OB4 outputs), lanes walk b):
//   input window-minor aT [K, B]; y[b, o] = bias[o] + Σ_k W[o, k]·aT[k, b],
//   written row-major [B, n]; with `relu_t` also ReLU(y) window-minor [n, B].
//   K is walked in slices [k0, k0 + kc) whose weights fit the uniform buffer,
//   one dispatch each: the first starts from the bias (`first`), the others
//   from the running sums acc_t (window-minor, so lanes read neighbouring
//   words); the last (`last`) writes y and ReLU(y)ᵀ, the others acc_t.
// OB4 (output vec4s per thread) is set when the shader is built (a gpu::variant).

const OB4: u32 = 8u;

struct Params {
    batch: u32,
    cin: u32,
    len: u32,
    kw: u32,
    pad: u32,
    cout4: u32,
    cout: u32,
    flags: u32,
    k0: u32,
    kc: u32,
    _pad0: u32,
    _pad1: u32,
}

const RELU: u32 = 1u;
const RESIDUAL: u32 = 2u;
const TRANSPOSE: u32 = 4u;
const RELU_T: u32 = 8u;
const FIRST: u32 = 16u;
const LAST: u32 = 32u;
const WU: u32 = 4096u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<uniform> wt: array<vec4<f32>, WU>;
@group(0) @binding(3) var<storage, read> bias4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> y2: array<f32>;
// dense: running sums between K slices, window-minor [4·cout4, B]
@group(0) @binding(6) var<storage, read_write> acc_t: array<vec4<f32>>;

@compute @workgroup_size(64)
fn conv(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if i >= params.batch * params.len {
        return;
    }
    let b = i / params.len;
    let l = i % params.len;
    // OB4 named accumulators (written out when the shader is built: the
    // ACC lines below are expanded for j = 0 .. OB4−1), so that they live in
    // registers; weights are laid out OB4 vec4s per (c, t), zero-padded.
    //ACC var aJ = bias4[J];
    for (var c = 0u; c < params.cin; c++) {
        let xrow = (b * params.cin + c) * params.len;
        for (var t = 0u; t < params.kw; t++) {
            let p = i32(l + t) - i32(params.pad);
            if p < 0 || p >= i32(params.len) {
                continue;
            }
            let xv = x[xrow + u32(p)];
            let wrow = (c * params.kw + t) * OB4;
            //ACC aJ += wt[wrow + J] * xv;
        }
    }
    var acc: array<vec4<f32>, OB4>;
    //ACC acc[J] = aJ;
    for (var o4 = 0u; o4 < OB4; o4++) {
        if o4 >= params.cout4 {
            break;
        }
        for (var e = 0u; e < 4u; e++) {
            let o = 4u * o4 + e;
            if o >= params.cout {
                break;
            }
            var v = acc[o4][e];
            if (params.flags & RELU) != 0u {
                v = max(v, 0.0);
            }
            if (params.flags & RESIDUAL) != 0u {
                v += x[(b * params.cin + o) * params.len + l];
            }
            if (params.flags & TRANSPOSE) != 0u {
                y[(o * params.len + l) * params.batch + b] = v;
            } else {
                y[(b * params.cout + o) * params.len + l] = v;
            }
        }
    }
}

// dense: params.cin = K, params.cout = n, params.cout4 = ⌈n/4⌉, params.pad =
// the padded row (below). Workgroups:
// x walks windows (64 a group), y the output blocks, so that the weight
// index is uniform across the workgroup (a broadcast load).
@compute @workgroup_size(64)
fn dense(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let b = gid.x;
    if b >= params.batch {
        return;
    }
    let o40 = wid.y * OB4;
    // rows of wt, bias4 and acc_t hold params.pad = ⌈cout4/OB4⌉·OB4 vec4s
    // (zero-padded), so the OB4 named accumulators need no bounds checks
    //ACC var aJ = select(acc_t[(o40 + J) * params.batch + b], bias4[o40 + J], (params.flags & FIRST) != 0u);
    for (var kk = 0u; kk < params.kc; kk++) {
        let av = x[(params.k0 + kk) * params.batch + b];
        let wrow = kk * params.pad + o40;
        //ACC aJ += wt[wrow + J] * av;
    }
    if (params.flags & LAST) == 0u {
        //ACC acc_t[(o40 + J) * params.batch + b] = aJ;
        return;
    }
    var acc: array<vec4<f32>, OB4>;
    //ACC acc[J] = aJ;
    for (var j = 0u; j < OB4; j++) {
        if o40 + j >= params.cout4 {
            break;
        }
        for (var e = 0u; e < 4u; e++) {
            let o = 4u * (o40 + j) + e;
            if o >= params.cout {
                break;
            }
            let v = acc[j][e];
            y[b * params.cout + o] = v;
            if (params.flags & RELU_T) != 0u {
                y2[o * params.batch + b] = max(v, 0.0);
            }
        }
    }
}
