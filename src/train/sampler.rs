//! Training batches: anchor windows at uniformly random loci of a reference
//! (contig-aware, both strands, skipping windows with too many N) and, for
//! each, a positive view starting U[0, d] bases downstream; or, without a
//! reference, two augmented views of a window of a random read.
//! Every batch is a pure function of (seed, step).

use crate::error::{CrestError, Result};
use crate::io::Reference;
use crate::ops::encode::Window;
use crate::rng::Rng;
use crate::seq::PackedSeq;

use super::augment::{augment, AugmentConfig};

/// A batch of views ready for the encoder.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// All views' bases, k per view, concatenated.
    pub seq: PackedSeq,
    /// One window per view (forward, since orientation is already applied).
    pub windows: Vec<Window>,
    /// (group, pos) per view: contig and forward-strand locus, or pair id.
    pub labels: Vec<[u32; 2]>,
}

impl Batch {
    fn from_views(k: usize, views: Vec<(Vec<u8>, [u32; 2])>) -> Self {
        let mut ascii = Vec::with_capacity(views.len() * k);
        let mut windows = Vec::with_capacity(views.len());
        let mut labels = Vec::with_capacity(views.len());
        for (i, (v, l)) in views.into_iter().enumerate() {
            ascii.extend_from_slice(&v);
            windows.push(Window::new((i * k) as u32, k as u32, false));
            labels.push(l);
        }
        Batch {
            seq: PackedSeq::from_ascii(&ascii),
            windows,
            labels,
        }
    }

    /// Number of views.
    pub fn len(&self) -> usize {
        self.windows.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }
}

/// Per-step RNG: a pure function of (seed, step, stream).
pub fn step_rng(seed: u64, step: u64, stream: u64) -> Rng {
    Rng::new(
        seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03),
    )
}

/// Samples loci of a reference.
pub struct ReferenceSampler<'a> {
    reference: &'a Reference,
    k: usize,
    d: usize,
    slack: usize,
    max_n: usize,
    /// Cumulative count of valid starts per contig.
    cum: Vec<u64>,
}

impl<'a> ReferenceSampler<'a> {
    /// A sampler for k-mers with positives up to `d` bases away.
    pub fn new(reference: &'a Reference, k: usize, d: usize, max_n_frac: f64) -> Result<Self> {
        let slack = (k / 4).max(4);
        let span = k + d + slack;
        let mut cum = Vec::with_capacity(reference.contigs.len());
        let mut total = 0u64;
        for c in &reference.contigs {
            total += (c.seq.len() as u64 + 1).saturating_sub(span as u64);
            cum.push(total);
        }
        if total == 0 {
            return Err(CrestError::Invalid(format!(
                "reference has no contig longer than k + d + {slack} = {span} bases"
            )));
        }
        Ok(ReferenceSampler {
            reference,
            k,
            d,
            slack,
            max_n: (max_n_frac * k as f64) as usize,
            cum,
        })
    }

    /// A uniformly random (contig, start) with at most `max_n` N in its window.
    pub fn locus(&self, rng: &mut Rng) -> (usize, usize) {
        let total = *self.cum.last().expect("non-empty");
        for _ in 0..1000 {
            let x = rng.below(total);
            let c = self.cum.partition_point(|&v| v <= x);
            let start = (x - if c == 0 { 0 } else { self.cum[c - 1] }) as usize;
            let seq = &self.reference.contigs[c].seq;
            let n = seq[start..start + self.k]
                .iter()
                .filter(|&&b| b == b'N')
                .count();
            if n <= self.max_n {
                return (c, start);
            }
        }
        // Reference is mostly N: accept whatever comes.
        let x = rng.below(total);
        let c = self.cum.partition_point(|&v| v <= x);
        (c, (x - if c == 0 { 0 } else { self.cum[c - 1] }) as usize)
    }

    /// An augmented view of the window at (contig, start).
    pub fn view(&self, c: usize, start: usize, aug: &AugmentConfig, rng: &mut Rng) -> Vec<u8> {
        let seq = &self.reference.contigs[c].seq;
        let end = (start + self.k + self.slack).min(seq.len());
        augment(&seq[start..end], self.k, aug, rng).0
    }

