//! DNA alphabet and 2-bit packing.
//!
//! Codes: A=0, C=1, G=2, T=3; the complement of code q is 3 - q. Anything
//! else is N, kept in a separate bit mask (its code bits are 0). Packing: base i
//! in bits 2*(i%16) of `codes[i/16]`; N flag in bit i%32 of `nmask[i/32]`.

/// Code of an (upper- or lower-case) base, or None for N/IUPAC/other.
pub fn base_code(b: u8) -> Option<u8> {
    match b {
        b'A' | b'a' => Some(0),
        b'C' | b'c' => Some(1),
        b'G' | b'g' => Some(2),
        b'T' | b't' => Some(3),
        _ => None,
    }
}

/// Upper-case base of a code (4 = N).
pub fn code_base(c: u8) -> u8 {
    b"ACGTN"[c.min(4) as usize]
}

/// Whether `b` is a valid IUPAC nucleotide letter (either case), `.` or `-` excluded.
pub fn is_iupac(b: u8) -> bool {
    matches!(
        b.to_ascii_uppercase(),
        b'A' | b'C'
            | b'G'
            | b'T'
            | b'U'
            | b'R'
            | b'Y'
            | b'S'
            | b'W'
            | b'K'
            | b'M'
            | b'B'
            | b'D'
            | b'H'
            | b'V'
            | b'N'
    )
}

/// Fold a base to crest's alphabet: upper-case ACGT, everything else N.
pub fn fold_base(b: u8) -> u8 {
    match b {
        b'A' | b'a' => b'A',
        b'C' | b'c' => b'C',
        b'G' | b'g' => b'G',
        b'T' | b't' | b'U' | b'u' => b'T',
        _ => b'N',
    }
}

/// Start offsets of windows of `window` bases tiling a sequence of `len`:
/// every `step` bases, plus the last full window so that the end is
/// covered; one window at 0 when the sequence is shorter than a window.
pub fn window_starts(len: usize, window: usize, step: usize) -> Vec<usize> {
    if len <= window {
        return vec![0];
    }
    let last = len - window;
    let mut v: Vec<usize> = (0..=last).step_by(step.max(1)).collect();
    if *v.last().expect("one window") != last {
        v.push(last);
    }
    v
}

/// Complement of one base (ACGT, either case; other bytes become N).
pub fn complement(b: u8) -> u8 {
    match b {
        b'A' | b'a' => b'T',
        b'C' | b'c' => b'G',
        b'G' | b'g' => b'C',
        b'T' | b't' => b'A',
        _ => b'N',
    }
}

/// Reverse complement of an ACGTN sequence (other bytes become N).
pub fn reverse_complement(seq: &[u8]) -> Vec<u8> {
    seq.iter().rev().map(|&b| complement(b)).collect()
}

/// A 2-bit packed DNA sequence with an N mask.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PackedSeq {
    /// Number of bases.
    pub len: usize,
    /// 16 bases per word.
    pub codes: Vec<u32>,
    /// 32 N flags per word.
    pub nmask: Vec<u32>,
}

impl PackedSeq {
    /// Pack ASCII bases (anything but ACGT/acgt becomes N).
    pub fn from_ascii(seq: &[u8]) -> Self {
        let mut p = PackedSeq::with_len(seq.len());
        for (i, &b) in seq.iter().enumerate() {
            p.set(i, base_code(b));
        }
        p
    }

    /// An all-A sequence of `len` bases (to be filled with [`PackedSeq::set`]).
    pub fn with_len(len: usize) -> Self {
        PackedSeq {
            len,
            codes: vec![0; len.div_ceil(16).max(1)],
            nmask: vec![0; len.div_ceil(32).max(1)],
        }
    }

    /// Set base `i` (None = N).
    pub fn set(&mut self, i: usize, code: Option<u8>) {
        let (w, s) = (i / 16, (i % 16) * 2);
        self.codes[w] &= !(3 << s);
        let (nw, nb) = (i / 32, i % 32);
        match code {
            Some(c) => {
                self.codes[w] |= (c as u32 & 3) << s;
                self.nmask[nw] &= !(1 << nb);
            }
            None => self.nmask[nw] |= 1 << nb,
        }
    }

    /// Code of base i (None = N).
    pub fn get(&self, i: usize) -> Option<u8> {
        if (self.nmask[i / 32] >> (i % 32)) & 1 == 1 {
            None
        } else {
            Some(((self.codes[i / 16] >> ((i % 16) * 2)) & 3) as u8)
        }
    }

    /// Back to ASCII (ACGTN).
    pub fn to_ascii(&self) -> Vec<u8> {
        (0..self.len)
            .map(|i| code_base(self.get(i).unwrap_or(4)))
            .collect()
    }

    /// Append another packed sequence (used to concatenate reads or contigs).
    pub fn extend_ascii(&mut self, seq: &[u8]) {
        let start = self.len;
        self.len += seq.len();
        self.codes.resize(self.len.div_ceil(16).max(1), 0);
        self.nmask.resize(self.len.div_ceil(32).max(1), 0);
        for (i, &b) in seq.iter().enumerate() {
            self.set(start + i, base_code(b));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_roundtrip_with_n() {
        let s = b"ACGTNacgtRYACGTACGTAACCGGTTNNNA";
        let p = PackedSeq::from_ascii(s);
        assert_eq!(p.to_ascii(), b"ACGTNACGTNNACGTACGTAACCGGTTNNNA".to_vec());
        let mut q = PackedSeq::from_ascii(b"ACG");
        q.extend_ascii(b"TTN");
        assert_eq!(q.to_ascii(), b"ACGTTN".to_vec());
    }

    #[test]
    fn revcomp() {
        assert_eq!(reverse_complement(b"AACGTN"), b"NACGTT".to_vec());
    }
}
