// Riemannian Adam (Bécigneul & Ganea, ICLR 2019) for parameters that are
// points of the Poincaré ball (curvature -c): one invocation per point (row).
// hyperbolic.wgsl is prepended when the shader is built.
//
//   g  = clip · egrad                      (global-norm clip as in optim.wgsl)
//   rg = g / λ_x²,  λ_x = 2/(1 - c‖x‖²)    (Riemannian gradient: g (1-c‖x‖²)²/4)
//   m  = β1 m + (1-β1) rg;   v = β2 v + (1-β2) rg²   (element-wise second moment)
//   u  = -lr (m/bc1) / (sqrt(v/bc2) + eps)          (a tangent vector at x)
//   x' = project(exp_x(u)),  exp_x(u) = x ⊕ (tanh(√c λ_x ‖u‖/2) u / (√c‖u‖))
//   m  ← (λ_x / λ_x') gyr[x', -x] m         (parallel transport of the momentum)
// The gyration uses the closed form of geoopt's stereographic model:
//   gyr[a,b]w = w + 2(A a + B b)/D with
//   A = -c²⟨a,w⟩‖b‖² - c⟨b,w⟩ + 2c²⟨a,b⟩⟨b,w⟩,  B = -c²⟨b,w⟩‖a‖² + c⟨a,w⟩,
//   D = max(1 - 2c⟨a,b⟩ + c²‖a‖²‖b‖², 1e-15).
// Rows are limited to MAXD dimensions (the old point is kept in private memory).

const MAXD: u32 = 1024u;

struct Params {
    rows: u32,
    dim: u32,
    n_tensors: u32,
    _p0: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    max_norm: f32,
    bc1: f32,
    bc2: f32,
    proj_eps: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> curv: array<f32>;
@group(0) @binding(2) var<storage, read> sumsq: array<f32>;
@group(0) @binding(3) var<storage, read> grad: array<f32>;
@group(0) @binding(4) var<storage, read_write> param: array<f32>;
@group(0) @binding(5) var<storage, read_write> m1: array<f32>;
@group(0) @binding(6) var<storage, read_write> m2: array<f32>;

@compute @workgroup_size(64)
fn radam(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = gid.x + gid.y * nwg.x * 64u;
    if row >= params.rows || params.dim > MAXD {
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
    let c = curv_of(curv[0]);
    let sc = sqrt(c);
    let b = row * params.dim;
    var xo: array<f32, 1024>;
    var x2 = 0.0;
    for (var d = 0u; d < params.dim; d++) {
        xo[d] = param[b + d];
        x2 += xo[d] * xo[d];
    }
    let conf = max(1.0 - c * x2, CONF_MIN);
    let lam = 2.0 / conf;
    let rs = conf * conf * 0.25;
    // moments and the step u (kept in param for now)
    var u2 = 0.0;
    for (var d = 0u; d < params.dim; d++) {
        let rg = grad[b + d] * clip * rs;
        let m = params.beta1 * m1[b + d] + (1.0 - params.beta1) * rg;
        let v = params.beta2 * m2[b + d] + (1.0 - params.beta2) * rg * rg;
        m1[b + d] = m;
        m2[b + d] = v;
        let u = -params.lr * (m / params.bc1) / (sqrt(v / params.bc2) + params.eps);
        param[b + d] = u;
        u2 += u * u;
    }
    // w = tanh(√c λ ‖u‖/2) u/(√c‖u‖) = τ(√c λ ‖u‖/2) (λ/2) u
    let k = tau_f(sc * lam * sqrt(u2) * 0.5) * lam * 0.5;
    var xw = 0.0;
    var w2 = 0.0;
    for (var d = 0u; d < params.dim; d++) {
        let w = k * param[b + d];
        xw += xo[d] * w;
        w2 += w * w;
    }
    // x' = x ⊕ w, then projected
    let a = 1.0 + 2.0 * c * xw + c * w2;
    let bb = 1.0 - c * x2;
    let den = max(1.0 + 2.0 * c * xw + c * c * x2 * w2, 1e-15);
    var y2 = 0.0;
    for (var d = 0u; d < params.dim; d++) {
        let y = (a * xo[d] + bb * k * param[b + d]) / den;
        param[b + d] = y;
        y2 += y * y;
    }
    let maxn = (1.0 - params.proj_eps) / sc;
    var ps = 1.0;
    if sqrt(y2) > maxn {
        ps = maxn / sqrt(y2);
    }
    var yx = 0.0;
    var ym = 0.0;
    var xm = 0.0;
    for (var d = 0u; d < params.dim; d++) {
        let y = param[b + d] * ps;
        param[b + d] = y;
        yx += y * xo[d];
        ym += y * m1[b + d];
        xm += xo[d] * m1[b + d];
    }
    y2 = y2 * ps * ps;
    // transport m: gyr[a = x', b = -x] m, scaled by λ_x / λ_x'
    let ab = -yx;
    let aw = ym;
    let bw = -xm;
    let ga = -c * c * aw * x2 - c * bw + 2.0 * c * c * ab * bw;
    let gb = -c * c * bw * y2 + c * aw;
    let gd = max(1.0 - 2.0 * c * ab + c * c * y2 * x2, 1e-15);
    let ratio = lam / (2.0 / max(1.0 - c * y2, CONF_MIN));
    for (var d = 0u; d < params.dim; d++) {
        let w = m1[b + d];
        m1[b + d] = ratio * (w + 2.0 * (ga * param[b + d] - gb * xo[d]) / gd);
    }
}

// Keeps a learned curvature (one value, in `param`) within [C_LO, C_HI].
const C_LO: f32 = 1e-3;
const C_HI: f32 = 100.0;

@compute @workgroup_size(1)
fn clamp_curvature() {
    param[0] = clamp(param[0], C_LO, C_HI);
}
