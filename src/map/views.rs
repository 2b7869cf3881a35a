//! Which windows of a read are embedded and searched.
//!
//! The first pass takes k-base windows every `stride` bp (and the last one);
//! a read no longer than k has one window, queried as its reverse complement
//! too. The rescue pass, for short reads the first pass left unmapped, adds
//! shorter *views*: windows `trim`, `2·trim`, … bp shorter than the first
//! pass's, at every `step` bp of the read. A view that drops a damaged end or
//! a sequencing error embeds nearer its locus, and each view errs differently,
//! so their neighbours together reach loci that no single window ranks high
//! (issue 16: on E. coli, reads of 25–34 bp whose true locus the encoder put
//! below the first 64 neighbours).
//!
//! A read with one or two windows (up to 40 bp at k 32, stride 8) also gets
//! *masked* views: each window with one base (or run of `mask` bases) read
//! as N, once per base. One mismatch in
//! the middle of a 25-bp read moves its embedding far (cosine to its grid
//! k-mer 0.92 → 0.72, rank ~0 → ~260 in E. coli); the view that hides that
//! base is back near the top, and no shorter view can drop a middle base.

/// One window of a read: `len` bases from `offset`, queried as the reverse
/// complement when `reverse`, with the bases of `mask` read as N.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View {
    /// First base of the window in the read.
    pub offset: usize,
    /// Bases in the window (at most k; the encoder pads with N).
    pub len: usize,
    /// Query the reverse complement of the window.
    pub reverse: bool,
    /// Read bases `(first, count)` embedded as N (inside the window).
    pub mask: Option<(usize, usize)>,
}

/// The rescue pass's extra views of a read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RescueViews {
    /// Window lengths: min(read, k), then `trim` bp shorter each (1: only
    /// the full-length windows at the finer step; 0: no extra views).
    pub lengths: usize,
    /// Bases each length is shorter than the one before.
    pub trim: usize,
    /// Bases between views of one length.
    pub step: usize,
    /// Shortest view (bp).
    pub min_len: usize,
    /// Bases masked (read as N) per masked view of a read with at most
    /// [`MASKED_MAX_WINDOWS`] first-pass windows: each window once per
    /// `mask` bases, both strands (0: none).
    pub mask: usize,
}

impl Default for RescueViews {
    fn default() -> Self {
        RescueViews {
            lengths: DEFAULT_RESCUE_VIEW_LENGTHS,
            trim: 3,
            step: 4,
            min_len: 16,
            mask: DEFAULT_RESCUE_MASK,
        }
    }
}

/// Window lengths the rescue pass takes by default (full, −3, −6, −9 bp):
/// on the E. coli tuning reads (seed 102) it gave recall 0.958 against 0.956
/// for 3 lengths at a 2-bp step and 0.9585 for 6 lengths at 2 bp, with
/// fewer windows than either of the latter.
pub const DEFAULT_RESCUE_VIEW_LENGTHS: usize = 4;

/// Reads with at most this many forward first-pass windows get masked views
/// (at the default stride of 8 and k = 32: reads up to 40 bp).
pub const MASKED_MAX_WINDOWS: usize = 2;

/// Bases masked per masked view by default.
pub const DEFAULT_RESCUE_MASK: usize = 1;

/// Longest run of bases one masked view hides: a quarter of a 32-mer; more
/// leaves too little of a short read to place (2-base runs already mapped
/// fewer E. coli reads than single bases).
pub const MAX_RESCUE_MASK: usize = 8;

/// The first pass's windows of a read of `l` bases: k-base windows every
/// `stride` bp and the last one, or for a read no longer than k its one
/// window, also reverse-complemented when `both_strands` (the encoder saw
/// both strands of every locus in training, so the second query errs
/// differently; the read-start correction is the same for both).
pub fn first_pass(l: usize, k: usize, stride: usize, both_strands: bool) -> Vec<View> {
    let kk = k.min(l);
    let mut v: Vec<View> = crate::seq::window_starts(l, kk, stride)
        .into_iter()
        .map(|offset| View {
            offset,
            len: kk,
            reverse: false,
            mask: None,
        })
        .collect();
    if l <= k && both_strands {
        v.push(View {
            offset: 0,
            len: kk,
            reverse: true,
            mask: None,
        });
    }
    v
}

/// The rescue pass's views of a read of `l` bases that are not among
/// `first` (the first pass's windows of it), both strands of each.
pub fn rescue(l: usize, k: usize, first: &[View], cfg: &RescueViews) -> Vec<View> {
    let kk = k.min(l);
    let mut v = Vec::new();
    for j in 0..cfg.lengths {
        let len = match kk.checked_sub(j * cfg.trim) {
            Some(len) if len >= cfg.min_len.max(1) => len,
            _ => break,
        };
        for offset in crate::seq::window_starts(l, len, cfg.step) {
            if first.iter().any(|w| w.offset == offset && w.len == len) {
                continue;
            }
            for reverse in [false, true] {
                v.push(View {
                    offset,
                    len,
                    reverse,
                    mask: None,
                });
            }
        }
    }
    let forward = first.iter().filter(|w| !w.reverse && w.mask.is_none());
    if cfg.mask > 0 && forward.clone().count() <= MASKED_MAX_WINDOWS {
        for w in forward {
            for at in (w.offset..w.offset + w.len).step_by(cfg.mask) {
                for reverse in [false, true] {
                    v.push(View {
                        offset: w.offset,
                        len: w.len,
                        reverse,
                        mask: Some((at, cfg.mask.min(w.offset + w.len - at))),
                    });
                }
            }
        }
    }
    v
}

