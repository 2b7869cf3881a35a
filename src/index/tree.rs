//! A balanced k-means tree over grid embeddings, built on the device, and
//! batched beam search down it.
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
//! and the search is exact. The scan has two kernels with one result
//! ([`ScanLayout`]): `leaf_scan` (a workgroup per query, lanes on slots) on
//! GPUs, `window_scan` (lanes on queries, one window of rows per dispatch)
//! on CPU adapters, where it is several times faster.

use crate::backend::{Backend, Tensor, Words};
use crate::error::{CrestError, Result};
use crate::ops::index::{self as ix, AssignDims, BeamDims, LeafDims, Metric, EMPTY, NONE};
use crate::ops::window_scan::{self as ws, WindowDims, WindowPlan};
use crate::rng::Rng;

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

/// Build options.
#[derive(Clone, Copy, Debug)]
pub struct BuildConfig {
    /// Tree shape.
    pub shape: TreeShape,
    /// Lloyd iterations per level.
    pub iters: usize,
    /// Seed of the initial centroids.
    pub seed: u64,
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
fn chunk_rows(be: &Backend, dim: usize, loop_rows: usize) -> usize {
    let cap = match be {
        Backend::Gpu(g) => g.binding_cap() as usize,
        Backend::CpuReference => usize::MAX / 8,
    };
    ((cap / (16 * ix::dim4(dim).max(1))).min(loop_rows) / ix::BLOCK * ix::BLOCK).max(ix::BLOCK)
}

/// Rows per k-means pass chunk: `accumulate` loops over a centroid's
/// members in the chunk, one iteration each.
fn pass_rows(be: &Backend, dim: usize) -> usize {
    chunk_rows(be, dim, crate::ops::LOOP_BUDGET / 2)
}

fn normalise_centroid(v: &mut [f32], metric: Metric) {
    match metric {
        Metric::Cosine => {
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            v.iter_mut().for_each(|x| *x /= n);
        }
        Metric::Poincare(c) => {
            // v is a tangent-space mean: exp₀, then keep inside the ball
            let sc = c.sqrt();
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            if n > 0.0 {
                let r = (sc * n).tanh() / (sc * n);
                let maxr = (1.0 - crate::ops::poincare::PROJ_EPS) / sc;
                let scale = r.min(maxr / n);
                v.iter_mut().for_each(|x| *x *= scale);
            }
        }
    }
}

/// Tangent-space weight of a point (log₀(x) = w·x): 1 for cosine.
fn tangent_weight(x: &[f32], metric: Metric) -> f32 {
    match metric {
        Metric::Cosine => 1.0,
        Metric::Poincare(c) => {
            let sc = c.sqrt();
            let n = x.iter().map(|v| v * v).sum::<f32>().sqrt();
            let u = (sc * n).min(1.0 - 1e-5);
            if u < 1e-6 {
                1.0
            } else {
                u.atanh() / u
            }
        }
    }
}

/// Points of one k-means pass over a level (every `stride`-th slot), in slot
/// order, split into chunks on the backend, with the node of each.
struct Pass {
    parts: Vec<(usize, Tensor, Tensor)>,
    group: Vec<u32>,
    group_t: Words,
    rows: usize,
    dim: usize,
}

/// Lloyd iterations see about this many sampled points per child on average.
const SAMPLE_PER_CHILD: usize = 256;

impl Pass {
    #[allow(clippy::too_many_arguments)]
    fn new(
        be: &Backend,
        z: &[f32],
        order: &[u32],
        group: &[u32],
        dim: usize,
        metric: Metric,
        stride: usize,
    ) -> Result<Self> {
        let slots: Vec<usize> = (0..order.len()).step_by(stride.max(1)).collect();
        let rows_per = pass_rows(be, dim);
        let mut parts = Vec::new();
        for (ci, chunk) in slots.chunks(rows_per).enumerate() {
            let mut data = Vec::with_capacity(chunk.len() * dim);
            let mut w = Vec::with_capacity(chunk.len());
            for &s in chunk {
                let j = order[s] as usize;
                let row = &z[j * dim..(j + 1) * dim];
                data.extend_from_slice(row);
                w.push(tangent_weight(row, metric));
            }
            parts.push((
                ci * rows_per,
                be.upload(&ix::to_blocked(&data, dim))?,
                be.upload(&w)?,
            ));
        }
        let group: Vec<u32> = slots.iter().map(|&s| group[s]).collect();
        Ok(Pass {
            parts,
            group_t: be.upload_words(&group)?,
            group,
            rows: slots.len(),
            dim,
        })
    }

    /// Give every point of a full pass (stride 1) a new node.
    fn set_group(&mut self, be: &Backend, group: &[u32]) -> Result<()> {
        self.group = group.to_vec();
        self.group_t = be.upload_words(group)?;
        Ok(())
    }

    /// Scores `[rows, B]` against each point's node's centroids, and the best child.
    fn assign(
        &self,
        be: &Backend,
        cent: &[f32],
        b: usize,
        metric: Metric,
    ) -> Result<(Vec<f32>, Vec<u32>)> {
        let ct = be.upload(&ix::pad_rows(cent, self.dim))?;
        let mut scores = be.zeros(self.rows * b)?;
        let mut best = be.upload_words(&vec![0u32; self.rows])?;
        for (row0, data, w) in &self.parts {
            let d = AssignDims {
                rows: w.len(),
                dim: self.dim,
                branch: b,
                row0: *row0,
            };
            be.kmeans_assign(&d, data, &ct, &self.group_t, metric, &mut scores, &mut best)?;
        }
        Ok((be.read(&scores)?, be.read_words(&best)?))
    }

