// Poincaré-ball layers (curvature -c), forward and backward. hyperbolic.wgsl
// (the stable scalar helpers and their clamps) is prepended when this shader
// is built. All tensors are row-major; one invocation handles one row (row
// ops), one (row, column) pair (pdist, MLR) or one (row, dimension) output
// element (the gradient reductions). c is read from `curv[0]` so that a learned
// curvature never needs a host round trip; every backward entry writes its
// ∂L/∂c contribution per row into `out2` and the host sums the rows.
//
// Ops (s = √c‖x‖ throughout):
//   expmap0(v)    = tanh(√c‖v‖) v / (√c‖v‖)            = τ(s) v
//   logmap0(y)    = artanh(√c‖y‖) y / (√c‖y‖)          = α(s) y
//   project(x)    = x · min(1, (1-eps)/(√c‖x‖))        (back inside the ball)
//   x ⊕ y         = ((1 + 2c⟨x,y⟩ + c‖y‖²) x + (1 - c‖x‖²) y) / (1 + 2c⟨x,y⟩ + c²‖x‖²‖y‖²)
//   r ⊗ x         = tanh(r artanh(s)) x / s             = r τ(u) α(s) x,  u = r s α(s)
//   M ⊗ x         = tanh(‖Mx‖/‖x‖ artanh(s)) Mx/(√c‖Mx‖) = τ(u) α(s) Mx, u = √c‖Mx‖ α(s)
//                   (the host computes Mx with the GEMM kernel; this file rescales it)
//   d(x, y)       = arcosh(1 + 2c‖x-y‖² / ((1-c‖x‖²)(1-c‖y‖²))) / √c
//   MLR (HNN++, Shimizu et al. 2021, eq. 6), class k with a_k ∈ Rᴰ and r_k ∈ R:
//     ζ_k(x) = 2‖a_k‖/√c · asinh(λ_x √c⟨x, â_k⟩ cosh(2√c r_k) - (λ_x - 1) sinh(2√c r_k)),
//     λ_x = 2 / (1 - c‖x‖²)
// The products τ(u)α(s) replace the 0/0 forms of the textbook expressions, so
// rows at the origin (or Mx = 0) are exact and differentiable.

struct Params {
    rows: u32,
    dim: u32,
    // rows of the second operand (1 = broadcast), classes (MLR) or columns (pdist)
    other: u32,
    // 0 = expmap0, 1 = logmap0 (radial ops); input width for matvec
    mode: u32,
    // projection margin ε (‖x‖ < (1-ε)/√c), or pdist's output scale α
    eps: f32,
    _p0: u32,
    _p1: u32,
    _p2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> curv: array<f32>;
@group(0) @binding(2) var<storage, read> xin: array<f32>;
@group(0) @binding(3) var<storage, read> yin: array<f32>;
@group(0) @binding(4) var<storage, read> gin: array<f32>;
@group(0) @binding(5) var<storage, read_write> out0: array<f32>;
@group(0) @binding(6) var<storage, read_write> out1: array<f32>;
@group(0) @binding(7) var<storage, read_write> out2: array<f32>;
@group(0) @binding(8) var<storage, read> aux: array<f32>;

const WG1: u32 = 64u;

fn item(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG1;
}

fn dot_xx(base: u32, n: u32) -> f32 {
    var acc = 0.0;
    for (var d = 0u; d < n; d++) {
        acc += xin[base + d] * xin[base + d];
    }
    return acc;
}

fn dot_yy(base: u32, n: u32) -> f32 {
    var acc = 0.0;
    for (var d = 0u; d < n; d++) {
        acc += yin[base + d] * yin[base + d];
    }
    return acc;
}

fn dot_gx(gb: u32, xb: u32, n: u32) -> f32 {
    var acc = 0.0;
    for (var d = 0u; d < n; d++) {
        acc += gin[gb + d] * xin[xb + d];
    }
    return acc;
}

fn dot_gy(gb: u32, yb: u32, n: u32) -> f32 {
    var acc = 0.0;
    for (var d = 0u; d < n; d++) {
        acc += gin[gb + d] * yin[yb + d];
    }
    return acc;
}

fn radial_phi(s: f32) -> f32 {
    return select(atanh_f(s), tau_f(s), params.mode == 0u);
}

fn radial_h(s: f32) -> f32 {
    return select(atanh_h(s), tau_h(s), params.mode == 0u);
}

// expmap0 (mode 0) / logmap0 (mode 1): out = φ(s) x.
@compute @workgroup_size(64)
fn radial(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = item(gid, nwg);
    if row >= params.rows {
        return;
    }
    let c = curv_of(curv[0]);
    let b = row * params.dim;
    let s = sqrt(c * dot_xx(b, params.dim));
    let phi = radial_phi(s);
    for (var d = 0u; d < params.dim; d++) {
        out0[b + d] = phi * xin[b + d];
    }
}

// dx = φ g + h(s) c ⟨g,x⟩ x;   dc = h(s) ‖x‖²/2 ⟨g,x⟩   (h = φ'(s)/s)
@compute @workgroup_size(64)
fn radial_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = item(gid, nwg);
    if row >= params.rows {
        return;
    }
    let c = curv_of(curv[0]);
    let b = row * params.dim;
    let n2 = dot_xx(b, params.dim);
    let s = sqrt(c * n2);
    let phi = radial_phi(s);
    let h = radial_h(s);
    let gx = dot_gx(b, b, params.dim);
    for (var d = 0u; d < params.dim; d++) {
        out0[b + d] = phi * gin[b + d] + h * c * gx * xin[b + d];
    }
    out2[row] = h * n2 * 0.5 * gx;
}

