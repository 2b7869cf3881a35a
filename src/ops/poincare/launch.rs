//! What every Poincaré launcher shares: the parameter block, the bindings of
//! `shaders/poincare.wgsl` and one dispatch over a 1-D grid.

use super::source;
use crate::error::{CrestError, Result};
use crate::gpu::{Arg, Gpu, GpuBuf, Kernel};

/// The shader's uniform block.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct Params {
    rows: u32,
    dim: u32,
    other: u32,
    mode: u32,
    eps: f32,
    _p: [u32; 3],
}

impl Params {
    /// `rows`, `dim`, `other` (second operand's rows, classes, …), `mode`
    /// (radial map, input width, aux on/off) and `eps` (margin or scale), as
    /// each entry point reads them.
    pub(super) fn new(rows: usize, dim: usize, other: usize, mode: u32, eps: f32) -> Self {
        Params {
            rows: rows as u32,
            dim: dim as u32,
            other: other as u32,
            mode,
            eps,
            _p: [0; 3],
        }
    }
}

/// Storage bindings 1–8 of one dispatch (0 is [`Params`]): the curvature,
/// inputs `x`, `y`, `g`, outputs `out0`–`out2` and a side buffer `aux`;
/// those not set stay unbound.
#[derive(Clone, Copy, Default)]
pub(super) struct Bind<'a> {
    slots: [Option<&'a GpuBuf>; 8],
}

macro_rules! slot {
    ($($(#[$doc:meta])* $name:ident = $i:expr;)+) => {
        $(
            $(#[$doc])*
            pub(super) fn $name(mut self, b: &'a GpuBuf) -> Self {
                self.slots[$i] = Some(b);
                self
            }
        )+
    };
}

impl<'a> Bind<'a> {
    /// Bindings that start with the curvature tensor (binding 1).
    pub(super) fn curv(curv: &'a GpuBuf) -> Self {
        let mut bind = Bind::default();
        bind.slots[0] = Some(curv);
        bind
    }

    slot! {
        /// Binding 2: the first input.
        x = 1;
        /// Binding 3: the second input.
        y = 2;
        /// Binding 4: the upstream gradient.
        g = 3;
        /// Binding 5: the first output.
        out0 = 4;
        /// Binding 6: the second output.
        out1 = 5;
        /// Binding 7: the third output.
        out2 = 6;
        /// Binding 8: the side buffer.
        aux = 7;
    }
}

/// Dispatch `entry` over `items` invocations (64 to a workgroup), after
/// checking every bound buffer fits in one binding. Trailing unbound slots
/// are left out of the bind group.
pub(super) fn launch(
    gpu: &Gpu,
    entry: &'static str,
    p: Params,
    items: usize,
    bind: Bind<'_>,
) -> Result<()> {
    for b in bind.slots.iter().flatten() {
        crate::ops::fits(gpu, entry, b.len)?;
    }
    let mut args = vec![Arg::Uniform(bytemuck::bytes_of(&p))];
    args.extend(bind.slots.iter().map(|b| match b {
        Some(b) => Arg::Buf(b),
        None => Arg::Unused,
    }));
    while matches!(args.last(), Some(Arg::Unused)) {
        args.pop();
    }
    let kernel = Kernel {
        shader: "poincare",
        source: source(),
        entry,
    };
    gpu.dispatch(kernel, &args, gpu.grid_1d(items, 64))
}

/// Error unless the curvature tensor holds a value.
pub(super) fn one(op: &'static str, curv: &GpuBuf) -> Result<()> {
    if curv.len < 1 {
        return Err(CrestError::shape(op, "curvature tensor is empty"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_keep_the_shader_layout() {
        // poincare.wgsl's uniform: five scalars, padded to 32 bytes
        assert_eq!(std::mem::size_of::<Params>(), 32);
        let p = Params::new(3, 5, 7, 1, 0.25);
        let w: &[u32] = bytemuck::cast_slice(bytemuck::bytes_of(&p));
        assert_eq!(&w[..4], &[3, 5, 7, 1]);
        assert_eq!(f32::from_bits(w[4]), 0.25);
        assert_eq!(&w[5..], &[0, 0, 0]);
    }
}
