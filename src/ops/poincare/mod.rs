//! Poincaré-ball layers (curvature −c): exp/log maps at the origin, projection,
//! Möbius addition, Möbius scalar and matrix–vector products, pairwise
//! distances and the HNN++ multinomial logistic regression, each forward and
//! backward (including ∂/∂c, so that the curvature can be learned). See
//! `shaders/poincare.wgsl` for the formulas and `shaders/hyperbolic.wgsl` for
//! the stable forms and clamps; the CPU twins here use the same constants and
//! series thresholds and compute in f64.
//!
//! The curvature is a one-element tensor (`curv`), read on the device.
//! Backward ops return ∂L/∂c per row (`dc`); the caller sums them.
//!
//! One file per op (or pair of ops sharing a shape), each with its CPU twins,
//! its launchers and a shape type ([`Rows`], [`MobiusDims`], [`MatvecDims`],
//! [`PdistDims`], [`MlrDims`]); a backward pass writes into a struct of
//! gradient outputs ([`RowGrads`], [`AddGrads`], …), generic over what holds
//! them: `&mut [T]` for a twin, `&GpuBuf` for a launcher, a backend's tensors.

use super::{need, Real};
use crate::error::Result;
use crate::gpu::GpuBuf;

/// A struct with one public field per tensor, generic over what holds the
/// tensors (`&mut [T]` for a CPU twin, `&GpuBuf` for a launcher, a backend's
/// `&mut Tensor`), with `try_map` to go from one to another.
macro_rules! tensor_group {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Debug)]
        pub struct $name<O> {
            $($(#[$fmeta])* pub $field: O,)+
        }

        impl<O> $name<O> {
            /// The same tensors through `f` (e.g. a backend's tensors to a
            /// twin's slices or a launcher's buffers); the first error stops it.
            pub fn try_map<P, E>(
                self,
                mut f: impl FnMut(O) -> std::result::Result<P, E>,
            ) -> std::result::Result<$name<P>, E> {
                Ok($name {
                    $($field: f(self.$field)?,)+
                })
            }
        }
    };
}
pub(crate) use tensor_group;

mod launch;
mod matvec;
mod mlr;
mod mobius;
mod pdist;
mod project;
mod radial;

pub use matvec::{
    matvec_scale_bwd_cpu, matvec_scale_bwd_gpu, matvec_scale_cpu, matvec_scale_gpu, MatvecDims,
    MatvecGrads,
};
pub use mlr::{mlr_bwd_cpu, mlr_bwd_gpu, mlr_cpu, mlr_gpu, MlrClasses, MlrDims, MlrGrads};
pub use mobius::{
    mobius_add_bwd_cpu, mobius_add_bwd_gpu, mobius_add_cpu, mobius_add_gpu, mobius_scalar_bwd_cpu,
    mobius_scalar_bwd_gpu, mobius_scalar_cpu, mobius_scalar_gpu, AddGrads, MobiusDims, ScalarGrads,
};
pub use pdist::{
    pdist_aux_len, pdist_bwd_cpu, pdist_bwd_gpu, pdist_cpu, pdist_gpu, PdistDims, PdistGrads,
    PointSets,
};
pub use project::{project_bwd_cpu, project_bwd_gpu, project_cpu, project_gpu};
pub use radial::{radial_bwd_cpu, radial_bwd_gpu, radial_cpu, radial_gpu};

/// Full WGSL source (helpers + `poincare.wgsl`).
pub fn source() -> &'static str {
    static S: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    S.get_or_init(|| {
        format!(
            "{}\n{}",
            include_str!("../../../shaders/hyperbolic.wgsl"),
            include_str!("../../../shaders/poincare.wgsl")
        )
    })
}

/// Default projection margin ε: points are kept at ‖x‖ ≤ (1 − ε)/√c
/// (geoopt's value for f32).
pub const PROJ_EPS: f32 = 4e-3;

// Constants of shaders/hyperbolic.wgsl.
pub(crate) const SERIES: f64 = 0.1;
pub(crate) const S_MAX: f64 = 0.99999;
pub(crate) const C_MIN: f64 = 1e-6;
pub(crate) const CONF_MIN: f64 = 1e-7;
pub(crate) const TANH_MAX: f64 = 15.0;

/// Which radial map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Radial {
    /// exp₀(v) = tanh(√c‖v‖) v/(√c‖v‖).
    Exp0,
    /// log₀(y) = artanh(√c‖y‖) y/(√c‖y‖).
    Log0,
}

impl Radial {
    fn mode(self) -> u32 {
        match self {
            Radial::Exp0 => 0,
            Radial::Log0 => 1,
        }
    }
}

/// Shape of a row-wise op ([`radial_cpu`], [`project_cpu`], Riemannian Adam):
/// `rows` vectors of width `dim`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rows {
    /// Number of rows.
    pub rows: usize,
    /// Width of each row.
    pub dim: usize,
}

impl Rows {
    /// `rows` rows of width `dim`.
    pub fn new(rows: usize, dim: usize) -> Self {
        Rows { rows, dim }
    }