// Rows with ‖x‖ > (1-ε)/√c are scaled back onto that radius.
@compute @workgroup_size(64)
fn project(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = item(gid, nwg);
    if row >= params.rows {
        return;
    }
    let c = curv_of(curv[0]);
    let b = row * params.dim;
    let n = sqrt(dot_xx(b, params.dim));
    let maxn = (1.0 - params.eps) / sqrt(c);
    var k = 1.0;
    if n > maxn {
        k = maxn / n;
    }
    for (var d = 0u; d < params.dim; d++) {
        out0[b + d] = k * xin[b + d];
    }
}

// Active rows: dx = (m/n)(g - ⟨g,x⟩ x/n²), dc = -⟨g,x⟩ m / (2cn); others pass g.
@compute @workgroup_size(64)
fn project_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = item(gid, nwg);
    if row >= params.rows {
        return;
    }
    let c = curv_of(curv[0]);
    let b = row * params.dim;
    let n = sqrt(dot_xx(b, params.dim));
    let maxn = (1.0 - params.eps) / sqrt(c);
    if n > maxn {
        let gx = dot_gx(b, b, params.dim);
        let k = maxn / n;
        for (var d = 0u; d < params.dim; d++) {
            out0[b + d] = k * (gin[b + d] - gx * xin[b + d] / (n * n));
        }
        out2[row] = -gx * maxn / (2.0 * c * n);
    } else {
        for (var d = 0u; d < params.dim; d++) {
            out0[b + d] = gin[b + d];
        }
        out2[row] = 0.0;
    }
}

fn yrow(row: u32) -> u32 {
    return select(row, 0u, params.other == 1u) * params.dim;
}

@compute @workgroup_size(64)
fn mobius_add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = item(gid, nwg);
    if row >= params.rows {
        return;
    }
    let c = curv_of(curv[0]);
    let xb = row * params.dim;
    let yb = yrow(row);
    var xy = 0.0;
    for (var d = 0u; d < params.dim; d++) {
        xy += xin[xb + d] * yin[yb + d];
    }
    let x2 = dot_xx(xb, params.dim);
    let y2 = dot_yy(yb, params.dim);
    let a = 1.0 + 2.0 * c * xy + c * y2;
    let bb = 1.0 - c * x2;
    let den = max(1.0 + 2.0 * c * xy + c * c * x2 * y2, 1e-15);
    for (var d = 0u; d < params.dim; d++) {
        out0[xb + d] = (a * xin[xb + d] + bb * yin[yb + d]) / den;
    }
}

