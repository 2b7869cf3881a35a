//! Mapping: decoding and BCE (GPU vs twin), verification (GPU vs twin, known
//! alignments, damage scoring), traceback (CIGAR/NM/MD), MAPQ.

mod common;

use crest::backend::{Backend, Tensor};
use crest::ops::align::{align_cpu, align_gpu, traceback, AlignParams, AlignTask};
use crest::ops::bithead::{bce_cpu, decode_cpu};
use crest::ops::encode::GpuSeq;
use crest::rng::Rng;
use crest::seq::{reverse_complement, PackedSeq};

fn random_dna(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| b"ACGT"[rng.below(4) as usize]).collect()
}

#[test]
fn decode_gpu_matches_twin_and_ranks_by_probability() {
    let mut rng = Rng::new(41);
    let (rows, bits) = (67, 15);
    let logits = rng.vec_f32(rows * bits, -6.0, 6.0);
    for flip in [0u32, 1, 3, 4] {
        let want = decode_cpu(&logits, rows, bits, flip, 20_000).unwrap();
        // The first candidate is the most likely coordinate: bit b set iff logit > 0.
        let m = 1usize << flip;
        for r in 0..rows {
            let best = want[r * m];
            let argmax: u32 = (0..bits)
                .filter(|&b| logits[r * bits + b] > 0.0)
                .map(|b| 1u32 << b)
                .sum();
            assert_eq!(best.0, argmax);
            assert!(want[r * m..(r + 1) * m]
                .iter()
                .all(|c| c.1 <= best.1 || best.0 >= 20_000));
        }
        let Some(g) = common::gpu() else { continue };
        let be = Backend::Gpu(g);
        let got = be
            .decode(&be.upload(&logits).unwrap(), rows, bits, flip, 20_000)
            .unwrap();
        assert_eq!(got.len(), want.len());
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            assert_eq!(a.0, b.0, "candidate {i} coordinate");
            assert!(
                (a.1 - b.1).abs() <= 1e-4 * b.1.abs().max(1.0) || (a.1 < -1e30 && b.1 < -1e30),
                "candidate {i} score {} vs {}",
                a.1,
                b.1
            );
        }
    }
}

#[test]
fn bce_gpu_matches_twin_and_gradient_matches_finite_differences() {
    let mut rng = Rng::new(42);
    let (rows, bits) = (33, 13);
    let x = rng.vec_f32(rows * bits, -8.0, 8.0);
    let t: Vec<f32> = (0..rows * bits).map(|_| rng.below(2) as f32).collect();
    let mut g = vec![0.0; rows * bits];
    let mut l = vec![0.0; rows];
    bce_cpu(&x, &t, rows, bits, &mut g, &mut l).unwrap();
    // finite differences of the mean loss (f64 evaluation of the same formula)
    let loss = |x: &[f32]| -> f64 {
        x.iter()
            .zip(&t)
            .map(|(&x, &t)| {
                let (x, t) = (x as f64, t as f64);
                x.max(0.0) - t * x + (1.0 + (-x.abs()).exp()).ln()
            })
            .sum::<f64>()
            / (rows * bits) as f64
    };
    let mut xp = x.clone();
    for i in (0..rows * bits).step_by(7) {
        let v = xp[i];
        xp[i] = v + 1e-2;
        let up = loss(&xp);
        xp[i] = v - 1e-2;
        let down = loss(&xp);
        xp[i] = v;
        let fd = (up - down) / 2e-2;
        assert!(
            (g[i] as f64 - fd).abs() < 1e-5,
            "bce grad {i}: {} vs {fd}",
            g[i]
        );
    }
    let Some(gpu) = common::gpu() else { return };
    let be = Backend::Gpu(gpu.clone());
    let mut gg = Tensor::Gpu(gpu.poisoned("g", rows * bits).unwrap());
    let mut gl = Tensor::Gpu(gpu.poisoned("l", rows).unwrap());
    be.bce(&be.upload(&x).unwrap(), &t, rows, bits, &mut gg, &mut gl)
        .unwrap();
    common::assert_close("bce grad", &be.read(&gg).unwrap(), &g, 1e-4, 1e-7);
    common::assert_close("bce loss", &be.read(&gl).unwrap(), &l, 1e-4, 1e-5);
}

