//! Building a tree: balanced k-means level by level on the device, child
//! renumbering for the router, and spilled copies of grid k-mers into their
//! nearest other leaves (see the parent module).

use super::{chunk_rows, Tree, TreeShape};
use crate::backend::{Backend, Tensor, Words};
use crate::error::{CrestError, Result};
use crate::ops::index::{self as ix, AssignDims, AssignInputs, Metric, NONE};
use crate::rng::Rng;

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
            let inp = AssignInputs {
                data,
                centroids: &ct,
                group: &self.group_t,
            };
            be.kmeans_assign(&d, inp, metric, &mut scores, &mut best)?;
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
        return Err(CrestError::option("--spill", format!(
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
    let codes = tree.codes();
    let mut own: Vec<Vec<u32>> = (0..leaves)
        .map(|l| tree.own_slots(l).map(|s| tree.perm[s]).collect())
        .collect();
    let mut copies: Vec<Vec<u32>> = vec![Vec::new(); leaves];
    if extra > 0 {
        let width = SPILL_WIDTH.max(extra + 1);
        let cfg = NearestConfig {
            keep: extra,
            width,
            skip_empty: true,
        };
        let beam = nearest_leaves(be, tree, z, dim, metric, &cfg, progress)?;
        for (i, near) in beam.chunks(extra).enumerate() {
            let mut seen = Vec::with_capacity(extra);
            for &leaf in near {
                if leaf != codes[i] && !seen.contains(&leaf) {
                    copies[leaf as usize].push(i as u32);
                    seen.push(leaf);
                }
            }
        }
    }
    let mut offsets = Vec::with_capacity(leaves + 1);
    let mut perm = Vec::with_capacity(tree.points());
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

/// How [`nearest_leaves`] searches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NearestConfig {
    /// Leaves kept per point, best first.
    pub keep: usize,
    /// Nodes kept per level (at least `keep`).
    pub width: usize,
    /// Never enter subtrees without slots (a built tree).
    pub skip_empty: bool,
}

/// The `keep` nearest leaves (best first) of every point of `z` (`[n, dim]`)
/// by a beam search of its own embedding that keeps `width` nodes per level,
/// run as `assign` passes (one thread per point scores the B children of
/// one of its nodes), which on a CPU adapter is several times faster than
/// the per-query workgroups of `beam_step`. With `skip_empty`, subtrees
/// without slots in `tree` are never entered (a built tree); without, every
/// node is (a tree whose centroids were trained on a sample, its slots not
/// yet assigned). Fewer candidates than `keep` repeat the best.
/// `progress(done, total)` counts passes.
pub fn nearest_leaves(
    be: &Backend,
    tree: &Tree,
    z: &[f32],
    dim: usize,
    metric: Metric,
    cfg: &NearestConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<u32>> {
    let NearestConfig {
        keep,
        width,
        skip_empty,
    } = *cfg;
    let (b, depth) = (tree.shape.branch, tree.shape.depth);
    let n = z.len() / dim.max(1);
    let width = width.max(keep).max(1);
    let order: Vec<u32> = (0..n as u32).collect();
    let mut pass = Pass::new(be, z, &order, &vec![0u32; n], dim, metric, 1)?;
    // subtree sizes per level (empty subtrees are never entered)
    let sizes: Vec<Vec<u32>> = (1..=depth)
        .map(|l| {
            let span = b.pow((depth - l) as u32);
            (0..b.pow(l as u32))
                .map(|c| {
                    if skip_empty {
                        tree.leaf_offsets[(c + 1) * span] - tree.leaf_offsets[c * span]
                    } else {
                        1
                    }
                })
                .collect()
        })
        .collect();
    let passes = 1 + width * (depth - 1);
    let mut done = 0;
    // beam[i·w + r]: the r-th best node of point i at this level
    let mut beam = vec![0u32; n];
    let mut beam_w = 1;
    for (level, (cent, size)) in tree.centroids.iter().zip(&sizes).enumerate() {
        let keep = if level + 1 == depth { keep } else { width };
        // running best `keep` children of each point, best first
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
    Ok(beam)
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

#[cfg(test)]
mod tests {
    use super::*;

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
