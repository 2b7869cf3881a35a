//! `crest simulate-sv`: plant structural variants of chosen kinds and sizes
//! into a reference, and draw noisy long reads from the altered genome.
//!
//! Events never overlap and keep `spacing` bp from each other and from
//! contig ends. Sizes are log-uniform in `[min_size, max_size]`. A
//! translocation cuts a stretch and pastes it (forward) at another point of
//! the same contig; its truth is the BND pair of the two new adjacencies
//! around the pasted stretch (the VCF convention of [`crate::sv::SvCall`]).

use super::{SvCall, SvKind};
use crate::error::{CrestError, Result};
use crate::io::reference::Contig;
use crate::io::{ReadRecord, Reference};
use crate::rng::Rng;
use crate::seq::reverse_complement;

/// What to plant.
#[derive(Clone, Debug)]
pub struct PlantConfig {
    /// Events of each kind.
    pub per_kind: usize,
    /// Kinds planted (`Bnd` plants translocations).
    pub kinds: Vec<SvKind>,
    /// Smallest event (bp).
    pub min_size: u64,
    /// Largest event (bp).
    pub max_size: u64,
    /// Least distance between events, and from contig ends (bp).
    pub spacing: u64,
    /// Seed.
    pub seed: u64,
}

/// An altered genome and the events planted in it.
#[derive(Clone, Debug)]
pub struct Planted {
    /// The altered genome (contig names unchanged).
    pub genome: Reference,
    /// Truth calls in the original reference's coordinates.
    pub truth: Vec<SvCall>,
}

#[derive(Clone, Debug)]
enum Op {
    Del(u64, u64),
    Inv(u64, u64),
    Dup(u64, u64),
    Ins(u64, Vec<u8>),
    /// Source of a translocation: cut.
    Cut(u64, u64),
    /// Target: paste `[s, e)` at this point.
    Paste(u64, u64, u64),
}

impl Op {
    fn at(&self) -> u64 {
        match *self {
            Op::Del(s, _) | Op::Inv(s, _) | Op::Dup(s, _) | Op::Cut(s, _) => s,
            Op::Ins(t, _) | Op::Paste(t, _, _) => t,
        }
    }
}

fn log_uniform(rng: &mut Rng, lo: u64, hi: u64) -> u64 {
    if hi <= lo {
        return lo;
    }
    let (a, b) = ((lo as f64).ln(), (hi as f64).ln());
    ((a + rng.uniform() * (b - a)).exp().round() as u64).clamp(lo, hi)
}

fn call(
    kind: SvKind,
    contig: usize,
    pos: u64,
    end: u64,
    len: u64,
    mate: Option<(usize, u64)>,
) -> SvCall {
    SvCall {
        kind,
        contig,
        pos,
        end,
        len,
        cipos: (0, 0),
        ciend: (0, 0),
        mate,
        support: 1,
        switch: false,
    }
}