const P: AlignParams = AlignParams {
    pad: 8,
    damage_len: 5,
};

/// One read against one window placed `lead` bases before the read's locus.
fn one(
    reference: &[u8],
    read: &[u8],
    ref_start: u32,
    strand: u32,
) -> (PackedSeq, PackedSeq, AlignTask) {
    let task = AlignTask {
        read_start: 0,
        read_len: read.len() as u32,
        ref_start,
        strand,
    };
    (
        PackedSeq::from_ascii(reference),
        PackedSeq::from_ascii(read),
        task,
    )
}

#[test]
fn known_alignments_cost_cigar_md() {
    let mut rng = Rng::new(43);
    let genome = random_dna(&mut rng, 400);
    // exact match at 100, window starting at 94
    let read = genome[100..150].to_vec();
    let (r, q, t) = one(&genome, &read, 94, 0);
    let tr = traceback(&r, &q, &[], &t, &P).unwrap();
    assert_eq!((tr.cost, tr.ref_pos, tr.nm), (0, 100, 0));
    assert_eq!(tr.cigar, vec![(b'M', 50)]);
    assert_eq!(tr.md, "50");
    // one mismatch in the middle: cost 2, MD names the reference base
    let mut mm = read.clone();
    mm[20] = if mm[20] == b'A' { b'C' } else { b'A' };
    let (r, q, t) = one(&genome, &mm, 94, 0);
    let tr = traceback(&r, &q, &[], &t, &P).unwrap();
    assert_eq!((tr.cost, tr.ref_pos, tr.nm), (2, 100, 1));
    assert_eq!(tr.md, format!("20{}29", genome[120] as char));
    // the same mismatch at a low-quality base costs half (NM still counts
    // it, and it is not damage); on the reverse strand the flag follows
    // the read's own base
    let lowq = vec![1u32 << 20];
    let tr = traceback(&r, &q, &lowq, &t, &P).unwrap();
    assert_eq!((tr.cost, tr.nm, tr.damage), (1, 1, 0));
    assert_eq!(align_cpu(&r, &q, &lowq, &[t], &P)[0].0, 1);
    let not_there = vec![1u32 << 21];
    assert_eq!(align_cpu(&r, &q, &not_there, &[t], &P)[0].0, 2);
    let (r2, q2, t2) = one(&genome, &reverse_complement(&mm), 94, 1);
    let rev_bit = vec![1u32 << (49 - 20)];
    assert_eq!(align_cpu(&r2, &q2, &rev_bit, &[t2], &P)[0].0, 1);
    assert_eq!(align_cpu(&r2, &q2, &lowq, &[t2], &P)[0].0, 2);
    // a 2-base deletion from the read
    let mut del = genome[100..130].to_vec();
    del.extend_from_slice(&genome[132..160]);
    let (r, q, t) = one(&genome, &del, 92, 0);
    let tr = traceback(&r, &q, &[], &t, &P).unwrap();
    assert_eq!(tr.ref_pos, 100);
    assert_eq!(tr.nm, 2);
    assert_eq!(tr.cost, 6);
    assert_eq!(
        tr.cigar
            .iter()
            .filter(|c| c.0 == b'D')
            .map(|c| c.1)
            .sum::<u32>(),
        2
    );
    assert!(tr.md.contains('^'), "{}", tr.md);
    // an inserted base
    let mut ins = genome[100..130].to_vec();
    ins.push(b'A');
    ins.extend_from_slice(&genome[130..160]);
    let (r, q, t) = one(&genome, &ins, 95, 0);
    let tr = traceback(&r, &q, &[], &t, &P).unwrap();
    assert_eq!((tr.ref_pos, tr.nm), (100, 1));
    assert_eq!(
        tr.cigar
            .iter()
            .filter(|c| c.0 == b'I')
            .map(|c| c.1)
            .sum::<u32>(),
        1
    );
    // reverse strand: the read is the reverse complement of the locus
    let rc = reverse_complement(&genome[200..260]);
    let (r, q, t) = one(&genome, &rc, 195, 1);
    let tr = traceback(&r, &q, &[], &t, &P).unwrap();
    assert_eq!((tr.cost, tr.ref_pos), (0, 200));
}

