//! One fully connected layer, `y = x Wᵀ + b`, on the backend: its parameter
//! layout, forward pass and backward pass (gradients of W and b written into
//! the parameters, dL/dx returned unless it is a first layer's). Every MLP in crest (the bit
//! head, the k-mer classifier encoder) is built from it.

use super::encoder::{Layout, Param};
use crate::backend::{Backend, Tensor};
use crate::error::Result;
use crate::ops::elementwise::ChannelShape;
use crate::ops::gemm::GemmDims;

/// Shape of a fully connected layer: W is `[output, input]`, b is `[output]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Linear {
    /// Input features.
    pub input: usize,
    /// Output features.
    pub output: usize,
}

impl Linear {
    /// Layout entries `{name}.w` (fan-in `input`, weight-decayed) and `{name}.b`.
    pub fn layout(&self, name: &str) -> Layout {
        self.layout_named(&format!("{name}.w"), &format!("{name}.b"))
    }

    /// Layout entries with explicit tensor names for W and b.
    pub fn layout_named(&self, w: &str, b: &str) -> Layout {
        vec![
            (w.into(), vec![self.output, self.input], self.input, true),
            (b.into(), vec![self.output], 0, false),
        ]
    }

    /// Floating-point operations of the forward GEMM per row.
    pub fn flops_per_row(&self) -> f64 {
        2.0 * (self.input * self.output) as f64
    }

    /// `y = x Wᵀ + b` for `rows` rows of `x` (`[rows, input]`).
    pub fn forward(
        &self,
        be: &Backend,
        x: &Tensor,
        rows: usize,
        w: &Param,
        b: &Param,
    ) -> Result<Tensor> {
        let mut xw = be.zeros(rows * self.output)?;
        be.gemm(
            &GemmDims::new(rows, self.output, self.input, false, true),
            x,
            &w.value,
            &mut xw,
        )?;
        let mut y = be.zeros(rows * self.output)?;
        be.bias_add(&self.channels(rows), &xw, &b.value, &mut y)?;
        Ok(y)
    }

    /// From dL/dy: dL/dW into `w.grad` and dL/db into `b.grad` (both
    /// overwritten); nothing for the input (a first layer).
    pub fn backward_params(
        &self,
        be: &Backend,
        x: &Tensor,
        dy: &Tensor,
        rows: usize,
        w: &mut Param,
        b: &mut Param,
    ) -> Result<()> {
        be.gemm(
            &GemmDims::new(self.output, self.input, rows, true, false),
            dy,
            x,
            &mut w.grad,
        )?;
        be.channel_sum(&self.channels(rows), dy, &mut b.grad)
    }

    /// From dL/dy: the parameters' gradients as [`Linear::backward_params`],
    /// then dL/dx, returned.
    pub fn backward(
        &self,
        be: &Backend,
        x: &Tensor,
        dy: &Tensor,
        rows: usize,
        w: &mut Param,
        b: &mut Param,
    ) -> Result<Tensor> {
        self.backward_params(be, x, dy, rows, w, b)?;
        let mut dx = be.zeros(rows * self.input)?;
        be.gemm(
            &GemmDims::new(rows, self.input, self.output, false, false),
            dy,
            &w.value,
            &mut dx,
        )?;
        Ok(dx)
    }

    fn channels(&self, rows: usize) -> ChannelShape {
        ChannelShape {
            outer: rows,
            channels: self.output,
            inner: 1,
        }
    }
}