/// Plant `cfg.per_kind` events of each kind; errors when they do not fit.
pub fn plant(reference: &Reference, cfg: &PlantConfig) -> Result<Planted> {
    if cfg.min_size == 0 || cfg.min_size > cfg.max_size {
        return Err(CrestError::Invalid(
            "event sizes must be positive and --min-size ≤ --max-size".into(),
        ));
    }
    let mut rng = Rng::new(cfg.seed);
    let n_contigs = reference.contigs.len();
    let mut busy: Vec<Vec<(u64, u64)>> = vec![Vec::new(); n_contigs];
    let mut ops: Vec<Vec<Op>> = vec![Vec::new(); n_contigs];
    let mut truth = Vec::new();
    let total = reference.total_len();
    let sp = cfg.spacing;
    // a free stretch of `len` bp (with spacing around it), or None
    let place =
        |rng: &mut Rng, busy: &mut Vec<Vec<(u64, u64)>>, len: u64| -> Option<(usize, u64)> {
            for _ in 0..2000 {
                // contig by length
                let mut x = rng.below(total.max(1));
                let mut ci = 0;
                while ci + 1 < n_contigs && x >= reference.contigs[ci].seq.len() as u64 {
                    x -= reference.contigs[ci].seq.len() as u64;
                    ci += 1;
                }
                let clen = reference.contigs[ci].seq.len() as u64;
                if clen < len + 2 * sp + 1 {
                    continue;
                }
                let s = sp + rng.below(clen - len - 2 * sp + 1);
                let (lo, hi) = (s.saturating_sub(sp), s + len + sp);
                if busy[ci].iter().all(|&(a, b)| hi <= a || lo >= b) {
                    busy[ci].push((s, s + len));
                    return Some((ci, s));
                }
            }
            None
        };
    for round in 0..cfg.per_kind {
        for &kind in &cfg.kinds {
            let len = log_uniform(&mut rng, cfg.min_size, cfg.max_size);
            let footprint = if kind == SvKind::Ins { 1 } else { len };
            let Some((ci, s)) = place(&mut rng, &mut busy, footprint) else {
                return Err(CrestError::Invalid(format!(
                    "could not place {} #{} ({len} bp) with {sp} bp spacing in {total} bp: plant fewer or smaller events",
                    kind.svtype(),
                    round + 1
                )));
            };
            let e = s + len;
            match kind {
                SvKind::Del => {
                    ops[ci].push(Op::Del(s, e));
                    truth.push(call(kind, ci, s, e, len, None));
                }
                SvKind::Inv => {
                    ops[ci].push(Op::Inv(s, e));
                    truth.push(call(kind, ci, s, e, len, None));
                }
                SvKind::Dup => {
                    ops[ci].push(Op::Dup(s, e));
                    truth.push(call(kind, ci, s, e, len, None));
                }
                SvKind::Ins => {
                    let seq: Vec<u8> = (0..len).map(|_| b"ACGT"[rng.below(4) as usize]).collect();
                    ops[ci].push(Op::Ins(s, seq));
                    truth.push(call(kind, ci, s, s, len, None));
                }
                SvKind::Bnd => {
                    // the paste point: somewhere else on the same contig
                    let clen = reference.contigs[ci].seq.len() as u64;
                    let mut target = None;
                    for _ in 0..2000 {
                        let t = sp + rng.below(clen.saturating_sub(2 * sp).max(1));
                        let (lo, hi) = (t.saturating_sub(sp), t + 1 + sp);
                        if busy[ci].iter().all(|&(a, b)| hi <= a || lo >= b) {
                            busy[ci].push((t, t + 1));
                            target = Some(t);
                            break;
                        }
                    }
                    let Some(t) = target else {
                        return Err(CrestError::Invalid(format!(
                            "could not place the paste point of translocation #{} ({len} bp): plant fewer or smaller events",
                            round + 1
                        )));
                    };
                    ops[ci].push(Op::Cut(s, e));
                    ops[ci].push(Op::Paste(t, s, e));
                    truth.push(call(kind, ci, t, t, len, Some((ci, s + 1))));
                    truth.push(call(kind, ci, e, e, len, Some((ci, t + 1))));
                }
            }
        }
    }
    let contigs = reference
        .contigs
        .iter()
        .zip(ops.iter_mut())
        .map(|(c, ops)| {
            ops.sort_by_key(|o| o.at());
            let orig = &c.seq;
            let mut seq = Vec::with_capacity(orig.len());
            let mut cursor = 0usize;
            for op in ops.iter() {
                let at = op.at() as usize;
                seq.extend_from_slice(&orig[cursor..at]);
                cursor = at;
                match op {
                    Op::Del(_, e) | Op::Cut(_, e) => cursor = *e as usize,
                    Op::Inv(s, e) => {
                        seq.extend(reverse_complement(&orig[*s as usize..*e as usize]));
                        cursor = *e as usize;
                    }
                    Op::Dup(s, e) => {
                        let part = &orig[*s as usize..*e as usize];
                        seq.extend_from_slice(part);
                        seq.extend_from_slice(part);
                        cursor = *e as usize;
                    }
                    Op::Ins(_, ins) => seq.extend_from_slice(ins),
                    Op::Paste(_, s, e) => seq.extend_from_slice(&orig[*s as usize..*e as usize]),
                }
            }
            seq.extend_from_slice(&orig[cursor..]);
            Contig {
                name: c.name.clone(),
                md5: crate::io::reference::md5_hex(&seq),
                seq,
            }
        })
        .collect();
    truth.sort_by_key(|c| (c.contig, c.pos, c.kind));
    Ok(Planted {
        genome: Reference { contigs },
        truth,
    })
}

