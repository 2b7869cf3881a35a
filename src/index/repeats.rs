//! Exact repeats of grid k-mers: for every grid k-mer, the other places in the
//! reference (either strand) where the same k-mer occurs. Mapping proposes
//! these copies beside whatever the search returned, so that a read from a
//! repeat is aligned to several copies and gets a low MAPQ even when the
//! search itself found only one of them.

use crate::io::Reference;

/// Most copies kept per grid k-mer; k-mers occurring more often keep the first
/// ones (in genome order) — a read there ties anyway.
pub const MAX_MATES: usize = 32;

/// Other occurrences of each grid k-mer, as global coordinates (offset of the
/// contig in the concatenated reference + start), CSR over grid order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mates {
    /// `grid + 1` offsets into `coords`.
    pub offsets: Vec<u32>,
    /// Global coordinates of the copies.
    pub coords: Vec<u32>,
}

impl Mates {
    /// Copies of grid k-mer `j`.
    pub fn of(&self, j: usize) -> &[u32] {
        match (self.offsets.get(j), self.offsets.get(j + 1)) {
            (Some(&a), Some(&b)) if a <= b && b as usize <= self.coords.len() => {
                &self.coords[a as usize..b as usize]
            }
            _ => &[],
        }
    }

    /// Grid k-mers with at least one copy.
    pub fn repeated(&self) -> usize {
        self.offsets.windows(2).filter(|w| w[1] > w[0]).count()
    }
}

fn code(b: u8) -> Option<u64> {
    match b {
        b'A' | b'a' => Some(0),
        b'C' | b'c' => Some(1),
        b'G' | b'g' => Some(2),
        b'T' | b't' => Some(3),
        _ => None,
    }
}

/// Canonical key of a k-mer (min of it and its reverse complement, 2 bits a
/// base; k ≤ 32), or None when it holds a non-ACGT base.
fn key(s: &[u8]) -> Option<u64> {
    let (mut f, mut r) = (0u64, 0u64);
    for (i, &b) in s.iter().enumerate() {
        let c = code(b)?;
        f = (f << 2) | c;
        r |= (3 - c) << (2 * i);
    }
    Some(f.min(r))
}

/// Find the copies of every grid k-mer (`loci` = (contig, start), length `k`).
/// k > 32 uses the first 32 bases as the key and confirms the whole k-mer.
///
/// Memory follows the grid, not the genome: the grid's keys are sorted, the
/// reference is scanned once for k-mers with one of those keys (at most
/// `MAX_MATES + 1` kept per key, in genome order), and each grid k-mer takes
/// the first `MAX_MATES` of its key's occurrences other than itself.
pub fn find(reference: &Reference, loci: &[(u32, u32)], k: usize) -> Mates {
    let kk = k.min(32);
    let mut offsets_c = Vec::with_capacity(reference.contigs.len());
    let mut total = 0u64;
    for c in &reference.contigs {
        offsets_c.push(total);
        total += c.seq.len() as u64;
    }
    let key_at = |ci: u32, s: u32| -> Option<u64> {
        reference.contigs[ci as usize]
            .seq
            .get(s as usize..s as usize + kk)
            .and_then(key)
    };
    // the distinct keys of the grid, sorted
    let mut gkeys: Vec<u64> = loci.iter().filter_map(|&(c, s)| key_at(c, s)).collect();
    gkeys.sort_unstable();
    gkeys.dedup();
    // occurrences of grid keys anywhere (genome order), a few per key
    let mut seen = vec![0u8; gkeys.len()];
    let mut occ: Vec<(u64, u32, u32)> = Vec::new();
    for (ci, c) in reference.contigs.iter().enumerate() {
        if c.seq.len() < kk {
            continue;
        }
        for s in 0..=c.seq.len() - kk {
            let Some(h) = key(&c.seq[s..s + kk]) else {
                continue;
            };
            if let Ok(i) = gkeys.binary_search(&h) {
                if (seen[i] as usize) <= MAX_MATES {
                    seen[i] += 1;
                    occ.push((h, ci as u32, s as u32));
                }
            }
        }
    }
    // stable: genome order within a key
    occ.sort_by_key(|o| o.0);
    let same = |a: (u32, u32), b: (u32, u32)| -> bool {
        if k <= 32 {
            return true;
        }
        let sa = reference.contigs[a.0 as usize]
            .seq
            .get(a.1 as usize..a.1 as usize + k);
        let sb = reference.contigs[b.0 as usize]
            .seq
            .get(b.1 as usize..b.1 as usize + k);
        match (sa, sb) {
            (Some(x), Some(y)) => x == y || x == crate::seq::reverse_complement(y).as_slice(),
            _ => false,
        }
    };
    let mut offsets = Vec::with_capacity(loci.len() + 1);
    let mut coords = Vec::new();
    offsets.push(0u32);
    for &(ci, s) in loci {
        if let Some(h) = key_at(ci, s) {
            let lo = occ.partition_point(|o| o.0 < h);
            let hi = occ.partition_point(|o| o.0 <= h);
            // a key seen once is the k-mer itself
            if hi - lo > 1 {
                for &(_, oc, os) in &occ[lo..hi] {
                    if (oc, os) == (ci, s) || !same((ci, s), (oc, os)) {
                        continue;
                    }
                    let g = offsets_c[oc as usize] + os as u64;
                    if g <= u32::MAX as u64 {
                        coords.push(g as u32);
                    }
                    if coords.len() - *offsets.last().expect("offset") as usize >= MAX_MATES {
                        break;
                    }
                }
            }
        }
        offsets.push(coords.len() as u32);
    }
    Mates { offsets, coords }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_key_matches_reverse_complement() {
        assert_eq!(key(b"ACGTTG"), key(b"CAACGT"));
        assert_ne!(key(b"ACGTTG"), key(b"ACGTTC"));
        assert_eq!(key(b"ACNT"), None);
    }
}
