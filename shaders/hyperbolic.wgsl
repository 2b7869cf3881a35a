// Numerically stable scalar helpers of the Poincaré ball (curvature -c, c > 0),
// shared by poincare.wgsl and radam.wgsl (prepended when those shaders are
// built). WGSL has f32 only, so every formula here avoids the 0/0 and ∞/∞
// forms of the textbook expressions:
//
//   τ(u)  = tanh(u)/u     series 1 - u²/3 + 2u⁴/15 - 17u⁶/315                for |u| < SERIES
//   hτ(u) = τ'(u)/u       series -2/3 + 8u²/15 - 34u⁴/105 + 496u⁶/2835       for |u| < SERIES
//   α(s)  = artanh(s)/s   series 1 + s²/3 + s⁴/5 + s⁶/7                      for s < SERIES
//   hα(s) = α'(s)/s       series 2/3 + 4s²/5 + 6s⁴/7 + 8s⁶/9                 for s < SERIES
// (truncation error < 1e-9 at SERIES = 0.1, far below f32 resolution, so the
// two branches agree where they meet)
//
// Clamps (each stated where it applies):
//   * tanh arguments are clamped to ±15 (tanh(15) = 1 in f32) because some
//     backends evaluate tanh as (e^2x - 1)/(e^2x + 1), which is NaN for x > 44;
//   * artanh arguments s = √c‖x‖ are clamped to S_MAX = 1 - 1e-5 (points on or
//     outside the boundary); beyond it α(s) = artanh(S_MAX)/s, whose derivative
//     the hα helper also gives, so gradients stay consistent;
//   * c is clamped to at least C_MIN = 1e-6 before any division by √c;
//   * 1 - c‖x‖² is clamped to at least CONF_MIN = 1e-7 (conformal factors);
//   * the Möbius-addition denominator is clamped to at least 1e-15.

const SERIES: f32 = 0.1;
const S_MAX: f32 = 0.99999;
const C_MIN: f32 = 1e-6;
const CONF_MIN: f32 = 1e-7;
const TANH_MAX: f32 = 15.0;

fn curv_of(c: f32) -> f32 {
    return max(c, C_MIN);
}

fn tanh_c(x: f32) -> f32 {
    return tanh(clamp(x, -TANH_MAX, TANH_MAX));
}

// tanh(u)/u
fn tau_f(u: f32) -> f32 {
    let a = abs(u);
    if a < SERIES {
        let u2 = u * u;
        return 1.0 + u2 * (-1.0 / 3.0 + u2 * (2.0 / 15.0 - u2 * (17.0 / 315.0)));
    }
    return tanh_c(a) / a;
}

// (d/du (tanh(u)/u)) / u = (u sech²u - tanh u) / u³
fn tau_h(u: f32) -> f32 {
    let a = abs(u);
    if a < SERIES {
        let u2 = u * u;
        return -2.0 / 3.0 + u2 * (8.0 / 15.0 + u2 * (-34.0 / 105.0 + u2 * (496.0 / 2835.0)));
    }
    let t = tanh_c(a);
    return (a * (1.0 - t * t) - t) / (a * a * a);
}

// artanh(s)/s for s >= 0, with s clamped to S_MAX in the artanh.
fn atanh_f(s: f32) -> f32 {
    if s < SERIES {
        let s2 = s * s;
        return 1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0)));
    }
    let sc = min(s, S_MAX);
    return 0.5 * log((1.0 + sc) / (1.0 - sc)) / s;
}

// (d/ds (artanh(s)/s)) / s; past S_MAX the derivative of artanh(S_MAX)/s.
fn atanh_h(s: f32) -> f32 {
    if s < SERIES {
        let s2 = s * s;
        return 2.0 / 3.0 + s2 * (4.0 / 5.0 + s2 * (6.0 / 7.0 + s2 * (8.0 / 9.0)));
    }
    if s > S_MAX {
        return -atanh_f(s) / (s * s);
    }
    let at = 0.5 * log((1.0 + s) / (1.0 - s));
    return (s / (1.0 - s * s) - at) / (s * s * s);
}

// arcosh(1 + t) for t >= 0 (series sqrt(2t)(1 - t/12 + 3t²/160) for t < 1e-3).
fn acosh1p(t: f32) -> f32 {
    if t < 1e-3 {
        return sqrt(2.0 * t) * (1.0 + t * (-1.0 / 12.0 + t * (3.0 / 160.0)));
    }
    return log(1.0 + t + sqrt(t * (t + 2.0)));
}

// asinh(w), odd, with the series w - w³/6 near 0 and log(2|w|) for |w| > 1e4.
fn asinh_s(w: f32) -> f32 {
    let a = abs(w);
    var r: f32;
    if a < 1e-3 {
        r = a * (1.0 - a * a / 6.0);
    } else if a > 1e4 {
        r = log(2.0 * a);
    } else {
        r = log(a + sqrt(a * a + 1.0));
    }
    return select(r, -r, w < 0.0);
}