// out = (A x + B y)/D with A = 1 + 2c⟨x,y⟩ + c‖y‖², B = 1 - c‖x‖², D = 1 + 2c⟨x,y⟩ + c²‖x‖²‖y‖²:
//   dx = (A g + 2c⟨g,x⟩ y - 2c⟨g,y⟩ x - ⟨g,out⟩ (2c y + 2c²‖y‖² x)) / D
//   dy = (B g + ⟨g,x⟩ (2c x + 2c y) - ⟨g,out⟩ (2c x + 2c²‖x‖² y)) / D   (per row)
//   dc = (⟨g,x⟩ (2⟨x,y⟩ + ‖y‖²) - ⟨g,y⟩ ‖x‖² - ⟨g,out⟩ (2⟨x,y⟩ + 2c‖x‖²‖y‖²)) / D
@compute @workgroup_size(64)
fn mobius_add_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = item(gid, nwg);
    if row >= params.rows {
        return;
    }
    let c = curv_of(curv[0]);
    let xb = row * params.dim;
    let yb = yrow(row);
    var xy = 0.0;
    for (var d = 0u; d < params.dim; d++) {
        xy += xin[xb + d] * yin[yb + d];
    }
    let x2 = dot_xx(xb, params.dim);
    let y2 = dot_yy(yb, params.dim);
    let gx = dot_gx(xb, xb, params.dim);
    let gy = dot_gy(xb, yb, params.dim);
    let a = 1.0 + 2.0 * c * xy + c * y2;
    let bb = 1.0 - c * x2;
    let den = max(1.0 + 2.0 * c * xy + c * c * x2 * y2, 1e-15);
    let go = (a * gx + bb * gy) / den;
    for (var d = 0u; d < params.dim; d++) {
        let x = xin[xb + d];
        let y = yin[yb + d];
        let g = gin[xb + d];
        out0[xb + d] = (a * g + 2.0 * c * gx * y - 2.0 * c * gy * x - go * (2.0 * c * y + 2.0 * c * c * y2 * x)) / den;
        out1[xb + d] = (bb * g + gx * (2.0 * c * x + 2.0 * c * y) - go * (2.0 * c * x + 2.0 * c * c * x2 * y)) / den;
    }
    out2[row] = (gx * (2.0 * xy + y2) - gy * x2 - go * (2.0 * xy + 2.0 * c * x2 * y2)) / den;
}

fn rrow(row: u32) -> f32 {
    return yin[select(row, 0u, params.other == 1u)];
}

// r ⊗ x = ω x, ω = r τ(u) α(s), u = r s α(s).
@compute @workgroup_size(64)
fn mobius_scalar(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = item(gid, nwg);
    if row >= params.rows {
        return;
    }
    let c = curv_of(curv[0]);
    let b = row * params.dim;
    let s = sqrt(c * dot_xx(b, params.dim));
    let r = rrow(row);
    let al = atanh_f(s);
    let u = r * s * al;
    let w = r * tau_f(u) * al;
    for (var d = 0u; d < params.dim; d++) {
        out0[b + d] = w * xin[b + d];
    }
}

//   dr = ⟨g,x⟩ α (τ + u² hτ)
//   dx = ω g + ⟨g,x⟩ K c x,   dc = ⟨g,x⟩ K ‖x‖²/2,   K = r³ hτ α² (α + s² hα) + r τ hα
@compute @workgroup_size(64)
fn mobius_scalar_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = item(gid, nwg);
    if row >= params.rows {
        return;
    }
    let c = curv_of(curv[0]);
    let b = row * params.dim;
    let n2 = dot_xx(b, params.dim);
    let s = sqrt(c * n2);
    let r = rrow(row);
    let al = atanh_f(s);
    let ha = atanh_h(s);
    let u = r * s * al;
    let t = tau_f(u);
    let ht = tau_h(u);
    let w = r * t * al;
    let gx = dot_gx(b, b, params.dim);
    let kk = r * r * r * ht * al * al * (al + s * s * ha) + r * t * ha;
    for (var d = 0u; d < params.dim; d++) {
        out0[b + d] = w * gin[b + d] + gx * kk * c * xin[b + d];
    }
    out1[row] = gx * al * (t + u * u * ht);
    out2[row] = gx * kk * n2 * 0.5;
}

