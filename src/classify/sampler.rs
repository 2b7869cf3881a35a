//! Triplets drawn across a label hierarchy (Scorpio's rule): pick a level ℓ
//! at random; the negative shares the anchor's labels above ℓ and differs at
//! ℓ; the positive shares its labels down to ℓ + 1 (or all of them). Where
//! the data cannot give such a pair the rule relaxes, stated per case below.

use std::collections::HashMap;

use crate::rng::Rng;

/// Class ids per sequence and level, grouped by label prefix.
pub struct TripletSampler {
    ids: Vec<Vec<u32>>,
    levels: usize,
    /// groups[d]: prefix of the first d levels → members (d = 0: everyone).
    groups: Vec<HashMap<Vec<u32>, Vec<u32>>>,
}

/// One triplet: indices of anchor, positive and negative.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Triplet {
    /// Anchor.
    pub anchor: u32,
    /// Positive.
    pub positive: u32,
    /// Negative.
    pub negative: u32,
    /// Level ℓ the negative differs at (0-based).
    pub level: u32,
}

impl TripletSampler {
    /// From class ids `[n][levels]`.
    pub fn new(ids: Vec<Vec<u32>>) -> Self {
        let levels = ids.first().map_or(0, |v| v.len());
        let mut groups = vec![HashMap::new(); levels + 1];
        for (i, row) in ids.iter().enumerate() {
            for (d, g) in groups.iter_mut().enumerate() {
                g.entry(row[..d].to_vec())
                    .or_insert_with(Vec::new)
                    .push(i as u32);
            }
        }
        TripletSampler {
            ids,
            levels,
            groups,
        }
    }

    fn members(&self, i: usize, depth: usize) -> &[u32] {
        &self.groups[depth][&self.ids[i][..depth]]
    }

    /// A negative for `a` differing at level `l` (sharing levels < l), if any.
    fn negative(&self, a: usize, l: usize, rng: &mut Rng) -> Option<u32> {
        let parent = self.members(a, l);
        let own = self.members(a, l + 1).len();
        if parent.len() == own {
            return None;
        }
        // rejection sampling, then a scan (keeps the draw uniform over candidates)
        for _ in 0..32 {
            let j = parent[rng.below(parent.len() as u64) as usize];
            if self.ids[j as usize][l] != self.ids[a][l] {
                return Some(j);
            }
        }
        let cand: Vec<u32> = parent
            .iter()
            .copied()
            .filter(|&j| self.ids[j as usize][l] != self.ids[a][l])
            .collect();
        Some(cand[rng.below(cand.len() as u64) as usize])
    }

    /// A positive for `a` sharing as many levels as possible, at least down
    /// to `want` levels; `a` itself when it is alone in its group at depth `min`.
    fn positive(&self, a: usize, want: usize, min: usize, rng: &mut Rng) -> u32 {
        let mut depth = want;
        loop {
            let g = self.members(a, depth);
            if g.len() > 1 {
                loop {
                    let j = g[rng.below(g.len() as u64) as usize];
                    if j as usize != a {
                        return j;
                    }
                }
            }
            if depth <= min {
                return a as u32;
            }
            depth -= 1;
        }
    }

    /// Draw `n` triplets. The level is uniform over levels where the anchor
    /// has a negative (levels without one are skipped; an anchor that has
    /// none anywhere, only possible with a single class at level 1, is
    /// redrawn). The positive shares levels down to ℓ + 1, or only down to ℓ
    /// when no such sequence exists, or is the anchor itself when it is
    /// alone in its class at ℓ.
    pub fn sample(&self, n: usize, rng: &mut Rng) -> Vec<Triplet> {
        let total = self.ids.len();
        let mut out = Vec::with_capacity(n);
        if total < 2 || self.levels == 0 || self.groups[1].len() < 2 {
            return out;
        }
        while out.len() < n {
            let a = rng.below(total as u64) as usize;
            let start = rng.below(self.levels as u64) as usize;
            let pick = (0..self.levels)
                .map(|o| (start + o) % self.levels)
                .find_map(|l| self.negative(a, l, rng).map(|neg| (l, neg)));
            let Some((l, neg)) = pick else { continue };
            let want = (l + 2).min(self.levels);
            let pos = self.positive(a, want, l + 1, rng);
            out.push(Triplet {
                anchor: a as u32,
                positive: pos,
                negative: neg,
                level: l as u32,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negatives_differ_at_the_level_and_share_above_positives_share_below() {
        let mut rng = Rng::new(3);
        // 3 levels; some singletons
        let ids: Vec<Vec<u32>> = (0..200)
            .map(|_| {
                let a = rng.below(3) as u32;
                let b = a * 10 + rng.below(3) as u32;
                let c = b * 10 + rng.below(4) as u32;
                vec![a, b, c]
            })
            .collect();
        let s = TripletSampler::new(ids.clone());
        let t = s.sample(2000, &mut rng);
        assert_eq!(t.len(), 2000);
        let mut per_level = [0usize; 3];
        for x in &t {
            let (a, p, n, l) = (
                &ids[x.anchor as usize],
                &ids[x.positive as usize],
                &ids[x.negative as usize],
                x.level as usize,
            );
            per_level[l] += 1;
            assert_eq!(a[..l], n[..l], "negative shares levels above ℓ");
            assert_ne!(a[l], n[l], "negative differs at ℓ");
            assert_eq!(a[..=l], p[..=l], "positive shares levels through ℓ");
        }
        assert!(per_level.iter().all(|&c| c > 400), "{per_level:?}");
    }

    #[test]
    fn single_class_gives_no_triplets() {
        let s = TripletSampler::new(vec![vec![0, 1], vec![0, 2]]);
        assert!(s.sample(5, &mut Rng::new(1)).is_empty());
    }
}
