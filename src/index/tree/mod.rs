//! A balanced k-means tree over grid embeddings, built on the device
//! ([`build`]: k-means levels, spilled copies), and batched beam search down
//! it ([`search`]).
//!
//! Build, level by level (every node of a level is split at once): each node
//! picks B distinct members at random (seeded) as initial centroids; Lloyd
//! iterations (on a sample of about 256 points per child) assign each point to the best of its node's B centroids
//! (`assign` kernel) and re-average (`accumulate` kernel; cosine: normalised
//! mean, Poincaré: exp₀ of the mean of log₀, projected into the ball); a final
//! balanced split gives child j of a node of s points exactly
//! ⌊s/B⌋ + [j < s mod B] points (greedy on the score matrix, best pairs first),
//! and the centroids are re-averaged over those members. After D levels the
//! B^D leaves hold contiguous runs of a permutation of the grid ("slots"),
//! and leaf `ℓ` written in base B (D digits, most significant first) is the
//! **path code** of its loci.
//!
//! Spill (optional, after the build): the balanced split leaves many points
//! outside the leaf whose centroid is nearest to them (41% of E. coli's
//! grid), and a query near such a point is routed to that nearer leaf. Each
//! grid k-mer is therefore also copied into its `s` nearest leaves (by a
//! narrow beam search of its own embedding) other than its own; a leaf's
//! slot run holds its own members first, then the copies (`spilled`).
//!
//! Search: a beam of W nodes per query goes down the levels (`beam_step`:
//! score the W·B children, keep the best W), then the W chosen leaves are
//! scanned exactly for the best M loci. With W ≥ B^D every leaf is scanned
//! and the search is exact. The scan has three kernels with one result
//! ([`ScanLayout`]): `list_scan` (leaf-major: a workgroup per leaf piece
//! and the queries that chose it, one dispatch per pass; the default on
//! every adapter), `window_scan` (lanes on queries, one window of rows per
//! dispatch; llvmpipe's layout before the list scan) and `leaf_scan` (a
//! workgroup per query, lanes on slots; float rows only).

mod build;
mod search;

pub use build::{
    build, check_spill, nearest_leaves, order_children, spill, BuildConfig, NearestConfig,
    MAX_SPILL, SPILL_WIDTH,
};
pub use search::{BeamConfig, DeviceTree, RowSource, ScanLayout, DEFAULT_BEAM, SPLIT_MAX};

use crate::backend::Backend;
use crate::error::{CrestError, Result};
use crate::ops::index as ix;

/// Shape of a tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TreeShape {
    /// Children per node (a power of two, 2..=64).
    pub branch: usize,
    /// Levels below the root.
    pub depth: usize,
}

impl TreeShape {
    /// The shallowest tree with branch `b` whose leaves hold at most about
    /// `leaf` points each (depth ≥ 1).
    pub fn for_points(n: usize, branch: usize, leaf: usize) -> TreeShape {
        let mut depth = 1;
        while n.div_ceil(branch.pow(depth as u32)) > leaf.max(1) && depth < 8 {
            depth += 1;
        }
        TreeShape { branch, depth }
    }

    /// Reject shapes the kernels and path codes cannot hold.
    pub fn validate(&self) -> Result<()> {
        if !(2..=64).contains(&self.branch) || !self.branch.is_power_of_two() {
            return Err(CrestError::Invalid(format!(
                "tree branching {} must be a power of two in 2..=64",
                self.branch
            )));
        }
        if self.depth == 0 || self.bits() > 32 {
            return Err(CrestError::Invalid(format!(
                "tree depth {} with branching {} gives {} path bits (1..=32)",
                self.depth,
                self.branch,
                self.bits()
            )));
        }
        Ok(())
    }

    /// Leaves (B^D).
    pub fn leaves(&self) -> usize {
        self.branch.pow(self.depth as u32)
    }

    /// Bits of a path code (D · log2 B).
    pub fn bits(&self) -> usize {
        self.depth * self.branch.trailing_zeros() as usize
    }
}

/// A built tree (host copy).
#[derive(Clone, Debug, PartialEq)]
pub struct Tree {
    /// Shape.
    pub shape: TreeShape,
    /// Centroids of levels 1..=D: level ℓ has B^ℓ rows of `dim` floats
    /// (node n's children are rows n·B .. n·B + B of the next level).
    pub centroids: Vec<Vec<f32>>,
    /// Slot offsets of the leaves (B^D + 1).
    pub leaf_offsets: Vec<u32>,
    /// Grid index of each slot.
    pub perm: Vec<u32>,
    /// Spilled copies at the end of each leaf's slot run (B^D values), or
    /// empty when nothing was spilled.
    pub spilled: Vec<u32>,
}

impl Tree {
    /// Spilled copies in leaf `leaf`.
    pub fn spilled_in(&self, leaf: usize) -> usize {
        self.spilled.get(leaf).map_or(0, |&s| s as usize)
    }