// M ⊗ x from x (`xin`, rows × mode) and mx = Mx (`yin`, rows × dim): out = τ(u) α(s) mx.
@compute @workgroup_size(64)
fn matvec_scale(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = item(gid, nwg);
    if row >= params.rows {
        return;
    }
    let c = curv_of(curv[0]);
    let xb = row * params.mode;
    let mb = row * params.dim;
    let s = sqrt(c * dot_xx(xb, params.mode));
    let bn = sqrt(dot_yy(mb, params.dim));
    let al = atanh_f(s);
    let u = sqrt(c) * bn * al;
    let w = tau_f(u) * al;
    for (var d = 0u; d < params.dim; d++) {
        out0[mb + d] = w * yin[mb + d];
    }
}

// q = ⟨g, mx⟩:
//   dmx = ω g + q hτ c α³ mx
//   dx  = q c hα (u² hτ + τ) x
//   dc  = q (hτ ‖mx‖² α² (α + c‖x‖² hα)/2 + τ hα ‖x‖²/2)
@compute @workgroup_size(64)
fn matvec_scale_bwd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = item(gid, nwg);
    if row >= params.rows {
        return;
    }
    let c = curv_of(curv[0]);
    let xb = row * params.mode;
    let mb = row * params.dim;
    let a2 = dot_xx(xb, params.mode);
    let b2 = dot_yy(mb, params.dim);
    let s = sqrt(c * a2);
    let al = atanh_f(s);
    let ha = atanh_h(s);
    let u = sqrt(c) * sqrt(b2) * al;
    let t = tau_f(u);
    let ht = tau_h(u);
    let w = t * al;
    let q = dot_gy(mb, mb, params.dim);
    let cm = q * ht * c * al * al * al;
    for (var d = 0u; d < params.dim; d++) {
        out1[mb + d] = w * gin[mb + d] + cm * yin[mb + d];
    }
    let cx = q * c * ha * (u * u * ht + t);
    for (var d = 0u; d < params.mode; d++) {
        out0[xb + d] = cx * xin[xb + d];
    }
    out2[row] = q * (ht * b2 * al * al * (al + c * a2 * ha) * 0.5 + t * ha * a2 * 0.5);
}

// Pairwise distances α·d(x_i, y_j) for x: rows × dim, y: other × dim, with α = params.eps
// (α = -1/τ gives contrastive logits directly; α = -1 ranks nearest first).
// out0 = scaled distances (rows × other); with mode = 1 (training) also
// out1 = [‖x_i - y_j‖² (rows × other) | ‖x_i‖² | ‖y_j‖²], kept for the backward
// pass; retrieval (mode 0) skips it.
@compute @workgroup_size(64)
fn pdist(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let it = item(gid, nwg);
    let m = params.rows;
    let n = params.other;
    if it >= m * n {
        return;
    }
    let i = it / n;
    let j = it % n;
    let c = curv_of(curv[0]);
    var sq = 0.0;
    var nx = 0.0;
    var ny = 0.0;
    for (var d = 0u; d < params.dim; d++) {
        let x = xin[i * params.dim + d];
        let y = yin[j * params.dim + d];
        sq += (x - y) * (x - y);
        nx += x * x;
        ny += y * y;
    }
    let al = max(1.0 - c * nx, CONF_MIN);
    let be = max(1.0 - c * ny, CONF_MIN);
    let t = 2.0 * c * sq / (al * be);
    out0[it] = params.eps * acosh1p(t) / sqrt(c);
    if params.mode == 1u {
        out1[it] = sq;
        if j == 0u {
            out1[m * n + i] = nx;
        }
        if i == 0u {
            out1[m * n + m + j] = ny;
        }
    }
}

// One pair's backward weight w = g · (dd/dt) · 4c/(αβ) (0 for identical points),
// with dd/dt = 1/(√c √(t(t+2))).
fn pd_weight(g: f32, c: f32, sq: f32, al: f32, be: f32) -> f32 {
    if sq <= 0.0 {
        return 0.0;
    }
    let t = 2.0 * c * sq / (al * be);
    let ddt = 1.0 / (sqrt(c) * sqrt(t * (t + 2.0)));
    return g * ddt * 4.0 * c / (al * be);
}

