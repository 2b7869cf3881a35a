//! Verification: banded, damage-aware semi-global alignment scores of reads
//! against reference windows (see `shaders/align.wgsl` for the costs), and
//! the host traceback of an accepted hit (CIGAR, NM, MD).

use super::need;
use crate::error::{CrestError, Result};
use crate::gpu::{Arg, Gpu, Kernel};
use crate::seq::PackedSeq;

/// WGSL source.
pub const SOURCE: &str = include_str!("../../shaders/align.wgsl");

/// Largest band half-width (`pad`) the kernel supports.
pub const MAX_PAD: u32 = 32;
/// Cost of an inserted or deleted base (half-differences).
pub const GAP: i32 = 3;

/// One alignment task.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AlignTask {
    /// First base of the read in the packed read stream.
    pub read_start: u32,
    /// Read length.
    pub read_len: u32,
    /// Global reference coordinate of window base 0.
    pub ref_start: u32,
    /// 0 forward, 1 reverse complement.
    pub strand: u32,
}

/// Scoring settings shared by the GPU kernel and the host traceback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlignParams {
    /// Band half-width: the read may start in window bases 0..=2·pad.
    pub pad: u32,
    /// Damage-discounted mismatches within this many bases of either end.
    pub damage_len: u32,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    tasks: u32,
    pad: u32,
    damage_len: u32,
    ref_len: u32,
}

fn code(seq: &PackedSeq, pos: usize) -> u8 {
    if pos >= seq.len {
        4
    } else {
        seq.get(pos).unwrap_or(4)
    }
}

/// Substitution cost of aligned read code `q` at aligned position `i` against
/// reference code `r`; `low_quality`: the read base's quality is below the
/// mapper's threshold (a mismatch there costs half, like damage).
pub fn sub_cost(
    r: u8,
    q: u8,
    i: usize,
    len: usize,
    strand: u32,
    damage_len: u32,
    low_quality: bool,
) -> i32 {
    if r == 4 || q == 4 {
        return 2;
    }
    if r == q {
        return 0;
    }
    if low_quality {
        return 1;
    }
    let (d5, d3) = if strand == 0 {
        (i, len - 1 - i)
    } else {
        (len - 1 - i, i)
    };
    let dl = damage_len as usize;
    let c_to_t = r == 1 && q == 3;
    let g_to_a = r == 2 && q == 0;
    let damage = if strand == 0 {
        (c_to_t && d5 < dl) || (g_to_a && d3 < dl)
    } else {
        (g_to_a && d5 < dl) || (c_to_t && d3 < dl)
    };
    if damage {
        1
    } else {
        2
    }
}

/// The aligned read codes of a task (reverse-complemented for strand 1).
pub fn aligned_read(reads: &PackedSeq, t: &AlignTask) -> Vec<u8> {
    let (s, n) = (t.read_start as usize, t.read_len as usize);
    (0..n)
        .map(|i| {
            if t.strand == 0 {
                code(reads, s + i)
            } else {
                match code(reads, s + n - 1 - i) {
                    4 => 4,
                    c => 3 - c,
                }
            }
        })
        .collect()
}

/// Low-quality bits of a read stream (one per base, 32 per word): the bases
/// whose mismatches cost half. Empty means none.
pub fn low_quality_bit(mask: &[u32], pos: usize) -> bool {
    mask.get(pos >> 5)
        .is_some_and(|w| (w >> (pos & 31)) & 1 == 1)
}

/// The low-quality flags of a task's aligned read (reversed for strand 1).
pub fn aligned_low_quality(mask: &[u32], t: &AlignTask) -> Vec<bool> {
    let (s, n) = (t.read_start as usize, t.read_len as usize);
    (0..n)
        .map(|i| {
            let pos = if t.strand == 0 { s + i } else { s + n - 1 - i };
            low_quality_bit(mask, pos)
        })
        .collect()
}