    /// The slots of leaf `leaf` holding its own members (not copies).
    pub fn own_slots(&self, leaf: usize) -> std::ops::Range<usize> {
        let lo = self.leaf_offsets[leaf] as usize;
        let hi = self.leaf_offsets[leaf + 1] as usize;
        lo..hi - self.spilled_in(leaf).min(hi - lo)
    }

    /// The tree of `leaves` (`keep` per grid k-mer: its own leaf, then the
    /// leaves holding its copies; a repeat of an earlier entry is no copy):
    /// each leaf's slots hold its own members, then copies of others, each
    /// in grid order.
    pub fn from_assignments(
        shape: TreeShape,
        centroids: Vec<Vec<f32>>,
        leaves: &[u32],
        keep: usize,
    ) -> Tree {
        let nl = shape.leaves();
        let keep = keep.max(1);
        let n = leaves.len() / keep;
        let mut own = vec![0u32; nl];
        let mut copies = vec![0u32; nl];
        let mut extra: Vec<(u32, u32)> = Vec::new();
        for (j, near) in leaves.chunks(keep).enumerate() {
            own[near[0] as usize] += 1;
            for (r, &l) in near.iter().enumerate().skip(1) {
                if l != near[0] && !near[1..r].contains(&l) {
                    copies[l as usize] += 1;
                    extra.push((l, j as u32));
                }
            }
        }
        let mut offsets = Vec::with_capacity(nl + 1);
        let mut at = 0u32;
        for l in 0..nl {
            offsets.push(at);
            at += own[l] + copies[l];
        }
        offsets.push(at);
        let mut fill: Vec<u32> = offsets[..nl].to_vec();
        let mut perm = vec![0u32; at as usize];
        for j in 0..n {
            let l = leaves[j * keep] as usize;
            perm[fill[l] as usize] = j as u32;
            fill[l] += 1;
        }
        // copies after each leaf's own members, in grid order (j ascending)
        for (l, j) in extra {
            perm[fill[l as usize] as usize] = j;
            fill[l as usize] += 1;
        }
        Tree {
            shape,
            centroids,
            leaf_offsets: offsets,
            perm,
            spilled: if keep > 1 { copies } else { Vec::new() },
        }
    }

    /// Each grid k-mer's leaves, `keep` per k-mer: its own, then those
    /// holding its copies, padded with its own ([`Tree::from_assignments`]
    /// gives the tree back, slots in grid order within each run). Errors
    /// when a k-mer has more than `keep − 1` copies.
    pub fn assignments(&self, keep: usize) -> Result<Vec<u32>> {
        let keep = keep.max(1);
        let own = self.codes();
        let mut out: Vec<u32> = own
            .iter()
            .flat_map(|&l| std::iter::repeat_n(l, keep))
            .collect();
        let mut used = vec![1usize; own.len()];
        for leaf in 0..self.shape.leaves() {
            let end = self.leaf_offsets[leaf + 1] as usize;
            for &j in &self.perm[self.own_slots(leaf).end..end] {
                let j = j as usize;
                if used[j] >= keep {
                    return Err(CrestError::Invalid(format!(
                        "grid k-mer {j} has more than {} spilled copies",
                        keep - 1
                    )));
                }
                out[j * keep + used[j]] = leaf as u32;
                used[j] += 1;
            }
        }
        Ok(out)
    }

    /// The same tree with every leaf's own members and copies each in grid
    /// order (what an index file gives back).
    pub fn normalised(&self, keep: usize) -> Result<Tree> {
        Ok(Tree::from_assignments(
            self.shape,
            self.centroids.clone(),
            &self.assignments(keep)?,
            keep,
        ))
    }

    /// Remove every spilled copy (each leaf keeps its own members).
    pub fn drop_copies(&mut self) {
        let leaves = self.shape.leaves();
        let mut offsets = Vec::with_capacity(leaves + 1);
        let mut perm = Vec::with_capacity(self.points());
        for l in 0..leaves {
            offsets.push(perm.len() as u32);
            perm.extend(self.own_slots(l).map(|s| self.perm[s]));
        }
        offsets.push(perm.len() as u32);
        self.leaf_offsets = offsets;
        self.perm = perm;
        self.spilled = Vec::new();
    }

    /// Grid k-mers (the primary slots).
    pub fn points(&self) -> usize {
        self.perm.len() - self.spilled.iter().map(|&s| s as usize).sum::<usize>()
    }

    /// Path code (leaf index) of every grid k-mer: the leaf it was split
    /// into (spilled copies elsewhere are not its code).
    pub fn codes(&self) -> Vec<u32> {
        let mut codes = vec![0u32; self.points()];
        for leaf in 0..self.shape.leaves() {
            for s in self.own_slots(leaf) {
                codes[self.perm[s] as usize] = leaf as u32;
            }
        }
        codes
    }