// With g_ij the gradient w.r.t. d_ij (α times the incoming one):
// dX_i = Σ_j w_ij ((x_i - y_j) + c sq_ij x_i / α_i); d = 0 also writes
// dc_i = Σ_j g_ij (-arcosh(1+t)/(2c√c) + dd/dt (t/c + t (‖x_i‖²/α_i + ‖y_j‖²/β_j))).
// `aux` is pdist's out1.
@compute @workgroup_size(64)
fn pdist_bwd_x(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let it = item(gid, nwg);
    let m = params.rows;
    let n = params.other;
    let dim = params.dim;
    if it >= m * dim {
        return;
    }
    let i = it / dim;
    let d = it % dim;
    let c = curv_of(curv[0]);
    let nx = aux[m * n + i];
    let al = max(1.0 - c * nx, CONF_MIN);
    let x = xin[i * dim + d];
    var acc = 0.0;
    var dc = 0.0;
    for (var j = 0u; j < n; j++) {
        let sq = aux[i * n + j];
        let ny = aux[m * n + m + j];
        let be = max(1.0 - c * ny, CONF_MIN);
        let g = params.eps * gin[i * n + j];
        let w = pd_weight(g, c, sq, al, be);
        acc += w * ((x - yin[j * dim + d]) + c * sq * x / al);
        if d == 0u && sq > 0.0 {
            let t = 2.0 * c * sq / (al * be);
            let ddt = 1.0 / (sqrt(c) * sqrt(t * (t + 2.0)));
            dc += g * (-acosh1p(t) / (2.0 * c * sqrt(c)) + ddt * (t / c + t * (nx / al + ny / be)));
        }
    }
    out0[it] = acc;
    if d == 0u {
        out2[i] = dc;
    }
}

// dY_j = Σ_i w_ij ((y_j - x_i) + c sq_ij y_j / β_j).
@compute @workgroup_size(64)
fn pdist_bwd_y(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let it = item(gid, nwg);
    let m = params.rows;
    let n = params.other;
    let dim = params.dim;
    if it >= n * dim {
        return;
    }
    let j = it / dim;
    let d = it % dim;
    let c = curv_of(curv[0]);
    let ny = aux[m * n + m + j];
    let be = max(1.0 - c * ny, CONF_MIN);
    let y = yin[j * dim + d];
    var acc = 0.0;
    for (var i = 0u; i < m; i++) {
        let sq = aux[i * n + j];
        let nx = aux[m * n + i];
        let al = max(1.0 - c * nx, CONF_MIN);
        let w = pd_weight(params.eps * gin[i * n + j], c, sq, al, be);
        acc += w * ((y - xin[i * dim + d]) + c * sq * y / be);
    }
    out0[it] = acc;
}

// Per-(row, class) quantities of the MLR logit.
struct Mlr {
    na: f32,
    p: f32,
    n2: f32,
    lam: f32,
    ch: f32,
    sh: f32,
    w: f32,
    zeta: f32,
    clamped: bool,
}

fn mlr_at(i: u32, k: u32, c: f32) -> Mlr {
    var o: Mlr;
    let dim = params.dim;
    var xa = 0.0;
    var aa = 0.0;
    var xx = 0.0;
    for (var d = 0u; d < dim; d++) {
        let x = xin[i * dim + d];
        let a = yin[k * dim + d];
        xa += x * a;
        aa += a * a;
        xx += x * x;
    }
    let sc = sqrt(c);
    o.na = max(sqrt(aa), 1e-15);
    o.p = xa / o.na;
    o.n2 = xx;
    o.lam = 2.0 / max(1.0 - c * xx, CONF_MIN);
    // cosh/sinh arguments are clamped to ±TANH_MAX (no overflow; gradient 0 past it)
    let arg0 = 2.0 * sc * aux[k];
    let arg = clamp(arg0, -TANH_MAX, TANH_MAX);
    o.clamped = arg != arg0;
    let e = exp(arg);
    o.ch = 0.5 * (e + 1.0 / e);
    o.sh = 0.5 * (e - 1.0 / e);
    o.w = o.lam * sc * o.p * o.ch - (o.lam - 1.0) * o.sh;
    o.zeta = 2.0 * o.na / sc * asinh_s(o.w);
    return o;
}