/// Full banded DP matrix of a task: `rows[i][d]` = best cost of aligning read
/// bases 0..=i with read base i's row on diagonal d.
fn dp(
    reference: &PackedSeq,
    reads: &PackedSeq,
    low_quality: &[u32],
    t: &AlignTask,
    p: &AlignParams,
) -> (Vec<u8>, Vec<bool>, Vec<Vec<i32>>) {
    let q = aligned_read(reads, t);
    let lq = aligned_low_quality(low_quality, t);
    let band = (2 * p.pad.min(MAX_PAD) + 1) as usize;
    let len = q.len();
    let mut rows = Vec::with_capacity(len);
    let mut prev = vec![0i32; band];
    for (i, &qc) in q.iter().enumerate() {
        let mut cur = vec![0i32; band];
        for d in 0..band {
            let r = code(reference, t.ref_start as usize + i + d);
            let mut best = prev[d] + sub_cost(r, qc, i, len, t.strand, p.damage_len, lq[i]);
            if d + 1 < band {
                best = best.min(prev[d + 1] + GAP);
            }
            if d > 0 {
                best = best.min(cur[d - 1] + GAP);
            }
            cur[d] = best;
        }
        rows.push(cur.clone());
        prev = cur;
    }
    (q, lq, rows)
}

/// CPU twin: (best cost, end diagonal) per task; `low_quality` as in
/// [`low_quality_bit`].
pub fn align_cpu(
    reference: &PackedSeq,
    reads: &PackedSeq,
    low_quality: &[u32],
    tasks: &[AlignTask],
    p: &AlignParams,
) -> Vec<(u32, u32)> {
    tasks
        .iter()
        .map(|t| {
            let (_, _, rows) = dp(reference, reads, low_quality, t, p);
            match rows.last() {
                None => (0, 0),
                Some(last) => {
                    let (d, c) = last
                        .iter()
                        .enumerate()
                        .min_by_key(|&(d, &c)| (c, d))
                        .expect("band ≥ 1");
                    (*c as u32, d as u32)
                }
            }
        })
        .collect()
}

/// GPU verification; `reference` and `reads` are packed on the device,
/// `low_quality` as in [`low_quality_bit`].
pub fn align_gpu(
    gpu: &Gpu,
    reference: &super::encode::GpuSeq,
    reads: &super::encode::GpuSeq,
    low_quality: &[u32],
    tasks: &[AlignTask],
    p: &AlignParams,
) -> Result<Vec<(u32, u32)>> {
    if p.pad > MAX_PAD {
        return Err(CrestError::shape(
            "align",
            format!("pad {} > {MAX_PAD}", p.pad),
        ));
    }
    if tasks.is_empty() {
        return Ok(Vec::new());
    }
    let tb = gpu.upload("align tasks", bytemuck::cast_slice::<AlignTask, u32>(tasks))?;
    let out = gpu.zeros("align out", tasks.len() * 2)?;
    // one word at least: a binding may not be empty
    let lq = gpu.upload(
        "align low-quality bits",
        if low_quality.is_empty() {
            &[0u32][..]
        } else {
            low_quality
        },
    )?;
    need("align", "out", out.len, tasks.len() * 2)?;
    let params = Params {
        tasks: tasks.len() as u32,
        pad: p.pad,
        damage_len: p.damage_len,
        ref_len: reference.len as u32,
    };
    gpu.dispatch(
        Kernel {
            shader: "align",
            source: SOURCE,
            entry: "align",
        },
        &[
            Arg::Uniform(bytemuck::bytes_of(&params)),
            Arg::Buf(&reference.codes),
            Arg::Buf(&reference.nmask),
            Arg::Buf(&reads.codes),
            Arg::Buf(&reads.nmask),
            Arg::Buf(&tb),
            Arg::Buf(&out),
            Arg::Buf(&lq),
        ],
        gpu.grid_1d(tasks.len(), 64),
    )?;
    let w: Vec<u32> = gpu.read(&out)?;
    Ok(w.chunks_exact(2).map(|c| (c[0], c[1])).collect())
}