    /// Check internal consistency (a loaded file).
    pub fn validate(&self, n: usize, dim: usize) -> Result<()> {
        self.shape.validate()?;
        let bad = |m: String| Err(CrestError::Invalid(format!("index tree: {m}")));
        if self.centroids.len() != self.shape.depth {
            return bad(format!(
                "{} centroid levels for depth {}",
                self.centroids.len(),
                self.shape.depth
            ));
        }
        for (l, c) in self.centroids.iter().enumerate() {
            if c.len() != self.shape.branch.pow(l as u32 + 1) * dim {
                return bad(format!("level {} has {} values", l + 1, c.len()));
            }
        }
        let leaves = self.shape.leaves();
        let lo = &self.leaf_offsets;
        if lo.len() != leaves + 1
            || lo[0] != 0
            || lo.windows(2).any(|w| w[0] > w[1])
            || *lo.last().unwrap_or(&0) as usize != self.perm.len()
        {
            return bad("leaf offsets do not cover the slots".into());
        }
        if !(self.spilled.is_empty() || self.spilled.len() == leaves)
            || (0..leaves).any(|l| self.spilled_in(l) > (lo[l + 1] - lo[l]) as usize)
        {
            return bad("spilled counts do not match the leaves".into());
        }
        // own slots: a permutation of the grid; copies: grid k-mers not
        // already in that leaf
        let mut seen = vec![false; n];
        let mut in_leaf = vec![u32::MAX; n];
        for leaf in 0..leaves {
            let own = self.own_slots(leaf);
            for (s, &j) in self.perm[lo[leaf] as usize..lo[leaf + 1] as usize]
                .iter()
                .enumerate()
            {
                let j = j as usize;
                if j >= n {
                    return bad(format!("slot holds grid index {j} of {n}"));
                }
                if own.start + s < own.end && std::mem::replace(&mut seen[j], true) {
                    return bad("slot permutation is not a permutation".into());
                }
                if std::mem::replace(&mut in_leaf[j], leaf as u32) == leaf as u32 {
                    return bad(format!("grid index {j} twice in leaf {leaf}"));
                }
            }
        }
        if self.points() != n || seen.iter().any(|&s| !s) {
            return bad("slot permutation has the wrong length".into());
        }
        Ok(())
    }
}

/// Rows per data chunk so that one chunk fits the device's binding cap
/// and no invocation loops over more than `loop_rows` of its rows (the
/// per-invocation loop budget, [`crate::ops::LOOP_BUDGET`]); a multiple of
/// the blocked layout's block.
pub(crate) fn chunk_rows(be: &Backend, dim: usize, loop_rows: usize) -> usize {
    let cap = match be {
        Backend::Gpu(g) => g.binding_cap() as usize,
        Backend::CpuReference => usize::MAX / 8,
    };
    ((cap / (16 * ix::dim4(dim).max(1))).min(loop_rows) / ix::BLOCK * ix::BLOCK).max(ix::BLOCK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_round_trip_own_members_first_then_copies() {
        let shape = TreeShape {
            branch: 2,
            depth: 1,
        };
        // k-mer 0: own 1, copy 0; 1: own 0, copy 0 (same: no copy); 2: own 1, copy 0
        let t = Tree::from_assignments(shape, vec![vec![0.0; 4]], &[1, 0, 0, 0, 1, 0], 2);
        assert_eq!(t.leaf_offsets, vec![0, 3, 5]);
        assert_eq!(t.perm, vec![1, 0, 2, 0, 2]);
        assert_eq!(t.spilled, vec![2, 0]);
        t.validate(3, 2).unwrap();
        assert_eq!(t.assignments(2).unwrap(), vec![1, 0, 0, 0, 1, 0]);
        assert_eq!(t.normalised(2).unwrap(), t);
        assert!(t.assignments(1).is_err(), "copies need room");
        let plain = Tree::from_assignments(shape, vec![vec![0.0; 4]], &[1, 0, 1], 1);
        assert_eq!(plain.perm, vec![1, 0, 2]);
        assert!(plain.spilled.is_empty());
        plain.validate(3, 2).unwrap();
        // an unsorted leaf run comes back sorted
        let mut shuffled = plain.clone();
        shuffled.perm = vec![1, 2, 0];
        shuffled.leaf_offsets = vec![0, 1, 3];
        assert_eq!(shuffled.normalised(1).unwrap().perm, vec![1, 0, 2]);
    }

    #[test]
    fn shape_for_points() {
        assert_eq!(TreeShape::for_points(580_000, 16, 256).depth, 3);
        assert_eq!(TreeShape::for_points(2_000, 16, 256).depth, 1);
        assert_eq!(TreeShape::for_points(2_000, 4, 256).bits(), 4);
        assert!(TreeShape {
            branch: 3,
            depth: 2
        }
        .validate()
        .is_err());
        assert!(TreeShape {
            branch: 16,
            depth: 9
        }
        .validate()
        .is_err());
    }
}
