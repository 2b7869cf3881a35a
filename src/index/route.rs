//! The router: a bit head that reads a query's leaf path code from its
//! projection `z` (per-bit logits over the tree's D·log2 B path bits),
//! trained on augmented read windows (the query distribution: damage,
//! truncation, both strands) after the tree is built (`crest index
//! --route-steps`). Its 2^flip most probable leaves per query (batched
//! bit-decoding on the device) are scanned exactly like the leaves the beam
//! reaches, alone (`--propose route`) or together with them (`--propose
//! index,route`): the tree routes by centroids of clean reference k-mers, the
//! router by where damaged reads of each leaf actually land.

use crate::backend::{Backend, Tensor};
use crate::error::{CrestError, Result};
use crate::model::{BitHead, HeadConfig};
use crate::ops::index::NONE;

use super::TreeShape;

/// Prefix of the router's tensors in an index file.
pub const TENSOR_PREFIX: &str = "route.";

/// Default router width: leaves proposed per query.
pub const DEFAULT_WIDTH: usize = 32;

/// How the router was trained (index metadata).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RouteMeta {
    /// Head architecture (input = the encoder's proj_dim, bits = path bits).
    pub head: HeadConfig,
    /// Optimiser steps.
    pub steps: u64,
    /// Windows per step.
    pub batch: usize,
    /// Seed of the training windows and the initial weights.
    pub seed: u64,
    /// Mean per-bit BCE over the last steps of training.
    pub final_bce: f64,
}

/// Check router tensors (head names, host copies) against their metadata,
/// the tree they route in and the embedding size.
pub fn validate(
    meta: &RouteMeta,
    tensors: &[(String, Vec<f32>)],
    shape: &TreeShape,
    dim: usize,
) -> Result<()> {
    let h = &meta.head;
    if h.bits != shape.bits() || h.input != dim {
        return Err(CrestError::Invalid(format!(
            "router reads {} bits from {} inputs; the tree has {} path bits over {dim}-d embeddings",
            h.bits,
            h.input,
            shape.bits()
        )));
    }
    if tensors.len() != h.layout().len() {
        return Err(CrestError::Invalid(format!(
            "router has {} tensors, its head {}",
            tensors.len(),
            h.layout().len()
        )));
    }
    for (name, shape, _, _) in h.layout() {
        let n: usize = shape.iter().product();
        match tensors.iter().find(|(nm, _)| *nm == name) {
            Some((_, v)) if v.len() == n && v.iter().all(|x| x.is_finite()) => {}
            Some(_) => {
                return Err(CrestError::Invalid(format!(
                    "router tensor {name} has the wrong size or non-finite values"
                )))
            }
            None => {
                return Err(CrestError::Invalid(format!(
                    "router tensor {name} is missing"
                )))
            }
        }
    }
    Ok(())
}

/// A router on the backend.
pub struct Router {
    head: BitHead,
    leaves: usize,
}

impl Router {
    /// Upload a router for a tree of `shape`.
    pub fn new(
        be: &Backend,
        meta: &RouteMeta,
        tensors: &[(String, Vec<f32>)],
        shape: &TreeShape,
    ) -> Result<Self> {
        Ok(Router {
            head: BitHead::from_values(be, &meta.head, tensors.to_vec())?,
            leaves: shape.leaves(),
        })
    }

    /// The `width` (a power of two, ≤ 256) most probable leaves of each of
    /// `nq` queries `z` by flipping the least confident path bits; NONE where
    /// a code is not a leaf.
    pub fn leaves(&self, be: &Backend, z: &Tensor, nq: usize, width: usize) -> Result<Vec<u32>> {
        let flip = width_flips(width)?;
        let h = self.head.forward(be, z, nq)?;
        let codes = be.decode(&h.logits, nq, self.head.cfg.bits, flip, self.leaves as u32)?;
        Ok(codes
            .into_iter()
            .map(|(c, s)| {
                if s > -1e30 && (c as usize) < self.leaves {
                    c
                } else {
                    NONE
                }
            })
            .collect())
    }
}

/// log2 of a router width (a power of two up to 2^MAX_FLIP).
pub fn width_flips(width: usize) -> Result<u32> {
    let max = 1usize << crate::ops::bithead::MAX_FLIP;
    if !width.is_power_of_two() || width > max {
        return Err(CrestError::Invalid(format!(
            "router width {width} must be a power of two up to {max}"
        )));
    }
    Ok(width.trailing_zeros())
}

/// Per query, the leaves of `a` (width `wa`) then those of `b` (width `wb`)
/// not already listed, NONE-padded to `wa + wb`.
pub fn union_leaves(a: &[u32], wa: usize, b: &[u32], wb: usize, nq: usize) -> Vec<u32> {
    let w = wa + wb;
    let mut out = vec![NONE; nq * w];
    for q in 0..nq {
        let row = &mut out[q * w..(q + 1) * w];
        let mut n = 0;
        for &l in a[q * wa..(q + 1) * wa]
            .iter()
            .chain(&b[q * wb..(q + 1) * wb])
        {
            if l != NONE && !row[..n].contains(&l) {
                row[n] = l;
                n += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_keeps_order_and_drops_duplicates() {
        let a = [3, 1, NONE, 7, 2, 5];
        let b = [1, 4, 9, 9];
        let u = union_leaves(&a, 3, &b, 2, 2);
        assert_eq!(u, vec![3, 1, 4, NONE, NONE, 7, 2, 5, 9, NONE]);
    }

    #[test]
    fn widths_are_powers_of_two() {
        assert_eq!(width_flips(1).unwrap(), 0);
        assert_eq!(width_flips(32).unwrap(), 5);
        assert!(width_flips(24).is_err());
        assert!(width_flips(512).is_err());
    }
}