    /// `anchors` anchor/positive pairs: 2·anchors views.
    pub fn batch(&self, anchors: usize, aug: &AugmentConfig, rng: &mut Rng) -> Batch {
        let mut views = Vec::with_capacity(2 * anchors);
        for _ in 0..anchors {
            let (c, s) = self.locus(rng);
            let s2 = s + rng.below(self.d as u64 + 1) as usize;
            views.push((self.view(c, s, aug, rng), [c as u32, s as u32]));
            views.push((self.view(c, s2, aug, rng), [c as u32, s2 as u32]));
        }
        Batch::from_views(self.k, views)
    }
}

/// Self-supervised pairs from reads (no reference): two augmentations of one
/// window of a read, shifted by up to `d` bases where the read allows.
pub fn reads_batch(
    reads: &[Vec<u8>],
    k: usize,
    d: usize,
    anchors: usize,
    aug: &AugmentConfig,
    rng: &mut Rng,
) -> Batch {
    let mut views = Vec::with_capacity(2 * anchors);
    for pair in 0..anchors {
        let r = &reads[rng.below(reads.len() as u64) as usize];
        let room = r.len().saturating_sub(k);
        let s = rng.below(room as u64 + 1) as usize;
        let s2 = (s + rng.below(d as u64 + 1) as usize).min(room);
        let label = [pair as u32, 0];
        views.push((augment(&r[s..], k, aug, rng).0, label));
        views.push((augment(&r[s2..], k, aug, rng).0, label));
    }
    Batch::from_views(k, views)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::Contig;

    fn reference() -> Reference {
        let mut rng = Rng::new(9);
        let mk = |n: usize, rng: &mut Rng| {
            (0..n)
                .map(|_| b"ACGT"[rng.below(4) as usize])
                .collect::<Vec<u8>>()
        };
        Reference {
            contigs: vec![
                Contig {
                    name: "a".into(),
                    seq: mk(500, &mut rng),
                    md5: String::new(),
                },
                Contig {
                    name: "short".into(),
                    seq: mk(20, &mut rng),
                    md5: String::new(),
                },
                Contig {
                    name: "b".into(),
                    seq: mk(300, &mut rng),
                    md5: String::new(),
                },
            ],
        }
    }

    #[test]
    fn same_seed_same_batch_and_labels_are_valid() {
        let r = reference();
        let s = ReferenceSampler::new(&r, 32, 8, 0.25).unwrap();
        let aug = AugmentConfig::adna();
        let a = s.batch(64, &aug, &mut step_rng(1, 5, 0));
        let b = s.batch(64, &aug, &mut step_rng(1, 5, 0));
        assert_eq!(a, b);
        let c = s.batch(64, &aug, &mut step_rng(1, 6, 0));
        assert_ne!(a, c);
        assert_eq!(a.len(), 128);
        for pair in a.labels.chunks(2) {
            assert_eq!(pair[0][0], pair[1][0], "positive on the same contig");
            assert_ne!(
                pair[0][0], 1,
                "contig shorter than the window never sampled"
            );
            assert!(pair[1][1] >= pair[0][1] && pair[1][1] - pair[0][1] <= 8);
            let len = r.contigs[pair[0][0] as usize].seq.len() as u32;
            assert!(pair[1][1] + 32 <= len);
        }
    }

    #[test]
    fn unaugmented_forward_view_is_the_reference_window() {
        let r = reference();
        let s = ReferenceSampler::new(&r, 16, 4, 0.25).unwrap();
        let mut aug = AugmentConfig::none();
        aug.revcomp = 0.0;
        let b = s.batch(10, &aug, &mut Rng::new(2));
        let ascii = b.seq.to_ascii();
        for (i, l) in b.labels.iter().enumerate() {
            let c = &r.contigs[l[0] as usize].seq;
            assert_eq!(
                &ascii[i * 16..(i + 1) * 16],
                &c[l[1] as usize..l[1] as usize + 16]
            );
        }
    }
}