/// An alignment traced back on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Traced {
    /// Cost (half-differences), equal to the kernel's.
    pub cost: u32,
    /// Global reference coordinate of the first aligned reference base.
    pub ref_pos: u32,
    /// CIGAR (M/I/D).
    pub cigar: Vec<(u8, u32)>,
    /// Edit distance (mismatches + inserted + deleted bases).
    pub nm: u32,
    /// SAM MD string.
    pub md: String,
    /// Mismatches that look like deamination (at any base quality).
    pub damage: u32,
}

/// Trace back the best alignment of one task (same costs and tie-breaks as the kernel).
pub fn traceback(
    reference: &PackedSeq,
    reads: &PackedSeq,
    low_quality: &[u32],
    t: &AlignTask,
    p: &AlignParams,
) -> Option<Traced> {
    let (q, lq, rows) = dp(reference, reads, low_quality, t, p);
    let len = q.len();
    let last = rows.last()?;
    let band = last.len();
    let (mut d, &cost) = last.iter().enumerate().min_by_key(|&(d, &c)| (c, d))?;
    let mut i = len as isize - 1;
    // ops from the end: (op, ref base code for M/D, read code)
    let mut ops: Vec<(u8, u8, u8)> = Vec::new();
    let rc = |i: usize, d: usize| code(reference, t.ref_start as usize + i + d);
    let mut damage = 0;
    while i >= 0 {
        let iu = i as usize;
        let here = rows[iu][d];
        let r = rc(iu, d);
        let prev_diag = if iu == 0 { 0 } else { rows[iu - 1][d] };
        let sc = sub_cost(r, q[iu], iu, len, t.strand, p.damage_len, lq[iu]);
        if here == prev_diag + sc {
            if sc == 1 && sub_cost(r, q[iu], iu, len, t.strand, p.damage_len, false) == 1 {
                damage += 1;
            }
            ops.push((b'M', r, q[iu]));
            i -= 1;
        } else if d + 1 < band && here == (if iu == 0 { 0 } else { rows[iu - 1][d + 1] }) + GAP {
            ops.push((b'I', 4, q[iu]));
            i -= 1;
            d += 1;
        } else if d > 0 && here == rows[iu][d - 1] + GAP {
            ops.push((b'D', r, 4));
            d -= 1;
        } else {
            return None; // cannot happen with a consistent matrix
        }
    }
    ops.reverse();
    // Leading deletions carry no information (free start): drop them.
    let first_m = ops.iter().position(|o| o.0 != b'D').unwrap_or(0);
    let ops = &ops[first_m..];
    let ref_pos = t.ref_start + d as u32 + first_m as u32;
    let mut cigar: Vec<(u8, u32)> = Vec::new();
    let mut nm = 0;
    let mut md = String::new();
    let mut run = 0u32;
    let mut in_del = false;
    for &(op, r, qc) in ops {
        match cigar.last_mut() {
            Some((o, n)) if *o == op => *n += 1,
            _ => cigar.push((op, 1)),
        }
        match op {
            b'M' => {
                in_del = false;
                if r == qc && r != 4 {
                    run += 1;
                } else {
                    nm += 1;
                    md.push_str(&run.to_string());
                    md.push(crate::seq::code_base(r) as char);
                    run = 0;
                }
            }
            b'I' => nm += 1,
            _ => {
                nm += 1;
                if !in_del {
                    md.push_str(&run.to_string());
                    md.push('^');
                    run = 0;
                    in_del = true;
                }
                md.push(crate::seq::code_base(r) as char);
            }
        }
    }
    md.push_str(&run.to_string());
    Some(Traced {
        cost: cost as u32,
        ref_pos,
        cigar,
        nm,
        md,
        damage,
    })
}