// Logits ζ (rows × other) of x (rows × dim) for classes a (other × dim), r = aux (other).
@compute @workgroup_size(64)
fn mlr(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let it = item(gid, nwg);
    let kc = params.other;
    if it >= params.rows * kc {
        return;
    }
    let c = curv_of(curv[0]);
    out0[it] = mlr_at(it / kc, it % kc, c).zeta;
}

// Per-pair backward coefficients into out0 = 5 planes of rows × other:
//   cp = g ζ_w w_p / ‖a‖, cn = 2 g ζ_w w_λ λ_n, ca = g (ζ - ζ_w w_p p) / ‖a‖², cr = g ζ_w w_r, cc = g ζ_c
@compute @workgroup_size(64)
fn mlr_bwd_coef(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let it = item(gid, nwg);
    let kc = params.other;
    let mk = params.rows * kc;
    if it >= mk {
        return;
    }
    let k = it % kc;
    let c = curv_of(curv[0]);
    let sc = sqrt(c);
    let o = mlr_at(it / kc, k, c);
    let g = gin[it];
    let r = aux[k];
    let zw = 2.0 * o.na / (sc * sqrt(1.0 + o.w * o.w));
    let wp = o.lam * sc * o.ch;
    let wl = sc * o.p * o.ch - o.sh;
    let ln = o.lam * o.lam * c * 0.5;
    var wr_arg = o.lam * sc * o.p * o.sh - (o.lam - 1.0) * o.ch;
    if o.clamped {
        wr_arg = 0.0;
    }
    let wr = wr_arg * 2.0 * sc;
    let wc = wl * o.lam * o.lam * o.n2 * 0.5 + o.lam * o.p * o.ch / (2.0 * sc) + wr_arg * r / sc;
    out0[it] = g * zw * wp / o.na;
    out0[mk + it] = 2.0 * g * zw * wl * ln;
    out0[2u * mk + it] = g * (o.zeta - zw * wp * o.p) / (o.na * o.na);
    out0[3u * mk + it] = g * zw * wr;
    out0[4u * mk + it] = g * (-o.zeta / (2.0 * c) + zw * wc);
}

// dx_i = Σ_k (cp a_k + cn x_i); d = 0 also writes dc_i = Σ_k cc. `aux` = coefficients.
@compute @workgroup_size(64)
fn mlr_bwd_x(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let it = item(gid, nwg);
    let dim = params.dim;
    let kc = params.other;
    let mk = params.rows * kc;
    if it >= params.rows * dim {
        return;
    }
    let i = it / dim;
    let d = it % dim;
    var acc = 0.0;
    var dc = 0.0;
    for (var k = 0u; k < kc; k++) {
        let e = i * kc + k;
        acc += aux[e] * yin[k * dim + d] + aux[mk + e] * xin[it];
        dc += aux[4u * mk + e];
    }
    out0[it] = acc;
    if d == 0u {
        out2[i] = dc;
    }
}

// da_k = Σ_i (cp x_i + ca a_k); d = 0 also writes dr_k = Σ_i cr. `aux` = coefficients.
@compute @workgroup_size(64)
fn mlr_bwd_a(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let it = item(gid, nwg);
    let dim = params.dim;
    let kc = params.other;
    let m = params.rows;
    let mk = m * kc;
    if it >= kc * dim {
        return;
    }
    let k = it / dim;
    let d = it % dim;
    var acc = 0.0;
    var dr = 0.0;
    for (var i = 0u; i < m; i++) {
        let e = i * kc + k;
        acc += aux[e] * xin[i * dim + d] + aux[2u * mk + e] * yin[it];
        dr += aux[3u * mk + e];
    }
    out0[it] = acc;
    if d == 0u {
        out1[k] = dr;
    }
}