/// Long reads from `genome`: `n` reads of `len` bp (shorter where a contig
/// is), uniform positions, either strand, with `error` per-base errors split
/// evenly between substitutions, 1-bp insertions and 1-bp deletions. Named
/// `lr_<i>_<contig>_<pos>_<strand>`.
pub fn long_reads(
    genome: &Reference,
    n: usize,
    len: usize,
    error: f64,
    seed: u64,
) -> Vec<ReadRecord> {
    let mut rng = Rng::new(seed ^ 0x5eed_10c6);
    let total = genome.total_len().max(1);
    (0..n)
        .map(|i| {
            let mut x = rng.below(total);
            let mut ci = 0;
            while ci + 1 < genome.contigs.len() && x >= genome.contigs[ci].seq.len() as u64 {
                x -= genome.contigs[ci].seq.len() as u64;
                ci += 1;
            }
            let c = &genome.contigs[ci];
            let l = len.min(c.seq.len());
            let start = rng.below((c.seq.len() - l + 1) as u64) as usize;
            let reverse = rng.below(2) == 1;
            let frag = &c.seq[start..start + l];
            let frag = if reverse {
                reverse_complement(frag)
            } else {
                frag.to_vec()
            };
            let mut seq = Vec::with_capacity(l + l / 10);
            for &b in &frag {
                if rng.uniform() < error {
                    match rng.below(3) {
                        0 => {
                            let i = "ACGT".find(b as char).unwrap_or(0);
                            seq.push(b"ACGT"[(i + 1 + rng.below(3) as usize) % 4]);
                        }
                        1 => {
                            seq.push(b);
                            seq.push(b"ACGT"[rng.below(4) as usize]);
                        }
                        _ => {}
                    }
                } else {
                    seq.push(b);
                }
            }
            ReadRecord {
                name: format!(
                    "lr_{i}_{}_{start}_{}",
                    c.name,
                    if reverse { '-' } else { '+' }
                ),
                seq,
                qual: Vec::new(),
                rg: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn genome(n: usize) -> Reference {
        let mut r = Rng::new(7);
        Reference {
            contigs: vec![Contig {
                name: "g".into(),
                seq: (0..n).map(|_| b"ACGT"[r.below(4) as usize]).collect(),
                md5: String::new(),
            }],
        }
    }

    fn cfg(kinds: Vec<SvKind>, per_kind: usize) -> PlantConfig {
        PlantConfig {
            per_kind,
            kinds,
            min_size: 200,
            max_size: 2000,
            spacing: 500,
            seed: 3,
        }
    }

    #[test]
    fn each_kind_changes_the_genome_as_its_truth_says() {
        let r = genome(60_000);
        let orig = &r.contigs[0].seq;
        for kind in SvKind::ALL {
            let p = plant(&r, &cfg(vec![kind], 1)).unwrap();
            let alt = &p.genome.contigs[0].seq;
            let t = &p.truth[0];
            let (s, e) = (t.pos as usize, t.end as usize);
            let l = t.len as usize;
            match kind {
                SvKind::Del => {
                    assert_eq!(alt.len(), orig.len() - l);
                    assert_eq!(&alt[..s], &orig[..s]);
                    assert_eq!(&alt[s..], &orig[e..]);
                }
                SvKind::Ins => {
                    assert_eq!(alt.len(), orig.len() + l);
                    assert_eq!(&alt[s + l..], &orig[s..]);
                }
                SvKind::Inv => {
                    assert_eq!(alt.len(), orig.len());
                    assert_eq!(alt[s..e].to_vec(), reverse_complement(&orig[s..e]));
                    assert_eq!(&alt[e..], &orig[e..]);
                }
                SvKind::Dup => {
                    assert_eq!(alt.len(), orig.len() + l);
                    assert_eq!(&alt[e..e + l], &orig[s..e]);
                    assert_eq!(&alt[e + l..], &orig[e..]);
                }
                SvKind::Bnd => {
                    assert_eq!(p.truth.len(), 2);
                    assert_eq!(alt.len(), orig.len());
                }
            }
        }
    }

    #[test]
    fn translocation_moves_the_stretch() {
        let r = genome(60_000);
        let orig = &r.contigs[0].seq;
        let p = plant(&r, &cfg(vec![SvKind::Bnd], 1)).unwrap();
        let alt = &p.genome.contigs[0].seq;
        // the paste record (t joined to s+1) is the one the other record's mate points after
        let (x, y) = (&p.truth[0], &p.truth[1]);
        let paste = if y.mate.unwrap().1 == x.pos + 1 { x } else { y };
        let (t, s) = (paste.pos as usize, paste.mate.unwrap().1 as usize - 1);
        let l = p.truth[0].len as usize;
        // the moved stretch appears once, right after the paste point's context
        let moved = &orig[s..s + l];
        let found = alt.windows(l).filter(|w| *w == moved).count();
        assert_eq!(found, 1);
        let ctx = &orig[t - 20..t];
        let at = alt.windows(20).position(|w| w == ctx).unwrap();
        assert_eq!(&alt[at + 20..at + 20 + l], moved);
    }

    #[test]
    fn same_seed_same_genome_and_too_many_events_fail() {
        let r = genome(30_000);
        let c = cfg(SvKind::ALL.to_vec(), 2);
        let a = plant(&r, &c).unwrap();
        let b = plant(&r, &c).unwrap();
        assert_eq!(a.genome.contigs[0].seq, b.genome.contigs[0].seq);
        assert_eq!(a.truth, b.truth);
        assert_eq!(a.truth.len(), 2 * 6);
        let e = plant(&r, &cfg(SvKind::ALL.to_vec(), 40))
            .unwrap_err()
            .to_string();
        assert!(e.contains("could not place"), "{e}");
    }

    #[test]
    fn long_reads_have_the_asked_error_rate() {
        let r = genome(50_000);
        let reads = long_reads(&r, 20, 5000, 0.05, 1);
        assert_eq!(reads.len(), 20);
        for rd in &reads {
            assert!(rd.seq.len().abs_diff(5000) < 200, "{}", rd.seq.len());
        }
        let exact = long_reads(&r, 3, 1000, 0.0, 2);
        for rd in &exact {
            let f: Vec<&str> = rd.name.split('_').collect();
            let pos: usize = f[3].parse().unwrap();
            let want = &r.contigs[0].seq[pos..pos + 1000];
            if f[4] == "+" {
                assert_eq!(rd.seq, want);
            } else {
                assert_eq!(rd.seq, reverse_complement(want));
            }
        }
    }
}
