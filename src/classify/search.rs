//! Hierarchical answers from the nearest database hits: level by level, the
//! hits are narrowed to those that agree with the class chosen at the level
//! above; at each level the class is chosen among the remaining hits.

use super::confidence::{scorpio_score, Isotonic};
use crate::index::Neighbour;

/// The answer at one level.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LevelAnswer {
    /// Class id (database vocabulary of the level).
    pub class: u32,
    /// Confidence in [0, 1] (NaN when no confidence model was given).
    pub confidence: f32,
    /// Distance of the class's nearest hit.
    pub dist: f32,
    /// Database row of that hit.
    pub row: u32,
}

/// Answers for every level of one query. `labels` is the database's
/// `[rows, levels]` class-id matrix; `hits` are nearest first.
///
/// Without `conf`, the class of the nearest remaining hit is taken (used to
/// fit the confidence model and to select checkpoints). With `conf`, every
/// class among the remaining hits gets Scorpio's score from its share p of
/// those hits and the fitted accuracy q at its nearest hit's distance; the
/// best score wins (ties: the nearer class).
pub fn decide(
    hits: &[Neighbour],
    labels: &[u32],
    levels: usize,
    conf: Option<&[Isotonic]>,
) -> Vec<LevelAnswer> {
    let mut kept: Vec<Neighbour> = hits.to_vec();
    let mut out = Vec::with_capacity(levels);
    for l in 0..levels {
        if kept.is_empty() {
            break;
        }
        let class_of = |h: &Neighbour| labels[h.row as usize * levels + l];
        // classes in order of their nearest hit: (class, count, nearest)
        let mut classes: Vec<(u32, usize, Neighbour)> = Vec::new();
        for h in &kept {
            let c = class_of(h);
            match classes.iter_mut().find(|e| e.0 == c) {
                Some(e) => e.1 += 1,
                None => classes.push((c, 1, *h)),
            }
        }
        let ans = match conf {
            None => {
                let (c, _, h) = classes[0];
                LevelAnswer {
                    class: c,
                    confidence: f32::NAN,
                    dist: h.dist,
                    row: h.row,
                }
            }
            Some(fits) => {
                let total = kept.len() as f32;
                let mut best: Option<LevelAnswer> = None;
                for &(c, count, h) in &classes {
                    let s = scorpio_score(count as f32 / total, fits[l].at(h.dist));
                    if best.is_none_or(|b| s > b.confidence) {
                        best = Some(LevelAnswer {
                            class: c,
                            confidence: s,
                            dist: h.dist,
                            row: h.row,
                        });
                    }
                }
                match best {
                    Some(b) => b,
                    None => break,
                }
            }
        };
        kept.retain(|h| class_of(h) == ans.class);
        out.push(ans);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nb(row: u32, dist: f32) -> Neighbour {
        Neighbour { row, dist }
    }

    #[test]
    fn levels_narrow_the_hits() {
        // rows: (class, group)
        let labels = [0, 0, 1, 5, 1, 6, 1, 6];
        let hits = [nb(0, 0.1), nb(1, 0.2), nb(2, 0.3), nb(3, 0.4)];
        let a = decide(&hits, &labels, 2, None);
        assert_eq!((a[0].class, a[1].class), (0, 0));
        // with confidence: class 1 has 3 of 4 hits; q flat 0.9 →
        // class 0: p=.25 → .225; class 1: p=.75 → .675 → class 1 wins;
        // level 2 among rows 1..3: group 6 has 2 of 3 → .6 vs group 5 .3
        let f = Isotonic {
            blocks: vec![(10.0, 0.9)],
        };
        let fits = [f.clone(), f];
        let a = decide(&hits, &labels, 2, Some(&fits));
        assert_eq!((a[0].class, a[1].class), (1, 6));
        assert!((a[0].confidence - 0.675).abs() < 1e-6);
        assert!((a[1].confidence - 0.6).abs() < 1e-6);
        assert_eq!(a[1].row, 2);
    }
}