    /// A row map's forward operands: `x` and `out` are both rows × dim.
    fn check<W: Words + ?Sized>(&self, op: &'static str, x: &W, out: &W) -> Result<()> {
        check_rows(op, "x", x.words(), self.rows, self.dim)?;
        check_rows(op, "out", out.words(), self.rows, self.dim)
    }

    /// A row map's backward operands: `x`, `g` and `dx` are rows × dim,
    /// `dc` has one value per row.
    fn check_bwd<W: Words + ?Sized, O: Words>(
        &self,
        op: &'static str,
        x: &W,
        g: &W,
        grads: &RowGrads<O>,
    ) -> Result<()> {
        check_rows(op, "x", x.words(), self.rows, self.dim)?;
        check_rows(op, "g", g.words(), self.rows, self.dim)?;
        check_rows(op, "dx", grads.dx.words(), self.rows, self.dim)?;
        need(op, "dc", grads.dc.words(), self.rows)
    }
}

tensor_group! {
    /// Outputs of a row map's backward pass ([`radial_bwd_cpu`],
    /// [`project_bwd_cpu`]).
    RowGrads {
        /// ∂L/∂x (rows × dim).
        dx,
        /// ∂L/∂c per row.
        dc,
    }
}

/// Length in elements of an operand, a CPU slice or a GPU buffer alike, so
/// that a twin and its launcher share one shape check.
trait Words {
    fn words(&self) -> usize;
}

impl<T> Words for [T] {
    fn words(&self) -> usize {
        self.len()
    }
}

impl Words for GpuBuf {
    fn words(&self) -> usize {
        self.len
    }
}

impl<W: Words + ?Sized> Words for &W {
    fn words(&self) -> usize {
        (**self).words()
    }
}

impl<W: Words + ?Sized> Words for &mut W {
    fn words(&self) -> usize {
        (**self).words()
    }
}

/// Curvature as used by the kernels (clamped to at least 1e-6).
pub fn curv_of(c: f64) -> f64 {
    c.max(C_MIN)
}

fn tanh_c(x: f64) -> f64 {
    x.clamp(-TANH_MAX, TANH_MAX).tanh()
}

/// tanh(u)/u.
pub fn tau_f(u: f64) -> f64 {
    let a = u.abs();
    if a < SERIES {
        let u2 = u * u;
        return 1.0 + u2 * (-1.0 / 3.0 + u2 * (2.0 / 15.0 - u2 * (17.0 / 315.0)));
    }
    tanh_c(a) / a
}

/// (d/du tanh(u)/u) / u.
pub fn tau_h(u: f64) -> f64 {
    let a = u.abs();
    if a < SERIES {
        let u2 = u * u;
        return -2.0 / 3.0 + u2 * (8.0 / 15.0 + u2 * (-34.0 / 105.0 + u2 * (496.0 / 2835.0)));
    }
    let t = tanh_c(a);
    (a * (1.0 - t * t) - t) / (a * a * a)
}

/// artanh(s)/s for s ≥ 0 (argument clamped to 1 − 1e-5).
pub fn atanh_f(s: f64) -> f64 {
    if s < SERIES {
        let s2 = s * s;
        return 1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0)));
    }
    let sc = s.min(S_MAX);
    0.5 * ((1.0 + sc) / (1.0 - sc)).ln() / s
}

/// (d/ds artanh(s)/s) / s (past the clamp, the derivative of artanh(S_MAX)/s).
pub fn atanh_h(s: f64) -> f64 {
    if s < SERIES {
        let s2 = s * s;
        return 2.0 / 3.0 + s2 * (4.0 / 5.0 + s2 * (6.0 / 7.0 + s2 * (8.0 / 9.0)));
    }
    if s > S_MAX {
        return -atanh_f(s) / (s * s);
    }
    let at = 0.5 * ((1.0 + s) / (1.0 - s)).ln();
    (s / (1.0 - s * s) - at) / (s * s * s)
}

/// arcosh(1 + t), t ≥ 0.
pub fn acosh1p(t: f64) -> f64 {
    if t < 1e-3 {
        return (2.0 * t).sqrt() * (1.0 + t * (-1.0 / 12.0 + t * (3.0 / 160.0)));
    }
    (1.0 + t + (t * (t + 2.0)).sqrt()).ln()
}

/// asinh(w).
pub fn asinh_s(w: f64) -> f64 {
    let a = w.abs();
    let r = if a < 1e-3 {
        a * (1.0 - a * a / 6.0)
    } else if a > 1e4 {
        (2.0 * a).ln()
    } else {
        (a + (a * a + 1.0).sqrt()).ln()
    };
    if w < 0.0 {
        -r
    } else {
        r
    }
}

fn f<T: Real>(x: T) -> f64 {
    x.to_f64()
}

fn t<T: Real>(x: f64) -> T {
    T::from_f64(x)
}

fn dot<T: Real>(a: &[T], b: &[T]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| f(x) * f(y)).sum()
}

fn check_rows(op: &'static str, what: &str, have: usize, rows: usize, dim: usize) -> Result<()> {
    need(op, what, have, rows * dim)
}
