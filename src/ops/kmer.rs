//! k-mer frequency profiles (Scorpio's input features): for each sequence,
//! the count of every valid k-mer divided by the number of valid k-mers. See
//! `shaders/kmer.wgsl` for the layout; one workgroup per sequence.

use super::need;
use crate::error::{CrestError, Result};
use crate::gpu::{Arg, Gpu, GpuBuf, Kernel};

/// WGSL source.
pub const SOURCE: &str = include_str!("../../shaders/kmer.wgsl");

/// Largest k the kernel supports (4^k counters in workgroup memory).
pub const MAX_K: usize = 6;

/// Code of a base that breaks k-mers (N and IUPAC ambiguity codes).
pub const INVALID: u32 = 4;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    k: u32,
    bins: u32,
    first: u32,
    _pad: u32,
}

/// Shape of one profile batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KmerDims {
    /// k (1..=[`MAX_K`]).
    pub k: usize,
    /// Sequences.
    pub seqs: usize,
}

impl KmerDims {
    /// Bins per profile (4^k).
    pub fn bins(&self) -> usize {
        1 << (2 * self.k)
    }

    fn validate(&self, offsets: usize, out: usize) -> Result<()> {
        if self.k == 0 || self.k > MAX_K {
            return Err(CrestError::shape(
                "kmer_profile",
                format!("k = {} is outside 1..={MAX_K}", self.k),
            ));
        }
        need("kmer_profile", "offsets", offsets, self.seqs + 1)?;
        need("kmer_profile", "out", out, self.seqs * self.bins())
    }
}

/// Base code of the kernel: A C G T (either case) → 0..3, anything else → [`INVALID`].
pub fn base_code(b: u8) -> u32 {
    match b {
        b'A' | b'a' => 0,
        b'C' | b'c' => 1,
        b'G' | b'g' => 2,
        b'T' | b't' => 3,
        _ => INVALID,
    }
}

/// Number of valid k-mers (no [`INVALID`] base) in `seq`.
pub fn valid_kmers(seq: &[u8], k: usize) -> usize {
    let mut run = 0usize;
    let mut n = 0usize;
    for &b in seq {
        if base_code(b) == INVALID {
            run = 0;
        } else {
            run += 1;
            if run >= k {
                n += 1;
            }
        }
    }
    n
}

/// Concatenated codes and offsets (`seqs + 1` entries) of a batch of sequences.
pub fn pack(seqs: &[&[u8]]) -> (Vec<u32>, Vec<u32>) {
    let total: usize = seqs.iter().map(|s| s.len()).sum();
    let mut codes = Vec::with_capacity(total);
    let mut offsets = Vec::with_capacity(seqs.len() + 1);
    offsets.push(0);
    for s in seqs {
        codes.extend(s.iter().map(|&b| base_code(b)));
        offsets.push(codes.len() as u32);
    }
    (codes, offsets)
}

/// CPU twin: profiles of `d.seqs` sequences into `out` (`[seqs, 4^k]`).
pub fn kmer_profile_cpu(
    d: &KmerDims,
    codes: &[u32],
    offsets: &[u32],
    out: &mut [f32],
) -> Result<()> {
    d.validate(offsets.len(), out.len())?;
    let bins = d.bins();
    for s in 0..d.seqs {
        let (a, b) = (offsets[s] as usize, offsets[s + 1] as usize);
        if b > codes.len() || a > b {
            return Err(CrestError::shape(
                "kmer_profile",
                format!("offsets {a}..{b} outside {} codes", codes.len()),
            ));
        }
        let row = &mut out[s * bins..(s + 1) * bins];
        let mut counts = vec![0u32; bins];
        let mut total = 0u32;
        if b - a >= d.k {
            for p in a..=b - d.k {
                let w = &codes[p..p + d.k];
                if w.iter().all(|&c| c < INVALID) {
                    let code = w.iter().fold(0usize, |acc, &c| acc * 4 + c as usize);
                    counts[code] += 1;
                    total += 1;
                }
            }
        }
        let inv = if total > 0 { 1.0 / total as f32 } else { 0.0 };
        for (o, &c) in row.iter_mut().zip(&counts) {
            *o = c as f32 * inv;
        }
    }
    Ok(())
}

/// GPU: profiles of `d.seqs` sequences (codes and offsets on the device) into `out`.
pub fn kmer_profile_gpu(
    gpu: &Gpu,
    d: &KmerDims,
    codes: &GpuBuf,
    offsets: &GpuBuf,
    out: &GpuBuf,
) -> Result<()> {
    d.validate(offsets.len, out.len)?;
    let bins = d.bins();
    // Whole multiples of 64 rows per dispatch keep every output slice aligned.
    let max_rows = ((gpu.max_groups() as usize).min((gpu.binding_cap() / 4) as usize / bins) / 64
        * 64)
        .max(64);
    let mut first = 0usize;
    while first < d.seqs {
        let rows = max_rows.min(d.seqs - first).max(1);
        let p = Params {
            k: d.k as u32,
            bins: bins as u32,
            first: first as u32,
            _pad: 0,
        };
        gpu.dispatch(
            Kernel {
                shader: "kmer",
                source: SOURCE,
                entry: "kmer_profile",
            },
            &[
                Arg::Uniform(bytemuck::bytes_of(&p)),
                Arg::Buf(codes),
                Arg::Buf(offsets),
                Arg::Slice(out, first * bins, rows * bins),
            ],
            [rows as u32, 1, 1],
        )?;
        first += rows;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_counts_and_normalises() {
        // AAAC: 2-mers AA, AA, AC → AA 2/3, AC 1/3; "NN" has none.
        let (codes, offsets) = pack(&[b"AAAC", b"NN", b"ACNGT"]);
        let d = KmerDims { k: 2, seqs: 3 };
        let mut out = vec![f32::NAN; 3 * 16];
        kmer_profile_cpu(&d, &codes, &offsets, &mut out).unwrap();
        assert!((out[0] - 2.0 / 3.0).abs() < 1e-6);
        assert!((out[1] - 1.0 / 3.0).abs() < 1e-6);
        assert!(out[16..32].iter().all(|&v| v == 0.0));
        // ACNGT: AC and GT only
        assert_eq!(out[32 + 1], 0.5);
        assert_eq!(out[32 + 11], 0.5);
        assert_eq!(valid_kmers(b"ACNGT", 2), 2);
        assert_eq!(valid_kmers(b"NN", 2), 0);
    }

    #[test]
    fn k_outside_range_is_an_error() {
        let d = KmerDims { k: 7, seqs: 0 };
        assert!(kmer_profile_cpu(&d, &[], &[0], &mut []).is_err());
    }
}