/// The bases a masked view embeds: its window of `read` (forward strand)
/// with the masked bases as N; None for a view without a mask.
pub fn masked_window(read: &[u8], v: &View) -> Option<Vec<u8>> {
    let (first, n) = v.mask?;
    let mut w = read[v.offset..v.offset + v.len].to_vec();
    w[first - v.offset..first - v.offset + n].fill(b'N');
    Some(w)
}

/// Where a read starts on the reference when its window `(offset, len)`
/// matched the grid k-mer at `coord`: `(strand, start)` for the read on the
/// forward strand and for the read being the reverse complement.
pub fn read_starts(coord: i64, offset: usize, len: usize, read_len: usize) -> [(u32, i64); 2] {
    let (o, w, l) = (offset as i64, len as i64, read_len as i64);
    [(0, coord - o), (1, coord - (l - o - w))]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_pass_windows_cover_the_read() {
        // 45 bp, k 32, stride 8: 0, 8 and the last (13)
        let v = first_pass(45, 32, 8, true);
        let offs: Vec<usize> = v.iter().map(|w| w.offset).collect();
        assert_eq!(offs, vec![0, 8, 13]);
        assert!(v.iter().all(|w| w.len == 32 && !w.reverse));
        // a short read: one window, both strands
        assert_eq!(
            first_pass(25, 32, 8, true),
            vec![
                View {
                    offset: 0,
                    len: 25,
                    reverse: false,
                    mask: None,
                },
                View {
                    offset: 0,
                    len: 25,
                    reverse: true,
                    mask: None,
                }
            ]
        );
        assert_eq!(first_pass(25, 32, 8, false).len(), 1);
    }

    #[test]
    fn rescue_views_are_shorter_new_and_inside_the_read() {
        let cfg = RescueViews::default();
        for l in [16, 20, 25, 31, 32, 33, 40, 50] {
            let first = first_pass(l, 32, 8, true);
            let v = rescue(l, 32, &first, &cfg);
            for w in &v {
                assert!(w.offset + w.len <= l, "{l}: {w:?}");
                assert!(w.len >= cfg.min_len && w.len <= 32.min(l));
                assert!(!first.contains(w), "{l}: {w:?} repeats a first-pass window");
            }
            // both strands of every view
            assert_eq!(v.iter().filter(|w| w.reverse).count() * 2, v.len());
        }
        // 25 bp: 22 bp at 0 and 3, 19 bp at 0, 4, 6, 16 bp at 0, 4, 8, 9
        let offs: Vec<(usize, usize)> = rescue(25, 32, &first_pass(25, 32, 8, true), &cfg)
            .iter()
            .filter(|w| !w.reverse && w.mask.is_none())
            .map(|w| (w.len, w.offset))
            .collect();
        assert_eq!(
            offs,
            vec![
                (22, 0),
                (22, 3),
                (19, 0),
                (19, 4),
                (19, 6),
                (16, 0),
                (16, 4),
                (16, 8),
                (16, 9)
            ]
        );
        // a read at the minimum: no view is shorter than min_len (only its
        // masked copies are new)
        assert!(rescue(16, 32, &first_pass(16, 32, 8, true), &cfg)
            .iter()
            .all(|w| w.mask.is_some()));
        let none = RescueViews {
            lengths: 0,
            mask: 0,
            ..cfg
        };
        assert!(rescue(40, 32, &first_pass(40, 32, 8, true), &none).is_empty());
    }

    #[test]
    fn masked_views_hide_each_base_of_a_short_read_once() {
        let only = |mask| RescueViews {
            lengths: 0,
            mask,
            ..RescueViews::default()
        };
        let read = b"ACGTACGTACGTACGTACGTACGTA"; // 25 bp
        for width in [1, 2, 3] {
            let v = rescue(25, 32, &first_pass(25, 32, 8, true), &only(width));
            assert_eq!(v.len(), 2 * 25usize.div_ceil(width), "mask {width}");
            let mut hidden = [0usize; 25];
            for w in v.iter().filter(|w| !w.reverse) {
                assert_eq!((w.offset, w.len), (0, 25), "the read's one window");
                let bases = masked_window(read, w).expect("masked");
                for (i, &b) in bases.iter().enumerate() {
                    if b == b'N' {
                        hidden[i] += 1;
                    } else {
                        assert_eq!(b, read[i]);
                    }
                }
            }
            assert_eq!(hidden, [1; 25], "mask {width}: every base once");
            assert_eq!(v.iter().filter(|w| w.reverse).count() * 2, v.len());
        }
        // 40 bp: both first-pass windows (0 and 8), each base of each once
        let v = rescue(40, 32, &first_pass(40, 32, 8, true), &only(1));
        assert_eq!(v.len(), 2 * 2 * 32);
        for w in &v {
            let (at, n) = w.mask.expect("masked");
            assert!((w.offset == 0 || w.offset == 8) && w.len == 32, "{w:?}");
            assert!(n == 1 && at >= w.offset && at < w.offset + 32, "{w:?}");
        }
        // more windows than MASKED_MAX_WINDOWS (41 bp: 0, 8, 9): none
        assert!(rescue(41, 32, &first_pass(41, 32, 8, true), &only(1)).is_empty());
        // mask 0: none
        assert!(rescue(25, 32, &first_pass(25, 32, 8, true), &only(0)).is_empty());
        // unmasked views embed the read itself
        let plain = first_pass(25, 32, 8, true)[0];
        assert_eq!(masked_window(read, &plain), None);
    }

    #[test]
    fn read_start_follows_the_window() {
        // read at 1000 (forward): its window at offset 5 matches 1005
        assert_eq!(read_starts(1005, 5, 20, 30)[0], (0, 1000));
        // read = reverse complement of ref[1000..1030]: its window at read
        // offset 5, 20 bp, is the reverse complement of ref[1005..1025]
        assert_eq!(read_starts(1005, 5, 20, 30)[1], (1, 1000));
    }
}