    /// New centroids: normalised means of the members of each child (empty
    /// children keep theirs).
    fn recentre(
        &self,
        be: &Backend,
        child: &[u32],
        cent: &mut [f32],
        nc: usize,
        b: usize,
        metric: Metric,
    ) -> Result<()> {
        let dim = self.dim;
        let mut sums = be.zeros(nc * dim)?;
        let mut counts = vec![0usize; nc];
        for (row0, data, w) in &self.parts {
            let members: Vec<(u32, u32)> = (0..w.len())
                .map(|i| {
                    let row = row0 + i;
                    let c = self.group[row] * b as u32 + child[row];
                    counts[c as usize] += 1;
                    (c, i as u32)
                })
                .collect();
            let csr = be.upload_words(&ix::members_csr(&members, nc))?;
            be.kmeans_accumulate(data, &csr, w, nc, dim, &mut sums)?;
        }
        let sums = be.read(&sums)?;
        for c in 0..nc {
            if counts[c] == 0 {
                continue;
            }
            let v = &mut cent[c * dim..(c + 1) * dim];
            for (x, s) in v.iter_mut().zip(&sums[c * dim..(c + 1) * dim]) {
                *x = s / counts[c] as f32;
            }
            normalise_centroid(v, metric);
        }
        Ok(())
    }
}

/// Build a tree over `z` (`[n, dim]`, grid order). `progress(step, steps)`.
pub fn build(
    be: &Backend,
    z: &[f32],
    dim: usize,
    metric: Metric,
    cfg: &BuildConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Tree> {
    cfg.shape.validate()?;
    let n = z.len() / dim.max(1);
    if n == 0 || n > u32::MAX as usize / 2 {
        return Err(CrestError::Invalid(format!("cannot index {n} grid k-mers")));
    }
    let b = cfg.shape.branch;
    let mut rng = Rng::new(cfg.seed ^ 0x7472_6565_5f69_6478);
    let mut order: Vec<u32> = (0..n as u32).collect();
    // node ranges of the current level, over `order`
    let mut ranges: Vec<(usize, usize)> = vec![(0, n)];
    let mut centroids = Vec::with_capacity(cfg.shape.depth);
    let steps = cfg.shape.depth * (cfg.iters + 2);
    let mut step = 0;
    for _level in 0..cfg.shape.depth {
        let nn = ranges.len();
        let nc = nn * b;
        let mut group = vec![0u32; n];
        for (g, &(lo, hi)) in ranges.iter().enumerate() {
            group[lo..hi].iter_mut().for_each(|x| *x = g as u32);
        }
        // Lloyd iterations run on a sample (every r-th slot: about
        // SAMPLE_PER_CHILD points per child on average); the balanced split
        // and the final centroids use every point.
        let r = (n / (nc * SAMPLE_PER_CHILD).max(1)).max(1);
        let full = Pass::new(be, z, &order, &group, dim, metric, 1)?;
        let sample = if r > 1 {
            Some(Pass::new(be, z, &order, &group, dim, metric, r)?)
        } else {
            None
        };
        // initial centroids: B distinct random members per node (repeats when smaller)
        let mut cent = vec![0f32; nc * dim];
        for (g, &(lo, hi)) in ranges.iter().enumerate() {
            let s = hi - lo;
            let picks: Vec<usize> = if s == 0 {
                vec![]
            } else if s <= b {
                (0..b).map(|j| lo + j % s).collect()
            } else {
                let mut chosen = std::collections::BTreeSet::new();
                let mut v = Vec::with_capacity(b);
                while v.len() < b {
                    let r = lo + rng.below(s as u64) as usize;
                    if chosen.insert(r) {
                        v.push(r);
                    }
                }
                v
            };
            for (j, &slot) in picks.iter().enumerate() {
                let src = order[slot] as usize;
                cent[(g * b + j) * dim..(g * b + j + 1) * dim]
                    .copy_from_slice(&z[src * dim..(src + 1) * dim]);
            }
        }
        let lloyd = sample.as_ref().unwrap_or(&full);
        for _ in 0..cfg.iters {
            let (_, best) = lloyd.assign(be, &cent, b, metric)?;
            lloyd.recentre(be, &best, &mut cent, nc, b, metric)?;
            step += 1;
            progress(step, steps);
        }
        // balanced split
        let (scores, _) = full.assign(be, &cent, b, metric)?;
        let mut child = vec![0u32; n];
        for &(lo, hi) in &ranges {
            balanced_split(&scores, b, lo, hi, &mut child);
        }
        full.recentre(be, &child, &mut cent, nc, b, metric)?;
        step += 1;
        progress(step, steps);
        // reorder slots: children contiguous within each node, stable
        let mut next = Vec::with_capacity(nc);
        for &(lo, hi) in &ranges {
            let mut buckets: Vec<Vec<u32>> = vec![Vec::new(); b];
            for s in lo..hi {
                buckets[child[s] as usize].push(order[s]);
            }
            let mut at = lo;
            for bk in buckets {
                next.push((at, at + bk.len()));
                order[at..at + bk.len()].copy_from_slice(&bk);
                at += bk.len();
            }
        }
        ranges = next;
        centroids.push(cent);
        be.end_step()?;
        step += 1;
        progress(step, steps);
    }
    let mut leaf_offsets: Vec<u32> = ranges.iter().map(|r| r.0 as u32).collect();
    leaf_offsets.push(n as u32);
    let mut tree = Tree {
        shape: cfg.shape,
        centroids,
        leaf_offsets,
        perm: order,
        spilled: Vec::new(),
    };
    order_children(&mut tree, dim);
    Ok(tree)
}

/// Renumber every node's children so that each bit of a child's number is
/// a bisection of its siblings along their principal direction (the top bit
/// splits all B, the next each half, …). The partition and the search are
/// unchanged; the path bits become nearly linear functions of the embedding,
/// which is what lets the router (a per-bit head) learn them.
pub fn order_children(tree: &mut Tree, dim: usize) {
    let b = tree.shape.branch;
    // old number of the node at each new position, level by level
    let mut parents = vec![0usize];
    let mut old_of_new: Vec<Vec<usize>> = Vec::with_capacity(tree.shape.depth);
    for cent in &tree.centroids {
        let mut level = Vec::with_capacity(parents.len() * b);
        for &p in &parents {
            level.extend(bisect_order(cent, dim, (p * b..p * b + b).collect()));
        }
        parents = level.clone();
        old_of_new.push(level);
    }
    for (cent, order) in tree.centroids.iter_mut().zip(&old_of_new) {
        let mut out = Vec::with_capacity(cent.len());
        for &o in order {
            out.extend_from_slice(&cent[o * dim..(o + 1) * dim]);
        }
        *cent = out;
    }
    let (offsets, perm) = (&tree.leaf_offsets, &tree.perm);
    let mut new_offsets = Vec::with_capacity(offsets.len());
    let mut new_perm = Vec::with_capacity(perm.len());
    for &o in parents.iter() {
        new_offsets.push(new_perm.len() as u32);
        new_perm.extend_from_slice(&perm[offsets[o] as usize..offsets[o + 1] as usize]);
    }
    new_offsets.push(new_perm.len() as u32);
    if !tree.spilled.is_empty() {
        tree.spilled = parents.iter().map(|&o| tree.spilled[o]).collect();
    }
    tree.leaf_offsets = new_offsets;
    tree.perm = new_perm;
}

/// Nodes kept per level, per grid k-mer, by [`spill`]'s search for its
/// nearest leaves.
pub const SPILL_WIDTH: usize = 4;

/// Most copies [`spill`] makes of a grid k-mer: each adds up to a grid's
/// worth of slots to every search.
pub const MAX_SPILL: usize = 8;

/// Refuse a spill count past [`MAX_SPILL`] (before any work is done).
pub fn check_spill(extra: usize) -> Result<()> {
    if extra > MAX_SPILL {
        return Err(CrestError::Invalid(format!(
            "--spill {extra}: at most {MAX_SPILL} copies per grid k-mer (each adds up to a grid's worth of slots to every search)"
        )));
    }
    Ok(())
}

/// Copy every grid k-mer into each of its `extra` nearest leaves that is not
/// its own. Replaces earlier copies; `extra` = 0 removes them.
///
/// Nearest leaves are found by a beam search of each k-mer's own embedding
/// that keeps [`SPILL_WIDTH`] nodes per level (at least `extra` + 1), run as
/// `assign` passes (one thread per k-mer scores the B children of one of
/// its nodes), which on a CPU adapter is several times faster than the
/// per-query workgroups of `beam_step`. `progress(done, total)` counts passes.
pub fn spill(
    be: &Backend,
    tree: &mut Tree,
    z: &[f32],
    dim: usize,
    metric: Metric,
    extra: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<()> {
    check_spill(extra)?;
    let leaves = tree.shape.leaves();
    let (b, depth) = (tree.shape.branch, tree.shape.depth);
    let n = tree.points();
    let codes = tree.codes();
    let mut own: Vec<Vec<u32>> = (0..leaves)
        .map(|l| tree.own_slots(l).map(|s| tree.perm[s]).collect())
        .collect();
    let mut copies: Vec<Vec<u32>> = vec![Vec::new(); leaves];
    if extra > 0 {
        let width = SPILL_WIDTH.max(extra + 1);
        let order: Vec<u32> = (0..n as u32).collect();
        let mut pass = Pass::new(be, z, &order, &vec![0u32; n], dim, metric, 1)?;
        // subtree sizes per level (empty subtrees are never entered)
        let sizes: Vec<Vec<u32>> = (1..=depth)
            .map(|l| {
                let span = b.pow((depth - l) as u32);
                (0..b.pow(l as u32))
                    .map(|c| tree.leaf_offsets[(c + 1) * span] - tree.leaf_offsets[c * span])
                    .collect()
            })
            .collect();
        let passes = 1 + width * (depth - 1);
        let mut done = 0;
        // beam[i·w + r]: the r-th best node of k-mer i at this level
        let mut beam = vec![0u32; n];
        let mut beam_w = 1;
        for (level, (cent, size)) in tree.centroids.iter().zip(&sizes).enumerate() {
            let keep = if level + 1 == depth { extra } else { width };
            // running best `keep` children of each k-mer, best first
            let mut top = vec![(f32::NEG_INFINITY, NONE); n * keep];
            for r in 0..beam_w {
                let group: Vec<u32> = (0..n).map(|i| beam[i * beam_w + r]).collect();
                pass.set_group(be, &group)?;
                let (scores, _) = pass.assign(be, cent, b, metric)?;
                for i in 0..n {
                    // a node repeated in the beam (fewer nodes than width) once
                    if (0..r).any(|r0| beam[i * beam_w + r0] == group[i]) {
                        continue;
                    }
                    let t = &mut top[i * keep..(i + 1) * keep];
                    for j in 0..b {
                        let c = (scores[i * b + j], group[i] * b as u32 + j as u32);
                        if size[c.1 as usize] == 0 || !ix::beats(c, t[keep - 1]) {
                            continue;
                        }
                        let mut at = keep - 1;
                        while at > 0 && ix::beats(c, t[at - 1]) {
                            t[at] = t[at - 1];
                            at -= 1;
                        }
                        t[at] = c;
                    }
                }
                done += 1;
                progress(done, passes);
            }
            // fewer candidates than `keep`: repeat the best
            beam = top
                .chunks(keep)
                .flat_map(|t| {
                    t.iter()
                        .map(move |c| if c.1 == NONE { t[0].1 } else { c.1 })
                })
                .collect();
            beam_w = keep;
        }
        for i in 0..n {
            let mut seen = Vec::with_capacity(extra);
            for &leaf in &beam[i * extra..(i + 1) * extra] {
                if leaf != codes[i] && !seen.contains(&leaf) {
                    copies[leaf as usize].push(i as u32);
                    seen.push(leaf);
                }
            }
        }
    }
    let mut offsets = Vec::with_capacity(leaves + 1);
    let mut perm = Vec::with_capacity(n);
    for (o, c) in own.iter_mut().zip(&copies) {
        offsets.push(perm.len() as u32);
        perm.append(o);
        perm.extend_from_slice(c);
    }
    offsets.push(perm.len() as u32);
    tree.spilled = if extra > 0 {
        copies.iter().map(|c| c.len() as u32).collect()
    } else {
        Vec::new()
    };
    tree.leaf_offsets = offsets;
    tree.perm = perm;
    Ok(())
}

/// `ids` (rows of `cent`) ordered by recursive bisection along the principal
/// direction of each group: the lower half (by projection) first.
fn bisect_order(cent: &[f32], dim: usize, ids: Vec<usize>) -> Vec<usize> {
    if ids.len() <= 1 {
        return ids;
    }
    let row = |i: usize| &cent[i * dim..(i + 1) * dim];
    let mut mean = vec![0f64; dim];
    for &i in &ids {
        for (m, &x) in mean.iter_mut().zip(row(i)) {
            *m += x as f64 / ids.len() as f64;
        }
    }
    let centred: Vec<Vec<f64>> = ids
        .iter()
        .map(|&i| {
            row(i)
                .iter()
                .zip(&mean)
                .map(|(&x, m)| x as f64 - m)
                .collect()
        })
        .collect();
    // power iteration from the member farthest from the mean
    let norm2 = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>();
    let far = (0..centred.len())
        .max_by(|&a, &b| {
            norm2(&centred[a])
                .total_cmp(&norm2(&centred[b]))
                .then(b.cmp(&a))
        })
        .unwrap_or(0);
    let mut v = centred[far].clone();
    for _ in 0..30 {
        let mut next = vec![0f64; dim];
        for x in &centred {
            let d: f64 = x.iter().zip(&v).map(|(a, b)| a * b).sum();
            for (n, &xi) in next.iter_mut().zip(x) {
                *n += d * xi;
            }
        }
        let nn = norm2(&next).sqrt();
        if nn < 1e-30 {
            break;
        }
        v = next.iter().map(|x| x / nn).collect();
    }
    let mut proj: Vec<(f64, usize)> = centred
        .iter()
        .zip(&ids)
        .map(|(x, &i)| (x.iter().zip(&v).map(|(a, b)| a * b).sum(), i))
        .collect();
    proj.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let half = proj.len() / 2;
    let lower = proj[..half].iter().map(|p| p.1).collect();
    let upper = proj[half..].iter().map(|p| p.1).collect();
    let mut out = bisect_order(cent, dim, lower);
    out.extend(bisect_order(cent, dim, upper));
    out
}

/// Greedy balanced assignment of slots lo..hi to B children with capacities
/// ⌊s/B⌋ + [j < s mod B]: (slot, child) pairs taken best score first (ties:
/// smaller slot, then smaller child).
fn balanced_split(scores: &[f32], b: usize, lo: usize, hi: usize, child: &mut [u32]) {
    let s = hi - lo;
    if s == 0 {
        return;
    }
    let mut cap: Vec<usize> = (0..b).map(|j| s / b + usize::from(j < s % b)).collect();
    let mut pairs: Vec<(f32, u32, u8)> = Vec::with_capacity(s * b);
    for slot in lo..hi {
        for j in 0..b {
            pairs.push((scores[slot * b + j], slot as u32, j as u8));
        }
    }
    pairs.sort_unstable_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
    let mut done = vec![false; s];
    let mut left = s;
    for (_, slot, j) in pairs {
        let i = slot as usize - lo;
        if done[i] || cap[j as usize] == 0 {
            continue;
        }
        done[i] = true;
        cap[j as usize] -= 1;
        child[slot as usize] = j as u32;
        left -= 1;
        if left == 0 {
            break;
        }
    }
}

/// Default beam width: nodes kept per level. 32 on E. coli (4,096 leaves):
/// recall at MAPQ ≥ 20 0.905 against 0.885 at 16 and 0.915 at 64, at 2.5×
/// the mapping cost per read of mammoth mtDNA (1.5× at 16, 4.6× at 64)
/// without spilled leaves; with one spilled copy per k-mer (the default
/// index) it finds flat search's best for 0.986 of queries at 3.2–3.7× the
/// mtDNA cost (BENCHMARKS.md, issue 10).
pub const DEFAULT_BEAM: usize = 32;

/// Copies of a query the windowed tree search deals its leaves to, at most,
/// for more than the scan's 64 results per query (`DeviceTree::search`).
pub const SPLIT_MAX: usize = 4;

/// Search options.
#[derive(Clone, Copy, Debug)]
pub struct BeamConfig {
    /// Nodes kept per level (W).
    pub width: usize,
}

/// How the leaf scan lays out and reads the leaf-ordered embeddings. Both
/// give the same results (tests/index.rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanLayout {
    /// `leaf_scan`: a workgroup per query, its lanes on the slots of its
    /// leaves (rows in blocks of 64, storage-bound chunks). GPUs.
    Blocked,
    /// `window_scan`: lanes on queries, every lane reading the same row of a
    /// uniform-bound window. CPU adapters, whose per-lane storage reads are
    /// loops over the lanes.
    Windows,
}

impl ScanLayout {
    /// The layout for a backend: `Windows` on CPU adapters, else `Blocked`;
    /// `CREST_SCAN=blocked|windows` overrides it (benchmarks).
    pub fn for_backend(be: &Backend) -> ScanLayout {
        match std::env::var("CREST_SCAN").as_deref() {
            Ok("blocked") => return ScanLayout::Blocked,
            Ok("windows") if matches!(be, Backend::Gpu(_)) => return ScanLayout::Windows,
            _ => {}
        }
        match be {
            Backend::Gpu(g) if g.is_cpu() && g.uniform_cap() >= (ws::WINDOW_VEC4S * 16) as u64 => {
                ScanLayout::Windows
            }
            _ => ScanLayout::Blocked,
        }
    }
}

/// A tree on the backend, ready to search.
pub struct DeviceTree {
    shape: TreeShape,
    dim: usize,
    centroids: Vec<Tensor>,
    offsets_perm: Words,
    leaf_offsets: Vec<u32>,
    layout: ScanLayout,
    chunks: Vec<ScanChunk>,
    /// Windows layout: each level's centroids as window-scan rows, their ids
    /// (child number, NONE for an empty subtree) and the child runs of the
    /// level above (node p: rows p·B .. p·B + B).
    levels: Vec<(Tensor, Words, Vec<u32>)>,
    metric: Metric,
}

/// A run of slots uploaded as one buffer (the binding cap allowing), with
/// what bounds a leaf scan's loop trips over it.
struct ScanChunk {
    s0: usize,
    s1: usize,
    /// Blocked rows (`leaf_scan`) or windowed rows (`window_scan`).
    data: Tensor,
    /// Windows: the grid index of each row, windowed.
    ids: Option<Words>,
    /// `top[k]`: the most 64-slot strides any k leaves cover in this chunk
    /// (sum of the k largest ⌈leaf ∩ chunk / 64⌉; `top[0] = 0`).
    top: Vec<usize>,
}

impl ScanChunk {
    /// Slot ranges, one per `leaf_scan` dispatch, that keep every
    /// invocation of a `width`-leaf scan within [`crate::ops::LOOP_BUDGET`]
    /// (with a 2× margin). One range when the `width` largest leaves fit;
    /// otherwise ranges of R slots, where a thread scores at most
    /// R/64 + width slots.
    fn ranges(&self, dim: usize, width: usize) -> Result<Vec<(usize, usize)>> {
        let budget = crate::ops::LOOP_BUDGET / 2;
        let strides = self.top[width.min(self.top.len() - 1)];
        if ix::leaf_scan_trips(dim, width, strides) <= budget {
            return Ok(vec![(self.s0, self.s1)]);
        }
        let per = ix::leaf_scan_trips(dim, width, 1) - ix::leaf_scan_trips(dim, width, 0);
        let fixed = ix::leaf_scan_trips(dim, width, width);
        if fixed + per >= budget {
            return Err(CrestError::Invalid(format!(
                "a scan of {width} leaves per query exceeds the per-invocation loop budget"
            )));
        }
        let rows = (budget - fixed) / per * ix::BLOCK;
        Ok((self.s0..self.s1)
            .step_by(rows)
            .map(|a| (a, (a + rows).min(self.s1)))
            .collect())
    }
}

impl DeviceTree {
    /// Upload `tree` and the grid embeddings `z` (grid order; stored in slot
    /// order, chunked to fit the binding cap), in the backend's layout.
    pub fn new(be: &Backend, tree: &Tree, z: &[f32], dim: usize, metric: Metric) -> Result<Self> {
        Self::with_layout(be, tree, z, dim, metric, ScanLayout::for_backend(be))
    }

    /// As [`DeviceTree::new`], in a given layout.
    pub fn with_layout(
        be: &Backend,
        tree: &Tree,
        z: &[f32],
        dim: usize,
        metric: Metric,
        layout: ScanLayout,
    ) -> Result<Self> {
        let n = tree.perm.len();
        let centroids = tree
            .centroids
            .iter()
            .map(|c| be.upload(&ix::pad_rows(c, dim)))
            .collect::<Result<_>>()?;
        let mut op = tree.leaf_offsets.clone();
        op.extend_from_slice(&tree.perm);
        let rows = match (layout, be) {
            (ScanLayout::Blocked, _) => chunk_rows(be, dim, usize::MAX),
            (ScanLayout::Windows, Backend::Gpu(g)) => {
                let row_bytes = 16 * ix::dim4(dim) as u64;
                let fit = (g.max_buffer() - (ws::WINDOW_VEC4S * 16) as u64) / row_bytes;
                let r = ws::window_rows(dim);
                (fit as usize / r * r).max(r)
            }
            (ScanLayout::Windows, Backend::CpuReference) => usize::MAX / 8,
        };
        let mut chunks = Vec::new();
        let mut s0 = 0usize;
        while s0 < n {
            let s1 = (s0 + rows).min(n);
            let mut data = Vec::with_capacity((s1 - s0) * dim);
            for &j in &tree.perm[s0..s1] {
                data.extend_from_slice(&z[j as usize * dim..(j as usize + 1) * dim]);
            }
            let mut strides: Vec<usize> = tree
                .leaf_offsets
                .windows(2)
                .map(|o| {
                    let lo = (o[0] as usize).max(s0);
                    let hi = (o[1] as usize).min(s1);
                    hi.saturating_sub(lo).div_ceil(ix::BLOCK)
                })
                .filter(|&k| k > 0)
                .collect();
            strides.sort_unstable_by(|a, b| b.cmp(a));
            let mut top = vec![0];
            top.extend(strides.iter().scan(0, |acc, &k| {
                *acc += k;
                Some(*acc)
            }));
            let (data, ids) = match layout {
                ScanLayout::Blocked => (be.upload(&ix::to_blocked(&data, dim))?, None),
                ScanLayout::Windows => (
                    be.upload(&ws::to_windows(&data, dim))?,
                    Some(be.upload_words(&ws::ids_windows(&tree.perm[s0..s1]))?),
                ),
            };
            chunks.push(ScanChunk {
                s0,
                s1,
                data,
                ids,
                top,
            });
            s0 = s1;
        }
        let mut levels = Vec::new();
        if layout == ScanLayout::Windows {
            let b = tree.shape.branch;
            for (l, cent) in tree.centroids.iter().enumerate() {
                let nodes = b.pow(l as u32 + 1);
                let span = b.pow((tree.shape.depth - l - 1) as u32);
                let ids: Vec<u32> = (0..nodes)
                    .map(|c| {
                        let size = tree.leaf_offsets[(c + 1) * span] - tree.leaf_offsets[c * span];
                        if size > 0 {
                            c as u32
                        } else {
                            NONE
                        }
                    })
                    .collect();
                let runs: Vec<u32> = (0..=nodes / b).map(|p| (p * b) as u32).collect();
                levels.push((
                    be.upload(&ws::to_windows(cent, dim))?,
                    be.upload_words(&ws::ids_windows(&ids))?,
                    runs,
                ));
            }
        }
        Ok(DeviceTree {
            shape: tree.shape,
            dim,
            centroids,
            offsets_perm: be.upload_words(&op)?,
            leaf_offsets: tree.leaf_offsets.clone(),
            layout,
            chunks,
            levels,
            metric,
        })
    }

    /// The W leaves (ids, NONE-padded) the beam reaches for each of `nq` queries.
    pub fn beam(
        &self,
        be: &Backend,
        q: &Tensor,
        nq: usize,
        cfg: &BeamConfig,
    ) -> Result<(Words, usize)> {
        let b = self.shape.branch;
        let w = cfg.width.max(1);
        if w * b > ix::MAX_CHILDREN {
            return Err(CrestError::Invalid(format!(
                "beam width {w} × branching {b} exceeds {} children per query",
                ix::MAX_CHILDREN
            )));
        }
        if self.windowed_beam(w) {
            let qp = be.padded_queries(q, self.dim)?;
            let nodes = self.beam_windows(be, &qp, nq, w)?;
            return Ok((be.upload_words(&nodes)?, w.min(self.shape.leaves())));
        }
        let mut beam = be.upload_words(&vec![0u32; nq])?;
        let mut width_in = 1usize;
        for (l, cent) in self.centroids.iter().enumerate() {
            let level = l + 1;
            let width_out = w.min(b.pow(level as u32));
            let d = BeamDims {
                queries: nq,
                dim: self.dim,
                branch: b,
                width_in,
                width_out,
                span: b.pow((self.shape.depth - level) as u32),
            };
            let mut scores = be.zeros(nq * width_out)?;
            let mut ids = be.upload_words(&vec![NONE; nq * width_out])?;
            be.beam_step(
                &d,
                q,
                cent,
                &beam,
                &self.offsets_perm,
                self.metric,
                &mut scores,
                &mut ids,
            )?;
            beam = ids;
            width_in = width_out;
        }
        Ok((beam, width_in))
    }

    /// The beam on CPU adapters: each level is a window scan of the level's
    /// centroids over the children of the nodes kept above. Keeps the same
    /// non-empty nodes as `beam_step` (score desc, then node asc); empty
    /// subtrees, which `beam_step` keeps last with score EMPTY, become NONE.
    /// Host node ids (`w.min(leaves)` per query) from padded queries `qp`.
    fn beam_windows(&self, be: &Backend, qp: &Tensor, nq: usize, w: usize) -> Result<Vec<u32>> {
        let b = self.shape.branch;
        let mut nodes = vec![0u32; nq];
        let mut width_in = 1usize;
        for (l, (rows, ids, runs)) in self.levels.iter().enumerate() {
            let width_out = w.min(b.pow(l as u32 + 1));
            let plan = WindowPlan::new(
                &nodes,
                width_in,
                nq,
                runs,
                (0, b.pow(l as u32 + 1)),
                ws::window_rows(self.dim),
            )?;
            let d = WindowDims {
                queries: nq,
                dim: self.dim,
                m: width_out,
            };
            let mut scores = be.upload(&vec![EMPTY; nq * width_out])?;
            let mut kept = be.upload_words(&vec![NONE; nq * width_out])?;
            be.window_scan(
                &d,
                &plan,
                qp,
                rows,
                ids,
                self.metric,
                &mut scores,
                &mut kept,
            )?;
            nodes = be.read_words(&kept)?;
            width_in = width_out;
        }
        Ok(nodes)
    }

    /// More than the windowed scan's [`ws::MAX_M`] results per query: the
    /// beam's leaves of each query are dealt round-robin to
    /// `m / MAX_M` copies of it, each copy keeps its best MAX_M, and the
    /// lists are merged on the host (score desc, grid index asc, each grid
    /// index once: spilled copies sit in several leaves). The union holds the
    /// unsplit search's MAX_M best and, below them, at least MAX_M per copy,
    /// at the same rows scanned.
    fn search_split(
        &self,
        be: &Backend,
        q: &Tensor,
        nq: usize,
        m: usize,
        w: usize,
        width: usize,
    ) -> Result<Vec<(f32, u32)>> {
        let parts = m.div_ceil(ws::MAX_M).min(width).max(1);
        let qp = be.padded_queries(q, self.dim)?;
        let nodes = self.beam_windows(be, &qp, nq, w)?;
        let host = be.read(q)?;
        let dim = self.dim;
        let per = width.div_ceil(parts);
        let mut dup = Vec::with_capacity(nq * parts * dim);
        let mut leaves = Vec::with_capacity(nq * parts * per);
        for qi in 0..nq {
            let row = &host[qi * dim..(qi + 1) * dim];
            let mine = &nodes[qi * width..(qi + 1) * width];
            for p in 0..parts {
                dup.extend_from_slice(row);
                let start = leaves.len();
                leaves.extend(mine.iter().skip(p).step_by(parts).copied());
                leaves.resize(start + per, NONE);
            }
        }
        let qd = be.upload(&dup)?;
        let qdp = be.padded_queries(&qd, dim)?;
        let found = self.scan_windows(be, &qdp, nq * parts, ws::MAX_M, &leaves, per)?;
        let mut out = Vec::with_capacity(nq * m);
        for list in found.chunks(parts * ws::MAX_M) {
            let mut all: Vec<(f32, u32)> = list.iter().copied().filter(|r| r.1 != NONE).collect();
            all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            all.dedup_by_key(|r| r.1);
            all.truncate(m);
            all.resize(m, (EMPTY, NONE));
            out.extend(all);
        }
        Ok(out)
    }

    /// Most results per query [`DeviceTree::search`] returns: the scan's own
    /// lists, or on the windowed layout [`SPLIT_MAX`] of them per query
    /// (`search_split`).
    pub fn max_m_split(&self) -> usize {
        match self.layout {
            ScanLayout::Blocked => ix::MAX_M,
            ScanLayout::Windows => ws::MAX_M * SPLIT_MAX,
        }
    }

    fn windowed_beam(&self, w: usize) -> bool {
        self.layout == ScanLayout::Windows && w.max(1) <= ws::MAX_M
    }

    /// The `m` best grid k-mers (score, grid index) of each query in the
    /// leaves the beam reaches, best first, (EMPTY, NONE)-padded.
    pub fn search(
        &self,
        be: &Backend,
        q: &Tensor,
        nq: usize,
        m: usize,
        cfg: &BeamConfig,
    ) -> Result<Vec<(f32, u32)>> {
        let w = cfg.width.max(1);
        if self.windowed_beam(w) && w * self.shape.branch <= ix::MAX_CHILDREN {
            // leaves stay on the host between the beam and the scan
            let width = w.min(self.shape.leaves());
            if m > ws::MAX_M && m <= self.max_m_split() {
                return self.search_split(be, q, nq, m, w, width);
            }
            self.check_m(m)?;
            let qp = be.padded_queries(q, self.dim)?;
            let nodes = self.beam_windows(be, &qp, nq, w)?;
            return self.scan_windows(be, &qp, nq, m, &nodes, width);
        }
        let (leaves, width) = self.beam(be, q, nq, cfg)?;
        self.scan(be, q, nq, m, &leaves, width)
    }

    /// Widest beam the search takes (every kept node's children are scored
    /// in one list of at most [`ix::MAX_CHILDREN`]).
    pub fn max_beam(&self) -> usize {
        (ix::MAX_CHILDREN / self.shape.branch.max(1)).max(1)
    }

    /// Most results per query the scan of this layout keeps (the blocked
    /// scan's workgroup lists hold [`ix::MAX_M`], the windowed scan's
    /// per-lane lists [`ws::MAX_M`]).
    pub fn max_m(&self) -> usize {
        match self.layout {
            ScanLayout::Blocked => ix::MAX_M,
            ScanLayout::Windows => ws::MAX_M,
        }
    }

    fn check_m(&self, m: usize) -> Result<()> {
        if m == 0 || m > self.max_m() {
            return Err(CrestError::Invalid(format!(
                "{m} results per query (1..={})",
                self.max_m()
            )));
        }
        Ok(())
    }

    /// The windowed scan of host leaf ids `chosen` for padded queries `qp`.
    fn scan_windows(
        &self,
        be: &Backend,
        qp: &Tensor,
        nq: usize,
        m: usize,
        chosen: &[u32],
        width: usize,
    ) -> Result<Vec<(f32, u32)>> {
        let mut scores = be.upload(&vec![EMPTY; nq * m])?;
        let mut ids = be.upload_words(&vec![NONE; nq * m])?;
        let d = WindowDims {
            queries: nq,
            dim: self.dim,
            m,
        };
        for c in &self.chunks {
            let plan = WindowPlan::new(
                chosen,
                width,
                nq,
                &self.leaf_offsets,
                (c.s0, c.s1),
                ws::window_rows(self.dim),
            )?;
            let row_ids = c
                .ids
                .as_ref()
                .ok_or_else(|| CrestError::Invalid("windowed chunk without its row ids".into()))?;
            be.window_scan(
                &d,
                &plan,
                qp,
                &c.data,
                row_ids,
                self.metric,
                &mut scores,
                &mut ids,
            )?;
        }
        let s = be.read(&scores)?;
        let ids = be.read_words(&ids)?;
        Ok(s.into_iter().zip(ids).collect())
    }

    /// Exact scan of the given leaves (`width` per query, NONE allowed).
    pub fn scan(
        &self,
        be: &Backend,
        q: &Tensor,
        nq: usize,
        m: usize,
        leaves: &Words,
        width: usize,
    ) -> Result<Vec<(f32, u32)>> {
        self.check_m(m)?;
        let qp = be.padded_queries(q, self.dim)?;
        let q = &qp;
        if self.layout == ScanLayout::Windows {
            return self.scan_windows(be, q, nq, m, &be.read_words(leaves)?, width);
        }
        let mut scores = be.upload(&vec![EMPTY; nq * m])?;
        let mut ids = be.upload_words(&vec![NONE; nq * m])?;
        let mut first = true;
        for c in &self.chunks {
            for (slot0, slot1) in c.ranges(self.dim, width)? {
                let d = LeafDims {
                    queries: nq,
                    dim: self.dim,
                    width,
                    m,
                    leaves: self.shape.leaves(),
                    base: c.s0,
                    slot0,
                    slot1,
                    first,
                };
                be.leaf_scan(
                    &d,
                    q,
                    &c.data,
                    leaves,
                    &self.offsets_perm,
                    self.metric,
                    &mut scores,
                    &mut ids,
                )?;
                first = false;
            }
        }
        let s = be.read(&scores)?;
        let ids = be.read_words(&ids)?;
        Ok(s.into_iter().zip(ids).collect())
    }

    /// The scan's layout.
    pub fn layout(&self) -> ScanLayout {
        self.layout
    }

    /// Tree shape.
    pub fn shape(&self) -> TreeShape {
        self.shape
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn children_renumbered_by_bisection() {
        // one level of 4 children on a line: positions 3, -1, 2, -3 along x
        let dim = 2;
        let xs = [3.0f32, -1.0, 2.0, -3.0];
        let cent: Vec<f32> = xs.iter().flat_map(|&x| [x, 0.1 * x * x]).collect();
        let mut t = Tree {
            shape: TreeShape {
                branch: 4,
                depth: 1,
            },
            centroids: vec![cent],
            leaf_offsets: vec![0, 1, 3, 4, 6],
            perm: vec![3, 0, 5, 1, 4, 2],
            spilled: Vec::new(),
        };
        let codes_before = t.codes();
        order_children(&mut t, dim);
        // the top bit splits along the principal direction: {-3, -1} | {2, 3}
        let x: Vec<f32> = t.centroids[0].chunks(2).map(|r| r[0]).collect();
        let mut lo = [x[0], x[1]];
        lo.sort_by(f32::total_cmp);
        assert!(lo == [-3.0, -1.0] || lo == [2.0, 3.0], "{x:?}");
        t.validate(6, dim).unwrap_or_else(|e| panic!("{e}"));
        // renumbering a renumbered tree changes nothing
        let once = t.clone();
        order_children(&mut t, dim);
        assert_eq!(t, once);
        // same partition, renumbered
        let codes_after = t.codes();
        for a in 0..6 {
            for b in 0..6 {
                assert_eq!(
                    codes_before[a] == codes_before[b],
                    codes_after[a] == codes_after[b]
                );
            }
        }
    }

    #[test]
    fn balanced_split_respects_capacities() {
        // 7 points, 2 children: capacities 4 and 3, all prefer child 0
        let scores: Vec<f32> = (0..7).flat_map(|i| [1.0 - i as f32 * 0.01, 0.0]).collect();
        let mut child = vec![9u32; 7];
        balanced_split(&scores, 2, 0, 7, &mut child);
        assert_eq!(child.iter().filter(|&&c| c == 0).count(), 4);
        assert_eq!(child, vec![0, 0, 0, 0, 1, 1, 1]);
    }
}