#[test]
fn damage_costs_half_at_the_right_ends_only() {
    // Reference with C at the read's first base and G at its last.
    let mut rng = Rng::new(44);
    let mut genome = random_dna(&mut rng, 200);
    genome[50] = b'C';
    genome[89] = b'G';
    genome[70] = b'C';
    let cost = |read: &[u8], strand: u32| {
        let (r, q, t) = one(&genome, read, 42, strand);
        align_cpu(&r, &q, &[], &[t], &P)[0].0
    };
    let fwd = genome[50..90].to_vec();
    let mut c_to_t_5p = fwd.clone();
    c_to_t_5p[0] = b'T';
    assert_eq!(
        cost(&c_to_t_5p, 0),
        1,
        "C→T at the 5' end is half a difference"
    );
    let mut g_to_a_3p = fwd.clone();
    g_to_a_3p[39] = b'A';
    assert_eq!(
        cost(&g_to_a_3p, 0),
        1,
        "G→A at the 3' end is half a difference"
    );
    let mut c_to_t_mid = fwd.clone();
    c_to_t_mid[20] = b'T';
    assert_eq!(cost(&c_to_t_mid, 0), 2, "C→T mid-read is a full difference");
    // Reverse-strand molecule: its 5' C→T shows as G→A at the aligned end.
    let mut rev = reverse_complement(&fwd);
    // original read base 0 pairs with aligned position 39 (reference 89 = G)
    rev[0] = b'T'; // comp → A at aligned position 39: reference G / read A
    assert_eq!(cost(&rev, 1), 1, "reverse-strand 5' deamination");
}

#[test]
fn verification_gpu_matches_twin_and_traceback_agrees() {
    let mut rng = Rng::new(45);
    let genome = random_dna(&mut rng, 3001);
    let mut reads = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..131 {
        let len = 20 + rng.below(120) as usize;
        let pos = rng.below((3001 - len - 40) as u64) as usize + 20;
        let mut r = genome[pos..pos + len].to_vec();
        for _ in 0..rng.below(4) {
            let j = rng.below(len as u64) as usize;
            r[j] = b"ACGTN"[rng.below(5) as usize];
        }
        let strand = (i % 2) as u32;
        if strand == 1 {
            r = reverse_complement(&r);
        }
        let start = reads.iter().map(|x: &Vec<u8>| x.len()).sum::<usize>() as u32;
        let jitter = rng.below(2 * P.pad as u64 + 1) as u32;
        tasks.push(AlignTask {
            read_start: start,
            read_len: len as u32,
            ref_start: (pos as u32 + jitter).saturating_sub(P.pad),
            strand,
        });
        reads.push(r);
    }
    let rseq = PackedSeq::from_ascii(&reads.concat());
    let gseq = PackedSeq::from_ascii(&genome);
    // random low-quality bases (about one in eight), a mask shorter than
    // the stream (the rest: not low)
    let total: usize = reads.iter().map(|x| x.len()).sum();
    let lowq: Vec<u32> = (0..total.div_ceil(32).saturating_sub(1))
        .map(|_| (0..32).fold(0u32, |w, b| w | (((rng.below(8) == 0) as u32) << b)))
        .collect();
    let want = align_cpu(&gseq, &rseq, &lowq, &tasks, &P);
    let plain = align_cpu(&gseq, &rseq, &[], &tasks, &P);
    assert!(
        want.iter().zip(&plain).all(|(a, b)| a.0 <= b.0)
            && want.iter().zip(&plain).any(|(a, b)| a.0 < b.0),
        "low-quality mismatches must cost less somewhere and never more"
    );
    for (t, w) in tasks.iter().zip(&want) {
        let tr = traceback(&gseq, &rseq, &lowq, t, &P).unwrap();
        assert_eq!(tr.cost, w.0);
        let span: u32 = tr.cigar.iter().filter(|c| c.0 != b'I').map(|c| c.1).sum();
        assert_eq!(
            tr.ref_pos + span - 1,
            t.ref_start + t.read_len - 1 + w.1,
            "end position"
        );
    }
    let Some(g) = common::gpu() else { return };
    let got = align_gpu(
        &g,
        &GpuSeq::upload(&g, &gseq).unwrap(),
        &GpuSeq::upload(&g, &rseq).unwrap(),
        &lowq,
        &tasks,
        &P,
    )
    .unwrap();
    assert_eq!(got, want);
}
